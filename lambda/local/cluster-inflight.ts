/**
 * What the primary of `ingest serve --workers N` does with the workers' in-flight folders
 * (`objects/.inflight/@worker-<pid>/…`): waits until no process of a previous run still owns one, recovers a
 * dead worker's folder, removes emptied folders, and hands out batch numbers shared by all workers.
 */
import { readFileSync } from "node:fs";
import { readdir, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { FileSink, type RecoveryReport } from "../adapters/file-sink.js";
import { ensureDirectory, fsyncDirectory, nodeSinkFileSystem } from "../adapters/sink-fs.js";
import { StreamSequences } from "../adapters/stream-sequence.js";
import { parseWorkerInflightDirName } from "../adapters/worker-inflight.js";
import { STREAM_ID_PATTERN } from "../core/constants.js";
import type { Clock, Logger } from "../core/ports.js";
import { TENANT_PATTERN } from "../core/stream-settings.js";

/** `<objects>/.inflight`. */
export function inflightRootOf(objectsRoot: string): string {
  return join(objectsRoot, ".inflight");
}

/** The pids owning worker folders in `.inflight` (live or not). */
export async function workerFolderPids(objectsRoot: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(inflightRootOf(objectsRoot));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const pid = parseWorkerInflightDirName(name);
    return pid === undefined ? [] : [pid];
  });
}

/** Whether a process runs (a zombie, exited but not yet reaped, counts as gone). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // `<pid> (<comm>) <state> …`; comm may hold spaces or parentheses, the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}

/**
 * Waits (at most `timeoutMs`) until no other process owns a worker folder: when a primary is killed, its
 * workers notice and exit within milliseconds, and their folders must not be recovered while they still
 * write. A pid still running after the bound is taken to be a reused pid, logged and ignored.
 */
export async function waitForWorkerFolderOwners(
  objectsRoot: string,
  logger: Logger,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let live = (await workerFolderPids(objectsRoot)).filter((pid) => pid !== process.pid && processRuns(pid));
  if (live.length > 0) logger.warn("waiting for workers of a previous run to exit", { pids: live });
  while (live.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    live = live.filter(processRuns);
  }
  if (live.length > 0) {
    logger.warn("processes named by in-flight folders still run; taking them for reused pids", {
      pids: live,
    });
  }
}

/** Removes the worker folders left empty (no file below them) of processes that are gone, or of `onlyPid`. */
export async function removeEmptyWorkerFolders(objectsRoot: string, onlyPid?: number): Promise<void> {
  for (const pid of await workerFolderPids(objectsRoot)) {
    if (onlyPid !== undefined ? pid !== onlyPid : processRuns(pid)) continue;
    await removeEmptyTree(join(inflightRootOf(objectsRoot), `@worker-${pid}`));
  }
}

/** Deletes a folder tree that holds only (empty) folders; anything with a file in it stays. */
async function removeEmptyTree(dir: string): Promise<boolean> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return true;
  }
  let empty = true;
  for (const entry of entries) {
    if (!entry.isDirectory() || !(await removeEmptyTree(join(dir, entry.name)))) empty = false;
  }
  if (!empty) return false;
  try {
    await rmdir(dir);
    return true;
  } catch {
    return false;
  }
}

/**
 * Recovers one (dead) worker's folder exactly as a start-up does: cuts every file back to its last whole
 * record and seals it; files that fail now are retried once more, then left for the next start.
 */
export async function recoverWorkerFolder(
  objectsRoot: string,
  pid: number,
  clock: Clock,
  logger: Logger,
): Promise<RecoveryReport> {
  const sink = new FileSink({
    root: objectsRoot,
    clock,
    logger,
    worker: {
      id: String(pid),
      reserveSequence: () => Promise.reject(new Error("a recovering sink opens no batches")),
    },
  });
  const report = await sink.recover();
  await sink.close();
  await removeEmptyWorkerFolders(objectsRoot, pid);
  return report;
}

/**
 * Batch numbers shared by every worker: one `.seq` file per stream in `.inflight/<tenant>/<stream-id>/` (the
 * very file a single process uses, so numbering continues whatever the worker count), each reservation
 * written, fsynced, renamed and made durable by a directory fsync before it is answered. Reservations of one
 * stream run one after the other.
 */
export class SharedSequences {
  private readonly sequences: StreamSequences;
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly objectsRoot: string,
    logger: Logger,
  ) {
    this.sequences = new StreamSequences(nodeSinkFileSystem, logger);
  }

  reserve(stream: { readonly id: string; readonly tenant: string }): Promise<number> {
    if (!STREAM_ID_PATTERN.test(stream.id) || !TENANT_PATTERN.test(stream.tenant)) {
      return Promise.reject(new Error("not a stream id and tenant"));
    }
    const dir = join(inflightRootOf(this.objectsRoot), stream.tenant, stream.id);
    const run = async () => {
      await ensureDirectory(nodeSinkFileSystem, dir);
      const seq = await this.sequences.reserve(stream.id, dir);
      await fsyncDirectory(nodeSinkFileSystem, dir);
      return seq;
    };
    const result = (this.tails.get(stream.id) ?? Promise.resolve()).then(run, run);
    const tail = result.catch(() => undefined);
    this.tails.set(stream.id, tail);
    void tail.then(() => {
      if (this.tails.get(stream.id) === tail) this.tails.delete(stream.id);
    });
    return result;
  }
}

/**
 * Crash recovery of the file sink: every in-flight file is cut back to its last whole record and sealed
 * (or removed when nothing is left), temp files are deleted, and batch numbers are re-read.
 */
import { join } from "node:path";
import type { Logger } from "../core/ports.js";
import { parseBatchFileName } from "./batch-file-name.js";
import {
  type InflightFile,
  removeInflightFile,
  type SealOutcome,
  sealInflightFile,
  TEMP_SUFFIX,
} from "./batch-sealer.js";
import { wholeRecordsLength } from "./record-framing.js";
import { errorCode, isNotFound, type SinkFileSystem } from "./sink-fs.js";
import { readSeqFile, SEQ_FILE, type StreamSequences } from "./stream-sequence.js";
import { parseWorkerInflightDirName } from "./worker-inflight.js";

/** What `recover()` did. */
export interface RecoveryReport {
  /** In-flight files sealed into objects. */
  readonly sealed: number;
  /** In-flight files whose object already existed (a crash after sealing); removed, not duplicated. */
  readonly alreadySealed: number;
  /** Bytes cut from torn tails. */
  readonly truncatedBytes: number;
  /** In-flight files with no whole record; removed. */
  readonly removedEmpty: number;
  /** Temp files (half-compressed objects, half-written `.seq`) removed. */
  readonly removedTemp: number;
  /** Files that could not be recovered now (I/O errors); they stay in-flight and are retried later. */
  readonly failed: number;
}

/** Everything recovery needs. */
export interface RecoveryContext {
  readonly fs: SinkFileSystem;
  readonly root: string;
  readonly inflightRoot: string;
  readonly logger: Logger;
  readonly sequences: StreamSequences;
  /**
   * Also recover the cluster workers' folders `<inflightRoot>/@worker-<pid>/…` (a single process or the
   * primary at start-up); otherwise they are skipped. @default false
   */
  readonly includeWorkers?: boolean;
}

/** Recovers every in-flight file; returns the report and the files that failed (for later retries). */
export async function recoverInflight(
  ctx: RecoveryContext,
): Promise<{ report: RecoveryReport; failures: InflightFile[] }> {
  const counts = {
    sealed: 0,
    alreadySealed: 0,
    truncatedBytes: 0,
    removedEmpty: 0,
    removedTemp: 0,
    failed: 0,
  };
  const failures: InflightFile[] = [];
  for (const [inflightRoot, tenant] of await tenantFolders(ctx)) {
    for (const streamId of await listDirectory(ctx.fs, join(inflightRoot, tenant))) {
      const dir = join(inflightRoot, tenant, streamId);
      ctx.sequences.observe(streamId, await readSeqFile(ctx.fs, dir, ctx.logger));
      for (const name of await listDirectory(ctx.fs, dir)) {
        const file: InflightFile = { root: ctx.root, tenant, dir, name };
        const parts = parseBatchFileName(name);
        if (name === SEQ_FILE || (parts === undefined && !name.endsWith(TEMP_SUFFIX))) {
          if (name !== SEQ_FILE) {
            ctx.logger.warn("file sink: unknown file in the in-flight folder left alone", { streamId, name });
          }
          continue;
        }
        try {
          if (parts === undefined) {
            await removeInflightFile(ctx.fs, file);
            counts.removedTemp += 1;
            continue;
          }
          ctx.sequences.observe(streamId, parts.seq);
          const { outcome, cutBytes } = await recoverInflightFile(ctx.fs, file);
          counts.truncatedBytes += cutBytes;
          count(counts, outcome);
        } catch (error) {
          counts.failed += 1;
          failures.push(file);
          ctx.logger.error("file sink: could not recover in-flight batch; retried later", {
            streamId,
            code: errorCode(error),
          });
        }
      }
    }
  }
  ctx.logger.info("file sink: recovery done", { ...counts });
  return { report: counts, failures };
}

/**
 * Cuts one in-flight file back to its last whole record (NDJSON: last `\n`; CBOR: last complete map),
 * makes the cut durable and seals what is left. Safe to repeat after a crash or failure at any step.
 */
export async function recoverInflightFile(
  fs: SinkFileSystem,
  file: InflightFile,
): Promise<{ outcome: SealOutcome; cutBytes: number }> {
  const parts = parseBatchFileName(file.name);
  if (parts === undefined) {
    throw new Error(`not a batch file name: ${file.name}`);
  }
  const path = join(file.dir, file.name);
  // Read whole: CBOR can only be framed from the start, and a batch is bounded by its bufferMiB.
  const bytes = await fs.readFile(path);
  const keep = wholeRecordsLength(bytes, parts.payload);
  const cutBytes = bytes.byteLength - keep;
  if (cutBytes > 0) {
    const handle = await fs.open(path, "r+");
    try {
      await handle.truncate(keep);
      await handle.datasync();
    } finally {
      await handle.close().catch(() => undefined);
    }
  }
  return { outcome: await sealInflightFile(fs, file), cutBytes };
}

function count(
  counts: { sealed: number; alreadySealed: number; removedEmpty: number },
  outcome: SealOutcome,
): void {
  if (outcome.kind === "sealed") {
    counts.sealed += 1;
  } else if (outcome.kind === "already-sealed") {
    counts.alreadySealed += 1;
  } else {
    counts.removedEmpty += 1;
  }
}

/** `[in-flight root, tenant]` pairs: the tenants in the root, then (if asked) those in each worker's folder. */
async function tenantFolders(ctx: RecoveryContext): Promise<[string, string][]> {
  const pairs: [string, string][] = [];
  for (const name of await listDirectory(ctx.fs, ctx.inflightRoot)) {
    if (parseWorkerInflightDirName(name) === undefined) {
      pairs.push([ctx.inflightRoot, name]);
    } else if (ctx.includeWorkers ?? false) {
      const workerRoot = join(ctx.inflightRoot, name);
      for (const tenant of await listDirectory(ctx.fs, workerRoot)) pairs.push([workerRoot, tenant]);
    }
  }
  return pairs;
}

/** Names in a directory; none when it does not exist or is not a directory. */
async function listDirectory(fs: SinkFileSystem, dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch (error) {
    if (isNotFound(error) || errorCode(error) === "ENOTDIR") {
      return [];
    }
    throw error;
  }
}

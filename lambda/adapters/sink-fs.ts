/**
 * The few file-system operations the file sink needs, behind an interface so tests can inject faults
 * (EIO on write, ENOSPC on datasync, a slow datasync), plus the durability helpers built on them.
 */
import { promises as fsp } from "node:fs";
import { dirname } from "node:path";

/** An open file: positional reads and writes, the two kinds of sync, truncate and close. */
export interface SinkFileHandle {
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ readonly bytesRead: number }>;
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ readonly bytesWritten: number }>;
  /** fdatasync: the file's data (and its size) are on disk. */
  datasync(): Promise<void>;
  /** fsync: data and all metadata; the only sync that works on a directory handle. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** How a file is opened: `r` read, `r+` read/write, `w` create or empty, `wx` create, failing if it exists. */
export type SinkOpenFlags = "r" | "r+" | "w" | "wx";

/** File-system operations of the sink. The default, {@link nodeSinkFileSystem}, is `node:fs/promises`. */
export interface SinkFileSystem {
  open(path: string, flags: SinkOpenFlags): Promise<SinkFileHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** `mkdir -p`; resolves to the first directory it created, or undefined when all existed. */
  mkdir(path: string): Promise<string | undefined>;
  /** Names in a directory (not paths). */
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  /** Size of a file; rejects with ENOENT when it does not exist. */
  size(path: string): Promise<number>;
}

/** The real file system. */
export const nodeSinkFileSystem: SinkFileSystem = {
  open: (path, flags) => fsp.open(path, flags),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  mkdir: (path) => fsp.mkdir(path, { recursive: true }),
  readdir: (path) => fsp.readdir(path),
  readFile: (path) => fsp.readFile(path),
  size: async (path) => (await fsp.stat(path)).size,
};

/** The `code` of a Node system error (`EIO`, `ENOSPC`, …), or `UNKNOWN`. Logged instead of messages. */
export function errorCode(error: unknown): string {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return "UNKNOWN";
}

/** Whether the error says the path does not exist. */
export function isNotFound(error: unknown): boolean {
  return errorCode(error) === "ENOENT";
}

/**
 * Makes a directory's entries (files created, renamed or removed in it) durable. A file's own fsync does
 * not cover its name, so every create/rename/unlink that must survive a crash is followed by this.
 */
export async function fsyncDirectory(fs: SinkFileSystem, dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` atomically and durably (on the real file system): the body goes to `temp` (default
 * `<path>.tmp`), which is fsync'd, renamed over `path`, and the folder fsync'd. A failure leaves `path` as it
 * was and removes `temp`. `mode` applies when `temp` is created (default 0666 less the umask).
 */
export async function replaceFileDurably(
  path: string,
  body: Uint8Array,
  options: { readonly temp?: string; readonly mode?: number } = {},
): Promise<void> {
  const temp = options.temp ?? `${path}.tmp`;
  try {
    const handle = await fsp.open(temp, "w", options.mode);
    try {
      await handle.writeFile(body);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, path);
  } catch (error) {
    await fsp.rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(nodeSinkFileSystem, dirname(path));
}

/**
 * A state file rewritten durably after every change ({@link replaceFileDurably}). Saves run one at a time
 * and each writes the state as it is when it runs (`render`), so concurrent changes never interleave writes.
 */
export class StateFile {
  private last: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly render: () => string,
    private readonly mode?: number,
  ) {}

  /** Resolves once the state (as of this save's turn) is durable; rejects when that write failed. */
  save(): Promise<void> {
    const run = this.last.then(() =>
      replaceFileDurably(this.path, Buffer.from(this.render()), {
        ...(this.mode === undefined ? {} : { mode: this.mode }),
      }),
    );
    this.last = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every save started so far has finished (failed ones included). */
  settled(): Promise<void> {
    return this.last;
  }
}

/**
 * `mkdir -p` that also makes every directory it created durable, by syncing the parent of each new one
 * (otherwise a crash could lose the folder together with the files later renamed into it).
 */
export async function ensureDirectory(fs: SinkFileSystem, dir: string): Promise<void> {
  const firstCreated = await fs.mkdir(dir);
  if (firstCreated === undefined) {
    return;
  }
  const stop = dirname(firstCreated);
  for (let created = dir; created !== stop && created !== dirname(created); created = dirname(created)) {
    await fsyncDirectory(fs, dirname(created));
  }
}

/** Whether a file exists; other errors than "not found" propagate. */
export async function fileExists(fs: SinkFileSystem, path: string): Promise<boolean> {
  try {
    await fs.size(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) {
      return false;
    }
    throw error;
  }
}

/** Writes all of `data` at `position`, looping over short writes (which regular files may do near ENOSPC). */
export async function writeFully(handle: SinkFileHandle, data: Uint8Array, position: number): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset, position + offset);
    if (bytesWritten <= 0) {
      throw Object.assign(new Error("write made no progress"), { code: "EIO" });
    }
    offset += bytesWritten;
  }
}

/**
 * A simulated slow disk for the memory benchmark: the real file system, but writes are paced to a fixed
 * throughput (one shared "disk head" queue) and every fdatasync/fsync takes at least `syncMs`.
 */
import {
  nodeSinkFileSystem,
  type SinkFileHandle,
  type SinkFileSystem,
} from "../../lambda/adapters/sink-fs.js";

export interface SlowDiskOptions {
  /** Write throughput of the whole disk, bytes per second. */
  readonly bytesPerSecond: number;
  /** Extra time each sync takes. */
  readonly syncMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

export function slowDisk(
  options: SlowDiskOptions,
  base: SinkFileSystem = nodeSinkFileSystem,
): SinkFileSystem {
  let diskFreeAt = 0;
  const pace = (bytes: number): Promise<void> => {
    const now = performance.now();
    diskFreeAt = Math.max(now, diskFreeAt) + (bytes / options.bytesPerSecond) * 1000;
    return sleep(diskFreeAt - now);
  };
  const wrapHandle = (handle: SinkFileHandle): SinkFileHandle => ({
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    write: async (buffer, offset, length, position) => {
      await pace(length);
      return handle.write(buffer, offset, length, position);
    },
    datasync: async () => {
      await sleep(options.syncMs);
      return handle.datasync();
    },
    sync: async () => {
      await sleep(options.syncMs);
      return handle.sync();
    },
    truncate: (length) => handle.truncate(length),
    close: () => handle.close(),
  });
  return { ...base, open: async (path, flags) => wrapHandle(await base.open(path, flags)) };
}

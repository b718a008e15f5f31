/**
 * A SinkFileSystem over the real one whose batch files can be made to fail (EIO, ENOSPC, … on write,
 * fdatasync or create) or to be slow (every fdatasync delayed), switched at any moment by the caller.
 * Directories and the `.seq` counters keep working: the faults are the ones a full or failing data disk shows.
 */
import {
  nodeSinkFileSystem,
  type SinkFileHandle,
  type SinkFileSystem,
} from "../../lambda/adapters/sink-fs.js";

const BATCH_FILE = /\.(ndjson|cbor)(\.gz)?$/;

function errnoError(code: string): Error {
  return Object.assign(new Error(`${code}: injected fault`), { code });
}

export class FaultySinkFs implements SinkFileSystem {
  writeFault: string | undefined;
  datasyncFault: string | undefined;
  openFault: string | undefined;
  /** Added to every batch-file fdatasync while set. */
  datasyncDelayMs = 0;
  /** Faults injected so far. */
  injected = 0;

  clear(): void {
    this.writeFault = undefined;
    this.datasyncFault = undefined;
    this.openFault = undefined;
    this.datasyncDelayMs = 0;
  }

  async open(path: string, flags: "r" | "r+" | "w" | "wx"): Promise<SinkFileHandle> {
    const batch = BATCH_FILE.test(path);
    if (batch && this.openFault !== undefined && flags !== "r") {
      this.injected++;
      throw errnoError(this.openFault);
    }
    const handle = await nodeSinkFileSystem.open(path, flags);
    return batch ? this.wrap(handle) : handle;
  }
  rename(from: string, to: string): Promise<void> {
    return nodeSinkFileSystem.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    return nodeSinkFileSystem.unlink(path);
  }
  mkdir(path: string): Promise<string | undefined> {
    return nodeSinkFileSystem.mkdir(path);
  }
  readdir(path: string): Promise<string[]> {
    return nodeSinkFileSystem.readdir(path);
  }
  readFile(path: string): Promise<Uint8Array> {
    return nodeSinkFileSystem.readFile(path);
  }
  size(path: string): Promise<number> {
    return nodeSinkFileSystem.size(path);
  }

  private wrap(real: SinkFileHandle): SinkFileHandle {
    return {
      read: (buffer, offset, length, position) => real.read(buffer, offset, length, position),
      write: async (buffer, offset, length, position) => {
        const fault = this.writeFault;
        if (fault !== undefined) {
          this.injected++;
          // Half the bytes reach the file first: the torn tail the sink must cut back.
          await real.write(buffer, offset, Math.ceil(length / 2), position);
          throw errnoError(fault);
        }
        return real.write(buffer, offset, length, position);
      },
      datasync: async () => {
        const delay = this.datasyncDelayMs;
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        const fault = this.datasyncFault;
        if (fault !== undefined) {
          this.injected++;
          throw errnoError(fault);
        }
        return real.datasync();
      },
      sync: () => real.sync(),
      truncate: (length) => real.truncate(length),
      close: () => real.close(),
    };
  }
}

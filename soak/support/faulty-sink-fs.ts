/**
 * The real file system with faults switchable at any moment on batch files (`.ndjson`/`.cbor`, `.gz` or not):
 * errors on write (optionally after half the bytes: a torn tail), fdatasync, truncate, rename and create;
 * a slow or gated fdatasync; and counters. Directories and the `.seq` counters keep working: the faults are
 * the ones a full or failing data disk shows. The faults soak and the file-sink tests share it.
 */
import {
  nodeSinkFileSystem,
  type SinkFileHandle,
  type SinkFileSystem,
  type SinkOpenFlags,
} from "../../lambda/adapters/sink-fs.js";

const BATCH_FILE = /\.(ndjson|cbor)(\.gz)?$/;

export function errnoError(code: string): Error {
  return Object.assign(new Error(`${code}: injected fault`), { code });
}

export class FaultySinkFs implements SinkFileSystem {
  /** Batch-file writes and fdatasyncs so far. */
  writes = 0;
  datasyncs = 0;
  writeFault: string | undefined;
  /** With writeFault: half the bytes reach the file before the error (the torn tail the sink must cut back). */
  tornWrites = false;
  datasyncFault: string | undefined;
  truncateFault: string | undefined;
  renameFault: string | undefined;
  /** Refuses opening a batch file for writing (a batch cannot be created); reads still work. */
  openFault: string | undefined;
  /** Added to every batch-file fdatasync while set. */
  datasyncDelayMs = 0;
  /** Every batch-file fdatasync waits for it while set. */
  datasyncGate: Promise<void> | undefined;
  /** Called as each batch-file fdatasync starts (before the gate and the delay). */
  onDatasync: (() => void) | undefined;

  constructor(options: { readonly tornWrites?: boolean } = {}) {
    this.tornWrites = options.tornWrites ?? false;
  }

  /** Switches every fault off (tornWrites, the gate and the hook stay as set). */
  clear(): void {
    this.writeFault = undefined;
    this.datasyncFault = undefined;
    this.truncateFault = undefined;
    this.renameFault = undefined;
    this.openFault = undefined;
    this.datasyncDelayMs = 0;
  }

  async open(path: string, flags: SinkOpenFlags): Promise<SinkFileHandle> {
    const batch = BATCH_FILE.test(path);
    if (batch && this.openFault !== undefined && flags !== "r") throw errnoError(this.openFault);
    const handle = await nodeSinkFileSystem.open(path, flags);
    return batch ? this.wrap(handle) : handle;
  }
  rename(from: string, to: string): Promise<void> {
    return this.renameFault === undefined
      ? nodeSinkFileSystem.rename(from, to)
      : Promise.reject(errnoError(this.renameFault));
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
        this.writes += 1;
        const fault = this.writeFault;
        if (fault !== undefined) {
          if (this.tornWrites) await real.write(buffer, offset, Math.ceil(length / 2), position);
          throw errnoError(fault);
        }
        return real.write(buffer, offset, length, position);
      },
      datasync: async () => {
        this.datasyncs += 1;
        this.onDatasync?.();
        await this.datasyncGate;
        const delay = this.datasyncDelayMs;
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        const fault = this.datasyncFault;
        if (fault !== undefined) throw errnoError(fault);
        return real.datasync();
      },
      sync: () => real.sync(),
      truncate: (length) =>
        this.truncateFault === undefined
          ? real.truncate(length)
          : Promise.reject(errnoError(this.truncateFault)),
      close: () => real.close(),
    };
  }
}

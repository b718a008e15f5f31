/**
 * One open (in-flight) batch file: created durably, appended to with one write + one fdatasync per group
 * commit, cut back to its last committed length when a write fails, and released for sealing.
 */
import { join } from "node:path";
import { fsyncDirectory, type SinkFileHandle, type SinkFileSystem, writeFully } from "./sink-fs.js";

/** Where a batch lives and what it holds; records of another format never go into it. */
export interface BatchInfo {
  readonly tenant: string;
  readonly streamId: string;
  /** The in-flight directory, `<root>/.inflight/<tenant>/<stream-id>`. */
  readonly dir: string;
  /** File name, the same as the sealed object's. */
  readonly name: string;
  /** Epoch ms when it was opened (its age decides sealing). */
  readonly openedAt: number;
  /** Payload type, compression and tenant in one string: a record with another value needs another batch. */
  readonly format: string;
}

export class BatchFile {
  private handle: SinkFileHandle | undefined;
  private committed = 0;
  /** Bytes past `committed` may be on disk (a failed write); they must be cut before sealing. */
  private tornTail = false;
  private acceptsAppends = true;
  private inFlight: Promise<void> | undefined;

  private constructor(
    handle: SinkFileHandle,
    readonly info: BatchInfo,
  ) {
    this.handle = handle;
  }

  /**
   * Creates the file (failing if the name exists) and syncs its directory, so the file cannot vanish in a
   * crash after records in it were acknowledged.
   */
  static async create(fs: SinkFileSystem, info: BatchInfo): Promise<BatchFile> {
    const path = join(info.dir, info.name);
    const handle = await fs.open(path, "wx");
    try {
      await fsyncDirectory(fs, info.dir);
    } catch (error) {
      // Best effort: an empty leftover is removed by recovery anyway.
      await handle.close().catch(() => undefined);
      await fs.unlink(path).catch(() => undefined);
      throw error;
    }
    return new BatchFile(handle, info);
  }

  get path(): string {
    return join(this.info.dir, this.info.name);
  }

  /** Bytes written and fdatasync'ed. */
  get committedBytes(): number {
    return this.committed;
  }

  /** False once it is being sealed, or after a failed write whose torn tail could not be cut. */
  get appendable(): boolean {
    return this.acceptsAppends;
  }

  /** Takes the batch out of service for appends (it is about to be sealed). */
  stopAppends(): void {
    this.acceptsAppends = false;
  }

  /**
   * Writes `data` (one or many records) at the committed end with one write, then one fdatasync; resolves
   * once both succeed. On failure the tail is cut back to the committed length; if even that fails the
   * batch stops taking appends (its tail is cut when it is released, or by recovery after a crash).
   * Callers run one append at a time.
   */
  async append(data: Uint8Array): Promise<void> {
    const handle = this.handle;
    if (handle === undefined || !this.acceptsAppends) {
      throw new Error(`batch ${this.info.name} no longer takes appends`);
    }
    const done = this.writeAndSync(handle, data);
    this.inFlight = done.catch(() => undefined);
    try {
      await done;
    } finally {
      this.inFlight = undefined;
    }
  }

  private async writeAndSync(handle: SinkFileHandle, data: Uint8Array): Promise<void> {
    try {
      await writeFully(handle, data, this.committed);
      await handle.datasync();
      this.committed += data.byteLength;
    } catch (error) {
      this.tornTail = true;
      try {
        await this.cutTornTail(handle);
      } catch {
        this.acceptsAppends = false;
      }
      throw error;
    }
  }

  private async cutTornTail(handle: SinkFileHandle): Promise<void> {
    await handle.truncate(this.committed);
    await handle.datasync();
    this.tornTail = false;
  }

  /**
   * Stops appends, waits for the append in progress, cuts a torn tail and closes the file, leaving exactly
   * the committed bytes. Idempotent; if it rejects (the cut failed) it may be called again later.
   */
  async release(): Promise<void> {
    this.acceptsAppends = false;
    await this.inFlight;
    const handle = this.handle;
    if (handle === undefined) {
      return;
    }
    if (this.tornTail) {
      await this.cutTornTail(handle);
    }
    this.handle = undefined;
    // Everything kept is already synced, so a failing close loses nothing.
    await handle.close().catch(() => undefined);
  }
}

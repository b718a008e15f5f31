/**
 * One stream's write path: a queue of records and the stream's open batch, committed by group commit —
 * whatever queued while the previous write+fdatasync ran goes out in one write and one fdatasync.
 */
import type { StreamRecord } from "../core/types.js";
import type { BatchFile } from "./batch-writer.js";

const MIB = 1024 * 1024;

/** What a channel needs from its sink. */
export interface ChannelHooks {
  /** Opens a new batch file with this stream record's settings. */
  openBatch(stream: StreamRecord): Promise<BatchFile>;
  /** Receives a batch the channel will never append to again, for sealing. Called once per batch. */
  retire(batch: BatchFile): void;
  /** `bytes` of records are no longer pending (committed or failed). */
  settled(bytes: number): void;
  /** What a put rejects with when its write failed with `error`. */
  failure(error: unknown, streamId: string): Error;
}

interface Waiter {
  readonly data: Uint8Array;
  /** Format key of the record's stream at put time; records of another format need another batch. */
  readonly format: string;
  readonly stream: StreamRecord;
  /** A batch request's records: never split across files, so it needs room for all of `data` (see enqueue). */
  readonly whole: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** The batch format a stream record asks for: tenant, payload type and compression. */
export function batchFormat(stream: StreamRecord): string {
  return `${stream.tenant}/${stream.payload}/${stream.delivery.compression}`;
}

export class StreamChannel {
  private readonly queue: Waiter[] = [];
  private current: BatchFile | undefined;
  /** The newest stream record seen: its size and age limits apply (also to the open batch). */
  private latest: StreamRecord;
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    stream: StreamRecord,
    private readonly hooks: ChannelHooks,
  ) {
    this.latest = stream;
  }

  /**
   * Queues one record; resolves once it is written and fdatasync'ed. When no commit is running the record
   * is written at once; otherwise it joins the next group, which starts as soon as the running one ends.
   *
   * With `whole` (a batch request: many records in `data`), `data` is never split and never lands in two
   * files: when it does not fit in the open batch's remaining size, that batch is sealed first; when it is
   * larger than the stream's buffer size, it fills a new batch on its own.
   */
  enqueue(stream: StreamRecord, data: Uint8Array, options: { readonly whole?: boolean } = {}): Promise<void> {
    this.latest = stream;
    const whole = options.whole === true;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, format: batchFormat(stream), stream, whole, resolve, reject });
      if (!this.running) {
        this.running = true;
        this.loop = this.run();
      }
    });
  }

  /** Retires the open batch if its age reached the stream's bufferSeconds; returns whether it did. */
  retireIfDue(now: number): boolean {
    const batch = this.current;
    if (batch === undefined || now - batch.info.openedAt < this.latest.delivery.bufferSeconds * 1000) {
      return false;
    }
    this.retireCurrent();
    return true;
  }

  /** Retires the open batch now (flush); later records open a new one. */
  retireNow(): void {
    this.retireCurrent();
  }

  /** Resolves once the queue is empty and no commit runs. */
  async drained(): Promise<void> {
    while (this.running) {
      await this.loop;
    }
  }

  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        await this.commitNextGroup();
      }
    } finally {
      // Cleared in the same tick the queue is seen empty, so a record queued later always starts a loop.
      this.running = false;
    }
  }

  private async commitNextGroup(): Promise<void> {
    const head = this.queue[0];
    const format = head?.format;
    let batch = this.current;
    if (
      batch !== undefined &&
      head?.whole === true &&
      batch.committedBytes > 0 &&
      batch.committedBytes + head.data.byteLength > this.limitBytes()
    ) {
      // A batch request does not fit in what is left of the open file: seal it, the request starts a new one.
      this.retireCurrent();
      batch = undefined;
    }
    if (batch === undefined || !batch.appendable || batch.info.format !== format) {
      this.retireCurrent();
      try {
        batch = await this.hooks.openBatch(this.queue[0]?.stream ?? this.latest);
      } catch (error) {
        // Every queued record would hit the same failure; fail them now rather than one group at a time.
        this.fail(this.queue.splice(0), error);
        return;
      }
      this.current = batch;
    }
    const group = this.takeGroup(format, this.limitBytes() - batch.committedBytes);
    const data =
      group.length === 1 ? (group[0]?.data ?? new Uint8Array()) : Buffer.concat(group.map((w) => w.data));
    try {
      await batch.append(data);
    } catch (error) {
      this.fail(group, error);
      if (!batch.appendable) {
        this.retireCurrent();
      }
      return;
    }
    this.hooks.settled(data.byteLength);
    for (const waiter of group) {
      waiter.resolve();
    }
    if (batch === this.current && (batch.committedBytes >= this.limitBytes() || !batch.appendable)) {
      this.retireCurrent();
    }
  }

  /**
   * The longest run of queued records of `format` that fits in `room` bytes (at least one record, so a
   * batch exceeds its size limit by less than one record and never by a whole group).
   */
  private takeGroup(format: string | undefined, room: number): Waiter[] {
    let count = 0;
    let bytes = 0;
    for (const waiter of this.queue) {
      if (waiter.format !== format || (count > 0 && bytes + waiter.data.byteLength > room)) {
        break;
      }
      bytes += waiter.data.byteLength;
      count += 1;
    }
    return this.queue.splice(0, count);
  }

  private limitBytes(): number {
    return Math.max(1, Math.floor(this.latest.delivery.bufferMiB * MIB));
  }

  private retireCurrent(): void {
    const batch = this.current;
    if (batch !== undefined) {
      this.current = undefined;
      batch.stopAppends();
      this.hooks.retire(batch);
    }
  }

  private fail(waiters: readonly Waiter[], error: unknown): void {
    let bytes = 0;
    for (const waiter of waiters) {
      bytes += waiter.data.byteLength;
    }
    this.hooks.settled(bytes);
    const rejection = this.hooks.failure(error, this.latest.id);
    for (const waiter of waiters) {
      waiter.reject(rejection);
    }
  }
}

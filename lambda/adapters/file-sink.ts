/**
 * The RecordSink of the local runtime: a durable, Firehose-like batching writer on local disk. A put
 * resolves only once its bytes are written and fdatasync'ed; batches are sealed into objects by size or age.
 */
import { randomInt } from "node:crypto";
import { basename, join } from "node:path";
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from "../core/constants.js";
import { InternalError, ServiceUnavailableError } from "../core/errors.js";
import type { Clock, Logger, RecordSink } from "../core/ports.js";
import type { AcceptedBatch, AcceptedRecord, StreamRecord } from "../core/types.js";
import { batchFileName, RANDOM_SUFFIX_PATTERN } from "./batch-file-name.js";
import { type SealOutcome, sealInflightFile } from "./batch-sealer.js";
import { BatchFile } from "./batch-writer.js";
import { SealJobs } from "./seal-jobs.js";
import { ensureDirectory, errorCode, nodeSinkFileSystem, type SinkFileSystem } from "./sink-fs.js";
import { checkRecordShape } from "./sink-record-check.js";
import { type RecoveryReport, recoverInflight, recoverInflightFile } from "./sink-recovery.js";
import { batchFormat, StreamChannel } from "./stream-channel.js";
import { StreamSequences } from "./stream-sequence.js";
import { type FileSinkWorker, workerInflightDirName } from "./worker-inflight.js";

export type { SinkFileHandle, SinkFileSystem, SinkOpenFlags } from "./sink-fs.js";
export type { RecoveryReport } from "./sink-recovery.js";
export type { FileSinkWorker } from "./worker-inflight.js";

/** Options of {@link FileSink}. */
export interface FileSinkOptions {
  /** The "bucket" root, e.g. `<data-dir>/objects`. Objects go to `<root>/streams/…`, open batches to `<root>/.inflight/…`. */
  readonly root: string;
  readonly clock: Clock;
  /** Never given record content. */
  readonly logger: Logger;
  /**
   * Max bytes queued but not yet written and synced, across all streams; past it put() rejects with 503.
   * @default 64 MiB
   */
  readonly maxPendingBytes?: number;
  /** File-system operations, injectable so tests can inject faults. @default the real `node:fs/promises` ones */
  readonly fs?: SinkFileSystem;
  /** Random suffix of file names ([a-z0-9], 1–32 characters). @default 8 random [a-z0-9] characters from crypto */
  readonly randomSuffix?: () => string;
  /**
   * Cluster mode: this sink is one worker process's. Its open batches live in `<root>/.inflight/@worker-<id>/…`
   * and batch numbers come from `worker.reserveSequence` (shared by all workers); recover() covers only that
   * folder. @default a single process: `<root>/.inflight/…`, and recover() also covers workers' folders
   */
  readonly worker?: FileSinkWorker;
}

const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
const TIMER_INTERVAL_MS = 1000;
const SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** 8 random [a-z0-9] characters. */
export function randomFileSuffix(): string {
  let suffix = "";
  for (let i = 0; i < 8; i++) {
    suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  }
  return suffix;
}

export class FileSink implements RecordSink {
  private readonly root: string;
  private readonly inflightRoot: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly maxPendingBytes: number;
  private readonly fs: SinkFileSystem;
  private readonly randomSuffix: () => string;
  private readonly channels = new Map<string, StreamChannel>();
  private readonly sequences: StreamSequences;
  private readonly worker: FileSinkWorker | undefined;
  private readonly sealJobs: SealJobs;
  private pendingBytes = 0;
  private closing = false;
  private timer: NodeJS.Timeout | undefined;
  private timerRun: Promise<unknown> | undefined;

  constructor(options: FileSinkOptions) {
    if (typeof options.root !== "string" || options.root === "") {
      throw new TypeError("FileSinkOptions.root must name a directory; got an empty value");
    }
    const maxPending = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    if (!Number.isSafeInteger(maxPending) || maxPending <= 0) {
      throw new TypeError(
        `FileSinkOptions.maxPendingBytes must be a positive whole number of bytes; got ${String(maxPending)}`,
      );
    }
    this.root = options.root;
    this.worker = options.worker;
    this.inflightRoot =
      this.worker === undefined
        ? join(options.root, ".inflight")
        : join(options.root, ".inflight", workerInflightDirName(this.worker.id));
    this.clock = options.clock;
    this.logger = options.logger;
    this.maxPendingBytes = maxPending;
    this.fs = options.fs ?? nodeSinkFileSystem;
    this.randomSuffix = options.randomSuffix ?? randomFileSuffix;
    this.sequences = new StreamSequences(this.fs, this.logger);
    this.sealJobs = new SealJobs(this.logger);
  }

  /**
   * Cuts in-flight files left by a crash back to their last whole record and seals them; re-reads batch
   * numbers. Call once, before the first put. Files that fail now stay in-flight and are retried by
   * sealDue/flush.
   */
  async recover(): Promise<RecoveryReport> {
    if (this.channels.size > 0) {
      throw new Error("FileSink.recover() must run before the first put");
    }
    const { report, failures } = await recoverInflight({
      fs: this.fs,
      root: this.root,
      inflightRoot: this.inflightRoot,
      logger: this.logger,
      sequences: this.sequences,
      includeWorkers: this.worker === undefined,
    });
    for (const file of failures) {
      this.sealJobs.add(
        basename(file.dir),
        async () => (await recoverInflightFile(this.fs, file)).outcome,
        false,
      );
    }
    return report;
  }

  /**
   * Called by the handler before it reads a body: 503 `sink_busy` while the queue already holds its bound of
   * bytes, so an overloaded server refuses at once instead of reading and validating bodies it would refuse.
   */
  assertReady(): void {
    if (this.pendingBytes >= this.maxPendingBytes) {
      throw new ServiceUnavailableError(
        "delivery queue is full; retry shortly",
        UNAVAILABLE_RETRY_AFTER_SECONDS,
        "sink_busy",
      );
    }
  }

  /**
   * Resolves once the record is written and fdatasync'ed into its stream's open batch. Rejects with 503
   * `sink_busy` past the pending-bytes bound, 503 `sink_unavailable` when the write fails or the sink is
   * shutting down. The caller must not change `record.data` until the promise settles.
   */
  put(record: AcceptedRecord): Promise<void> {
    if (this.closing) return Promise.reject(shuttingDownError());
    const problem = checkRecordShape(record);
    if (problem !== undefined) {
      this.logger.error("file sink: record refused", { streamId: record.stream.id, problem });
      return Promise.reject(new InternalError({ cause: new Error(problem) }));
    }
    const size = record.data.byteLength;
    if (this.pendingBytes + size > this.maxPendingBytes) {
      return Promise.reject(
        new ServiceUnavailableError(
          "delivery queue is full; retry shortly",
          UNAVAILABLE_RETRY_AFTER_SECONDS,
          "sink_busy",
        ),
      );
    }
    this.pendingBytes += size;
    return this.channelFor(record.stream).enqueue(record.stream, record.data);
  }

  /**
   * Resolves once every record of the batch is written and fdatasync'ed: all of them in one group commit (one
   * write, one fdatasync), in one batch file. A batch that does not fit the open file's remaining size seals it
   * first; one larger than the stream's buffer size fills a file on its own. Rejects like put (503
   * `sink_busy`, `sink_unavailable`, 500 for a malformed record), and then none of the batch is acknowledged.
   */
  putBatch(batch: AcceptedBatch): Promise<void> {
    if (this.closing) return Promise.reject(shuttingDownError());
    for (const data of batch.records) {
      const problem = checkRecordShape({ stream: batch.stream, data });
      if (problem !== undefined) {
        this.logger.error("file sink: batch refused", { streamId: batch.stream.id, problem });
        return Promise.reject(new InternalError({ cause: new Error(problem) }));
      }
    }
    const data = batch.records.length === 1 ? batch.records[0] : Buffer.concat(batch.records);
    if (data === undefined || data.byteLength === 0) {
      return Promise.reject(new InternalError({ cause: new Error("batch is empty") }));
    }
    if (this.pendingBytes + data.byteLength > this.maxPendingBytes) {
      return Promise.reject(
        new ServiceUnavailableError(
          "delivery queue is full; retry shortly",
          UNAVAILABLE_RETRY_AFTER_SECONDS,
          "sink_busy",
        ),
      );
    }
    this.pendingBytes += data.byteLength;
    return this.channelFor(batch.stream).enqueue(batch.stream, data, { whole: true });
  }

  /** Seals every batch whose age reached its stream's bufferSeconds, and retries failed seals. Returns objects sealed. */
  async sealDue(): Promise<number> {
    const now = this.clock.now();
    for (const channel of this.channels.values()) {
      channel.retireIfDue(now);
    }
    return countObjects(await this.sealJobs.runAll());
  }

  /** Seals every open batch now (`ingest flush`, shutdown) and retries failed seals. Returns the sealed object keys. */
  async flush(): Promise<string[]> {
    for (const channel of this.channels.values()) {
      channel.retireNow();
    }
    const outcomes = await this.sealJobs.runAll();
    return outcomes.flatMap((outcome) => (outcome.kind === "sealed" ? [outcome.key] : []));
  }

  /** Stops accepting (later puts reject 503), waits for queued writes, seals everything. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopTimer();
    await this.timerRun;
    await Promise.all([...this.channels.values()].map((channel) => channel.drained()));
    await this.flush();
    if (this.sealJobs.size > 0) {
      this.logger.warn("file sink: closed with batches left in-flight; the next start recovers them", {
        batches: this.sealJobs.size,
      });
    }
  }

  /** Starts a timer (unref'd, every second) that calls sealDue(). */
  startTimer(): void {
    if (this.timer !== undefined || this.closing) {
      return;
    }
    this.timer = setInterval(() => {
      // Skip a tick while the previous one still runs (a slow gzip), rather than piling up runs.
      this.timerRun ??= this.sealDue()
        .catch((error: unknown) =>
          this.logger.error("file sink: timed sealing failed", { code: errorCode(error) }),
        )
        .finally(() => {
          this.timerRun = undefined;
        });
    }, TIMER_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the timer started by startTimer(). */
  stopTimer(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private channelFor(stream: StreamRecord): StreamChannel {
    let channel = this.channels.get(stream.id);
    if (channel === undefined) {
      channel = new StreamChannel(stream, {
        openBatch: (s) => this.openBatch(s),
        retire: (batch) => this.retire(batch),
        settled: (bytes) => {
          this.pendingBytes -= bytes;
        },
        failure: (error, streamId) => this.writeFailure(error, streamId),
      });
      this.channels.set(stream.id, channel);
    }
    return channel;
  }

  /** Reserves the next batch number, then creates the in-flight file named after it. */
  private async openBatch(stream: StreamRecord): Promise<BatchFile> {
    const dir = join(this.inflightRoot, stream.tenant, stream.id);
    await ensureDirectory(this.fs, dir);
    const random = this.randomSuffix();
    if (!RANDOM_SUFFIX_PATTERN.test(random)) {
      throw new TypeError(
        `FileSinkOptions.randomSuffix must return 1-32 characters of [a-z0-9]; got "${random}"`,
      );
    }
    const seq =
      this.worker === undefined
        ? await this.sequences.reserve(stream.id, dir)
        : await this.worker.reserveSequence(stream);
    const openedAt = this.clock.now();
    const { payload, delivery } = stream;
    const name = batchFileName({
      streamId: stream.id,
      seq,
      openedAt,
      random,
      payload,
      compression: delivery.compression,
    });
    return BatchFile.create(this.fs, {
      tenant: stream.tenant,
      streamId: stream.id,
      dir,
      name,
      openedAt,
      format: batchFormat(stream),
    });
  }

  /** Seals a batch the channel is done with, in the background; a failure leaves it queued for retries. */
  private retire(batch: BatchFile): void {
    const { tenant, dir, name, streamId } = batch.info;
    this.sealJobs.add(
      streamId,
      async () => {
        await batch.release();
        return sealInflightFile(this.fs, { root: this.root, tenant, dir, name });
      },
      true,
    );
  }

  private writeFailure(error: unknown, streamId: string): Error {
    this.logger.error("file sink: write failed; records refused with 503", {
      streamId,
      code: errorCode(error),
    });
    return new ServiceUnavailableError(
      "delivery is unavailable: the record could not be stored durably; retry shortly",
      UNAVAILABLE_RETRY_AFTER_SECONDS,
      "sink_unavailable",
      { cause: error },
    );
  }
}

function countObjects(outcomes: readonly SealOutcome[]): number {
  return outcomes.filter((outcome) => outcome.kind === "sealed").length;
}

/** The 503 of a record or batch that arrives while the sink is closing. */
function shuttingDownError(): ServiceUnavailableError {
  return new ServiceUnavailableError(
    "delivery is shutting down; retry shortly",
    UNAVAILABLE_RETRY_AFTER_SECONDS,
    "sink_unavailable",
  );
}

/**
 * A Firehose-compatible endpoint on loopback, for running the AWS code path offline: it speaks the real wire
 * protocol (AWS JSON 1.1, `X-Amz-Target: Firehose_20150804.<Operation>`), so the real @aws-sdk/client-firehose
 * clients of the ingest Lambda and the provisioner talk to it through an endpoint override
 * (`endpoint`, or `AWS_ENDPOINT_URL_FIREHOSE`). Records are buffered per delivery stream by its own
 * BufferingHints and written, as Firehose writes them to S3, under `bucketDir` (the object key is the path):
 * evaluated Prefix + `<delivery-stream>-<version>-<YYYY-MM-DD-HH-MM-SS>-<uuid>` + FileExtension,
 * gzip-compressed with CompressionFormat GZIP. Objects are written durably (a temp file fsync'd, renamed into
 * place, its directory fsync'd). Faults (throttling, unavailability, slow answers, failed PutRecordBatch
 * entries) can be injected. SigV4 signatures are not verified, but an Authorization header is required.
 * Never logs record content.
 *
 * Without `stateDir`, delivery streams and buffers live in memory only and `close()` drops buffered records.
 *
 * With `stateDir`, an acknowledged record is never lost, as with Firehose (the ingest Lambda answers 202 only
 * after Firehose acknowledged, and a 202 means durable):
 * - delivery streams are saved to `<stateDir>/delivery-streams.json` (temp file, fsync, rename, directory
 *   fsync) after every Create/UpdateDestination/Delete, and loaded on start;
 * - every accepted record is appended to `<stateDir>/buffers/<delivery-stream>.journal` (frames: 4-byte
 *   big-endian length + bytes) and fsync'd before PutRecord/PutRecordBatch answers; concurrent requests to a
 *   delivery stream share one write+fsync (group commit);
 * - sealing a buffer renames its journal to `<delivery-stream>.<n>.delivering` (new records go to a fresh
 *   journal), writes the object durably, then removes the `.delivering` file; a start replays the
 *   `.delivering` files (by n) and then the journal into the buffer, dropping a torn trailing frame (a write
 *   that was never acknowledged). So a crash at any point loses no acknowledged record; one after an object
 *   is written but before its `.delivering` file is removed delivers those records a second time: delivery
 *   is at-least-once, as Firehose's is. Replayed records count as arriving at the start (for the delivery
 *   stream's IntervalInSeconds and the object's name);
 * - DeleteDeliveryStream delivers the buffer (as without `stateDir`), removes the journal files, and only then
 *   forgets the delivery stream; it is DELETING meanwhile;
 * - `close()` leaves buffered records in their journals, delivered after the next start. A clean shutdown that
 *   wants its objects now calls `flush()` before `close()`.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname, join, resolve, sep } from "node:path";
import { gzipSync } from "node:zlib";
import {
  ensureDirectory,
  errorCode,
  fsyncDirectory,
  nodeSinkFileSystem,
  replaceFileDurably,
  StateFile,
} from "../adapters/sink-fs.js";
import { type Clock, type Logger, systemClock } from "../core/ports.js";

/** The one destination id of a delivery stream with a single S3 destination, as Firehose names it. */
export const EMULATED_DESTINATION_ID = "destinationId-000000000001";
const TARGET_PREFIX = "Firehose_20150804.";
const CONTENT_TYPE = "application/x-amz-json-1.1";
const ACCOUNT = "123456789012";
const MIB = 1024 * 1024;
/** Firehose's limits: 1,000 KiB per record, 500 records and 4 MiB per PutRecordBatch. */
const MAX_RECORD_BYTES = 1_024_000;
const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 4 * MIB;
/** Largest request body read (a full PutRecordBatch in base64 is ~5.6 MB). */
const MAX_BODY_BYTES = 16 * MIB;
/** Firehose's buffering defaults for an S3 destination. */
const DEFAULT_SIZE_MB = 5;
const DEFAULT_INTERVAL_SECONDS = 300;
/** Where objects are written before being renamed into place (outside `streams/` and `errors/`). */
const TEMP_DIR = ".firehose-emulator-tmp";
/** Under `stateDir`: the delivery streams, and the folder of the journals. */
const STREAMS_FILE = "delivery-streams.json";
const BUFFERS_DIR = "buffers";
const JOURNAL_SUFFIX = ".journal";
/** `<delivery-stream>.<n>.delivering`; delivery stream names may hold dots, the last two parts are ours. */
const DELIVERING_FILE = /^(.+)\.(\d+)\.delivering$/;
/** A journal frame: a 4-byte big-endian length, then the record's bytes. */
const FRAME_HEADER_BYTES = 4;

/** Options of {@link startFirehoseEmulator}. */
export interface FirehoseEmulatorOptions {
  /** The local "bucket": object keys are paths under it. */
  readonly bucketDir: string;
  /**
   * Keeps delivery streams and acknowledged, not yet delivered records across restarts and crashes (see the
   * file comment). @default none: everything in memory
   */
  readonly stateDir?: string;
  /** Arrival times, object names and buffer ages. @default systemClock */
  readonly clock?: Clock;
  /** Never given record content. @default silent */
  readonly logger?: Logger;
  /** How long a created delivery stream stays CREATING (by `clock`). @default 0: ACTIVE at once */
  readonly creatingMs?: number;
  /** How often buffers are checked for IntervalInSeconds (real time). @default 200 ms */
  readonly checkEveryMs?: number;
  /** Region in ARNs. @default us-east-1 */
  readonly region?: string;
}

/** Chooses PutRecordBatch entries to fail: `data` is the entry's bytes, `index` its place in the call. */
export type EntryPredicate = (data: Buffer, index: number) => boolean;

/** Injected faults; each applies to the next requests the emulator answers (any Firehose operation). */
export interface FirehoseFaults {
  /** Answer the next `n` requests with Firehose's throttling: ServiceUnavailableException "Slow down." (503). */
  throttleNext(n: number): void;
  /** Answer the next `n` requests with InternalFailure (500): a service error, not throttling. */
  unavailableNext(n: number): void;
  /** Wait this long before answering every request (0: no delay). */
  delayMs: number;
  /**
   * Fail PutRecordBatch entries with ErrorCode `errorCode`: a count fails the next `n` entries received
   * (across calls); a predicate fails every entry it matches until cleared with `failBatchEntries(0)`.
   */
  failBatchEntries(spec: number | EntryPredicate, errorCode?: string): void;
  /** Clears every fault. */
  reset(): void;
}

/** A running emulator. */
export interface FirehoseEmulator {
  /** `http://127.0.0.1:<port>`: the endpoint override for a FirehoseClient. */
  readonly endpoint: string;
  readonly faults: FirehoseFaults;
  /**
   * Writes every non-empty buffer now, waits for all writes, and returns the keys of all objects written
   * since the previous flush (by size, by age, by deletion, or by this flush), in write order.
   */
  flush(): Promise<string[]>;
  /**
   * Flushes nothing: stops the timer and the server, and waits for the object writes under way. Buffered
   * records are dropped without `stateDir`, and stay in their journals (delivered after the next start) with
   * it; call `flush()` first to have them written now.
   */
  close(): Promise<void>;
}

/** An error answered in the JSON 1.1 shape: `{"__type", "message"}` and `x-amzn-ErrorType`. */
class FirehoseError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

interface BufferingHints {
  readonly SizeInMBs: number;
  readonly IntervalInSeconds: number;
}

/** One delivery stream of the emulated account. */
interface EmulatedStream {
  readonly name: string;
  readonly type: string;
  readonly createdAt: number;
  readonly activeAt: number;
  readonly encryption: Json | undefined;
  version: number;
  updatedAt: number;
  destination: Json;
  /** Records waiting for delivery, concatenated in arrival order. */
  chunks: Buffer[];
  bytes: number;
  /** Arrival time of the oldest buffered record. */
  firstArrival: number;
  /** Set while a DeleteDeliveryStream with `stateDir` delivers the buffer: DELETING, taking nothing. */
  deleting: boolean;
  /** The durable side of the buffer, with `stateDir` only. */
  readonly journal: Journal | undefined;
}

/** What of a delivery stream `<stateDir>/delivery-streams.json` keeps. */
interface SavedStream {
  readonly name: string;
  readonly type: string;
  readonly createdAt: number;
  readonly activeAt: number;
  readonly encryption: Json | null;
  readonly version: number;
  readonly updatedAt: number;
  readonly destination: Json;
}

/**
 * The journal files of one delivery stream. Its buffer always holds exactly the records of `held` (in order)
 * followed by those of the journal file, so sealing the buffer can swap them all out together.
 */
interface Journal {
  /** `<stateDir>/buffers`. */
  readonly dir: string;
  /** `<dir>/<delivery-stream>.journal`: records acknowledged since the last seal. */
  readonly path: string;
  /** Open for appending; undefined until the first append after a start or a seal. */
  handle: FileHandle | undefined;
  /** Bytes of whole frames in the journal file. */
  size: number;
  /** Serializes appends and seals, which keeps the buffer and the journal files in step. */
  tail: Promise<void>;
  /** Appends waiting for the next group commit. */
  waiting: PendingAppend[];
  commitQueued: boolean;
  sealQueued: boolean;
  /** `.delivering` files whose records are in the buffer (replayed at start, or a seal that failed midway). */
  held: string[];
  /** Every `.delivering` file still on disk (its object not written yet, or its removal failed). */
  readonly undelivered: Set<string>;
  /** Object writes of this delivery stream under way; they never reject. */
  readonly writes: Set<Promise<void>>;
  /** The `n` of the next `.delivering` file. */
  nextSeal: number;
  /** A failed append could not be cut back off the journal: it takes nothing more this run. */
  broken: boolean;
}

interface PendingAppend {
  readonly records: readonly Buffer[];
  resolve(): void;
  reject(error: unknown): void;
}

const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Starts the emulator on 127.0.0.1 (a free port); with `stateDir`, after loading its saved state. */
export async function startFirehoseEmulator(options: FirehoseEmulatorOptions): Promise<FirehoseEmulator> {
  const { bucketDir } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const creatingMs = options.creatingMs ?? 0;
  const region = options.region ?? "us-east-1";
  const stateDir = options.stateDir === undefined ? undefined : resolve(options.stateDir);
  const streams = new Map<string, EmulatedStream>();
  const written: string[] = [];
  /** Every delivery under way (seals and object writes); none of them rejects. */
  const writes = new Set<Promise<void>>();
  const streamsFile =
    stateDir === undefined ? undefined : new StateFile(join(stateDir, STREAMS_FILE), renderStreams);
  let closed = false;

  let throttles = 0;
  let unavailables = 0;
  let failCount = 0;
  let failPredicate: EntryPredicate | undefined;
  let failCode = "ServiceUnavailableException";
  const faults: FirehoseFaults = {
    throttleNext: (n) => {
      throttles = Math.max(0, n);
    },
    unavailableNext: (n) => {
      unavailables = Math.max(0, n);
    },
    delayMs: 0,
    failBatchEntries: (spec, errorCode = "ServiceUnavailableException") => {
      failCode = errorCode;
      if (typeof spec === "number") {
        failCount = Math.max(0, spec);
        failPredicate = undefined;
      } else {
        failCount = 0;
        failPredicate = spec;
      }
    },
    reset: () => {
      throttles = 0;
      unavailables = 0;
      failCount = 0;
      failPredicate = undefined;
      faults.delayMs = 0;
    },
  };

  const arn = (name: string) => `arn:aws:firehose:${region}:${ACCOUNT}:deliverystream/${name}`;

  function existing(body: Json): EmulatedStream {
    const name = requiredName(body);
    const stream = streams.get(name);
    if (stream === undefined) {
      throw new FirehoseError(
        "ResourceNotFoundException",
        `Firehose ${name} not found under account ${ACCOUNT}.`,
      );
    }
    return stream;
  }

  function status(stream: EmulatedStream): "CREATING" | "ACTIVE" | "DELETING" {
    if (stream.deleting) return "DELETING";
    return clock.now() >= stream.activeAt ? "ACTIVE" : "CREATING";
  }

  /** An ACTIVE delivery stream; one still CREATING refuses with `notActive` (as Firehose does per operation). */
  function active(body: Json, notActive: string): EmulatedStream {
    const stream = existing(body);
    if (status(stream) !== "ACTIVE") {
      throw new FirehoseError(notActive, `Firehose ${stream.name} under account ${ACCOUNT} is not ACTIVE.`);
    }
    return stream;
  }

  function newStream(saved: SavedStream, journalDir: string | undefined): EmulatedStream {
    return {
      ...saved,
      encryption: saved.encryption ?? undefined,
      chunks: [],
      bytes: 0,
      firstArrival: clock.now(),
      deleting: false,
      journal: journalDir === undefined ? undefined : newJournal(journalDir, saved.name),
    };
  }

  /** Tracks a delivery for flush() and close(); `work` must not reject. */
  function track(work: Promise<void>): void {
    writes.add(work);
    void work.finally(() => writes.delete(work));
  }

  /** Takes the buffer of `stream` (emptying it) as an object's key and body; undefined when it is empty. */
  function takeBuffer(stream: EmulatedStream): { key: string; body: Buffer } | undefined {
    if (stream.bytes === 0) return undefined;
    const data = Buffer.concat(stream.chunks, stream.bytes);
    const arrival = new Date(stream.firstArrival);
    stream.chunks = [];
    stream.bytes = 0;
    const destination = stream.destination;
    const prefix = evaluatePrefix(String(destination.Prefix ?? ""), arrival);
    const name = `${stream.name}-${stream.version}-${objectTimestamp(arrival)}-${randomUUID()}`;
    const key = `${prefix}${name}${String(destination.FileExtension ?? "")}`;
    written.push(key);
    return { key, body: destination.CompressionFormat === "GZIP" ? gzipSync(data) : data };
  }

  /** Seals the buffer of `stream` into one object (if it holds anything); the write is tracked. */
  function deliver(stream: EmulatedStream): void {
    if (stream.journal !== undefined) {
      deliverJournaled(stream, stream.journal);
      return;
    }
    const taken = takeBuffer(stream);
    if (taken === undefined) return;
    const { key, body } = taken;
    track(
      writeObject(bucketDir, key, body).then(
        () => logger.info("firehose emulator: object written", { deliveryStream: stream.name, key }),
        (error: unknown) => logObjectWriteFailure(stream, key, error),
      ),
    );
  }

  function logObjectWriteFailure(stream: EmulatedStream, key: string, error: unknown): void {
    logger.error("firehose emulator: object write failed", {
      deliveryStream: stream.name,
      key,
      errorName: error instanceof Error ? error.name : typeof error,
      errorCode: errorCode(error),
    });
  }

  function pushRecord(stream: EmulatedStream, record: Buffer): void {
    if (stream.bytes === 0) stream.firstArrival = clock.now();
    stream.chunks.push(record);
    stream.bytes += record.byteLength;
  }

  function append(stream: EmulatedStream, records: readonly Buffer[]): void {
    for (const record of records) {
      pushRecord(stream, record);
      if (stream.bytes >= hintsOf(stream).SizeInMBs * MIB) deliver(stream);
    }
  }

  function deliverAged(): void {
    const now = clock.now();
    for (const stream of streams.values()) {
      if (stream.bytes > 0 && now - stream.firstArrival >= hintsOf(stream).IntervalInSeconds * 1000) {
        deliver(stream);
      }
    }
  }

  // ---- Durability (with stateDir) ----

  /** Runs `task` after every earlier append and seal of the journal. */
  function serialize(journal: Journal, task: () => Promise<void>): Promise<void> {
    const run = journal.tail.then(task);
    journal.tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves once `records` are fsync'd in the journal and in the buffer (in order): acknowledgeable. */
  function appendJournaled(
    stream: EmulatedStream,
    journal: Journal,
    records: readonly Buffer[],
  ): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolvePromise, reject) => {
      journal.waiting.push({ records, resolve: resolvePromise, reject });
      if (!journal.commitQueued) {
        journal.commitQueued = true;
        void serialize(journal, () => commit(stream, journal));
      }
    });
  }

  /** One group commit: every append waiting, in one write+fsync (more only where the buffer fills up). */
  async function commit(stream: EmulatedStream, journal: Journal): Promise<void> {
    journal.commitQueued = false;
    const group = journal.waiting.splice(0);
    try {
      if (journal.broken) throw new Error("the delivery stream's journal is unusable");
      const records = group.flatMap((entry) => entry.records);
      let start = 0;
      while (start < records.length) {
        // Up to the record that fills the buffer, which is sealed right after it, as without stateDir: the
        // records after it must go to the fresh journal, not to the one the seal swaps out.
        const limit = hintsOf(stream).SizeInMBs * MIB;
        let end = start;
        let bytes = stream.bytes;
        do {
          bytes += (records[end] as Buffer).byteLength;
          end += 1;
        } while (end < records.length && bytes < limit);
        const segment = records.slice(start, end);
        await appendFrames(journal, segment);
        for (const record of segment) pushRecord(stream, record);
        // The records are durable now; a failed seal leaves them buffered for a later one.
        if (stream.bytes >= limit) await sealJournaled(stream, journal).catch(logSealFailure(stream));
        start = end;
      }
    } catch (error) {
      for (const entry of group) entry.reject(error);
      return;
    }
    for (const entry of group) entry.resolve();
  }

  /** Appends `records` as frames to the journal file and fsyncs it. */
  async function appendFrames(journal: Journal, records: readonly Buffer[]): Promise<void> {
    if (journal.handle === undefined) {
      const handle = await open(journal.path, "a");
      try {
        journal.size = (await handle.stat()).size;
        // The journal's name must be durable before anything in it is acknowledged.
        await fsyncDirectory(nodeSinkFileSystem, journal.dir);
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
      journal.handle = handle;
    }
    const handle = journal.handle;
    const frames = encodeFrames(records);
    try {
      await handle.appendFile(frames);
      await handle.datasync();
    } catch (error) {
      // Not acknowledged: cut it back off, so that no torn frame sits before the frames of later appends.
      try {
        await handle.truncate(journal.size);
        await handle.datasync();
      } catch {
        journal.broken = true;
        logger.error("firehose emulator: journal could not be cut back after a failed append", {
          journal: basename(journal.path),
          errorCode: errorCode(error),
        });
      }
      throw error;
    }
    journal.size += frames.byteLength;
  }

  function deliverJournaled(stream: EmulatedStream, journal: Journal): void {
    if (journal.sealQueued) return;
    journal.sealQueued = true;
    track(
      serialize(journal, async () => {
        journal.sealQueued = false;
        await sealJournaled(stream, journal);
      }).catch(logSealFailure(stream)),
    );
  }

  function logSealFailure(stream: EmulatedStream): (error: unknown) => void {
    return (error) =>
      logger.error("firehose emulator: sealing a buffer failed", {
        deliveryStream: stream.name,
        errorCode: errorCode(error),
      });
  }

  /**
   * Seals the buffer (runs serialized): the journal becomes a `.delivering` file, new records go to a fresh
   * journal, and the object is written (tracked); once it is durable, the `.delivering` files of its records
   * are removed. A crash between the two delivers those records again on the next start (at-least-once).
   */
  async function sealJournaled(stream: EmulatedStream, journal: Journal): Promise<void> {
    if (stream.bytes === 0) return;
    if (journal.handle !== undefined) {
      const handle = journal.handle;
      journal.handle = undefined;
      await handle.close();
    }
    if (journal.size > 0) {
      const delivering = join(journal.dir, `${stream.name}.${journal.nextSeal}.delivering`);
      journal.nextSeal += 1;
      await rename(journal.path, delivering);
      journal.size = 0;
      journal.held.push(delivering);
      journal.undelivered.add(delivering);
      // Durable before a fresh journal of the same name is created.
      await fsyncDirectory(nodeSinkFileSystem, journal.dir);
    }
    const files = journal.held.splice(0);
    const taken = takeBuffer(stream);
    if (taken === undefined) return;
    const { key, body } = taken;
    const write = (async () => {
      try {
        await writeObject(bucketDir, key, body);
      } catch (error) {
        // The records stay in their `.delivering` files: the next start delivers them.
        logObjectWriteFailure(stream, key, error);
        return;
      }
      logger.info("firehose emulator: object written", { deliveryStream: stream.name, key });
      try {
        for (const file of files) {
          await rm(file, { force: true });
          journal.undelivered.delete(file);
        }
        await fsyncDirectory(nodeSinkFileSystem, journal.dir);
      } catch (error) {
        logger.error("firehose emulator: removing a delivered journal failed", {
          deliveryStream: stream.name,
          errorCode: errorCode(error),
        });
      }
    })();
    journal.writes.add(write);
    void write.finally(() => journal.writes.delete(write));
    track(write);
  }

  /**
   * Replays the journal files of `stream` into its buffer (runs serialized): its `.delivering` files by their
   * `n`, then its journal. A torn trailing frame was never acknowledged: it is cut off.
   */
  async function replayJournal(stream: EmulatedStream, journal: Journal): Promise<void> {
    const delivering: { readonly n: number; readonly path: string }[] = [];
    let hasJournal = false;
    for (const entry of await readdir(journal.dir)) {
      const file = parseJournalFile(entry);
      if (file?.name !== stream.name) continue;
      if (file.n === undefined) hasJournal = true;
      else delivering.push({ n: file.n, path: join(journal.dir, entry) });
    }
    delivering.sort((a, b) => a.n - b.n);
    for (const { n, path } of delivering) {
      journal.nextSeal = Math.max(journal.nextSeal, n + 1);
      const records = await readJournalFile(path);
      if (records.length === 0) {
        await rm(path, { force: true });
        await fsyncDirectory(nodeSinkFileSystem, journal.dir);
        continue;
      }
      for (const record of records) pushRecord(stream, record);
      journal.held.push(path);
      journal.undelivered.add(path);
    }
    if (hasJournal) {
      const records = await readJournalFile(journal.path);
      for (const record of records) pushRecord(stream, record);
      journal.size = records.reduce((sum, record) => sum + FRAME_HEADER_BYTES + record.byteLength, 0);
    }
    if (stream.bytes > 0) {
      logger.info("firehose emulator: buffer replayed", {
        deliveryStream: stream.name,
        bytes: stream.bytes,
        files: delivering.length + (hasJournal ? 1 : 0),
      });
    }
    if (stream.bytes >= hintsOf(stream).SizeInMBs * MIB) deliverJournaled(stream, journal);
  }

  /** The whole frames of a journal file; a torn tail is cut off the file. */
  async function readJournalFile(path: string): Promise<Buffer[]> {
    const data = await readFile(path);
    const { records, length } = decodeFrames(data);
    if (length < data.byteLength) {
      logger.warn("firehose emulator: torn journal tail dropped", {
        journal: basename(path),
        droppedBytes: data.byteLength - length,
      });
      const handle = await open(path, "r+");
      try {
        await handle.truncate(length);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }
    return records;
  }

  /** Every delivery stream as `<stateDir>/delivery-streams.json` holds them. */
  function renderStreams(): string {
    const saved = [...streams.values()].map(
      (stream): SavedStream => ({
        name: stream.name,
        type: stream.type,
        createdAt: stream.createdAt,
        activeAt: stream.activeAt,
        encryption: stream.encryption ?? null,
        version: stream.version,
        updatedAt: stream.updatedAt,
        destination: stream.destination,
      }),
    );
    return `${JSON.stringify({ deliveryStreams: saved }, null, 2)}\n`;
  }

  /** Loads the saved delivery streams and replays their journals. */
  async function loadState(root: string): Promise<void> {
    const journalDir = join(root, BUFFERS_DIR);
    await ensureDirectory(nodeSinkFileSystem, journalDir);
    await rm(join(root, `${STREAMS_FILE}.tmp`), { force: true });
    let text: string | undefined;
    try {
      text = await readFile(join(root, STREAMS_FILE), "utf8");
    } catch (error) {
      if (errorCode(error) !== "ENOENT") throw error;
    }
    // A file that does not parse is not taken for "no delivery streams": starting fails instead.
    const saved: unknown = text === undefined ? { deliveryStreams: [] } : JSON.parse(text);
    const list = isObject(saved) && Array.isArray(saved.deliveryStreams) ? saved.deliveryStreams : undefined;
    if (list === undefined) throw new Error(`${STREAMS_FILE} holds no deliveryStreams list`);
    for (const entry of list) {
      const stream = newStream(parseSavedStream(entry), journalDir);
      streams.set(stream.name, stream);
    }
    for (const stream of streams.values()) {
      if (stream.journal !== undefined)
        await serialize(stream.journal, () => replayJournal(stream, stream.journal as Journal));
    }
    const orphans = (await readdir(journalDir)).filter((entry) => {
      const file = parseJournalFile(entry);
      return file !== undefined && !streams.has(file.name);
    });
    if (orphans.length > 0) {
      // Left alone (a CreateDeliveryStream of that name adopts them); never expected, as deletion removes them.
      logger.warn("firehose emulator: journal files of unknown delivery streams", { files: orphans });
    }
    logger.info("firehose emulator: state loaded", { deliveryStreams: streams.size });
  }

  /** DeleteDeliveryStream with stateDir: delivers the buffer, removes the journal files, then forgets it. */
  async function deleteJournaled(stream: EmulatedStream, journal: Journal): Promise<void> {
    stream.deleting = true;
    try {
      await serialize(journal, async () => {
        await sealJournaled(stream, journal);
        while (journal.writes.size > 0) await Promise.all([...journal.writes]);
        if (journal.undelivered.size > 0) {
          throw new FirehoseError(
            "InternalFailure",
            `the buffer of ${stream.name} could not be delivered (see the emulator's log); it is delivered after a restart`,
            500,
          );
        }
        if (journal.handle !== undefined) {
          const handle = journal.handle;
          journal.handle = undefined;
          await handle.close();
        }
        await rm(journal.path, { force: true });
        journal.size = 0;
        await fsyncDirectory(nodeSinkFileSystem, journal.dir);
      });
    } catch (error) {
      stream.deleting = false;
      throw error;
    }
    streams.delete(stream.name);
    await streamsFile?.save();
  }

  const operations: Record<string, (body: Json) => Json | Promise<Json>> = {
    CreateDeliveryStream: (body) => {
      const name = requiredName(body);
      if (streams.has(name)) {
        throw new FirehoseError(
          "ResourceInUseException",
          `Firehose ${name} under accountId ${ACCOUNT} already exists`,
        );
      }
      const config = body.ExtendedS3DestinationConfiguration;
      if (!isObject(config)) {
        throw new FirehoseError(
          "InvalidArgumentException",
          "the emulator supports ExtendedS3DestinationConfiguration destinations only",
        );
      }
      const now = clock.now();
      const encryption = body.DeliveryStreamEncryptionConfigurationInput;
      const stream = newStream(
        {
          name,
          type: typeof body.DeliveryStreamType === "string" ? body.DeliveryStreamType : "DirectPut",
          createdAt: now,
          activeAt: now + creatingMs,
          encryption: isObject(encryption) ? encryption : null,
          version: 1,
          updatedAt: now,
          destination: describeDestination(config),
        },
        stateDir === undefined ? undefined : join(stateDir, BUFFERS_DIR),
      );
      streams.set(name, stream);
      logger.info("firehose emulator: delivery stream created", { deliveryStream: name });
      const answer = { DeliveryStreamARN: arn(name) };
      const { journal } = stream;
      if (stateDir === undefined || journal === undefined) return answer;
      // Journal files left under this name are adopted; queued before any append can be.
      const adopted = serialize(journal, () => replayJournal(stream, journal));
      return Promise.all([streamsFile?.save(), adopted]).then(() => answer);
    },
    DescribeDeliveryStream: (body) => {
      const stream = existing(body);
      return {
        DeliveryStreamDescription: {
          DeliveryStreamName: stream.name,
          DeliveryStreamARN: arn(stream.name),
          DeliveryStreamStatus: status(stream),
          DeliveryStreamType: stream.type,
          VersionId: String(stream.version),
          CreateTimestamp: stream.createdAt / 1000,
          LastUpdateTimestamp: stream.updatedAt / 1000,
          ...(stream.encryption === undefined
            ? {}
            : {
                DeliveryStreamEncryptionConfiguration: {
                  KeyType: stream.encryption.KeyType ?? "AWS_OWNED_CMK",
                  Status: "ENABLED",
                },
              }),
          Destinations: [
            {
              DestinationId: EMULATED_DESTINATION_ID,
              ExtendedS3DestinationDescription: stream.destination,
            },
          ],
          HasMoreDestinations: false,
        },
      };
    },
    UpdateDestination: (body) => {
      const stream = active(body, "ResourceInUseException");
      if (body.CurrentDeliveryStreamVersionId !== String(stream.version)) {
        throw new FirehoseError(
          "ConcurrentModificationException",
          `Delivery stream ${stream.name} version id ${String(body.CurrentDeliveryStreamVersionId)} does not match the current version id ${stream.version}`,
        );
      }
      if (body.DestinationId !== EMULATED_DESTINATION_ID) {
        throw new FirehoseError(
          "InvalidArgumentException",
          `Destination ${String(body.DestinationId)} not found for delivery stream ${stream.name}`,
        );
      }
      const update = body.ExtendedS3DestinationUpdate;
      if (!isObject(update)) {
        throw new FirehoseError(
          "InvalidArgumentException",
          "the emulator supports ExtendedS3DestinationUpdate only",
        );
      }
      stream.destination = describeDestination({ ...stream.destination, ...update });
      stream.version += 1;
      stream.updatedAt = clock.now();
      return streamsFile === undefined ? {} : streamsFile.save().then(() => ({}));
    },
    DeleteDeliveryStream: (body) => {
      const stream = active(body, "ResourceInUseException");
      if (stateDir !== undefined && stream.journal !== undefined) {
        return deleteJournaled(stream, stream.journal).then(() => ({}));
      }
      // Whatever is buffered is delivered first (real Firehose may drop it; a test should not).
      deliver(stream);
      streams.delete(stream.name);
      return {};
    },
    PutRecord: (body) => {
      const stream = active(body, "ResourceNotFoundException");
      const record = body.Record;
      const data = recordData(isObject(record) ? record.Data : undefined);
      const answer = { RecordId: recordId(), Encrypted: stream.encryption !== undefined };
      if (stream.journal !== undefined)
        return appendJournaled(stream, stream.journal, [data]).then(() => answer);
      append(stream, [data]);
      return answer;
    },
    PutRecordBatch: (body) => {
      const stream = active(body, "ResourceNotFoundException");
      const records = Array.isArray(body.Records) ? body.Records : [];
      if (records.length === 0 || records.length > MAX_BATCH_RECORDS) {
        throw new FirehoseError(
          "InvalidArgumentException",
          `Records must hold 1 to ${MAX_BATCH_RECORDS} records; got ${records.length}`,
        );
      }
      const data = records.map((record: unknown) => recordData(isObject(record) ? record.Data : undefined));
      const total = data.reduce((sum, entry) => sum + entry.byteLength, 0);
      if (total > MAX_BATCH_BYTES) {
        throw new FirehoseError(
          "InvalidArgumentException",
          `PutRecordBatch data must be at most ${MAX_BATCH_BYTES} bytes; got ${total}`,
        );
      }
      const accepted: Buffer[] = [];
      const responses = data.map((entry, index): Json => {
        if (shouldFail(entry, index)) {
          return { ErrorCode: failCode, ErrorMessage: "Slow down." };
        }
        accepted.push(entry);
        return { RecordId: recordId() };
      });
      const answer = {
        FailedPutCount: data.length - accepted.length,
        Encrypted: stream.encryption !== undefined,
        RequestResponses: responses,
      };
      if (stream.journal !== undefined) {
        return appendJournaled(stream, stream.journal, accepted).then(() => answer);
      }
      append(stream, accepted);
      return answer;
    },
  };

  function shouldFail(entry: Buffer, index: number): boolean {
    if (failPredicate !== undefined) return failPredicate(entry, index);
    if (failCount > 0) {
      failCount -= 1;
      return true;
    }
    return false;
  }

  /** The one injected fault due for this request, if any. */
  function injectedFault(): FirehoseError | undefined {
    if (throttles > 0) {
      throttles -= 1;
      return new FirehoseError("ServiceUnavailableException", "Slow down.", 503);
    }
    if (unavailables > 0) {
      unavailables -= 1;
      return new FirehoseError("InternalFailure", "We encountered an internal error. Please try again.", 500);
    }
    return undefined;
  }

  async function handle(request: IncomingMessage): Promise<{ status: number; body: Json }> {
    const raw = await readBody(request);
    if (faults.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.delayMs));
    if (request.method !== "POST") {
      throw new FirehoseError("UnknownOperationException", `${request.method ?? "?"} is not supported`);
    }
    if (request.headers.authorization === undefined) {
      throw new FirehoseError("MissingAuthenticationTokenException", "Missing Authentication Token", 403);
    }
    const target = String(request.headers["x-amz-target"] ?? "");
    const operation = target.startsWith(TARGET_PREFIX)
      ? operations[target.slice(TARGET_PREFIX.length)]
      : undefined;
    if (operation === undefined) {
      throw new FirehoseError("UnknownOperationException", `unknown operation ${target || "(none)"}`);
    }
    let body: unknown;
    try {
      body = raw.byteLength === 0 ? {} : JSON.parse(raw.toString("utf8"));
    } catch {
      throw new FirehoseError("SerializationException", "the request body is not JSON");
    }
    if (!isObject(body))
      throw new FirehoseError("SerializationException", "the request body is not an object");
    const fault = injectedFault();
    if (fault !== undefined) throw fault;
    // With stateDir, nothing is taken once close() began: the journals are being closed.
    if (closed && stateDir !== undefined) {
      throw new FirehoseError("InternalFailure", "the emulator is closed", 500);
    }
    return { status: 200, body: await operation(body) };
  }

  function answer(response: ServerResponse, status: number, body: Json, errorType?: string): void {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      "content-type": CONTENT_TYPE,
      "content-length": Buffer.byteLength(text),
      "x-amzn-requestid": randomUUID(),
      ...(errorType === undefined ? {} : { "x-amzn-errortype": errorType }),
    });
    response.end(text);
  }

  if (stateDir !== undefined) await loadState(stateDir);
  const server = createServer((request, response) => {
    handle(request).then(
      ({ status: code, body }) => answer(response, code, body),
      (error: unknown) => {
        const failure =
          error instanceof FirehoseError
            ? error
            : new FirehoseError("InternalFailure", "internal error of the emulator", 500);
        if (!(error instanceof FirehoseError)) {
          logger.error("firehose emulator: request failed", {
            errorName: error instanceof Error ? error.name : typeof error,
            errorCode: errorCode(error),
          });
        }
        answer(response, failure.status, { __type: failure.type, message: failure.message }, failure.type);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const timer = setInterval(deliverAged, options.checkEveryMs ?? 200);
  timer.unref();
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    faults,
    flush: async () => {
      for (const stream of streams.values()) deliver(stream);
      while (writes.size > 0) await Promise.all([...writes]);
      return written.splice(0);
    },
    close: async () => {
      closed = true;
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // With stateDir: appends under way finish (their records stay journaled), then the journals close.
      const journals = [...streams.values()].flatMap((stream) => stream.journal ?? []);
      for (const journal of journals) await journal.tail;
      while (writes.size > 0) await Promise.all([...writes]);
      await streamsFile?.settled();
      for (const journal of journals) {
        const handle = journal.handle;
        journal.handle = undefined;
        await handle?.close();
      }
    },
  };
}

/**
 * Evaluates a Firehose S3 prefix expression at `time` (UTC): `!{timestamp:<pattern>}` with the
 * DateTimeFormatter letters yyyy, yy, MM, dd, HH, mm, ss (anything else kept as is, 'quoted' text unquoted),
 * and `!{firehose:error-output-type}` / `!{firehose:random-string}`.
 */
export function evaluatePrefix(expression: string, time: Date, errorOutputType?: string): string {
  return expression.replace(/!\{([a-z]+):([^}]*)\}/g, (whole, namespace: string, argument: string) => {
    if (namespace === "timestamp") return formatTimestamp(argument, time);
    if (namespace === "firehose" && argument === "error-output-type") {
      if (errorOutputType === undefined) {
        throw new FirehoseError(
          "InvalidArgumentException",
          "!{firehose:error-output-type} is only allowed in ErrorOutputPrefix",
        );
      }
      return errorOutputType;
    }
    if (namespace === "firehose" && argument === "random-string") return randomBytes(6).toString("hex");
    throw new FirehoseError("InvalidArgumentException", `unsupported prefix expression ${whole}`);
  });
}

function formatTimestamp(pattern: string, time: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const fields: Record<string, string> = {
    yyyy: String(time.getUTCFullYear()),
    yy: two(time.getUTCFullYear() % 100),
    MM: two(time.getUTCMonth() + 1),
    dd: two(time.getUTCDate()),
    HH: two(time.getUTCHours()),
    mm: two(time.getUTCMinutes()),
    ss: two(time.getUTCSeconds()),
  };
  return pattern.replace(/'([^']*)'|yyyy|yy|MM|dd|HH|mm|ss/g, (token, quoted: string | undefined) =>
    quoted !== undefined ? quoted : (fields[token] ?? token),
  );
}

/** `YYYY-MM-DD-HH-MM-SS` in UTC, as in Firehose's object names. */
function objectTimestamp(time: Date): string {
  return formatTimestamp("yyyy-MM-dd-HH-mm-ss", time);
}

/**
 * A destination as DescribeDeliveryStream reports it: the configuration with Firehose's defaults filled in.
 * Its prefix expressions are checked here, so a delivery never fails on them.
 */
function describeDestination(config: Json): Json {
  const sample = new Date(0);
  evaluatePrefix(String(config.Prefix ?? ""), sample);
  evaluatePrefix(String(config.ErrorOutputPrefix ?? ""), sample, "processing-failed");
  const hints = isObject(config.BufferingHints) ? config.BufferingHints : {};
  return {
    ...config,
    BufferingHints: {
      SizeInMBs: typeof hints.SizeInMBs === "number" ? hints.SizeInMBs : DEFAULT_SIZE_MB,
      IntervalInSeconds:
        typeof hints.IntervalInSeconds === "number" ? hints.IntervalInSeconds : DEFAULT_INTERVAL_SECONDS,
    },
    CompressionFormat:
      typeof config.CompressionFormat === "string" ? config.CompressionFormat : "UNCOMPRESSED",
    EncryptionConfiguration: isObject(config.EncryptionConfiguration)
      ? config.EncryptionConfiguration
      : { NoEncryptionConfig: "NoEncryption" },
    S3BackupMode: typeof config.S3BackupMode === "string" ? config.S3BackupMode : "Disabled",
  };
}

function hintsOf(stream: EmulatedStream): BufferingHints {
  return stream.destination.BufferingHints as BufferingHints;
}

function requiredName(body: Json): string {
  const name = body.DeliveryStreamName;
  if (typeof name !== "string" || !/^[a-zA-Z0-9_.-]{1,64}$/.test(name)) {
    throw new FirehoseError("InvalidArgumentException", "DeliveryStreamName is missing or invalid");
  }
  return name;
}

function recordData(data: unknown): Buffer {
  if (typeof data !== "string") throw new FirehoseError("InvalidArgumentException", "Record.Data is missing");
  const bytes = Buffer.from(data, "base64");
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_RECORD_BYTES) {
    throw new FirehoseError(
      "InvalidArgumentException",
      `Record.Data must be 1 to ${MAX_RECORD_BYTES} bytes; got ${bytes.byteLength}`,
    );
  }
  return bytes;
}

/** An opaque record id, shaped like Firehose's (base64, ~200 characters). */
function recordId(): string {
  return randomBytes(144).toString("base64");
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", () => {
      if (size > MAX_BODY_BYTES) {
        reject(new FirehoseError("SerializationException", `request body over ${MAX_BODY_BYTES} bytes`, 413));
      } else {
        resolve(Buffer.concat(chunks));
      }
    });
    request.on("error", reject);
  });
}

/** Writes `key` under `bucketDir` atomically and durably, through a temp file in the bucket's hidden folder. */
async function writeObject(bucketDir: string, key: string, body: Buffer): Promise<void> {
  const root = resolve(bucketDir);
  const path = resolve(root, ...key.split("/"));
  if (!path.startsWith(`${root}${sep}`)) throw new Error("object key leaves the bucket");
  const temp = join(root, TEMP_DIR, randomUUID());
  await mkdir(dirname(temp), { recursive: true });
  await ensureDirectory(nodeSinkFileSystem, dirname(path));
  await replaceFileDurably(path, body, { temp });
}

function newJournal(dir: string, name: string): Journal {
  return {
    dir,
    path: join(dir, `${name}${JOURNAL_SUFFIX}`),
    handle: undefined,
    size: 0,
    tail: Promise.resolve(),
    waiting: [],
    commitQueued: false,
    sealQueued: false,
    held: [],
    undelivered: new Set(),
    writes: new Set(),
    nextSeal: 1,
    broken: false,
  };
}

/** The delivery stream a file of the journal folder belongs to, and its `n` for a `.delivering` file. */
function parseJournalFile(entry: string): { readonly name: string; readonly n?: number } | undefined {
  if (entry.endsWith(JOURNAL_SUFFIX) && entry.length > JOURNAL_SUFFIX.length) {
    return { name: entry.slice(0, -JOURNAL_SUFFIX.length) };
  }
  const match = DELIVERING_FILE.exec(entry);
  return match === null ? undefined : { name: match[1] as string, n: Number(match[2]) };
}

/** Frames records for a journal: each a 4-byte big-endian length, then its bytes. */
function encodeFrames(records: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const record of records) {
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE(record.byteLength);
    parts.push(header, record);
  }
  return Buffer.concat(parts);
}

/**
 * The records of whole frames at the start of `data`, and their length. The first frame that is incomplete
 * (or has a length no record can have) ends them: a torn append, never acknowledged.
 */
function decodeFrames(data: Buffer): { records: Buffer[]; length: number } {
  const records: Buffer[] = [];
  let offset = 0;
  while (offset + FRAME_HEADER_BYTES <= data.byteLength) {
    const size = data.readUInt32BE(offset);
    const end = offset + FRAME_HEADER_BYTES + size;
    if (size === 0 || size > MAX_RECORD_BYTES || end > data.byteLength) break;
    records.push(data.subarray(offset + FRAME_HEADER_BYTES, end));
    offset = end;
  }
  return { records, length: offset };
}

/** A saved delivery stream, checked. */
function parseSavedStream(entry: unknown): SavedStream {
  if (
    !isObject(entry) ||
    typeof entry.name !== "string" ||
    typeof entry.type !== "string" ||
    typeof entry.createdAt !== "number" ||
    typeof entry.activeAt !== "number" ||
    typeof entry.version !== "number" ||
    typeof entry.updatedAt !== "number" ||
    !isObject(entry.destination) ||
    !isObject(entry.destination.BufferingHints)
  ) {
    throw new Error(`${STREAMS_FILE} holds an invalid delivery stream`);
  }
  return {
    name: entry.name,
    type: entry.type,
    createdAt: entry.createdAt,
    activeAt: entry.activeAt,
    encryption: isObject(entry.encryption) ? entry.encryption : null,
    version: entry.version,
    updatedAt: entry.updatedAt,
    destination: entry.destination,
  };
}

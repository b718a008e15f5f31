/**
 * A Firehose-compatible endpoint on loopback, for running the AWS code path offline: it speaks the real wire
 * protocol (AWS JSON 1.1, `X-Amz-Target: Firehose_20150804.<Operation>`), so the real @aws-sdk/client-firehose
 * clients of the ingest Lambda and the provisioner talk to it through an endpoint override
 * (`endpoint`, or `AWS_ENDPOINT_URL_FIREHOSE`). Delivery streams live in memory; records are buffered per
 * delivery stream by its own BufferingHints and written, as Firehose writes them to S3, under `bucketDir`
 * (the object key is the path): evaluated Prefix + `<delivery-stream>-<version>-<YYYY-MM-DD-HH-MM-SS>-<uuid>`
 * + FileExtension, gzip-compressed with CompressionFormat GZIP. Faults (throttling, unavailability, slow
 * answers, failed PutRecordBatch entries) can be injected. SigV4 signatures are not verified, but an
 * Authorization header is required. Never logs record content.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve, sep } from "node:path";
import { gzipSync } from "node:zlib";
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

/** Options of {@link startFirehoseEmulator}. */
export interface FirehoseEmulatorOptions {
  /** The local "bucket": object keys are paths under it. */
  readonly bucketDir: string;
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
  /** Flushes nothing: stops the timer and the server (buffered records are dropped). */
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
}

const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Starts the emulator on 127.0.0.1 (a free port). */
export async function startFirehoseEmulator(options: FirehoseEmulatorOptions): Promise<FirehoseEmulator> {
  const { bucketDir } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const creatingMs = options.creatingMs ?? 0;
  const region = options.region ?? "us-east-1";
  const streams = new Map<string, EmulatedStream>();
  const written: string[] = [];
  const writes = new Set<Promise<void>>();

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

  function status(stream: EmulatedStream): "CREATING" | "ACTIVE" {
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

  /** Seals the buffer of `stream` into one object (if it holds anything); the write is tracked. */
  function deliver(stream: EmulatedStream): void {
    if (stream.bytes === 0) return;
    const data = Buffer.concat(stream.chunks, stream.bytes);
    const arrival = new Date(stream.firstArrival);
    stream.chunks = [];
    stream.bytes = 0;
    const destination = stream.destination;
    const prefix = evaluatePrefix(String(destination.Prefix ?? ""), arrival);
    const name = `${stream.name}-${stream.version}-${objectTimestamp(arrival)}-${randomUUID()}`;
    const key = `${prefix}${name}${String(destination.FileExtension ?? "")}`;
    const body = destination.CompressionFormat === "GZIP" ? gzipSync(data) : data;
    written.push(key);
    const write = writeObject(bucketDir, key, body).then(
      () => logger.info("firehose emulator: object written", { deliveryStream: stream.name, key }),
      (error: unknown) =>
        logger.error("firehose emulator: object write failed", {
          deliveryStream: stream.name,
          key,
          errorName: error instanceof Error ? error.name : typeof error,
        }),
    );
    writes.add(write);
    void write.finally(() => writes.delete(write));
  }

  function append(stream: EmulatedStream, records: readonly Buffer[]): void {
    for (const record of records) {
      if (stream.bytes === 0) stream.firstArrival = clock.now();
      stream.chunks.push(record);
      stream.bytes += record.byteLength;
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

  const operations: Record<string, (body: Json) => Json> = {
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
      streams.set(name, {
        name,
        type: typeof body.DeliveryStreamType === "string" ? body.DeliveryStreamType : "DirectPut",
        createdAt: now,
        activeAt: now + creatingMs,
        encryption: isObject(encryption) ? encryption : undefined,
        version: 1,
        updatedAt: now,
        destination: describeDestination(config),
        chunks: [],
        bytes: 0,
        firstArrival: now,
      });
      logger.info("firehose emulator: delivery stream created", { deliveryStream: name });
      return { DeliveryStreamARN: arn(name) };
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
      return {};
    },
    DeleteDeliveryStream: (body) => {
      const stream = active(body, "ResourceInUseException");
      // Whatever is buffered is delivered first (real Firehose may drop it; a test should not).
      deliver(stream);
      streams.delete(stream.name);
      return {};
    },
    PutRecord: (body) => {
      const stream = active(body, "ResourceNotFoundException");
      const record = body.Record;
      const data = recordData(isObject(record) ? record.Data : undefined);
      append(stream, [data]);
      return { RecordId: recordId(), Encrypted: stream.encryption !== undefined };
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
      append(stream, accepted);
      return {
        FailedPutCount: data.length - accepted.length,
        Encrypted: stream.encryption !== undefined,
        RequestResponses: responses,
      };
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
    return { status: 200, body: operation(body) };
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
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      while (writes.size > 0) await Promise.all([...writes]);
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

/** Writes `key` under `bucketDir` atomically: a temp file in the bucket's hidden folder, then a rename. */
async function writeObject(bucketDir: string, key: string, body: Buffer): Promise<void> {
  const root = resolve(bucketDir);
  const path = resolve(root, ...key.split("/"));
  if (!path.startsWith(`${root}${sep}`)) throw new Error("object key leaves the bucket");
  const temp = join(bucketDir, TEMP_DIR, randomUUID());
  await mkdir(dirname(temp), { recursive: true });
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(temp, body);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

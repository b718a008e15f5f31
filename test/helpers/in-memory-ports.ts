/**
 * In-memory stand-ins for the core's ports (registry, sink, clock, logger) and factories for the records and
 * requests the core works on, so unit tests run the real handler with no I/O.
 */
import { payloadTooLarge } from "../../lambda/core/body.js";
import { ServiceUnavailableError } from "../../lambda/core/errors.js";
import type { Clock, Logger, RecordSink, StreamRegistry } from "../../lambda/core/ports.js";
import type { AcceptedRecord, ApiKeyRecord, IngestRequest, StreamRecord } from "../../lambda/core/types.js";
import { captureLogEntry } from "./log-capture.js";

export const TENANT = "acme";
export const OTHER_TENANT = "globex";
export const STREAM_ID = "is-AbCDefGH";
export const KEY_ID = "key-acme-1";

/** 2024-03-05T07:08:09.500Z: a fixed instant for tests that need no real tokens. */
export const FIXED_START = Date.UTC(2024, 2, 5, 7, 8, 9, 500);

/** A clock that moves only when told to. */
export class FakeClock implements Clock {
  constructor(private time: number = FIXED_START) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}

/** A promise with its resolve/reject exposed, for tests that decide when something finishes. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One registry read, in the order they happened. */
export interface RegistryRead {
  readonly kind: "stream" | "apiKey";
  readonly id: string;
}

/** A StreamRegistry over two editable maps; `down = true` makes every read fail like an unreachable store. */
export class InMemoryRegistry implements StreamRegistry {
  readonly streams = new Map<string, StreamRecord>();
  readonly apiKeys = new Map<string, ApiKeyRecord>();
  readonly reads: RegistryRead[] = [];
  down = false;

  constructor(init: { streams?: readonly StreamRecord[]; apiKeys?: readonly ApiKeyRecord[] } = {}) {
    for (const stream of init.streams ?? []) this.putStream(stream);
    for (const key of init.apiKeys ?? []) this.putApiKey(key);
  }

  putStream(stream: StreamRecord): void {
    this.streams.set(stream.id, stream);
  }

  putApiKey(key: ApiKeyRecord): void {
    this.apiKeys.set(key.id, key);
  }

  async getStream(id: string): Promise<StreamRecord | undefined> {
    this.reads.push({ kind: "stream", id });
    this.failWhenDown();
    return this.streams.get(id);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    this.reads.push({ kind: "apiKey", id });
    this.failWhenDown();
    return this.apiKeys.get(id);
  }

  private failWhenDown(): void {
    if (this.down) {
      throw new ServiceUnavailableError(
        "the stream registry is unavailable; retry shortly",
        1,
        "registry_unavailable",
      );
    }
  }
}

/**
 * A RecordSink that keeps every record it is given. By default it confirms at once; `rejectWith` makes later
 * puts fail with that error, `hang` makes them wait until `release`.
 */
export class InMemorySink implements RecordSink {
  readonly received: AcceptedRecord[] = [];
  private failure: { readonly error: unknown } | undefined;
  private held: Deferred<void>[] | undefined;
  /** When set, assertReady throws it (like delivery streams that are still being created). */
  notReady: unknown;
  /** Stream ids assertReady was asked about. */
  readonly readinessChecks: string[] = [];

  assertReady(stream: StreamRecord): void {
    this.readinessChecks.push(stream.id);
    if (this.notReady !== undefined) throw this.notReady;
  }

  rejectWith(error: unknown): void {
    this.failure = { error };
  }

  hang(): void {
    this.held = [];
  }

  /** Lets every hanging put confirm, and later puts confirm at once. */
  release(): void {
    for (const put of this.held ?? []) put.resolve();
    this.held = undefined;
  }

  /** The data of every record given, as UTF-8 text (for JSON streams). */
  texts(): string[] {
    return this.received.map((record) => Buffer.from(record.data).toString("utf8"));
  }

  async put(record: AcceptedRecord): Promise<void> {
    this.received.push(record);
    if (this.failure !== undefined) throw this.failure.error;
    if (this.held !== undefined) {
      const wait = deferred<void>();
      this.held.push(wait);
      await wait.promise;
    }
  }
}

export interface LogEntry {
  readonly level: "info" | "warn" | "error";
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

/** A Logger that prints nothing and keeps every line for inspection. */
export class CollectingLogger implements Logger {
  readonly entries: LogEntry[] = [];

  info(message: string, fields?: Record<string, unknown>): void {
    this.collect({ level: "info", message, fields });
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.collect({ level: "warn", message, fields });
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.collect({ level: "error", message, fields });
  }

  private collect(entry: LogEntry): void {
    this.entries.push(entry);
    captureLogEntry("in-memory logger", entry);
  }

  /** Everything logged, as the JSON a log line would hold; for "never logs X" assertions. */
  text(): string {
    return JSON.stringify(this.entries);
  }
}

export function makeStream(overrides: Partial<StreamRecord> = {}): StreamRecord {
  return {
    id: STREAM_ID,
    tenant: TENANT,
    name: "orders",
    description: "web shop orders",
    payload: "json",
    status: "active",
    delivery: { bufferMiB: 5, bufferSeconds: 300, compression: "none", shards: 1 },
    rateLimitPerSecond: 1000,
    rateLimitBurst: 1000,
    createdAt: "2024-01-01T00:00:00.000Z",
    updatedAt: "2024-01-01T00:00:00.000Z",
    deliveryStreams: [],
    ...overrides,
  };
}

export function makeApiKey(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: KEY_ID,
    tenant: TENANT,
    name: "web shop",
    status: "active",
    createdAt: "2024-01-01T00:00:00.000Z",
    ...overrides,
  };
}

export interface RequestInit {
  readonly method?: string;
  readonly path?: string;
  /** Any case; stored lower-cased like both entries do. Undefined values are dropped. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: Uint8Array | string;
  readonly requestId?: string;
}

/** An IngestRequest that also records each `readBody` call (its `maxBytes`), so tests can spy on it. */
export interface FakeRequest extends IngestRequest {
  readonly bodyReads: number[];
}

let requestCounter = 0;

/** A request whose `readBody(max)` behaves like the entries: the body, or the core's 413 when it exceeds `max`. */
export function makeRequest(init: RequestInit = {}): FakeRequest {
  const body =
    typeof init.body === "string" ? Buffer.from(init.body, "utf8") : (init.body ?? new Uint8Array());
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const bodyReads: number[] = [];
  requestCounter += 1;
  return {
    method: init.method ?? "POST",
    path: init.path ?? `/stream/v0/data/${STREAM_ID}`,
    headers,
    requestId: init.requestId ?? `req-${requestCounter}`,
    bodyReads,
    readBody: async (maxBytes: number) => {
      bodyReads.push(maxBytes);
      if (body.byteLength > maxBytes) throw payloadTooLarge(body.byteLength, maxBytes);
      return body;
    },
  };
}

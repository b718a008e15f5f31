/**
 * IngestClient: sends records to a Streaming Ingest API over keep-alive HTTP(S) connections, retrying exactly
 * what the status table says to retry (429, 500, 503, 504, network errors, timeouts) with exponential backoff
 * and full jitter, honouring Retry-After, within a budget. Node built-ins only; no token or record content ever
 * appears in an error.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { promisify } from "node:util";
import { gzip as gzipCallback } from "node:zlib";
import {
  BATCH_PATH,
  chunkLines,
  DATA_PATH,
  encodeRecord,
  type IngestRecord,
  MAX_BATCH_BYTES,
  MAX_BATCH_RECORDS,
  toNdjsonLine,
} from "./body.js";
import {
  type IngestBatchLineError,
  IngestError,
  IngestRejectedError,
  IngestTimeoutError,
  IngestUnavailableError,
} from "./errors.js";
import {
  DEFAULT_RETRY,
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  type RetryPolicy,
  retryDelay,
} from "./retry.js";

const gzip = promisify(gzipCallback);

export interface IngestClientOptions {
  /** Where the API is, e.g. `http://127.0.0.1:8080` or `https://abc.execute-api.eu-west-1.amazonaws.com`. */
  readonly baseUrl: string;
  /** The tenant the token was issued for (sent as `X-Amperity-Tenant`). */
  readonly tenant: string;
  /** The access token (sent as `Authorization: Bearer …`, never logged or put in an error). */
  readonly token: string;
  /** Compress request bodies (`Content-Encoding: gzip`). @default false */
  readonly gzip?: boolean;
  /**
   * Milliseconds one attempt may take, from sending to the end of the response; then it is abandoned and
   * retried (the record may already be stored — use an idempotency key). @default 15,000
   */
  readonly timeoutMs?: number;
  /** Retry settings; see {@link RetryPolicy}. */
  readonly retry?: Partial<RetryPolicy>;
  /** Most open connections to the API (keep-alive sockets are reused). @default 16 */
  readonly maxSockets?: number;
  /** @default `streaming-ingest-client` */
  readonly userAgent?: string;
  /** Called before each retry's wait, e.g. to count or log retries. */
  readonly onRetry?: (event: RetryEvent) => void;
  /** Clock for the budget and HTTP-date Retry-After (tests). @default Date.now */
  readonly now?: () => number;
  /** Waits between attempts (tests). @default a timer */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1) (tests). @default Math.random */
  readonly random?: () => number;
}

export interface SendOptions {
  /** Overrides the detected Content-Type (`application/json`, or `application/xml` for a text starting with `<`). */
  readonly contentType?: string;
  /**
   * Sent as `Idempotency-Key` on every attempt, so a retried request is stored once by servers that support it.
   * For a `sendBatch` split into several requests, request n (from 0) gets `<key>-<n>`.
   */
  readonly idempotencyKey?: string;
  /** Overrides the client's `gzip` for this call. */
  readonly gzip?: boolean;
  /** Cancels the call (the current attempt and any wait); the promise rejects with the abort reason. */
  readonly signal?: AbortSignal;
}

export interface SendResult {
  /** 202. */
  readonly status: number;
  readonly stream: string;
  readonly requestId: string | undefined;
  /** Requests made, the first included. */
  readonly attempts: number;
  /** True when the server recognised the idempotency key of an already-stored record. */
  readonly duplicate: boolean;
}

export interface BatchResult {
  /** Records stored (all of them: a batch is all-or-nothing and every request succeeded). */
  readonly records: number;
  /** Batch requests that succeeded. */
  readonly requests: number;
  /** Requests made, retries included. */
  readonly attempts: number;
  readonly requestIds: readonly (string | undefined)[];
}

export interface RetryEvent {
  readonly stream: string;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** How long the client waits before the next attempt. */
  readonly delayMs: number;
  /** The status of the failed attempt, when it got a response. */
  readonly status?: number;
  /** The server's error code, or the network error's code. */
  readonly code?: string;
}

interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

interface Delivered {
  readonly json: Record<string, unknown>;
  readonly requestId: string | undefined;
  readonly attempts: number;
}

/** Responses are small JSON documents; anything past this is not read into memory. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const HEADER_SAFE = /^[\x21-\x7e]+$/;
/** The server's rule for Idempotency-Key values. */
const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

/** Throws a TypeError naming the rule when `key` is not a valid Idempotency-Key (before anything is sent). */
function checkIdempotencyKey(key: string, requests: number): void {
  if (HEADER_SAFE.test(key) && key.length <= MAX_IDEMPOTENCY_KEY_LENGTH) return;
  const suffix =
    requests > 1
      ? ` (this batch takes ${requests} requests, so each key gets a "-<n>" suffix: ${key.length} characters)`
      : "";
  throw new TypeError(
    `idempotencyKey must be 1–${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters${suffix}`,
  );
}

export class IngestClient {
  private readonly base: URL;
  private readonly agent: HttpAgent;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: IngestClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new TypeError(`baseUrl is not a URL: ${JSON.stringify(options.baseUrl)}`);
    }
    if (base.protocol !== "http:" && base.protocol !== "https:")
      throw new TypeError(`baseUrl must be http: or https:; got ${base.protocol}`);
    // A token or tenant with spaces or line breaks would be refused by Node with a message; say it without the value.
    if (typeof options.token !== "string" || !HEADER_SAFE.test(options.token))
      throw new TypeError("token must be a non-empty string of visible ASCII characters");
    if (typeof options.tenant !== "string" || !HEADER_SAFE.test(options.tenant))
      throw new TypeError("tenant must be a non-empty string of visible ASCII characters");
    this.base = base;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16 };
    this.agent = base.protocol === "https:" ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.headers = {
      authorization: `Bearer ${options.token}`,
      "x-amperity-tenant": options.tenant,
      "user-agent": options.userAgent ?? "streaming-ingest-client",
      accept: "application/json",
    };
  }

  /**
   * Sends one record to `POST /stream/v0/data/<streamId>` and resolves once the server answered 202 (the record
   * is durable). An object is sent as JSON; a string or bytes as is (XML when it starts with `<`).
   *
   * @throws IngestRejectedError for a status that is never retried (400, 401, 403, 404, 405, 413, 415, …)
   * @throws IngestUnavailableError when the retry budget ran out
   */
  async send(streamId: string, record: IngestRecord, options: SendOptions = {}): Promise<SendResult> {
    const encoded = encodeRecord(record, options.contentType);
    const result = await this.deliver(
      streamId,
      DATA_PATH,
      encoded.body,
      encoded.contentType,
      options,
      options.idempotencyKey,
    );
    return {
      status: 202,
      stream: typeof result.json.stream === "string" ? result.json.stream : streamId,
      requestId: result.requestId,
      attempts: result.attempts,
      duplicate: result.json.duplicate === true,
    };
  }

  /**
   * Sends JSON records through `POST /stream/v0/batch/<streamId>` as NDJSON, in requests of at most 500 records
   * and 4 MiB, one after the other; resolves once every record is stored. Batches are all-or-nothing per
   * request: when one fails, the error's `batch` says how many records earlier requests stored and which ones
   * were in the failed request; later records were not sent. An `invalid_batch` error lists the bad records by
   * their index in `records`.
   */
  async sendBatch(
    streamId: string,
    records: readonly IngestRecord[],
    options: Omit<SendOptions, "contentType"> = {},
  ): Promise<BatchResult> {
    const chunks = chunkLines(records.map(toNdjsonLine), MAX_BATCH_RECORDS, MAX_BATCH_BYTES);
    let stored = 0;
    let attempts = 0;
    const requestIds: (string | undefined)[] = [];
    // One key per request: the caller's own when it fits in one, else `<key>-<n>`; all checked before any is sent.
    const keys = chunks.map((_, n) =>
      options.idempotencyKey === undefined || chunks.length === 1
        ? options.idempotencyKey
        : `${options.idempotencyKey}-${n}`,
    );
    for (const key of keys) if (key !== undefined) checkIdempotencyKey(key, chunks.length);
    for (const [n, chunk] of chunks.entries()) {
      const key = keys[n];
      try {
        const result = await this.deliver(
          streamId,
          BATCH_PATH,
          chunk.body,
          "application/x-ndjson",
          options,
          key,
        );
        stored += chunk.lines.length;
        attempts += result.attempts;
        requestIds.push(result.requestId);
      } catch (error) {
        if (error instanceof IngestError) {
          const batchError =
            error instanceof IngestRejectedError && error.lines.length > 0
              ? new IngestRejectedError(
                  error.status,
                  error.code,
                  error.message,
                  error.requestId,
                  error.lines.map((l) => ({ ...l, index: chunk.from + l.line - 1 })),
                )
              : error;
          batchError.batch = {
            acceptedRecords: stored,
            failedFrom: chunk.from,
            failedTo: chunk.from + chunk.lines.length,
          };
          throw batchError;
        }
        throw error;
      }
    }
    return { records: stored, requests: chunks.length, attempts, requestIds };
  }

  /** Closes idle keep-alive connections. The client can still be used afterwards (it opens new ones). */
  close(): void {
    this.agent.destroy();
  }

  private async deliver(
    streamId: string,
    prefix: string,
    raw: Buffer,
    contentType: string,
    options: Omit<SendOptions, "contentType">,
    idempotencyKey: string | undefined,
  ): Promise<Delivered> {
    const url = new URL(this.base.href);
    url.pathname = `${url.pathname.replace(/\/+$/, "")}${prefix}${encodeURIComponent(streamId)}`;
    const compress = options.gzip ?? this.options.gzip ?? false;
    const body = compress ? await gzip(raw) : raw;
    const headers: Record<string, string> = {
      ...this.headers,
      "content-type": contentType,
      "content-length": String(body.length),
    };
    if (compress) headers["content-encoding"] = "gzip";
    if (idempotencyKey !== undefined) {
      checkIdempotencyKey(idempotencyKey, 1);
      headers["idempotency-key"] = idempotencyKey;
    }
    const start = this.now();
    for (let attempt = 1; ; attempt++) {
      let status: number | undefined;
      let code: string | undefined;
      let requestId: string | undefined;
      let retryAfterMs: number | undefined;
      let lastError: Error | undefined;
      let message: string;
      try {
        const response = await this.attempt(url, headers, body, options.signal);
        requestId = headerValue(response.headers["x-request-id"]);
        const json = parseJson(response.body);
        if (response.status >= 200 && response.status < 300) return { json, requestId, attempts: attempt };
        status = response.status;
        const error = (json.error ?? {}) as { code?: unknown; message?: unknown; lines?: unknown };
        code = typeof error.code === "string" ? error.code : `http_${status}`;
        message = typeof error.message === "string" ? error.message : `HTTP ${status}`;
        if (!isRetryableStatus(status)) {
          throw new IngestRejectedError(status, code, message, requestId, batchLines(error.lines));
        }
        retryAfterMs = parseRetryAfter(response.headers["retry-after"], this.now());
      } catch (error) {
        if (error instanceof IngestRejectedError) throw error;
        if (options.signal?.aborted) throw options.signal.reason ?? error;
        if (!isRetryableError(error)) throw error;
        lastError = error as Error;
        code = (error as { code?: string }).code;
        message = (error as Error).message;
      }
      const delayMs = retryDelay(this.policy, attempt - 1, retryAfterMs, this.random);
      const elapsed = this.now() - start;
      if (attempt >= this.policy.maxAttempts || elapsed + delayMs > this.policy.budgetMs) {
        const why =
          attempt >= this.policy.maxAttempts
            ? `${attempt} attempts`
            : `${attempt} attempt(s) in ${(elapsed / 1000).toFixed(1)} s (the next one would pass the ${this.policy.budgetMs} ms budget)`;
        const last = status === undefined ? message : `${status} ${code}: ${message}`;
        throw new IngestUnavailableError(
          `stream ${streamId}: gave up after ${why}; last: ${last}`,
          attempt,
          status,
          lastError,
          code,
          requestId,
        );
      }
      this.options.onRetry?.({ stream: streamId, attempt, delayMs, status, code });
      await this.sleep(delayMs, options.signal);
    }
  }

  private attempt(
    url: URL,
    headers: Record<string, string>,
    body: Buffer,
    signal: AbortSignal | undefined,
  ): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      };
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(url, { method: "POST", agent: this.agent, headers, signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on("error", fail);
        res.on("aborted", () => fail(Object.assign(new Error("response aborted"), { code: "ECONNRESET" })));
      });
      const timer = setTimeout(() => req.destroy(new IngestTimeoutError(this.timeoutMs)), this.timeoutMs);
      req.on("error", fail);
      req.end(body);
    });
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseJson(body: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function batchLines(lines: unknown): IngestBatchLineError[] {
  if (!Array.isArray(lines)) return [];
  return lines.flatMap((l: { line?: unknown; code?: unknown; message?: unknown }) =>
    typeof l?.line === "number"
      ? [
          {
            index: l.line - 1,
            line: l.line,
            code: typeof l.code === "string" ? l.code : "invalid",
            message: typeof l.message === "string" ? l.message : "",
          },
        ]
      : [],
  );
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The request-handling core shared by both runtimes: route, authorize, check the stream, the media type, the
 * rate limit and the size, validate and encode the record, and answer 202 only once the sink made it durable.
 */
import { randomUUID } from "node:crypto";
import { authorize } from "./authorize.js";
import { parseBatch } from "./batch-record.js";
import { decodeBody, maxWireBytes } from "./body.js";
import { MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_NESTING_DEPTH, MAX_RECORD_BYTES } from "./constants.js";
import {
  assertBatchContentType,
  assertContentType,
  type BodyEncoding,
  parseContentEncoding,
} from "./content-type.js";
import {
  formatBytes,
  GatewayTimeoutError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  ThrottledError,
} from "./errors.js";
import {
  DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
  type KeyedEndpoint,
  keyInUseError,
  keyReusedError,
  parseIdempotencyKey,
  requestFingerprint,
} from "./idempotency.js";
import type {
  Clock,
  IdempotencyClaimRef,
  IdempotencyStore,
  Logger,
  RecordSink,
  StreamRegistry,
  TokenVerifier,
} from "./ports.js";
import type { RateLimiter } from "./rate-limiter.js";
import { encodeRecord } from "./record-encoding.js";
import {
  acceptedBatchResponse,
  acceptedKeyedResponse,
  acceptedResponse,
  errorResponse,
  okResponse,
  openApiResponse,
} from "./responses.js";
import { allowedMethods, resolveRoute } from "./route.js";
import type { IngestRequest, IngestResponse, PayloadType, StreamRecord } from "./types.js";

export interface IngestHandlerDeps {
  readonly registry: StreamRegistry;
  readonly sink: RecordSink;
  readonly verifier: TokenVerifier;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Per-stream rate limits; without one, streams are not rate limited here. */
  readonly rateLimiter?: RateLimiter;
  /** @default 260,096 bytes */
  readonly maxRecordBytes?: number;
  /** @default 64 */
  readonly maxDepth?: number;
  /** How long the sink may take to confirm durability before the request is answered 504. @default 10,000 ms */
  readonly deliveryTimeoutMs?: number;
  /** Largest decoded batch body. @default 4 MiB */
  readonly maxBatchBytes?: number;
  /** Most records in one batch. @default 500 */
  readonly maxBatchRecords?: number;
  /**
   * Where Idempotency-Keys are remembered. Without it, a request that carries the header is answered 500 (a
   * wiring bug: it is never stored unchecked). Requests without the header never touch it.
   */
  readonly idempotency?: IdempotencyOptions;
}

/** The Idempotency-Key store and its timings. */
export interface IdempotencyOptions {
  readonly store: IdempotencyStore;
  /** How long an accepted key is remembered. @default 86,400 s (24 h) */
  readonly windowSeconds?: number;
  /**
   * A pending claim older than this is taken to be abandoned (its request crashed between storing and
   * confirming) and may be claimed again: the one case where a keyed record can be stored twice.
   * @default twice the delivery timeout
   */
  readonly abandonAfterMs?: number;
}

/** How a keyed request ended: stored now, or found already stored by an earlier request. */
interface Delivered {
  readonly duplicate: boolean;
  readonly originalRequestId?: string;
}

/** Handles one request at a time; create once per process and share. */
export class IngestHandler {
  private readonly maxRecordBytes: number;
  private readonly maxDepth: number;
  private readonly deliveryTimeoutMs: number;
  private readonly maxBatchBytes: number;
  private readonly maxBatchRecords: number;

  constructor(private readonly deps: IngestHandlerDeps) {
    this.maxRecordBytes = deps.maxRecordBytes ?? MAX_RECORD_BYTES;
    this.maxDepth = deps.maxDepth ?? MAX_NESTING_DEPTH;
    this.deliveryTimeoutMs = deps.deliveryTimeoutMs ?? 10_000;
    this.maxBatchBytes = deps.maxBatchBytes ?? MAX_BATCH_BYTES;
    this.maxBatchRecords = deps.maxBatchRecords ?? MAX_BATCH_RECORDS;
  }

  /** Answers a request. Never throws: every failure becomes its documented status. */
  async handle(request: IngestRequest): Promise<IngestResponse> {
    try {
      const route = resolveRoute(request.method, request.path);
      if (route.kind === "health") return okResponse(request.requestId, { status: "ok" });
      if (route.kind === "openapi") return openApiResponse(request.requestId);
      if (route.kind === "batch") {
        // The same admission as a single record (one rate-limit token per request), then the batch body.
        const { stream, encoding, key } = await this.admit(route.streamId, request, assertBatchContentType);
        const { records, delivered } = await this.acceptBatch(stream, encoding, request, key);
        return delivered === undefined
          ? acceptedBatchResponse(stream.id, request.requestId, records)
          : acceptedKeyedResponse(stream.id, request.requestId, { records, ...delivered });
      }
      const { stream, encoding, key } = await this.admit(route.streamId, request);
      const delivered = await this.accept(stream, encoding, request, key);
      return delivered === undefined
        ? acceptedResponse(stream.id, request.requestId)
        : acceptedKeyedResponse(stream.id, request.requestId, delivered);
    } catch (error) {
      const extra: Record<string, string> =
        error instanceof MethodNotAllowedError ? { allow: allowedMethods(request.path) } : {};
      return errorResponse(error, request.requestId, this.deps.logger, extra);
    }
  }

  /**
   * Every check that needs no body: token, tenant, stream, media type, encoding, Idempotency-Key, its delivery,
   * rate.
   */
  private async admit(
    streamId: string,
    request: IngestRequest,
    checkContentType: (contentType: string | undefined, payload: PayloadType) => void = assertContentType,
  ): Promise<{ stream: StreamRecord; encoding: BodyEncoding; key: string | undefined }> {
    const { registry, verifier, clock, rateLimiter } = this.deps;
    const claims = await authorize(request.headers, verifier, registry, clock);
    const stream = await registry.getStream(streamId);
    // Another tenant's stream is answered exactly like a missing one, so existence is not leaked.
    if (stream === undefined || stream.tenant !== claims.tenant) {
      throw new NotFoundError(`no stream ${streamId} for tenant ${claims.tenant}`, "stream_not_found");
    }
    if (stream.status !== "active") {
      throw new NotFoundError(`stream ${streamId} is disabled and accepts no records`, "stream_disabled");
    }
    checkContentType(request.headers["content-type"], stream.payload);
    const encoding = parseContentEncoding(request.headers["content-encoding"]);
    const key = parseIdempotencyKey(request.headers);
    // After the client's own mistakes (which a retry cannot fix), before the rate limit spends a token.
    this.deps.sink.assertReady?.(stream);
    if (rateLimiter !== undefined) {
      const decision = rateLimiter.take(stream.id, stream.rateLimitPerSecond, stream.rateLimitBurst);
      if (!decision.allowed) {
        throw new ThrottledError(
          `stream ${stream.id} is over its rate limit of ${stream.rateLimitPerSecond} requests/s (burst ${stream.rateLimitBurst}); retry after ${decision.retryAfterSeconds} s`,
          decision.retryAfterSeconds,
        );
      }
    }
    return { stream, encoding, key };
  }

  /**
   * Reads, decodes, validates and encodes the body, then waits until the sink made it durable (with a key: unless
   * the key says it already is). Returns how a keyed request ended; undefined without a key.
   */
  private async accept(
    stream: StreamRecord,
    encoding: BodyEncoding,
    request: IngestRequest,
    key: string | undefined,
  ): Promise<Delivered | undefined> {
    const wireLimit = maxWireBytes(encoding, this.maxRecordBytes);
    const raw = await request.readBody(wireLimit).catch((error: unknown) => {
      if (encoding === "identity" || !(error instanceof PayloadTooLargeError)) throw error;
      throw new PayloadTooLargeError(
        `${encoding} body is larger than ${formatBytes(wireLimit)} bytes on the wire; records may be at most ${formatBytes(this.maxRecordBytes)} bytes decoded`,
      );
    });
    const body = await decodeBody(raw, encoding, this.maxRecordBytes);
    const data = encodeRecord(stream.payload, body, this.maxDepth);
    const put = () => this.deps.sink.put({ stream, data });
    if (key === undefined) {
      await this.withDeliveryTimeout(put());
      return undefined;
    }
    return this.deliverKeyed(stream, request, key, "data", [data], put);
  }

  /**
   * Reads and decodes a batch body (≤ maxBatchBytes decoded), validates every line, then waits until the sink
   * made all records durable together (a keyed batch is one unit). Returns the number of records and, for a
   * keyed request, how it ended.
   */
  private async acceptBatch(
    stream: StreamRecord,
    encoding: BodyEncoding,
    request: IngestRequest,
    key: string | undefined,
  ): Promise<{ records: number; delivered: Delivered | undefined }> {
    const { sink } = this.deps;
    if (sink.putBatch === undefined) {
      // A wiring bug, not a client's problem: answered 500 and logged with its stack.
      throw new Error("the record sink cannot store batches (it has no putBatch)");
    }
    const limit = this.maxBatchBytes;
    const wireLimit = maxWireBytes(encoding, limit);
    const raw = await request.readBody(wireLimit).catch((error: unknown) => {
      if (!(error instanceof PayloadTooLargeError)) throw error;
      throw new PayloadTooLargeError(
        encoding === "identity"
          ? `batch body is larger than the limit of ${formatBytes(limit)} bytes (4 MiB); send fewer records per request`
          : `${encoding} batch body is larger than ${formatBytes(wireLimit)} bytes on the wire; a batch may be at most ${formatBytes(limit)} bytes decoded`,
      );
    });
    const body = await decodeBody(raw, encoding, limit).catch((error: unknown) => {
      if (!(error instanceof PayloadTooLargeError)) throw error;
      throw new PayloadTooLargeError(
        `batch body decodes to more than ${formatBytes(limit)} bytes; the limit for a batch is ${formatBytes(limit)} bytes decoded`,
      );
    });
    const records = parseBatch(body, {
      maxRecordBytes: this.maxRecordBytes,
      maxRecords: this.maxBatchRecords,
      maxDepth: this.maxDepth,
    });
    const putBatch = sink.putBatch.bind(sink);
    const put = () => putBatch({ stream, records });
    if (key === undefined) {
      await this.withDeliveryTimeout(put());
      return { records: records.length, delivered: undefined };
    }
    const delivered = await this.deliverKeyed(stream, request, key, "batch", records, put);
    return { records: records.length, delivered };
  }

  /**
   * Stores a keyed request's records at most once per key and window: claim the key (atomically), and only if
   * it is ours, put to the sink; confirm once durable, release when the sink refused. A key accepted earlier
   * answers a duplicate without storing; one being stored right now answers 503 (retry gets its outcome); one
   * used for another body answers 400. When the sink outlives the delivery timeout (504), the claim stays pending
   * and is confirmed or released in the background once the sink settles, so the client's retry is safe.
   */
  private async deliverKeyed(
    stream: StreamRecord,
    request: IngestRequest,
    key: string,
    endpoint: KeyedEndpoint,
    records: readonly Uint8Array[],
    put: () => Promise<void>,
  ): Promise<Delivered> {
    const { idempotency, clock } = this.deps;
    if (idempotency === undefined) {
      // A wiring bug, not a client's problem: answered 500 and logged, never stored without the key check.
      throw new Error("the handler has no idempotency store, so it cannot honour an Idempotency-Key");
    }
    const windowMs = (idempotency.windowSeconds ?? DEFAULT_IDEMPOTENCY_WINDOW_SECONDS) * 1000;
    const abandonAfterMs = idempotency.abandonAfterMs ?? 2 * this.deliveryTimeoutMs;
    const fingerprint = requestFingerprint(endpoint, records);
    const now = clock.now();
    const ref: IdempotencyClaimRef = { streamId: stream.id, key, token: randomUUID() };
    const claim = await idempotency.store.claim({
      ...ref,
      fingerprint,
      requestId: request.requestId,
      now,
      expiresAt: now + windowMs,
      abandonedBefore: now - abandonAfterMs,
    });
    if (claim.state !== "claimed") {
      if (claim.fingerprint !== fingerprint) throw keyReusedError();
      if (claim.state === "pending") throw keyInUseError();
      return { duplicate: true, originalRequestId: claim.requestId };
    }

    const delivery = put();
    // Settles the claim whenever the sink settles, even after a 504: confirm never rejects, release rethrows.
    const settled = delivery.then(
      () => this.confirmClaim(idempotency.store, ref, windowMs, request.requestId),
      async (error: unknown) => {
        await this.releaseClaim(idempotency.store, ref, request.requestId);
        throw error;
      },
    );
    settled.catch(() => undefined);
    try {
      await this.withDeliveryTimeout(delivery);
    } catch (error) {
      // A 504 leaves the claim pending (the sink may still store the record); a refusal waits for the release,
      // so the client's retry finds the key free.
      if (!(error instanceof DeliveryTimeout)) await settled.catch(() => undefined);
      throw error;
    }
    await settled;
    return { duplicate: false };
  }

  private async confirmClaim(
    store: IdempotencyStore,
    ref: IdempotencyClaimRef,
    windowMs: number,
    requestId: string,
  ): Promise<void> {
    const { clock, logger } = this.deps;
    try {
      const acceptedAt = clock.now();
      if (!(await store.confirm(ref, acceptedAt, acceptedAt + windowMs))) {
        logger.warn(
          "idempotency claim was taken over before it was confirmed; the record may be stored twice",
          {
            requestId,
            stream: ref.streamId,
          },
        );
      }
    } catch (error) {
      // The record is durable: the client gets its 202. The claim stays pending until it counts as abandoned.
      logger.warn("idempotency key not confirmed; a retry within the pending bound is answered 503", {
        requestId,
        stream: ref.streamId,
        cause: errorName(error),
      });
    }
  }

  private async releaseClaim(
    store: IdempotencyStore,
    ref: IdempotencyClaimRef,
    requestId: string,
  ): Promise<void> {
    try {
      await store.release(ref);
    } catch (error) {
      this.deps.logger.warn(
        "idempotency key not released; a retry within the pending bound is answered 503",
        {
          requestId,
          stream: ref.streamId,
          cause: errorName(error),
        },
      );
    }
  }

  private withDeliveryTimeout(delivery: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DeliveryTimeout(
              `delivery did not confirm the record within ${this.deliveryTimeoutMs} ms; it may or may not be stored: retry`,
            ),
          ),
        this.deliveryTimeoutMs,
      );
    });
    return Promise.race([delivery, timeout]).finally(() => clearTimeout(timer));
  }
}

/** The core's own 504: the sink did not confirm in time (it may still store the record). */
class DeliveryTimeout extends GatewayTimeoutError {}

/** An error's name, never its message (which might quote record content). */
function errorName(error: unknown): string {
  const name = typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
  return typeof name === "string" ? name : typeof error;
}

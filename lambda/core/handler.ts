/**
 * The request-handling core shared by both runtimes: route, authorize, check the stream, the media type, the
 * rate limit and the size, validate and encode the record, and answer 202 only once the sink made it durable.
 */
import { authorize } from "./authorize.js";
import { decodeBody, maxWireBytes } from "./body.js";
import { MAX_NESTING_DEPTH, MAX_RECORD_BYTES } from "./constants.js";
import { assertContentType, type BodyEncoding, parseContentEncoding } from "./content-type.js";
import {
  formatBytes,
  GatewayTimeoutError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  ThrottledError,
} from "./errors.js";
import type { Clock, Logger, RecordSink, StreamRegistry, TokenVerifier } from "./ports.js";
import type { RateLimiter } from "./rate-limiter.js";
import { encodeRecord } from "./record-encoding.js";
import { acceptedResponse, errorResponse, okResponse } from "./responses.js";
import { allowedMethods, resolveRoute } from "./route.js";
import type { IngestRequest, IngestResponse, StreamRecord } from "./types.js";

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
}

/** Handles one request at a time; create once per process and share. */
export class IngestHandler {
  private readonly maxRecordBytes: number;
  private readonly maxDepth: number;
  private readonly deliveryTimeoutMs: number;

  constructor(private readonly deps: IngestHandlerDeps) {
    this.maxRecordBytes = deps.maxRecordBytes ?? MAX_RECORD_BYTES;
    this.maxDepth = deps.maxDepth ?? MAX_NESTING_DEPTH;
    this.deliveryTimeoutMs = deps.deliveryTimeoutMs ?? 10_000;
  }

  /** Answers a request. Never throws: every failure becomes its documented status. */
  async handle(request: IngestRequest): Promise<IngestResponse> {
    try {
      const route = resolveRoute(request.method, request.path);
      if (route.kind === "health") return okResponse(request.requestId, { status: "ok" });
      const { stream, encoding } = await this.admit(route.streamId, request);
      await this.accept(stream, encoding, request);
      return acceptedResponse(stream.id, request.requestId);
    } catch (error) {
      const extra: Record<string, string> =
        error instanceof MethodNotAllowedError ? { allow: allowedMethods(request.path) } : {};
      return errorResponse(error, request.requestId, this.deps.logger, extra);
    }
  }

  /** Every check that needs no body: token, tenant, stream, its delivery, media type, encoding, rate. */
  private async admit(
    streamId: string,
    request: IngestRequest,
  ): Promise<{ stream: StreamRecord; encoding: BodyEncoding }> {
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
    assertContentType(request.headers["content-type"], stream.payload);
    const encoding = parseContentEncoding(request.headers["content-encoding"]);
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
    return { stream, encoding };
  }

  /** Reads, decodes, validates and encodes the body, then waits until the sink made it durable. */
  private async accept(stream: StreamRecord, encoding: BodyEncoding, request: IngestRequest): Promise<void> {
    const wireLimit = maxWireBytes(encoding, this.maxRecordBytes);
    const raw = await request.readBody(wireLimit).catch((error: unknown) => {
      if (encoding === "identity" || !(error instanceof PayloadTooLargeError)) throw error;
      throw new PayloadTooLargeError(
        `${encoding} body is larger than ${formatBytes(wireLimit)} bytes on the wire; records may be at most ${formatBytes(this.maxRecordBytes)} bytes decoded`,
      );
    });
    const body = await decodeBody(raw, encoding, this.maxRecordBytes);
    const data = encodeRecord(stream.payload, body, this.maxDepth);
    await this.withDeliveryTimeout(this.deps.sink.put({ stream, data }));
  }

  private withDeliveryTimeout(delivery: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new GatewayTimeoutError(
              `delivery did not confirm the record within ${this.deliveryTimeoutMs} ms; it may or may not be stored: retry`,
            ),
          ),
        this.deliveryTimeoutMs,
      );
    });
    return Promise.race([delivery, timeout]).finally(() => clearTimeout(timer));
  }
}

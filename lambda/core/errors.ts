/**
 * The one error family of the ingest contract. Each error carries its HTTP status, a stable code, whether
 * the client should retry and (for 429/503) how long to wait; `toResponseBody` renders it.
 */

export interface ErrorBody {
  error: { code: string; message: string; retryable: boolean };
}

export abstract class IngestError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  readonly retryAfterSeconds: number | undefined;

  constructor(message: string, options?: ErrorOptions & { retryAfterSeconds?: number }) {
    super(message, options);
    this.name = new.target.name;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** Whether a client should send the same request again (5xx and 429). */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500;
  }

  toResponseBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, retryable: this.retryable } };
  }
}

/** 400: the body is not one JSON object / not one well-formed XML document. */
export class InvalidRecordError extends IngestError {
  readonly status = 400;
  readonly code: string;
  constructor(message: string, code = "invalid_record", options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** 400: a malformed request outside the body (bad header value, bad stream id). */
export class BadRequestError extends IngestError {
  readonly status = 400;
  readonly code: string;
  constructor(message: string, code = "bad_request") {
    super(message);
    this.code = code;
  }
}

/** One bad line of a batch: its 1-based physical line number, a stable code and what is wrong with it. */
export interface BatchLineError {
  readonly line: number;
  readonly code: string;
  readonly message: string;
}

/** The error body of a 400 `invalid_batch`: the usual fields plus the bad lines (and how many were not listed). */
export interface InvalidBatchBody {
  error: ErrorBody["error"] & { lines: BatchLineError[]; unlisted_lines?: number };
}

/**
 * 400: one or more lines of a batch are not a JSON object; nothing of the batch is stored. Carries up to
 * `lines.length` bad lines, in line order; `unlisted` more were found but not listed (to bound the response).
 */
export class InvalidBatchError extends IngestError {
  readonly status = 400;
  readonly code = "invalid_batch";
  constructor(
    message: string,
    readonly lines: readonly BatchLineError[],
    readonly unlisted = 0,
  ) {
    super(message);
  }

  override toResponseBody(): InvalidBatchBody {
    const body: InvalidBatchBody = { error: { ...super.toResponseBody().error, lines: [...this.lines] } };
    if (this.unlisted > 0) body.error.unlisted_lines = this.unlisted;
    return body;
  }
}

/** 401: the access token is missing or not acceptable. */
export class UnauthorizedError extends IngestError {
  readonly status = 401;
  readonly code: string;
  constructor(message: string, code = "unauthorized", options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** 403: a valid token, but for another tenant. */
export class ForbiddenError extends IngestError {
  readonly status = 403;
  readonly code = "forbidden";
}

/** 404: no such route, or no such (active) stream for this tenant. */
export class NotFoundError extends IngestError {
  readonly status = 404;
  readonly code: string;
  constructor(message: string, code = "not_found") {
    super(message);
    this.code = code;
  }
}

/** 405: a method other than POST on the data path. */
export class MethodNotAllowedError extends IngestError {
  readonly status = 405;
  readonly code = "method_not_allowed";
}

/** 413: the decoded body is larger than the limit. */
export class PayloadTooLargeError extends IngestError {
  readonly status = 413;
  readonly code = "payload_too_large";
}

/** 413: a batch holds more records than one request may (the body may still be within its byte limit). */
export class TooManyRecordsError extends IngestError {
  readonly status = 413;
  readonly code = "too_many_records";
}

/** 415: Content-Type or Content-Encoding not acceptable for this stream. */
export class UnsupportedMediaTypeError extends IngestError {
  readonly status = 415;
  readonly code: string;
  constructor(message: string, code = "unsupported_media_type") {
    super(message);
    this.code = code;
  }
}

/** 429: over the stream's rate limit, or delivery is throttling. */
export class ThrottledError extends IngestError {
  readonly status = 429;
  readonly code: string;
  constructor(message: string, retryAfterSeconds: number, code = "throttled", options?: ErrorOptions) {
    super(message, { ...options, retryAfterSeconds });
    this.code = code;
  }
}

/** 500: anything unexpected. The message never carries the cause (which is logged instead). */
export class InternalError extends IngestError {
  readonly status = 500;
  readonly code = "internal_error";
  constructor(options?: ErrorOptions) {
    super("internal error; the request was not accepted and may be retried", options);
  }
}

/** 503: a dependency (delivery, registry) is unavailable or over its bound. */
export class ServiceUnavailableError extends IngestError {
  readonly status = 503;
  readonly code: string;
  constructor(message: string, retryAfterSeconds: number, code = "unavailable", options?: ErrorOptions) {
    super(message, { ...options, retryAfterSeconds });
    this.code = code;
  }
}

/** 504: the request could not be completed in time. */
export class GatewayTimeoutError extends IngestError {
  readonly status = 504;
  readonly code = "timeout";
}

/** Formats a byte count the way error messages show it: `260,096`. */
export function formatBytes(n: number): string {
  return n.toLocaleString("en-US");
}

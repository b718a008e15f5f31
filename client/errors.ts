/**
 * The client's typed errors. None of them ever holds the access token or a record's content: messages come from
 * the server's error body (which names rules and limits, never content) or from the network layer.
 */

/** One bad line of a batch the server refused with 400 `invalid_batch`. */
export interface IngestBatchLineError {
  /** 0-based index of the record in the array given to `sendBatch`. */
  readonly index: number;
  /** The 1-based line of the request body the server reported. */
  readonly line: number;
  readonly code: string;
  readonly message: string;
}

/** Where a failed `sendBatch` stopped: records before `failedFrom` were stored, the rest were not sent. */
export interface IngestBatchProgress {
  /** Records stored by earlier requests of the same `sendBatch` call. */
  readonly acceptedRecords: number;
  /** Index of the first record of the request that failed. */
  readonly failedFrom: number;
  /** Index after the last record of the request that failed. */
  readonly failedTo: number;
}

/** Base class of every error the client throws for a request (not for bad arguments: those are TypeErrors). */
export class IngestError extends Error {
  /** Set when the error comes from `sendBatch`. */
  batch?: IngestBatchProgress;
}

/**
 * The server refused the record (or batch) with a status that is not retried: 400, 401, 403, 404, 405, 413,
 * 415, or any other non-2xx status outside the retry table. Sending the same request again gets the same answer.
 */
export class IngestRejectedError extends IngestError {
  override readonly name = "IngestRejectedError";
  constructor(
    /** HTTP status, e.g. 400. */
    readonly status: number,
    /** The server's `error.code`, e.g. `invalid_json`; `http_<status>` when the body had none. */
    readonly code: string,
    message: string,
    /** The response's `x-request-id`, for the server's logs. */
    readonly requestId: string | undefined,
    /** For a batch refused with `invalid_batch`: the bad lines, mapped to record indexes. */
    readonly lines: readonly IngestBatchLineError[] = [],
  ) {
    super(message);
  }
}

/**
 * The record could not be delivered within the retry budget: every attempt ended in a retryable status
 * (429, 500, 503, 504), a network error or a timeout. The record may or may not be stored (at-least-once);
 * send it again later, ideally with the same `idempotencyKey`.
 */
export class IngestUnavailableError extends IngestError {
  override readonly name = "IngestUnavailableError";
  constructor(
    message: string,
    /** Attempts made (requests started). */
    readonly attempts: number,
    /** Status of the last response, if the last attempt got one. */
    readonly lastStatus: number | undefined,
    /** The last network error or timeout, if the last attempt had one. */
    readonly lastError: Error | undefined,
    /** The server's `error.code` of the last response, if any. */
    readonly lastCode: string | undefined,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

/** One attempt took longer than `timeoutMs`. Retried; the record may already be stored. */
export class IngestTimeoutError extends IngestError {
  override readonly name = "IngestTimeoutError";
  readonly code = "ETIMEDOUT";
  constructor(readonly timeoutMs: number) {
    super(`no response within ${timeoutMs} ms`);
  }
}

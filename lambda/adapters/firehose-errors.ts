/**
 * What a failed Firehose PutRecord means (worth another attempt or not) and the IngestErrors the Firehose sink
 * ends with, so the retry loop in firehose-sink.ts is only about timing.
 */
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from "../core/constants.js";
import { type IngestError, ServiceUnavailableError, ThrottledError } from "../core/errors.js";
import type { StreamRecord } from "../core/types.js";
import { awsErrorName, NETWORK_ERROR_CODES, nodeErrorCode } from "./aws-errors.js";

/** Seconds a client waits while delivery streams are being created (or were not found). */
export const NOT_READY_RETRY_AFTER_SECONDS = 30;
/** Seconds a client waits when only an admin can fix the delivery (FAILED, misconfigured). */
export const ADMIN_RETRY_AFTER_SECONDS = 60;
/** Seconds a client waits after Firehose throttled every attempt. */
export const THROTTLED_RETRY_AFTER_SECONDS = 1;

/**
 * What one failed attempt means: `throttled`, `unavailable` and `timeout` are retried (with backoff);
 * `not_found` moves on to another delivery stream; `misconfigured` and `rejected` end the put at once.
 */
export type FailureKind =
  | "throttled"
  | "unavailable"
  | "timeout"
  | "not_found"
  | "misconfigured"
  | "rejected";

// Firehose reports its per-delivery-stream throughput quota as ServiceUnavailableException ("Slow down.").
const THROTTLED_NAMES = new Set([
  "ServiceUnavailableException",
  "ThrottlingException",
  "LimitExceededException",
  "TooManyRequestsException",
]);
const MISCONFIGURED_NAMES = new Set([
  "InvalidKMSResourceException",
  "InvalidSourceException",
  "AccessDeniedException",
  "UnrecognizedClientException",
]);
const TIMEOUT_NAMES = new Set(["TimeoutError", "RequestTimeout", "RequestTimeoutException", "AbortError"]);
const UNAVAILABLE_NAMES = new Set(["InternalFailure", "ServiceException", "InternalServerError"]);

/** The fields of an SDK or Node error this module reads; everything optional because nothing is guaranteed. */
interface ErrorShape {
  readonly message?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
  readonly $retryable?: { readonly throttling?: unknown };
}

// Duck-typed rather than `instanceof Error`: Node's own errors may come from another realm (jest, vm).
function shapeOf(error: unknown): ErrorShape {
  return typeof error === "object" && error !== null ? (error as ErrorShape) : {};
}

/** The error's `name` (never its message, which may quote the request), for logs. */
export function errorName(error: unknown): string {
  return awsErrorName(error) || typeof error;
}

/** Classifies what a PutRecord call rejected with, by error name, fault, HTTP status and Node error code. */
export function classifyFailure(error: unknown): FailureKind {
  const shape = shapeOf(error);
  const name = awsErrorName(error);
  const code = nodeErrorCode(error) ?? "";
  const status = typeof shape.$metadata?.httpStatusCode === "number" ? shape.$metadata.httpStatusCode : 0;
  if (THROTTLED_NAMES.has(name) || status === 429 || shape.$retryable?.throttling === true)
    return "throttled";
  if (name === "ResourceNotFoundException") return "not_found";
  if (MISCONFIGURED_NAMES.has(name) || status === 403) return "misconfigured";
  if (TIMEOUT_NAMES.has(name) || code === "ETIMEDOUT") return "timeout";
  // Node's "socket hang up" usually carries ECONNRESET; its fixed message is the fallback when it does not.
  const hangUp = shape.message === "socket hang up";
  const network = NETWORK_ERROR_CODES.has(code) || hangUp;
  if (UNAVAILABLE_NAMES.has(name) || status >= 500 || shape.$fault === "server" || network)
    return "unavailable";
  return "rejected";
}

/** The cause kept when the sink itself aborted the last attempt because the budget ran out. */
export class DeliveryBudgetExceededError extends Error {
  constructor(budgetMs: number) {
    super(`PutRecord aborted: no answer within the ${formatCount(budgetMs)} ms delivery budget`);
    this.name = "DeliveryBudgetExceededError";
  }
}

/** The cause kept when Firehose answered without a RecordId (never documented, so not trusted as stored). */
export class MissingRecordIdError extends Error {
  constructor() {
    super("PutRecord answered without a RecordId");
    this.name = "MissingRecordIdError";
  }
}

/** How far a put got, for the messages of the errors it ends with. */
export interface DeliverySummary {
  readonly deliveryStream: string;
  readonly attempts: number;
  readonly elapsedMs: number;
  readonly budgetMs: number;
}

/** The 503 for a stream whose delivery cannot take records, or undefined when it can. */
export function notReadyError(stream: StreamRecord): ServiceUnavailableError | undefined {
  const status = stream.deliveryStatus ?? "unknown";
  if (status === "ACTIVE" && stream.deliveryStreams.length > 0) return undefined;
  if (status === "FAILED") {
    return new ServiceUnavailableError(
      `stream ${stream.id} has no delivery stream ready (status FAILED); an admin must check the stream's delivery_error: retry in ${ADMIN_RETRY_AFTER_SECONDS} s`,
      ADMIN_RETRY_AFTER_SECONDS,
      "delivery_not_ready",
    );
  }
  const state = status === "ACTIVE" ? "status ACTIVE, but none listed" : `status ${status}`;
  return new ServiceUnavailableError(
    `stream ${stream.id} has no delivery stream ready yet (${state}); it is being set up: retry in ${NOT_READY_RETRY_AFTER_SECONDS} s`,
    NOT_READY_RETRY_AFTER_SECONDS,
    "delivery_not_ready",
  );
}

/** The 503 when Firehose knows none of the stream's delivery streams (deleted, or not created yet). */
export function notFoundError(stream: StreamRecord, cause: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError(
    `stream ${stream.id} has no delivery stream ready yet: Firehose does not know ${stream.deliveryStreams.join(", ")}; it is being set up: retry in ${NOT_READY_RETRY_AFTER_SECONDS} s`,
    NOT_READY_RETRY_AFTER_SECONDS,
    "delivery_not_ready",
    { cause },
  );
}

/** The 503 when the delivery stream's configuration refuses records (KMS key, IAM): an operator must act. */
export function misconfiguredError(deliveryStream: string, cause: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError(
    `Firehose delivery stream ${deliveryStream} cannot take records because of its configuration; an admin must fix it: retry in ${ADMIN_RETRY_AFTER_SECONDS} s`,
    ADMIN_RETRY_AFTER_SECONDS,
    "delivery_misconfigured",
    { cause },
  );
}

/** The 429 or 503 a put ends with once retrying failures used up the budget (`kind` is the last failure). */
export function exhaustedError(
  kind: "throttled" | "unavailable" | "timeout",
  summary: DeliverySummary,
  cause: unknown,
): IngestError {
  const { deliveryStream, budgetMs } = summary;
  const tried = `${plural(summary.attempts, "attempt")} in ${formatCount(summary.elapsedMs)} ms`;
  if (kind === "throttled") {
    return new ThrottledError(
      `Firehose delivery stream ${deliveryStream} is over its throughput quota; ${tried}: retry after ${THROTTLED_RETRY_AFTER_SECONDS} s`,
      THROTTLED_RETRY_AFTER_SECONDS,
      "delivery_throttled",
      { cause },
    );
  }
  const message =
    cause instanceof DeliveryBudgetExceededError
      ? `no acknowledgement from Firehose within the ${formatCount(budgetMs)} ms budget (delivery stream ${deliveryStream}, ${plural(summary.attempts, "attempt")}); the record may or may not be stored: retry`
      : kind === "timeout"
        ? `Firehose delivery stream ${deliveryStream} did not answer in time; ${tried}; the record may or may not be stored: retry after ${UNAVAILABLE_RETRY_AFTER_SECONDS} s`
        : `Firehose delivery stream ${deliveryStream} is unavailable; ${tried}: retry after ${UNAVAILABLE_RETRY_AFTER_SECONDS} s`;
  return new ServiceUnavailableError(message, UNAVAILABLE_RETRY_AFTER_SECONDS, "delivery_unavailable", {
    cause,
  });
}

/** `6,000`: how counts (milliseconds) read in messages. */
function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

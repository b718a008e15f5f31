/** Renders outcomes as HTTP responses: the one place errors become status codes and JSON bodies. */
import { IngestError, InternalError } from "./errors.js";
import { OPENAPI_TEXT } from "./openapi.js";
import type { Logger } from "./ports.js";
import type { IngestResponse } from "./types.js";

const JSON_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
} as const;

/** 202 Accepted: the record is durable. */
export function acceptedResponse(streamId: string, requestId: string): IngestResponse {
  return {
    status: 202,
    headers: { ...JSON_HEADERS, "x-request-id": requestId },
    body: JSON.stringify({ status: "accepted", stream: streamId, request_id: requestId }),
  };
}

/** 202 Accepted for a batch: every one of its `records` records is durable. */
export function acceptedBatchResponse(streamId: string, requestId: string, records: number): IngestResponse {
  return {
    status: 202,
    headers: { ...JSON_HEADERS, "x-request-id": requestId },
    body: JSON.stringify({ status: "accepted", stream: streamId, request_id: requestId, records }),
  };
}

/** 200 with the API's OpenAPI description. */
export function openApiResponse(requestId: string): IngestResponse {
  return {
    status: 200,
    headers: { ...JSON_HEADERS, "cache-control": "public, max-age=300", "x-request-id": requestId },
    body: OPENAPI_TEXT,
  };
}

/**
 * 202 Accepted for a request that carried an Idempotency-Key: the usual fields (and `records` for a batch), then
 * `duplicate` — true when the key was already accepted and nothing was stored again, with the request id that
 * stored it as `original_request_id`.
 */
export function acceptedKeyedResponse(
  streamId: string,
  requestId: string,
  outcome: { readonly records?: number; readonly duplicate: boolean; readonly originalRequestId?: string },
): IngestResponse {
  const body: Record<string, unknown> = { status: "accepted", stream: streamId, request_id: requestId };
  if (outcome.records !== undefined) body.records = outcome.records;
  body.duplicate = outcome.duplicate;
  if (outcome.originalRequestId !== undefined) body.original_request_id = outcome.originalRequestId;
  return { status: 202, headers: { ...JSON_HEADERS, "x-request-id": requestId }, body: JSON.stringify(body) };
}

/** 200 with a small JSON document (health). */
export function okResponse(requestId: string, body: Record<string, unknown>): IngestResponse {
  return { status: 200, headers: { ...JSON_HEADERS, "x-request-id": requestId }, body: JSON.stringify(body) };
}

/**
 * Maps any thrown value to its response. IngestErrors render themselves; anything else is a 500 whose cause
 * is logged (name and stack only: a message might quote record content) and never shown to the client.
 */
export function errorResponse(
  error: unknown,
  requestId: string,
  logger: Logger,
  extraHeaders: Record<string, string> = {},
): IngestResponse {
  const ingestError = error instanceof IngestError ? error : new InternalError({ cause: error });
  if (!(error instanceof IngestError)) {
    logger.error("unexpected error", { requestId, errorName: errorName(error), stack: stackFrames(error) });
  } else if (ingestError.status >= 500) {
    logger.warn("request not accepted", {
      requestId,
      status: ingestError.status,
      code: ingestError.code,
      cause: errorName(ingestError.cause),
      causeCode: errorCode(ingestError.cause),
    });
  }
  const headers: Record<string, string> = { ...JSON_HEADERS, ...extraHeaders, "x-request-id": requestId };
  if (ingestError.retryAfterSeconds !== undefined)
    headers["retry-after"] = String(ingestError.retryAfterSeconds);
  return { status: ingestError.status, headers, body: JSON.stringify(ingestError.toResponseBody()) };
}

// Duck-typed rather than `instanceof Error`: errors from Node's own modules may come from another realm.
function errorName(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  const name = typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
  return typeof name === "string" ? name : typeof error;
}

function errorCode(error: unknown): string | undefined {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

/** The stack frames of an error, without its message. */
function stackFrames(error: unknown): string | undefined {
  const stack =
    typeof error === "object" && error !== null ? (error as { stack?: unknown }).stack : undefined;
  // Only the frame lines: a multi-line message (which might quote record content) is left out entirely.
  return typeof stack === "string"
    ? stack
        .split("\n")
        .filter((line) => /^\s+at /.test(line))
        .slice(0, 7)
        .join("\n")
    : undefined;
}

/**
 * The API Gateway HTTP API (payload format 2.0) entry: translates the event into the core's IngestRequest and
 * the core's IngestResponse into the Lambda result. No decisions are made here.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { payloadTooLarge } from "../core/body.js";
import type { IngestRequest, IngestResponse } from "../core/types.js";

/** Builds the core's view of an HTTP API request. */
export function toIngestRequest(event: APIGatewayProxyEventV2): IngestRequest {
  const body = eventBody(event);
  return {
    method: event.requestContext.http.method,
    // rawPath is the path as the client sent it (no query string); with the `$default` stage it has no stage
    // prefix.
    path: event.rawPath,
    headers: lowerCaseHeaders(event.headers),
    requestId: event.requestContext.requestId,
    readBody: (maxBytes) =>
      body.byteLength > maxBytes
        ? Promise.reject(payloadTooLarge(body.byteLength, maxBytes))
        : Promise.resolve(body),
  };
}

/** The Lambda result for a core response: always JSON text, never base64. */
export function toHttpApiResult(response: IngestResponse): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: response.status,
    headers: { ...response.headers },
    body: response.body,
    isBase64Encoded: false,
  };
}

/** The raw body bytes: API Gateway base64-encodes bodies it does not treat as text (e.g. gzip). */
function eventBody(event: APIGatewayProxyEventV2): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8");
}

/**
 * HTTP API already lower-cases header names and joins repeated headers with commas; lower-casing again costs
 * little and keeps the core's contract whatever produced the event (tests, emulators).
 */
function lowerCaseHeaders(
  headers: APIGatewayProxyEventV2["headers"] | undefined,
): Record<string, string | undefined> {
  const result: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const previous = result[key];
    result[key] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return result;
}

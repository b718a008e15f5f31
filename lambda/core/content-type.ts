/** Content-Type and Content-Encoding checks: which media types a stream's payload type accepts. */
import { UnsupportedMediaTypeError } from "./errors.js";
import type { PayloadType } from "./types.js";

const ACCEPTED_MEDIA_TYPES: Readonly<Record<PayloadType, readonly string[]>> = {
  json: ["application/json"],
  xml: ["application/xml", "text/xml"],
};

/** The encodings a request body may use; anything else is a 415. */
export type BodyEncoding = "identity" | "gzip";

/**
 * Checks that `contentType` (the raw header) names the stream's payload type, with at most a UTF-8
 * `charset` parameter. Throws UnsupportedMediaTypeError naming what was sent and what is expected.
 */
export function assertContentType(contentType: string | undefined, payload: PayloadType): void {
  const expected = ACCEPTED_MEDIA_TYPES[payload];
  const expectedText = expected.join(" or ");
  assertMediaType(
    contentType,
    expected,
    `this stream takes ${payload.toUpperCase()} records: send Content-Type: ${expectedText}`,
    `does not match this stream's payload type ${payload}; send ${expectedText}`,
  );
}

/**
 * The media types a batch body may be sent as: NDJSON under its common names, and `application/json` for
 * clients that cannot set another type. The body is NDJSON whichever of them is sent.
 */
export const BATCH_MEDIA_TYPES: readonly string[] = [
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/json",
];

/**
 * Checks a batch request's Content-Type: batches are for JSON streams only (an XML stream answers 415
 * `batch_not_supported`), sent as one of {@link BATCH_MEDIA_TYPES} with at most a UTF-8 `charset`.
 */
export function assertBatchContentType(contentType: string | undefined, payload: PayloadType): void {
  if (payload !== "json") {
    throw new UnsupportedMediaTypeError(
      `this stream takes ${payload.toUpperCase()} records; the batch endpoint takes JSON streams only: post each record to /stream/v0/data/<stream-id>`,
      "batch_not_supported",
    );
  }
  assertMediaType(
    contentType,
    BATCH_MEDIA_TYPES,
    "a batch is NDJSON (one JSON object per line): send Content-Type: application/x-ndjson",
    "is not accepted for a batch; send application/x-ndjson (one JSON object per line)",
  );
}

/** The shared media-type check: present, one of `expected`, and at most a UTF-8 `charset` parameter. */
function assertMediaType(
  contentType: string | undefined,
  expected: readonly string[],
  missingHint: string,
  mismatchHint: string,
): void {
  if (contentType === undefined || contentType.trim() === "") {
    throw new UnsupportedMediaTypeError(`Content-Type is missing; ${missingHint}`, "missing_content_type");
  }
  const [mediaTypeRaw = "", ...params] = contentType.split(";");
  const mediaType = mediaTypeRaw.trim().toLowerCase();
  if (!expected.includes(mediaType)) {
    throw new UnsupportedMediaTypeError(
      `Content-Type ${quoteForMessage(mediaType)} ${mismatchHint}`,
      "wrong_content_type",
    );
  }
  for (const param of params) {
    const eq = param.indexOf("=");
    const name = (eq === -1 ? param : param.slice(0, eq)).trim().toLowerCase();
    if (name !== "charset") continue;
    const value =
      eq === -1
        ? ""
        : param
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, "$1")
            .toLowerCase();
    if (value !== "utf-8" && value !== "utf8") {
      throw new UnsupportedMediaTypeError(
        `charset ${quoteForMessage(value)} is not supported; records must be UTF-8 (charset=utf-8 or no charset)`,
        "unsupported_charset",
      );
    }
  }
}

/** Parses Content-Encoding: absent or `identity` means none; `gzip` (or `x-gzip`) is decoded; else 415. */
export function parseContentEncoding(header: string | undefined): BodyEncoding {
  if (header === undefined) return "identity";
  const value = header.trim().toLowerCase();
  if (value === "" || value === "identity") return "identity";
  if (value === "gzip" || value === "x-gzip") return "gzip";
  throw new UnsupportedMediaTypeError(
    `Content-Encoding ${quoteForMessage(value)} is not supported; send the body as is or with Content-Encoding: gzip`,
    "unsupported_content_encoding",
  );
}

/** Quotes a header value for an error message, cut short so a huge header cannot bloat the response. */
function quoteForMessage(value: string): string {
  const shown = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  return JSON.stringify(shown);
}

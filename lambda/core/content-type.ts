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
  if (contentType === undefined || contentType.trim() === "") {
    throw new UnsupportedMediaTypeError(
      `Content-Type is missing; this stream takes ${payload.toUpperCase()} records: send Content-Type: ${expectedText}`,
      "missing_content_type",
    );
  }
  const [mediaTypeRaw = "", ...params] = contentType.split(";");
  const mediaType = mediaTypeRaw.trim().toLowerCase();
  if (!expected.includes(mediaType)) {
    throw new UnsupportedMediaTypeError(
      `Content-Type ${quoteForMessage(mediaType)} does not match this stream's payload type ${payload}; send ${expectedText}`,
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

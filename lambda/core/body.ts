/** Decoding a request body within the size limit: gzip with a bounded output, then strict UTF-8. */
import { gunzip } from "node:zlib";
import { MAX_ENCODED_BODY_BYTES, MAX_RECORD_BYTES } from "./constants.js";
import type { BodyEncoding } from "./content-type.js";
import { formatBytes, InvalidRecordError, PayloadTooLargeError } from "./errors.js";

/** The most raw bytes to read off the wire for a body in this encoding. */
export function maxWireBytes(encoding: BodyEncoding, limit = MAX_RECORD_BYTES): number {
  return encoding === "identity" ? limit : Math.max(MAX_ENCODED_BODY_BYTES, 2 * limit);
}

/** The 413 for a body known (or found) to be larger than the limit. */
export function payloadTooLarge(
  actualBytes: number | undefined,
  limit = MAX_RECORD_BYTES,
): PayloadTooLargeError {
  return actualBytes === undefined
    ? new PayloadTooLargeError(`body is larger than the limit of ${formatBytes(limit)} bytes`)
    : new PayloadTooLargeError(
        `body is ${formatBytes(actualBytes)} bytes; the limit is ${formatBytes(limit)} bytes`,
      );
}

/**
 * Decodes the body. gzip is inflated with a hard output bound, so a small "zip bomb" costs at most `limit`
 * bytes of memory before it is answered 413.
 */
export async function decodeBody(
  raw: Uint8Array,
  encoding: BodyEncoding,
  limit = MAX_RECORD_BYTES,
): Promise<Uint8Array> {
  if (encoding === "identity") {
    if (raw.byteLength > limit) throw payloadTooLarge(raw.byteLength, limit);
    return raw;
  }
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      gunzip(raw, { maxOutputLength: limit }, (error, result) => (error ? reject(error) : resolve(result)));
    });
  } catch (error) {
    if (isErrorWithCode(error, "ERR_BUFFER_TOO_LARGE")) {
      throw new PayloadTooLargeError(
        `gzip body decodes to more than ${formatBytes(limit)} bytes; the limit is ${formatBytes(limit)} bytes (decoded)`,
      );
    }
    throw new InvalidRecordError("body is not valid gzip data (Content-Encoding: gzip)", "invalid_encoding", {
      cause: error,
    });
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Decodes strict UTF-8 (one leading BOM is dropped). Invalid sequences are a 400, never replaced. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new InvalidRecordError("body is not valid UTF-8", "invalid_utf8", { cause: error });
  }
}

/** Checks the code without `instanceof`: errors from Node's own modules may come from another realm. */
function isErrorWithCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

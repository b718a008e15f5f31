/** Turns a decoded body into the bytes a sink appends: an NDJSON line, or one CBOR data item. */
import { decodeUtf8 } from "./body.js";
import { minifyJsonRecord } from "./json-record.js";
import type { PayloadType } from "./types.js";
import { xmlRecordToCbor } from "./xml-record.js";

const NEWLINE = 0x0a;

/** Validates the body for the stream's payload type and encodes it for storage. Throws InvalidRecordError. */
export function encodeRecord(payload: PayloadType, body: Uint8Array, maxDepth?: number): Uint8Array {
  const text = decodeUtf8(body);
  if (payload === "xml") return xmlRecordToCbor(text, maxDepth);
  const line = minifyJsonRecord(text, maxDepth);
  if (line === text) {
    // Already minified (minifyJsonRecord returned its input): the body's own bytes are the line, so copy them
    // instead of encoding the string back to UTF-8 (a large record skips a full scan and a re-encode).
    const start = hasUtf8Bom(body) ? 3 : 0;
    const bytes = Buffer.allocUnsafe(body.byteLength - start + 1);
    bytes.set(start === 0 ? body : body.subarray(start), 0);
    bytes[bytes.length - 1] = NEWLINE;
    return bytes;
  }
  const bytes = Buffer.allocUnsafe(Buffer.byteLength(line) + 1);
  const written = bytes.write(line, 0, "utf8");
  bytes[written] = NEWLINE;
  return bytes;
}

/** decodeUtf8 drops one leading BOM; so must the copy of the raw bytes. */
function hasUtf8Bom(body: Uint8Array): boolean {
  return body.byteLength >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
}

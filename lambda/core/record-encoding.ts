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
  const bytes = Buffer.allocUnsafe(Buffer.byteLength(line) + 1);
  const written = bytes.write(line, 0, "utf8");
  bytes[written] = NEWLINE;
  return bytes;
}

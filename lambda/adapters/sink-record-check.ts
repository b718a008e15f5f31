/**
 * Last checks before a record reaches disk: its stream's tenant and id become path segments, and crash
 * recovery relies on the framing (an NDJSON line ends in `\n`; a CBOR record is one map with text keys,
 * checked exactly as recovery checks it, so recovery can never cut an acknowledged record). The core
 * guarantees all of this; a violation is a bug upstream, refused rather than written into a batch.
 */
import { STREAM_ID_PATTERN } from "../core/constants.js";
import type { AcceptedRecord } from "../core/types.js";
import { isCborRecord } from "./record-framing.js";

/** One safe path segment: no separators, never `.`/`..` (it must start with a letter or digit). */
const PATH_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const NEWLINE = 0x0a;

/** Why the record cannot be written (without quoting its content), or undefined when it can. */
export function checkRecordShape(record: AcceptedRecord): string | undefined {
  const { stream, data } = record;
  if (!STREAM_ID_PATTERN.test(stream.id)) {
    return "stream id is not a valid stream id";
  }
  if (!PATH_SEGMENT.test(stream.tenant)) {
    return "tenant is not usable as a folder name";
  }
  if (data.byteLength === 0) {
    return "record is empty";
  }
  if (stream.payload === "json" && data[data.byteLength - 1] !== NEWLINE) {
    return "NDJSON record does not end with a newline";
  }
  if (stream.payload === "xml" && !isCborRecord(data)) {
    return "CBOR record is not exactly one map with text keys";
  }
  return undefined;
}

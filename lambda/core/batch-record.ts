/**
 * A batch body (NDJSON: one JSON object per line) split into records and validated all-or-nothing: every line
 * is checked with the same minifyJsonRecord as a single record, and every bad line is reported by its number.
 */
import {
  MAX_BATCH_RECORDS,
  MAX_LISTED_BATCH_ERRORS,
  MAX_NESTING_DEPTH,
  MAX_RECORD_BYTES,
} from "./constants.js";
import {
  type BatchLineError,
  formatBytes,
  InvalidBatchError,
  InvalidRecordError,
  PayloadTooLargeError,
  TooManyRecordsError,
} from "./errors.js";
import { minifyJsonRecord } from "./json-record.js";

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

/** Limits of {@link parseBatch}; the defaults are the contract's. */
export interface BatchLimits {
  /** Most bytes one line (one record, without its line break) may have. @default 260,096 */
  readonly maxRecordBytes?: number;
  /** Most records (non-blank lines). @default 500 */
  readonly maxRecords?: number;
  /** @default 64 */
  readonly maxDepth?: number;
  /** Most bad lines listed in the 400. @default 100 */
  readonly maxListedErrors?: number;
}

/** Where one non-blank line sits in the body. */
interface LineSpan {
  /** 1-based physical line number. */
  readonly number: number;
  readonly start: number;
  /** Exclusive; a `\r` before the `\n` is already left out. */
  readonly end: number;
}

// Keeps a U+FEFF inside the text (only the body's very first bytes may be a BOM, dropped before decoding).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Splits and validates a decoded batch body. Returns one NDJSON line per record (minified, lexemes kept,
 * `\n`-terminated), in body order.
 *
 * Lines are split on `\n` (a `\r` before it is dropped); blank or whitespace-only lines are skipped but still
 * counted, so line numbers are physical lines; a trailing newline is fine; a UTF-8 BOM is allowed at the very
 * start of the body only.
 *
 * @throws PayloadTooLargeError (413) when a line is longer than `maxRecordBytes`, TooManyRecordsError (413
 *   `too_many_records`) when there are more than `maxRecords` records, InvalidRecordError (400 `empty_batch`)
 *   when there are none, InvalidBatchError (400 `invalid_batch`) listing the bad lines. Size limits are checked
 *   before any line is validated.
 */
export function parseBatch(body: Uint8Array, limits: BatchLimits = {}): Uint8Array[] {
  const maxRecordBytes = limits.maxRecordBytes ?? MAX_RECORD_BYTES;
  const maxRecords = limits.maxRecords ?? MAX_BATCH_RECORDS;
  const maxDepth = limits.maxDepth ?? MAX_NESTING_DEPTH;
  const maxListed = limits.maxListedErrors ?? MAX_LISTED_BATCH_ERRORS;

  const spans = splitLines(body, maxRecordBytes);
  if (spans.length === 0) {
    throw new InvalidRecordError(
      "batch holds no records; send one JSON object per line (NDJSON)",
      "empty_batch",
    );
  }
  if (spans.length > maxRecords) {
    throw new TooManyRecordsError(
      `batch holds ${formatBytes(spans.length)} records; the limit is ${formatBytes(maxRecords)} records per request`,
    );
  }

  const records: Uint8Array[] = [];
  const errors: BatchLineError[] = [];
  let badLines = 0;
  for (const span of spans) {
    const result = validateLine(body, span, maxDepth);
    if (result instanceof Uint8Array) {
      if (badLines === 0) records.push(result);
      continue;
    }
    if (badLines === 0) records.length = 0;
    badLines += 1;
    if (errors.length < maxListed) errors.push(result);
  }
  if (badLines > 0) {
    const unlisted = badLines - errors.length;
    const listed = unlisted > 0 ? `; the first ${errors.length} are listed` : "";
    throw new InvalidBatchError(
      `${badLines} of ${spans.length} records ${badLines === 1 ? "is" : "are"} not a valid JSON object (${lineList(errors, unlisted)})${listed}; nothing was stored: fix ${badLines === 1 ? "it" : "them"} and send the whole batch again`,
      errors,
      unlisted,
    );
  }
  return records;
}

/** The non-blank lines of the body, checking each one's size on the way (a 413 names the line). */
function splitLines(body: Uint8Array, maxRecordBytes: number): LineSpan[] {
  const spans: LineSpan[] = [];
  // A BOM is allowed where a single record allows it: at the start of the body.
  let start = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  let number = 1;
  const length = body.byteLength;
  while (start < length) {
    let newline = body.indexOf(LF, start);
    if (newline === -1) newline = length;
    const end = newline > start && body[newline - 1] === CR ? newline - 1 : newline;
    if (!isBlank(body, start, end)) {
      if (end - start > maxRecordBytes) {
        throw new PayloadTooLargeError(
          `line ${number} is ${formatBytes(end - start)} bytes; the limit for one record is ${formatBytes(maxRecordBytes)} bytes`,
        );
      }
      spans.push({ number, start, end });
    }
    start = newline + 1;
    number += 1;
  }
  return spans;
}

function isBlank(body: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = body[i];
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  return true;
}

/** The record as an NDJSON line with its `\n`, or the line's error. */
function validateLine(body: Uint8Array, span: LineSpan, maxDepth: number): Uint8Array | BatchLineError {
  let text: string;
  try {
    text = utf8.decode(body.subarray(span.start, span.end));
  } catch {
    return { line: span.number, code: "invalid_utf8", message: "line is not valid UTF-8" };
  }
  let minified: string;
  try {
    minified = minifyJsonRecord(text, maxDepth);
  } catch (error) {
    if (!(error instanceof InvalidRecordError)) throw error;
    return { line: span.number, code: error.code, message: lineMessage(error.message) };
  }
  // Already minified and `\n`-terminated in the body (the common case): its own bytes are the line, uncopied.
  // (minifyJsonRecord returns `text` itself when it removed nothing; strict UTF-8 round-trips byte for byte.)
  if (minified === text && body[span.end] === LF) return body.subarray(span.start, span.end + 1);
  return toNdjsonLine(minified);
}

/**
 * minifyJsonRecord speaks of "the body" and of lines within it; here the body is one line, so the message is
 * reworded to speak of the line and to drop the (always 1) line number. Offsets and columns stay as they are.
 */
function lineMessage(message: string): string {
  return message
    .replace(/^body /, "line ")
    .replace(/ \(line 1, column (\d+)\)/, " (column $1)")
    .replace("the end of the body", "the end of the line")
    .replace(/each request must hold exactly one JSON object/, "each line must hold exactly one JSON object")
    .replace(/send (exactly )?one object per request/, "send one object per line");
}

function lineList(errors: readonly BatchLineError[], unlisted: number): string {
  const shown = errors.slice(0, 10).map((error) => error.line);
  const more = errors.length - shown.length + unlisted;
  return `line${errors.length + unlisted === 1 ? "" : "s"} ${shown.join(", ")}${more > 0 ? ` and ${formatBytes(more)} more` : ""}`;
}

function toNdjsonLine(line: string): Uint8Array {
  const bytes = Buffer.allocUnsafe(Buffer.byteLength(line) + 1);
  const written = bytes.write(line, 0, "utf8");
  bytes[written] = LF;
  return bytes;
}

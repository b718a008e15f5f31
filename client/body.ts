/** Turns records into request bodies: one record for the data path, NDJSON chunks for the batch path. */

/** The data path prefix; the stream id follows it. (The contract's; duplicated so the client stands alone.) */
export const DATA_PATH = "/stream/v0/data/";
/** The batch path prefix; the stream id follows it. */
export const BATCH_PATH = "/stream/v0/batch/";
/** Most records in one batch request. */
export const MAX_BATCH_RECORDS = 500;
/** Largest decoded batch body, in bytes (4 MiB). */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * A record: a value serialised with JSON.stringify, or a JSON/XML text sent as is (a string or UTF-8 bytes).
 * A text whose first non-whitespace character is `<` is XML unless a content type is given.
 */
export type IngestRecord = string | Uint8Array | object;

export interface EncodedRecord {
  readonly body: Buffer;
  readonly contentType: string;
}

const JSON_TYPE = "application/json";
const XML_TYPE = "application/xml";

export function encodeRecord(record: IngestRecord, contentType?: string): EncodedRecord {
  if (typeof record === "string") {
    return { body: Buffer.from(record, "utf8"), contentType: contentType ?? sniff(record.trimStart()[0]) };
  }
  if (ArrayBuffer.isView(record)) {
    const body = viewBytes(record);
    return { body, contentType: contentType ?? sniff(firstNonSpace(body)) };
  }
  if (record === null || typeof record !== "object")
    throw new TypeError("a record must be an object or a text");
  const text = JSON.stringify(record);
  return { body: Buffer.from(text, "utf8"), contentType: contentType ?? JSON_TYPE };
}

/** The bytes of a typed array or DataView, without copying (duck-typed: views may come from another realm). */
function viewBytes(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function sniff(first: string | undefined): string {
  return first === "<" ? XML_TYPE : JSON_TYPE;
}

function firstNonSpace(bytes: Uint8Array): string | undefined {
  // Skips a UTF-8 byte order mark and ASCII whitespace.
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)
  )
    i++;
  return i < bytes.length ? String.fromCharCode(bytes[i] as number) : undefined;
}

/**
 * One record as one NDJSON line (without the `\n`). Raw line breaks in a valid JSON text are always
 * insignificant whitespace (inside strings they must be escaped), so a pretty-printed text becomes one line by
 * turning them into spaces; numbers and escapes stay exactly as written.
 */
export function toNdjsonLine(record: IngestRecord): Buffer {
  if (typeof record === "string" || ArrayBuffer.isView(record)) {
    // A copy: line breaks are replaced in place and the caller's bytes must stay as they are.
    const bytes = typeof record === "string" ? Buffer.from(record, "utf8") : Buffer.from(viewBytes(record));
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a || bytes[i] === 0x0d) bytes[i] = 0x20;
    if (bytes.every((b) => b === 0x20 || b === 0x09)) throw new TypeError("a batch record is empty");
    return bytes;
  }
  if (record === null || typeof record !== "object")
    throw new TypeError("a record must be an object or a text");
  return Buffer.from(JSON.stringify(record), "utf8");
}

/** A batch request's worth of records: `lines[i]` is record `from + i`. */
export interface BatchChunk {
  readonly from: number;
  readonly lines: readonly Buffer[];
  /** The NDJSON body: every line followed by `\n`. */
  readonly body: Buffer;
}

/**
 * Splits NDJSON lines into chunks of at most `maxRecords` records and `maxBytes` body bytes. A single line
 * longer than `maxBytes` goes alone (and the server refuses it, naming the limit).
 */
export function chunkLines(
  lines: readonly Buffer[],
  maxRecords = MAX_BATCH_RECORDS,
  maxBytes = MAX_BATCH_BYTES,
): BatchChunk[] {
  const chunks: BatchChunk[] = [];
  let from = 0;
  let current: Buffer[] = [];
  let bytes = 0;
  const flush = () => {
    if (current.length === 0) return;
    const body = Buffer.concat(current.flatMap((line) => [line, NEWLINE]));
    chunks.push({ from, lines: current, body });
    from += current.length;
    current = [];
    bytes = 0;
  };
  for (const line of lines) {
    const size = line.length + 1;
    if (current.length >= maxRecords || (current.length > 0 && bytes + size > maxBytes)) flush();
    current.push(line);
    bytes += size;
  }
  flush();
  return chunks;
}

const NEWLINE = Buffer.from("\n");

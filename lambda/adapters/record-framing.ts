/**
 * Where the last whole record of a batch file ends, so crash recovery can cut a torn tail (a half-written
 * record, zero bytes from an extend whose data never reached the disk, garbage) and keep everything before it.
 */
import { Decoder } from "cbor-x";
import type { PayloadType } from "../core/types.js";

const NEWLINE = 0x0a;
const MAJOR_TYPE_MAP = 5;

/** Decodes one framed item to prove it is valid CBOR; maps stay `Map`s so no key is ever coerced. */
const validator = new Decoder({ mapsAsObjects: false });

/** Length of the prefix of `bytes` that holds only whole records of the given payload type. */
export function wholeRecordsLength(bytes: Uint8Array, payload: PayloadType): number {
  return payload === "json" ? ndjsonWholeLength(bytes) : cborWholeLength(bytes);
}

/** NDJSON: everything up to and including the last `\n`. */
export function ndjsonWholeLength(bytes: Uint8Array): number {
  return bytes.lastIndexOf(NEWLINE) + 1;
}

/**
 * A CBOR sequence (RFC 8742) of records: items are framed one by one from the start and each must be a
 * record (see {@link isCborRecord}). The first item that is incomplete, not a record or undecodable ends
 * the whole part.
 */
export function cborWholeLength(bytes: Uint8Array): number {
  let end = 0;
  while (end < bytes.length) {
    const itemEnd = (bytes[end] ?? 0) >> 5 === MAJOR_TYPE_MAP ? cborItemEnd(bytes, end) : undefined;
    if (itemEnd === undefined || !isRecordMap(bytes.subarray(end, itemEnd))) {
      break;
    }
    end = itemEnd;
  }
  return end;
}

/**
 * Whether `bytes` is exactly one CBOR record: a map (major type 5) with at least one entry, whose keys are
 * all text (an XML document's root element name is one), that cbor-x decodes. The sink refuses any other
 * record at put time with this same test, so recovery can never cut an acknowledged record. The extra
 * rules matter for zero fill: a zero byte is a valid CBOR integer, and a map head followed by zeros
 * decodes as an empty map or one with integer keys.
 */
export function isCborRecord(bytes: Uint8Array): boolean {
  return (
    (bytes[0] ?? 0) >> 5 === MAJOR_TYPE_MAP && cborItemEnd(bytes, 0) === bytes.length && isRecordMap(bytes)
  );
}

function isRecordMap(item: Uint8Array): boolean {
  let value: unknown;
  try {
    value = validator.decode(item);
  } catch {
    return false;
  }
  if (!(value instanceof Map) || value.size === 0) {
    return false;
  }
  for (const key of value.keys()) {
    if (typeof key !== "string") {
      return false;
    }
  }
  return true;
}

/** Items still expected in an indefinite-length container: until its `break` byte. */
const UNTIL_BREAK = -1;
const BREAK = 0xff;

/**
 * Offset just past the CBOR data item starting at `start`, from its heads alone (RFC 8949 §3), or
 * undefined when the bytes end inside it or hold a reserved head. Iterative, so nesting depth cannot
 * exhaust the stack; every step consumes at least one byte, so the work is linear in the input.
 */
export function cborItemEnd(bytes: Uint8Array, start: number): number | undefined {
  let pos = start;
  const open: number[] = [1];
  while (open.length > 0) {
    const top = open.length - 1;
    const remaining = open[top] ?? 0;
    if (remaining === 0) {
      open.pop();
      continue;
    }
    if (pos >= bytes.length) {
      return undefined;
    }
    const initial = bytes[pos] ?? 0;
    if (remaining === UNTIL_BREAK && initial === BREAK) {
      pos += 1;
      open.pop();
      continue;
    }
    if (remaining !== UNTIL_BREAK) {
      open[top] = remaining - 1;
    }
    const head = readHead(bytes, pos);
    if (head === undefined) {
      return undefined;
    }
    pos = head.next;
    const { major, argument } = head;
    if (major === 2 || major === 3) {
      if (argument === UNTIL_BREAK) {
        open.push(UNTIL_BREAK);
      } else if (pos + argument > bytes.length) {
        return undefined;
      } else {
        pos += argument;
      }
    } else if (major === 4 || major === 5) {
      // A map of n pairs is 2n items in a row; an indefinite map ends at its break like an array.
      open.push(argument === UNTIL_BREAK ? UNTIL_BREAK : major === 5 ? 2 * argument : argument);
    } else if (major === 6) {
      open.push(1);
    }
    // Majors 0, 1 and 7 are complete with their head.
  }
  return pos;
}

interface Head {
  readonly major: number;
  /** The head's argument (a length, count, value or tag), or UNTIL_BREAK for indefinite length. */
  readonly argument: number;
  readonly next: number;
}

function readHead(bytes: Uint8Array, pos: number): Head | undefined {
  const initial = bytes[pos] ?? 0;
  const major = initial >> 5;
  const info = initial & 0x1f;
  if (info < 24) {
    return { major, argument: info, next: pos + 1 };
  }
  if (info === 31) {
    // Indefinite length exists only for strings, arrays and maps; a stray break (major 7) is malformed.
    return major >= 2 && major <= 5 ? { major, argument: UNTIL_BREAK, next: pos + 1 } : undefined;
  }
  if (info > 27) {
    return undefined;
  }
  const size = 1 << (info - 24);
  if (pos + 1 + size > bytes.length) {
    return undefined;
  }
  const next = pos + 1 + size;
  if (major < 2 || major > 5) {
    // Integers, tags, floats and simple values: only the head's size matters, not its (maybe 64-bit) value.
    return { major, argument: 0, next };
  }
  let argument = 0;
  for (let i = 1; i <= size; i++) {
    argument = argument * 256 + (bytes[pos + i] ?? 0);
  }
  // Past 2^53 a length or count cannot be real (and would lose precision); treat the item as not whole.
  return Number.isSafeInteger(argument) ? { major, argument, next } : undefined;
}

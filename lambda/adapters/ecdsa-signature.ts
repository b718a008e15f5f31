/**
 * ECDSA signature encodings: the DER `ECDSA-Sig-Value` that KMS (and OpenSSL) produce, and the fixed-size r‖s
 * form JOSE (ES256) requires. Parsing is strict: anything but exactly one minimal SEQUENCE of two positive
 * INTEGERs is refused, so a KMS answer that is not what we expect never becomes a token.
 */

/** A signature that is not a well-formed DER ECDSA-Sig-Value (or JOSE signature) of the expected size. */
export class SignatureEncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SignatureEncodingError";
  }
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;

/**
 * Converts a DER ECDSA-Sig-Value (`SEQUENCE { r INTEGER, s INTEGER }`) to the JOSE form: r and s as unsigned
 * big-endian integers, each left-padded to `size` bytes (32 for P-256), concatenated.
 */
export function derToJoseSignature(der: Uint8Array, size = 32): Uint8Array {
  const fail = (problem: string) => new SignatureEncodingError(`DER ECDSA signature: ${problem}`);
  if (der.length < 2) throw fail(`${der.length} byte(s) is too short`);
  if (der[0] !== SEQUENCE) throw fail(`expected a SEQUENCE (0x30), found tag 0x${hex(der[0])} at byte 0`);
  const sequence = readLength(der, 1, fail);
  const end = sequence.start + sequence.length;
  if (end > der.length)
    throw fail(`the SEQUENCE claims ${sequence.length} bytes but only ${der.length - sequence.start} follow`);
  if (end < der.length) throw fail(`${der.length - end} trailing byte(s) after the SEQUENCE`);
  const r = readInteger(der, sequence.start, end, "r", size, fail);
  const s = readInteger(der, r.next, end, "s", size, fail);
  if (s.next !== end) throw fail(`${end - s.next} byte(s) after the two INTEGERs inside the SEQUENCE`);
  const jose = new Uint8Array(2 * size);
  jose.set(r.value, size - r.value.length);
  jose.set(s.value, 2 * size - s.value.length);
  return jose;
}

/** Converts a JOSE r‖s signature (2 × `size` bytes) to DER; the inverse of derToJoseSignature. */
export function joseToDerSignature(jose: Uint8Array, size = 32): Uint8Array {
  if (jose.length !== 2 * size) {
    throw new SignatureEncodingError(
      `JOSE ECDSA signature: expected ${2 * size} bytes (r‖s), got ${jose.length}`,
    );
  }
  const r = derInteger(jose.subarray(0, size), "r");
  const s = derInteger(jose.subarray(size), "s");
  const content = [...r, ...s];
  // Long-form length only from 128 content bytes (P-521); P-256 always fits the short form.
  const length = content.length < 0x80 ? [content.length] : [0x81, content.length];
  return Uint8Array.from([SEQUENCE, ...length, ...content]);
}

type Fail = (problem: string) => SignatureEncodingError;

/** Reads a DER length at `offset`: short form, or the minimal long form with one length byte. */
function readLength(der: Uint8Array, offset: number, fail: Fail): { length: number; start: number } {
  const first = der[offset];
  if (first === undefined) throw fail(`missing length at byte ${offset}`);
  if (first < 0x80) return { length: first, start: offset + 1 };
  // Signatures of the curves we sign with are below 256 bytes: only 0x81 is legitimate, and DER requires
  // that form only when the short one cannot express the length.
  if (first !== 0x81) throw fail(`unsupported length encoding 0x${hex(first)} at byte ${offset}`);
  const length = der[offset + 1];
  if (length === undefined) throw fail(`missing length at byte ${offset + 1}`);
  if (length < 0x80) throw fail(`non-minimal length encoding at byte ${offset}`);
  return { length, start: offset + 2 };
}

/** Reads one positive INTEGER at `offset` (before `end`) and returns its magnitude without leading zeros. */
function readInteger(
  der: Uint8Array,
  offset: number,
  end: number,
  name: string,
  size: number,
  fail: Fail,
): { value: Uint8Array; next: number } {
  if (offset >= end) throw fail(`the SEQUENCE ends before INTEGER ${name}`);
  if (der[offset] !== INTEGER)
    throw fail(`expected INTEGER ${name} (0x02), found tag 0x${hex(der[offset])} at byte ${offset}`);
  const { length, start } = readLength(der, offset + 1, fail);
  const next = start + length;
  if (length === 0) throw fail(`INTEGER ${name} is empty`);
  if (next > end) throw fail(`INTEGER ${name} claims ${length} bytes but only ${end - start} remain`);
  const bytes = der.subarray(start, next);
  const first = bytes[0] ?? 0;
  if (first & 0x80) throw fail(`INTEGER ${name} is negative`);
  if (first === 0 && bytes.length > 1 && ((bytes[1] ?? 0) & 0x80) === 0) {
    throw fail(`INTEGER ${name} has a superfluous leading zero byte (not DER)`);
  }
  const value = first === 0 ? bytes.subarray(1) : bytes;
  if (value.length === 0) throw fail(`INTEGER ${name} is zero`);
  if (value.length > size) throw fail(`INTEGER ${name} has ${value.length} bytes; at most ${size} fit`);
  return { value, next };
}

/** A positive integer's DER INTEGER encoding: minimal, with a 0x00 byte when the high bit is set. */
function derInteger(magnitude: Uint8Array, name: string): number[] {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  if (i === magnitude.length) throw new SignatureEncodingError(`JOSE ECDSA signature: ${name} is zero`);
  const bytes = [...magnitude.subarray(i)];
  if ((bytes[0] ?? 0) & 0x80) bytes.unshift(0);
  return [INTEGER, bytes.length, ...bytes];
}

function hex(byte: number | undefined): string {
  return (byte ?? 0).toString(16).padStart(2, "0");
}

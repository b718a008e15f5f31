/**
 * The `Idempotency-Key` request header: its rule, the fingerprint of what a keyed request stores, and the
 * errors it adds. The handler runs the claim → store → confirm flow with these (see IdempotencyStore).
 */
import { createHash } from "node:crypto";
import { BadRequestError, ServiceUnavailableError } from "./errors.js";

/** The request header (lower-cased, as both entries pass header names). */
export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";

/** Longest key, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

/** How long an accepted key is remembered, by default: 24 hours. */
export const DEFAULT_IDEMPOTENCY_WINDOW_SECONDS = 86_400;

/** Bounds of a configured window: a minute to 30 days. */
export const IDEMPOTENCY_WINDOW_BOUNDS = { min: 60, max: 30 * 86_400 } as const;

/** Seconds a client waits before retrying while another request with the same key is being stored. */
export const KEY_IN_USE_RETRY_AFTER_SECONDS = 1;

/** Visible ASCII (0x21–0x7E): no spaces, no control characters, nothing outside ASCII. */
const KEY_PATTERN = /^[\x21-\x7e]+$/;

const KEY_RULE = `an Idempotency-Key is 1–${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters (0x21–0x7E: letters, digits and punctuation; no spaces), e.g. a UUID`;

/**
 * The request's idempotency key, or undefined when it sent none. Throws 400 `invalid_idempotency_key` naming the
 * rule for an empty, too long or otherwise invalid one. The key is never quoted back (it is the client's data).
 */
export function parseIdempotencyKey(
  headers: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const raw = headers[IDEMPOTENCY_KEY_HEADER];
  if (raw === undefined) return undefined;
  // HTTP already drops whitespace around a field value; an entry that did not is forgiven the same way.
  const key = raw.replace(/^[ \t]+|[ \t]+$/g, "");
  if (key === "") throw invalidKey("the Idempotency-Key header is empty");
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalidKey(`the Idempotency-Key is ${key.length} characters long`);
  }
  if (!KEY_PATTERN.test(key)) {
    const at = [...key].findIndex((c) => !KEY_PATTERN.test(c));
    throw invalidKey(`the Idempotency-Key has a character outside 0x21–0x7E at position ${at + 1}`);
  }
  return key;
}

function invalidKey(problem: string): BadRequestError {
  return new BadRequestError(`${problem}; ${KEY_RULE}`, "invalid_idempotency_key");
}

/** Which endpoint a keyed request came to: a key used on one is refused on the other. */
export type KeyedEndpoint = "data" | "batch";

/**
 * SHA-256 (hex) of what a keyed request would store: the endpoint and the encoded records (minified NDJSON lines
 * or CBOR items, so a retry that differs only in whitespace, gzip or charset spelling is the same request).
 */
export function requestFingerprint(endpoint: KeyedEndpoint, records: readonly Uint8Array[]): string {
  const hash = createHash("sha256").update(`${endpoint}\n${records.length}\n`);
  for (const record of records) {
    // Length-prefixed, so no two different record lists hash the same input.
    hash.update(`${record.byteLength}:`);
    hash.update(record);
  }
  return hash.digest("hex");
}

/**
 * 400: the key was already used, within its window, for a request with another body (or endpoint). (Stripe
 * answers this 400 too; the IETF Idempotency-Key draft suggests 422, which this API's status table does not have.)
 */
export function keyReusedError(): BadRequestError {
  return new BadRequestError(
    "this Idempotency-Key was already used for a different request body (or endpoint) on this stream within its window; use a new key for a new record",
    "idempotency_key_reused",
  );
}

/** 503: another request with this key is being stored right now; the retry gets its outcome. */
export function keyInUseError(): ServiceUnavailableError {
  return new ServiceUnavailableError(
    `another request with this Idempotency-Key is being stored right now; retry after ${KEY_IN_USE_RETRY_AFTER_SECONDS} s to get its outcome`,
    KEY_IN_USE_RETRY_AFTER_SECONDS,
    "idempotency_key_in_use",
  );
}

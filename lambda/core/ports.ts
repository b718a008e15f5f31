/** Ports: the small interfaces the core needs from the outside world. Adapters implement them. */
import type { AcceptedBatch, AcceptedRecord, ApiKeyRecord, StreamRecord } from "./types.js";

/** Reads streams and API keys (cached by the implementation). */
export interface StreamRegistry {
  /** The stream with this id, or undefined. Rejects with ServiceUnavailableError when the store is down. */
  getStream(id: string): Promise<StreamRecord | undefined>;
  /** The API key with this id, or undefined. Rejects with ServiceUnavailableError when the store is down. */
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
}

/**
 * Makes accepted records durable. Resolves only once the record is durable (fsynced locally, acknowledged by
 * Firehose on AWS); rejects with an IngestError (429/503) when it cannot be.
 */
export interface RecordSink {
  put(record: AcceptedRecord): Promise<void>;
  /**
   * Makes every record of a batch durable together: resolves only once all of them are (locally: one
   * group-committed append, never split across batch files; AWS: PutRecordBatch of packed records, all
   * acknowledged). Rejects like put. Required by the batch endpoint (which answers 500 without it).
   */
  putBatch?(batch: AcceptedBatch): Promise<void>;
  /**
   * Throws an IngestError (503 with Retry-After) when the stream's delivery cannot take records yet, e.g. while
   * its Firehose delivery streams are still being created. Called before the body is read.
   */
  assertReady?(stream: StreamRecord): void;
}

/** The verified claims of an access token. */
export interface AccessTokenClaims {
  /** API key id (`sub`). */
  readonly keyId: string;
  readonly tenant: string;
  /** Issued-at, epoch seconds. */
  readonly issuedAt: number;
  /** Expiry, epoch seconds. */
  readonly expiresAt: number;
  readonly tokenId: string;
}

/** Checks a token's signature, issuer, audience and validity window. */
export interface TokenVerifier {
  /** Verified claims; throws UnauthorizedError for any unacceptable token. */
  verify(token: string): AccessTokenClaims;
}

/** Time, injectable so tests control it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Structured log lines. Never given tokens, keys or record content. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** One (stream, Idempotency-Key) claim: the token the claimer chose proves it is still the claim's holder. */
export interface IdempotencyClaimRef {
  readonly streamId: string;
  readonly key: string;
  /** Random, chosen by the claimer; confirm and release act only on the claim that holds it. */
  readonly token: string;
}

/** A request to claim a key before storing its record. Instants are epoch milliseconds. */
export interface IdempotencyClaimRequest extends IdempotencyClaimRef {
  /** SHA-256 (hex) of what the request stores; a repeat with another fingerprint is a reuse, not a retry. */
  readonly fingerprint: string;
  readonly requestId: string;
  readonly now: number;
  /** When this claim's entry expires if it is never confirmed (an expired entry counts as absent). */
  readonly expiresAt: number;
  /** A pending claim made at or before this instant is abandoned (its holder crashed) and may be taken over. */
  readonly abandonedBefore: number;
}

/** What a claim found: the key is now ours, or it was accepted earlier, or another request is storing it. */
export type IdempotencyClaim =
  | { readonly state: "claimed" }
  | {
      readonly state: "accepted";
      readonly fingerprint: string;
      /** Epoch ms of the first acceptance. */
      readonly acceptedAt: number;
      /** x-request-id of the request that stored the record. */
      readonly requestId: string;
    }
  | { readonly state: "pending"; readonly fingerprint: string; readonly claimedAt: number };

/**
 * Remembers Idempotency-Keys per stream for a window. Only requests that carry the header use it. Every method
 * rejects with ServiceUnavailableError (503) when the store cannot be reached in time.
 */
export interface IdempotencyStore {
  /**
   * Atomically claims the key unless a live entry holds it: absent, expired or abandoned-pending entries are
   * replaced by a pending claim holding `token`; otherwise the entry found is returned.
   */
  claim(request: IdempotencyClaimRequest): Promise<IdempotencyClaim>;
  /**
   * Marks our claim accepted once the sink made the record durable; it then lives until `expiresAt`. Resolves
   * false (and changes nothing) when the claim is no longer ours (it was abandoned and taken over).
   */
  confirm(claim: IdempotencyClaimRef, acceptedAt: number, expiresAt: number): Promise<boolean>;
  /** Removes our pending claim after the sink failed, so a retry may store the record. No-op if not ours. */
  release(claim: IdempotencyClaimRef): Promise<void>;
}

/** Ports: the small interfaces the core needs from the outside world. Adapters implement them. */
import type { AcceptedRecord, ApiKeyRecord, StreamRecord } from "./types.js";

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

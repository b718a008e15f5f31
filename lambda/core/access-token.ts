/**
 * The access-token format (ES256 JWT) and how one is issued through a TokenSigner, which may keep its private
 * key elsewhere (a file locally, KMS on AWS).
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "./ports.js";
import type { ApiKeyRecord } from "./types.js";

/** Signs JWT signing input with ES256; returns the raw 64-byte r‖s signature (JOSE form, not DER). */
export interface TokenSigner {
  /** The `kid` verifiers find the public key under. */
  readonly keyId: string;
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
}

/** Who issues tokens and for whom: both are checked on every request. */
export interface TokenAudience {
  readonly issuer: string;
  readonly audience: string;
}

/** The longest lifetime a token may be issued with. */
export const MAX_TOKEN_DAYS = 365;

export interface IssueTokenInput extends TokenAudience {
  readonly signer: TokenSigner;
  readonly key: ApiKeyRecord;
  /** Lifetime in whole days (1–365). */
  readonly days: number;
  readonly clock: Clock;
}

export interface IssuedToken {
  readonly token: string;
  readonly tokenId: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

/** Signs a new access token for an active API key. Throws RangeError/Error with a clear message otherwise. */
export async function issueAccessToken(input: IssueTokenInput): Promise<IssuedToken> {
  const { key, days, signer } = input;
  if (!Number.isInteger(days) || days < 1 || days > MAX_TOKEN_DAYS) {
    throw new RangeError(`--days must be a whole number from 1 to ${MAX_TOKEN_DAYS}; got ${String(days)}`);
  }
  if (key.status !== "active")
    throw new Error(`API key ${key.id} is ${key.status}; tokens can only be issued for active keys`);
  const issuedAt = Math.floor(input.clock.now() / 1000);
  const revokedBefore = revokedBeforeSeconds(key);
  if (revokedBefore !== undefined && !Number.isFinite(revokedBefore)) {
    throw new Error(
      `API key ${key.id} has an unreadable revoked_before ${JSON.stringify(key.revokedBefore)}; fix it (ISO-8601) before issuing tokens`,
    );
  }
  if (revokedBefore !== undefined && issuedAt < revokedBefore) {
    throw new Error(
      `API key ${key.id} refuses tokens issued before ${new Date(revokedBefore * 1000).toISOString()}; no token can be issued for it before then`,
    );
  }
  const expiresAt = issuedAt + days * 86_400;
  const tokenId = randomUUID();
  const header = { alg: "ES256", typ: "JWT", kid: signer.keyId };
  const claims = {
    iss: input.issuer,
    aud: input.audience,
    sub: key.id,
    tenant: key.tenant,
    iat: issuedAt,
    nbf: issuedAt,
    exp: expiresAt,
    jti: tokenId,
  };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = await signer.sign(Buffer.from(signingInput, "ascii"));
  if (signature.byteLength !== 64) {
    throw new Error(`signer returned a ${signature.byteLength}-byte signature; ES256 needs 64 bytes (r‖s)`);
  }
  return {
    token: `${signingInput}.${base64url(signature)}`,
    tokenId,
    issuedAt: new Date(issuedAt * 1000),
    expiresAt: new Date(expiresAt * 1000),
  };
}

/**
 * The key's `revoked_before` as epoch seconds, or undefined when never revoked. Tokens with `iat` below it are
 * refused. An unparseable value yields +Infinity so that a hand-edited mistake refuses tokens (fails closed).
 */
export function revokedBeforeSeconds(key: ApiKeyRecord): number | undefined {
  if (key.revokedBefore === undefined || key.revokedBefore === "") return undefined;
  const ms = Date.parse(key.revokedBefore);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : Math.ceil(ms / 1000);
}

function base64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString("base64url");
}

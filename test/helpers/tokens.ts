/**
 * Real ES256 access tokens for unit tests: one P-256 key pair, its signer and JWKS, a real JwksTokenVerifier,
 * tokens issued the production way, and a raw signer to hand-craft every kind of bad token.
 */
import { createHmac, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import type { Jwks } from "aws-jwt-verify/jwk";
import { JwksTokenVerifier } from "../../lambda/adapters/jwt-verifier.js";
import { KeyObjectSigner } from "../../lambda/adapters/local-signer.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import type { Clock } from "../../lambda/core/ports.js";
import type { ApiKeyRecord } from "../../lambda/core/types.js";
import { FakeClock, KEY_ID, TENANT } from "./in-memory-ports.js";

export const ISSUER = "https://ingest.test";
export const AUDIENCE = "streaming-ingest-test";
export const SIGNING_KID = "k-test-1";

type Jwk = Jwks["keys"][number];

function keyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

function publicJwk(kid: string, publicKey: KeyObject): Jwk {
  const jwk = publicKey.export({ format: "jwk" });
  return { kty: "EC", crv: "P-256", x: String(jwk.x), y: String(jwk.y), kid, alg: "ES256", use: "sig" };
}

const signingPair = keyPair();
/** A key pair whose public half is in no JWKS: its signatures are bad ones. */
const strangerPair = keyPair();

export const signingPrivateKey: KeyObject = signingPair.privateKey;
export const signingPublicKey: KeyObject = signingPair.publicKey;
export const signer = new KeyObjectSigner(SIGNING_KID, signingPair.privateKey);
export const jwks: Jwks = { keys: [publicJwk(SIGNING_KID, signingPair.publicKey)] };

/**
 * A fake clock that starts at the real time: aws-jwt-verify checks `exp`/`nbf` against `Date.now()`, so real
 * tokens must be issued near it. Tests then move only this clock.
 */
export function tokenClock(): FakeClock {
  return new FakeClock(Math.floor(Date.now() / 1000) * 1000);
}

export function makeVerifier(clock: Clock, options: { maxCachedTokens?: number; jwks?: Jwks } = {}) {
  return new JwksTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwks: options.jwks ?? jwks,
    clock,
    ...(options.maxCachedTokens === undefined ? {} : { maxCachedTokens: options.maxCachedTokens }),
  });
}

/** A token issued for `key` by issueAccessToken, exactly as `ingest tokens issue` does. */
export async function issueToken(key: ApiKeyRecord, clock: Clock, days = 1): Promise<string> {
  const issued = await issueAccessToken({ issuer: ISSUER, audience: AUDIENCE, signer, key, days, clock });
  return issued.token;
}

/** How a hand-crafted token is signed. */
export type Signature =
  | "valid" // ES256 with the key in the JWKS
  | "stranger" // ES256 with a key in no JWKS (under the JWKS kid)
  | "hs256" // HMAC-SHA256 keyed with the public key: the classic algorithm-confusion attack
  | "empty" // alg none: no signature at all
  | "junk"; // a signature-shaped string that is no signature

export interface CraftOptions {
  /** Merged over `{ alg: "ES256", typ: "JWT", kid: SIGNING_KID }`; a value of undefined removes the field. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** Merged over valid claims for KEY_ID/TENANT at `nowSeconds`; a value of undefined removes the claim. */
  readonly claims?: Readonly<Record<string, unknown>>;
  readonly signature?: Signature;
  /** @default the current real time */
  readonly nowSeconds?: number;
}

/** Valid claims, as issueAccessToken would write them, for a token issued at `nowSeconds`. */
export function validClaims(nowSeconds: number): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: KEY_ID,
    tenant: TENANT,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 86_400,
    jti: "00000000-0000-4000-8000-000000000000",
  };
}

/** A JWT built by hand, good or bad as the options say. */
export function craftToken(options: CraftOptions = {}): string {
  const nowSeconds = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const header = withoutUndefined({ alg: "ES256", typ: "JWT", kid: SIGNING_KID, ...options.header });
  const claims = withoutUndefined({ ...validClaims(nowSeconds), ...options.claims });
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  return `${signingInput}.${signatureOf(signingInput, options.signature ?? "valid")}`;
}

function signatureOf(signingInput: string, kind: Signature): string {
  const input = Buffer.from(signingInput, "ascii");
  switch (kind) {
    case "valid":
      return sign("sha256", input, { key: signingPair.privateKey, dsaEncoding: "ieee-p1363" }).toString(
        "base64url",
      );
    case "stranger":
      return sign("sha256", input, { key: strangerPair.privateKey, dsaEncoding: "ieee-p1363" }).toString(
        "base64url",
      );
    case "hs256": {
      const secret = signingPair.publicKey.export({ type: "spki", format: "pem" });
      return createHmac("sha256", secret).update(input).digest("base64url");
    }
    case "empty":
      return "";
    case "junk":
      return Buffer.alloc(64, 7).toString("base64url");
  }
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

export function base64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString("base64url");
}

/** The JSON of one part (0 header, 1 claims) of a JWT. */
export function decodeTokenPart(token: string, part: 0 | 1): Record<string, unknown> {
  const segment = token.split(".")[part] ?? "";
  const parsed: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`token part ${part} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

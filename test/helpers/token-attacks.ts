/**
 * The catalogue of hand-crafted access-token attacks (issue 5), built with node:crypto against any deployment:
 * each attack names the 401 code it must get. Shared by the HTTP test of the local server and the AWS verifier
 * test, so both runtimes face exactly the same tokens.
 */
import { createHmac, generateKeyPairSync, type KeyObject, sign } from "node:crypto";

/** What an attacker (or a test) knows about a deployment, plus its real signing key for the controls. */
export interface AttackTarget {
  readonly issuer: string;
  readonly audience: string;
  /** The API key id (`sub`) and tenant of a live key. */
  readonly keyId: string;
  readonly tenant: string;
  /** The live signing key's kid and public key (public knowledge: the JWKS). */
  readonly kid: string;
  readonly publicKey: KeyObject;
  /** Signs with the live private key, ES256 r‖s; only to build tokens whose one flaw is elsewhere. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
  /** Base URL of a loopback server standing in for attacker-controlled key URLs (jku, x5u). */
  readonly attackerUrl: string;
  /** Seconds since the epoch that both the system clock and the deployment's clock have passed. */
  readonly nowSeconds: number;
}

export interface TokenAttack {
  readonly name: string;
  /** The error code of the 401 the attack must get. */
  readonly code: string;
  build(target: AttackTarget): Promise<string>;
}

/** The attacker's own key pair: in no JWKS of any deployment. */
const attacker = generateKeyPairSync("ec", { namedCurve: "P-256" });
export const ATTACKER_KID = "attacker-key-1";

export function attackerPublicJwk(): Record<string, unknown> {
  const jwk = attacker.publicKey.export({ format: "jwk" });
  return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, kid: ATTACKER_KID, alg: "ES256", use: "sig" };
}

type Fields = Readonly<Record<string, unknown>>;

export interface CraftSpec {
  /** Merged over `{alg: ES256, typ: JWT, kid}`; undefined removes a field. */
  readonly header?: Fields;
  /** Merged over valid claims; undefined removes a claim. */
  readonly claims?: Fields;
  /** How the signing input is signed. @default "live" */
  readonly signature?: "live" | "attacker" | "none" | { hs256Secret: string | Uint8Array };
}

/** A JWT for `target`, valid in every respect the spec does not change. */
export async function craft(target: AttackTarget, spec: CraftSpec = {}): Promise<string> {
  const now = target.nowSeconds;
  const header = defined({ alg: "ES256", typ: "JWT", kid: target.kid, ...spec.header });
  const claims = defined({
    iss: target.issuer,
    aud: target.audience,
    sub: target.keyId,
    tenant: target.tenant,
    iat: now,
    nbf: now,
    exp: now + 3600,
    jti: "6a1f2f4e-6a41-4a37-9b8e-0d1f6ad0f001",
    ...spec.claims,
  });
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
  const bytes = Buffer.from(input, "ascii");
  const kind = spec.signature ?? "live";
  let signature: string;
  if (kind === "live") signature = b64(await target.sign(bytes));
  else if (kind === "attacker") signature = b64(signWith(attacker.privateKey, bytes));
  else if (kind === "none") signature = "";
  else signature = createHmac("sha256", kind.hs256Secret).update(bytes).digest("base64url");
  return `${input}.${signature}`;
}

/** Token-level attacks: each must be refused with 401 and its code, whatever the runtime. */
export const TOKEN_ATTACKS: readonly TokenAttack[] = [
  {
    // A JWT without its third part is not a JWT at all: refused before its alg is even read.
    name: "alg none with no signature",
    code: "malformed_token",
    build: (t) => craft(t, { header: { alg: "none" }, signature: "none" }),
  },
  {
    name: "alg none without kid or typ",
    code: "malformed_token",
    build: (t) => craft(t, { header: { alg: "none", kid: undefined, typ: undefined }, signature: "none" }),
  },
  {
    name: "alg none with a signature of the live key",
    code: "wrong_algorithm",
    build: (t) => craft(t, { header: { alg: "none" } }),
  },
  {
    name: "alg ES256 with the signature stripped",
    code: "malformed_token",
    build: (t) => craft(t, { signature: "none" }),
  },
  {
    name: "HS256 keyed with the public key's PEM (algorithm confusion)",
    code: "wrong_algorithm",
    build: (t) =>
      craft(t, {
        header: { alg: "HS256" },
        signature: { hs256Secret: String(t.publicKey.export({ type: "spki", format: "pem" })) },
      }),
  },
  {
    name: "HS256 keyed with the public key's DER",
    code: "wrong_algorithm",
    build: (t) =>
      craft(t, {
        header: { alg: "HS256" },
        signature: { hs256Secret: t.publicKey.export({ type: "spki", format: "der" }) },
      }),
  },
  {
    name: "HS256 keyed with the public JWK's JSON",
    code: "wrong_algorithm",
    build: (t) =>
      craft(t, {
        header: { alg: "HS256" },
        signature: { hs256Secret: JSON.stringify(t.publicKey.export({ format: "jwk" })) },
      }),
  },
  {
    name: "unknown kid",
    code: "unknown_signing_key",
    build: (t) => craft(t, { header: { kid: "k-does-not-exist" } }),
  },
  { name: "missing kid", code: "invalid_token", build: (t) => craft(t, { header: { kid: undefined } }) },
  {
    name: "jku, x5u and jwk headers naming the attacker's key (kid of the attacker)",
    code: "unknown_signing_key",
    build: (t) => craft(t, { header: attackerKeyHeaders(t, ATTACKER_KID), signature: "attacker" }),
  },
  {
    name: "jku, x5u and jwk headers naming the attacker's key (kid of the live key)",
    code: "invalid_signature",
    build: (t) => craft(t, { header: attackerKeyHeaders(t, t.kid), signature: "attacker" }),
  },
  {
    name: "tampered payload (tenant changed after signing)",
    code: "invalid_signature",
    build: async (t) => {
      const [header, , signature] = (await craft(t)).split(".");
      const forged = (await craft(t, { claims: { tenant: "globex" }, signature: "none" })).split(".")[1];
      return `${header}.${forged}.${signature}`;
    },
  },
  {
    name: "tampered payload (exp extended after signing)",
    code: "invalid_signature",
    build: async (t) => {
      const [header, , signature] = (await craft(t)).split(".");
      const forged = (await craft(t, { claims: { exp: t.nowSeconds + 10 * 365 * 86_400 } })).split(".")[1];
      return `${header}.${forged}.${signature}`;
    },
  },
  {
    name: "tampered signature (first character changed)",
    code: "invalid_signature",
    build: async (t) => {
      const [header, payload, signature = ""] = (await craft(t)).split(".");
      return `${header}.${payload}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    },
  },
  {
    name: "signature of the attacker's key under the live kid",
    code: "invalid_signature",
    build: (t) => craft(t, { signature: "attacker" }),
  },
  {
    name: "truncated (last 10 characters cut)",
    code: "invalid_signature",
    build: async (t) => (await craft(t)).slice(0, -10),
  },
  {
    name: "truncated (signature part cut)",
    code: "malformed_token",
    build: async (t) => (await craft(t)).split(".").slice(0, 2).join("."),
  },
  {
    name: "truncated (inside the payload)",
    code: "malformed_token",
    build: async (t) => {
      const token = await craft(t);
      return token.slice(0, token.indexOf(".") + 20);
    },
  },
  {
    name: "expired",
    code: "token_expired",
    build: (t) =>
      craft(t, { claims: { iat: t.nowSeconds - 7200, nbf: t.nowSeconds - 7200, exp: t.nowSeconds - 60 } }),
  },
  {
    name: "nbf in the future",
    code: "token_not_yet_valid",
    build: (t) => craft(t, { claims: { nbf: t.nowSeconds + 3600, exp: t.nowSeconds + 7200 } }),
  },
  {
    name: "wrong iss",
    code: "wrong_issuer",
    build: (t) => craft(t, { claims: { iss: "https://evil.example" } }),
  },
  {
    name: "wrong aud",
    code: "wrong_audience",
    build: (t) => craft(t, { claims: { aud: "another-service" } }),
  },
  {
    name: "10 KB token, validly signed",
    code: "malformed_token",
    build: (t) => craft(t, { claims: { pad: "x".repeat(10 * 1024) } }),
  },
];

function attackerKeyHeaders(t: AttackTarget, kid: string): Fields {
  return {
    kid,
    jku: `${t.attackerUrl}/jwks.json`,
    x5u: `${t.attackerUrl}/cert.pem`,
    jwk: attackerPublicJwk(),
  };
}

function signWith(key: KeyObject, data: Uint8Array): Buffer {
  return sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
}

function defined(record: Fields): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

function b64(data: string | Uint8Array): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * Every way a response could echo `token`: the whole string, its payload or its signature part. Returns the
 * texts to search for (parts shorter than 16 characters are too common to mean anything).
 */
export function tokenFragments(token: string): string[] {
  return [token, ...token.split(".")].filter((part) => part.length >= 16);
}

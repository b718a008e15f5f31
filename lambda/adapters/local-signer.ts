/**
 * The local token-signing key: an ES256 (P-256) key pair kept in the data directory, private key mode 0600.
 * Its public half is published as a JWKS for the verifier; several kids may be listed so keys can rotate.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { chmod, mkdir, readdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Jwks } from "aws-jwt-verify/jwk";
import type { TokenSigner } from "../core/access-token.js";

/** Signs with a P-256 private key held in memory. */
export class KeyObjectSigner implements TokenSigner {
  constructor(
    readonly keyId: string,
    private readonly privateKey: KeyObject,
  ) {}

  async sign(signingInput: Uint8Array): Promise<Uint8Array> {
    // JOSE wants r‖s (IEEE P1363), not the DER that Node produces by default.
    return sign("sha256", signingInput, { key: this.privateKey, dsaEncoding: "ieee-p1363" });
  }
}

export interface LocalSigningKeys {
  /** The newest key: new tokens are signed with it. */
  readonly signer: KeyObjectSigner;
  /** Every key's public half. */
  readonly jwks: Jwks;
  /** Every key's id, oldest first (the last one signs). */
  readonly kids: readonly string[];
}

const PRIVATE_KEY_SUFFIX = ".private.pem";

/** Loads the signing keys from `dir`, creating the first one when there is none. */
export async function loadOrCreateSigningKeys(
  dir: string,
  now: () => number = Date.now,
): Promise<LocalSigningKeys> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let names = (await readdir(dir)).filter((n) => n.endsWith(PRIVATE_KEY_SUFFIX)).sort();
  if (names.length === 0) {
    await createSigningKey(dir, now);
    names = (await readdir(dir)).filter((n) => n.endsWith(PRIVATE_KEY_SUFFIX)).sort();
  }
  const keys = await Promise.all(
    names.map(async (name) => ({
      kid: name.slice(0, -PRIVATE_KEY_SUFFIX.length),
      key: createPrivateKey(await readFile(join(dir, name), "utf8")),
    })),
  );
  const newest = keys[keys.length - 1];
  if (newest === undefined) throw new Error(`no signing key in ${dir}`);
  return {
    signer: new KeyObjectSigner(newest.kid, newest.key),
    jwks: { keys: keys.map(({ kid, key }) => publicJwk(kid, key)) },
    kids: keys.map(({ kid }) => kid),
  };
}

/** Writes a new P-256 key whose kid sorts after the existing ones (it becomes the signing key). */
export async function createSigningKey(dir: string, now: () => number = Date.now): Promise<string> {
  const kid = `k${new Date(now()).toISOString().replace(/[-:.TZ]/g, "")}`;
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const file = join(dir, `${kid}${PRIVATE_KEY_SUFFIX}`);
  await writeFile(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
  await chmod(file, 0o600);
  return kid;
}

function publicJwk(kid: string, privateKey: KeyObject): Jwks["keys"][number] {
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  return { kty: "EC", crv: "P-256", x: String(jwk.x), y: String(jwk.y), kid, alg: "ES256", use: "sig" };
}

/** Removes a signing key's file. The newest key cannot be removed: it is the one that signs. */
export async function deleteSigningKey(dir: string, kid: string): Promise<void> {
  const kids = (await readdir(dir)).filter((n) => n.endsWith(PRIVATE_KEY_SUFFIX)).sort();
  const file = `${kid}${PRIVATE_KEY_SUFFIX}`;
  if (!kids.includes(file)) throw new Error(`no signing key ${kid}`);
  if (kids[kids.length - 1] === file) {
    throw new Error(`${kid} is the newest signing key (it signs new tokens); create a newer one first`);
  }
  await unlink(join(dir, file));
}

/**
 * The local token-signing key: an ES256 (P-256) key pair kept in the data directory, private key mode 0600.
 * Its public half is published as a JWKS for the verifier; several kids may be listed so keys can rotate.
 * Key files that group or others may read, and a key directory others may write, are refused at load.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from "node:crypto";
import { link, mkdir, open, readdir, readFile, stat, unlink } from "node:fs/promises";
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
  await assertPrivateDirectory(dir);
  let names = (await readdir(dir)).filter((n) => n.endsWith(PRIVATE_KEY_SUFFIX)).sort();
  if (names.length === 0) {
    await createSigningKey(dir, now);
    names = (await readdir(dir)).filter((n) => n.endsWith(PRIVATE_KEY_SUFFIX)).sort();
  }
  const keys = await Promise.all(
    names.map(async (name) => {
      const file = join(dir, name);
      await assertPrivateKeyFile(file);
      return {
        kid: name.slice(0, -PRIVATE_KEY_SUFFIX.length),
        key: createPrivateKey(await readFile(file, "utf8")),
      };
    }),
  );
  const newest = keys[keys.length - 1];
  if (newest === undefined) throw new Error(`no signing key in ${dir}`);
  return {
    signer: new KeyObjectSigner(newest.kid, newest.key),
    jwks: { keys: keys.map(({ kid, key }) => publicJwk(kid, key)) },
    kids: keys.map(({ kid }) => kid),
  };
}

/**
 * Writes a new P-256 key whose kid sorts after the existing ones (it becomes the signing key). The file is
 * created with mode 0600 at open (never readable by others, not even for an instant), written and fsynced
 * under a temporary name, then linked into place: a crash never leaves a half-written key, and an existing key
 * is never overwritten (EEXIST).
 */
export async function createSigningKey(dir: string, now: () => number = Date.now): Promise<string> {
  const kid = `k${new Date(now()).toISOString().replace(/[-:.TZ]/g, "")}`;
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const file = join(dir, `${kid}${PRIVATE_KEY_SUFFIX}`);
  // The temporary name does not end in PRIVATE_KEY_SUFFIX, so a loader never picks it up.
  const temporary = join(dir, `.${kid}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporary, "wx", 0o600);
  try {
    await handle.writeFile(privateKey.export({ type: "pkcs8", format: "pem" }));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, file);
  } finally {
    await unlink(temporary);
  }
  await syncDirectory(dir);
  return kid;
}

/** Makes the new directory entry durable (a no-op where directories cannot be opened, e.g. Windows). */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Group/other permission bits; POSIX only (Windows has no such modes: the checks are skipped there). */
const GROUP_OTHER_BITS = 0o077;
const GROUP_OTHER_WRITE_BITS = 0o022;

/** Refuses a private key file that group or others may access: the key would let them forge any token. */
export async function assertPrivateKeyFile(file: string): Promise<void> {
  if (process.platform === "win32") return;
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & GROUP_OTHER_BITS) !== 0) {
    throw new InsecureKeyFileError(
      `signing key file ${file} has mode ${octal(mode)}: group or others may access it and could forge access tokens; run \`chmod 600 ${file}\` (and consider rotating the key: ingest signing-keys create)`,
      file,
    );
  }
}

/** Refuses a key directory others may write to: a planted key file would be trusted to sign tokens. */
export async function assertPrivateDirectory(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  const mode = (await stat(dir)).mode & 0o777;
  if ((mode & GROUP_OTHER_WRITE_BITS) !== 0) {
    throw new InsecureKeyFileError(
      `signing key directory ${dir} has mode ${octal(mode)}: group or others may add keys to it; run \`chmod 700 ${dir}\``,
      dir,
    );
  }
}

/** A signing key file or directory whose permissions are too open; the message names the file and the fix. */
export class InsecureKeyFileError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = "InsecureKeyFileError";
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
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

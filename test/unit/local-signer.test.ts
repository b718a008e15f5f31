/** The local signing keys: created once with mode 0600, reloaded by kid, rotated by adding a newer key. */
import { createPublicKey, verify } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createSigningKey,
  InsecureKeyFileError,
  KeyObjectSigner,
  loadOrCreateSigningKeys,
} from "../../lambda/adapters/local-signer.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { KEY_ID, makeApiKey } from "../helpers/in-memory-ports.js";
import {
  AUDIENCE,
  ISSUER,
  makeVerifier,
  signingPrivateKey,
  signingPublicKey,
  tokenClock,
} from "../helpers/tokens.js";

const T1 = Date.UTC(2024, 2, 5, 7, 8, 9, 500);
const T2 = Date.UTC(2024, 8, 1, 0, 0, 0, 0);

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "local-signer-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function freshDir(): string {
  counter += 1;
  return join(root, `keys-${counter}`);
}

describe("KeyObjectSigner", () => {
  it("signs with ES256 in JOSE form (64-byte r‖s) under its kid", async () => {
    const signer = new KeyObjectSigner("k1", signingPrivateKey);
    const input = Buffer.from("header.claims");
    const signature = await signer.sign(input);
    expect(signer.keyId).toBe("k1");
    expect(signature).toHaveLength(64);
    expect(verify("sha256", input, { key: signingPublicKey, dsaEncoding: "ieee-p1363" }, signature)).toBe(
      true,
    );
  });
});

describe("loadOrCreateSigningKeys", () => {
  it("creates the first key in a new directory: private key mode 0600, directory mode 0700", async () => {
    const dir = freshDir();
    const keys = await loadOrCreateSigningKeys(dir, () => T1);
    expect(keys.signer.keyId).toBe("k20240305070809500");
    expect(readdirSync(dir)).toEqual(["k20240305070809500.private.pem"]);
    expect(statSync(join(dir, "k20240305070809500.private.pem")).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("publishes the public half as an ES256 JWK with the kid, and no private part", async () => {
    const keys = await loadOrCreateSigningKeys(freshDir(), () => T1);
    expect(keys.jwks.keys).toHaveLength(1);
    const [jwk] = keys.jwks.keys;
    expect(jwk).toStrictEqual({
      kty: "EC",
      crv: "P-256",
      x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      y: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      kid: keys.signer.keyId,
      alg: "ES256",
      use: "sig",
    });
    expect(jwk).not.toHaveProperty("d");
  });

  it("signs what its JWKS verifies", async () => {
    const keys = await loadOrCreateSigningKeys(freshDir(), () => T1);
    const [jwk] = keys.jwks.keys;
    const input = Buffer.from("header.claims");
    const publicKey = createPublicKey({
      key: { kty: "EC", crv: "P-256", x: jwk?.x, y: jwk?.y },
      format: "jwk",
    });
    const signature = await keys.signer.sign(input);
    expect(verify("sha256", input, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
  });

  it("reloads the same key (same kid, same JWKS) instead of creating another", async () => {
    const dir = freshDir();
    const first = await loadOrCreateSigningKeys(dir, () => T1);
    const again = await loadOrCreateSigningKeys(dir, () => T2);
    expect(again.signer.keyId).toBe(first.signer.keyId);
    expect(again.jwks).toStrictEqual(first.jwks);
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it("signs with the newer key once a second one is created, and still publishes both", async () => {
    const dir = freshDir();
    const first = await loadOrCreateSigningKeys(dir, () => T1);
    const secondKid = await createSigningKey(dir, () => T2);
    expect(secondKid).toBe("k20240901000000000");
    const rotated = await loadOrCreateSigningKeys(dir, () => T2);
    expect(rotated.signer.keyId).toBe(secondKid);
    expect(rotated.jwks.keys.map((k) => k.kid)).toEqual([first.signer.keyId, secondKid]);
    expect(statSync(join(dir, `${secondKid}.private.pem`)).mode & 0o777).toBe(0o600);
  });

  it("keeps tokens of the older key valid after rotation", async () => {
    const dir = freshDir();
    const clock = tokenClock();
    const first = await loadOrCreateSigningKeys(dir, () => T1);
    const oldToken = await issueAccessToken({
      issuer: ISSUER,
      audience: AUDIENCE,
      signer: first.signer,
      key: makeApiKey(),
      days: 1,
      clock,
    });
    await createSigningKey(dir, () => T2);
    const rotated = await loadOrCreateSigningKeys(dir);
    const newToken = await issueAccessToken({
      issuer: ISSUER,
      audience: AUDIENCE,
      signer: rotated.signer,
      key: makeApiKey(),
      days: 1,
      clock,
    });
    const verifier = makeVerifier(clock, { jwks: rotated.jwks });
    expect(verifier.verify(oldToken.token).keyId).toBe(KEY_ID);
    expect(verifier.verify(newToken.token).keyId).toBe(KEY_ID);
  });

  it("never overwrites an existing key file", async () => {
    const dir = freshDir();
    await loadOrCreateSigningKeys(dir, () => T1);
    await expect(createSigningKey(dir, () => T1)).rejects.toMatchObject({ code: "EEXIST" });
  });

  it("ignores files that are not private keys", async () => {
    const dir = freshDir();
    const keys = await loadOrCreateSigningKeys(dir, () => T1);
    writeFileSync(join(dir, "README.txt"), "not a key");
    const again = await loadOrCreateSigningKeys(dir, () => T2);
    expect(again.jwks).toStrictEqual(keys.jwks);
  });
});

describe("signing key file permissions", () => {
  it("creates the key file 0600 even under umask 000 (the mode is set at open, not by a later chmod)", async () => {
    const previous = process.umask(0);
    try {
      const dir = freshDir();
      const keys = await loadOrCreateSigningKeys(dir, () => T1);
      expect(statSync(join(dir, `${keys.signer.keyId}.private.pem`)).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      process.umask(previous);
    }
  });

  it("leaves no temporary file behind, and ignores one left by a crash", async () => {
    const dir = freshDir();
    const keys = await loadOrCreateSigningKeys(dir, () => T1);
    expect(readdirSync(dir)).toEqual([`${keys.signer.keyId}.private.pem`]);
    writeFileSync(join(dir, ".k20250101000000000.0123456789ab.tmp"), "-----BEGIN PRIV", { mode: 0o600 });
    expect((await loadOrCreateSigningKeys(dir, () => T2)).kids).toEqual([keys.signer.keyId]);
  });

  it.each([[0o640], [0o604], [0o644], [0o620], [0o602], [0o700]])(
    "refuses to start with a key file of mode %o, naming the file and `chmod 600 <file>`",
    async (mode) => {
      const dir = freshDir();
      const keys = await loadOrCreateSigningKeys(dir, () => T1);
      const file = join(dir, `${keys.signer.keyId}.private.pem`);
      chmodSync(file, mode);
      const error = await loadOrCreateSigningKeys(dir).catch((e: unknown) => e);
      if (mode === 0o700) {
        // Owner-only execute is odd but exposes nothing.
        expect(error).toMatchObject({ kids: [keys.signer.keyId] });
        return;
      }
      expect(error).toBeInstanceOf(InsecureKeyFileError);
      expect((error as Error).message).toBe(
        `signing key file ${file} has mode 0${mode.toString(8)}: group or others may access it and could forge access tokens; run \`chmod 600 ${file}\` (and consider rotating the key: ingest signing-keys create)`,
      );
      chmodSync(file, 0o600);
      await expect(loadOrCreateSigningKeys(dir)).resolves.toMatchObject({ kids: [keys.signer.keyId] });
    },
  );

  it("refuses a key directory that group or others may write to (a planted key would be trusted)", async () => {
    const dir = freshDir();
    await loadOrCreateSigningKeys(dir, () => T1);
    chmodSync(dir, 0o777);
    await expect(loadOrCreateSigningKeys(dir)).rejects.toThrow(
      `signing key directory ${dir} has mode 0777: group or others may add keys to it; run \`chmod 700 ${dir}\``,
    );
    chmodSync(dir, 0o750);
    await expect(loadOrCreateSigningKeys(dir)).resolves.toBeDefined();
  });
});

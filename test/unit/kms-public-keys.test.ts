/**
 * loadKmsJwks against a mocked KMS that returns real SPKI public keys: ES256 JWKs with kid = key id, every key
 * read in parallel, and anything but an ECC_NIST_P256 SIGN_VERIFY key refused with a message naming the key.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import {
  GetPublicKeyCommand,
  type GetPublicKeyCommandInput,
  type GetPublicKeyCommandOutput,
  KMSClient,
  NotFoundException,
  UnsupportedOperationException,
} from "@aws-sdk/client-kms";
import { mockClient } from "aws-sdk-client-mock";
import { loadKmsJwks } from "../../lambda/adapters/kms-public-keys.js";
import { KmsKeyError } from "../../lambda/adapters/kms-signer.js";
import { rejectedWith } from "../helpers/thrown.js";

const ARN_1 = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-4333-8444-555555555555";
const ARN_2 = "arn:aws:kms:eu-west-1:123456789012:key/66666666-7777-4888-9999-aaaaaaaaaaaa";

const p256 = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
const spki = (key: KeyObject) => new Uint8Array(key.export({ type: "spki", format: "der" }));

const kms = mockClient(KMSClient);
const client = new KMSClient({ region: "eu-west-1" });

/** Answers GetPublicKey from `answers` by key ARN. */
function fakeKms(answers: Record<string, Partial<GetPublicKeyCommandOutput>>): void {
  kms.reset();
  kms.on(GetPublicKeyCommand).callsFake((input: GetPublicKeyCommandInput) => {
    const answer = answers[input.KeyId ?? ""];
    if (answer === undefined) throw new NotFoundException({ message: "Key does not exist", $metadata: {} });
    return { KeyId: input.KeyId, ...answer };
  });
}

const signingKey = (publicKey: KeyObject): Partial<GetPublicKeyCommandOutput> => ({
  KeySpec: "ECC_NIST_P256",
  KeyUsage: "SIGN_VERIFY",
  SigningAlgorithms: ["ECDSA_SHA_256"],
  PublicKey: spki(publicKey),
});

afterAll(() => kms.restore());

describe("loadKmsJwks", () => {
  it("returns each key's public key as an ES256 JWK whose kid is the key id", async () => {
    const [one, two] = [p256(), p256()];
    fakeKms({ [ARN_1]: signingKey(one), [ARN_2]: signingKey(two) });
    const jwks = await loadKmsJwks(client, [ARN_1, ARN_2]);
    const expected = (key: KeyObject, kid: string) => {
      const { x, y } = key.export({ format: "jwk" });
      return { kty: "EC", crv: "P-256", x, y, kid, alg: "ES256", use: "sig" };
    };
    expect(jwks.keys).toEqual([
      expected(one, "11111111-2222-4333-8444-555555555555"),
      expected(two, "66666666-7777-4888-9999-aaaaaaaaaaaa"),
    ]);
    expect(kms.commandCalls(GetPublicKeyCommand).map((c) => c.args[0].input.KeyId)).toEqual([ARN_1, ARN_2]);
  });

  it("asks KMS for every key before the first answer arrives (in parallel)", async () => {
    const key = p256();
    let inFlight = 0;
    let maxInFlight = 0;
    kms.reset();
    kms.on(GetPublicKeyCommand).callsFake(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await Promise.resolve();
      inFlight--;
      return signingKey(key);
    });
    await loadKmsJwks(client, [ARN_1, ARN_2]);
    expect(maxInFlight).toBe(2);
  });

  it("reads a key listed twice once", async () => {
    fakeKms({ [ARN_1]: signingKey(p256()) });
    expect((await loadKmsJwks(client, [ARN_1, ARN_1])).keys).toHaveLength(1);
  });

  it.each([
    [
      "an RSA key",
      {
        KeySpec: "RSA_2048",
        KeyUsage: "SIGN_VERIFY",
        PublicKey: spki(generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey),
      },
      `KMS key ${ARN_1} is a RSA_2048 key; token signing keys must be ECC_NIST_P256 (ES256)`,
    ],
    [
      "a secp256k1 key",
      {
        KeySpec: "ECC_SECG_P256K1",
        KeyUsage: "SIGN_VERIFY",
        PublicKey: spki(generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey),
      },
      "is a ECC_SECG_P256K1 key",
    ],
    [
      "a P-256 key-agreement key",
      { KeySpec: "ECC_NIST_P256", KeyUsage: "KEY_AGREEMENT", PublicKey: spki(p256()) },
      `KMS key ${ARN_1} has key usage KEY_AGREEMENT; token signing keys must be SIGN_VERIFY`,
    ],
    [
      "a key whose public key is not the P-256 KeySpec claims",
      {
        KeySpec: "ECC_NIST_P256",
        KeyUsage: "SIGN_VERIFY",
        PublicKey: spki(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey),
      },
      `the public key of KMS key ${ARN_1} is not a P-256 EC key`,
    ],
    [
      "a public key that is not SPKI DER",
      { KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", PublicKey: new Uint8Array([1, 2, 3]) },
      "is not valid SPKI DER",
    ],
    [
      "an answer without a public key",
      { KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" },
      `KMS returned no public key for ${ARN_1}`,
    ],
  ])("refuses %s with a message naming the key", async (_case, answer, message) => {
    fakeKms({ [ARN_1]: answer as Partial<GetPublicKeyCommandOutput> });
    const error = await rejectedWith(loadKmsJwks(client, [ARN_1]), KmsKeyError);
    expect(error.message).toContain(message);
  });

  it("refuses a symmetric key (KMS has no public key for it)", async () => {
    kms.reset();
    kms.on(GetPublicKeyCommand).rejects(
      new UnsupportedOperationException({
        message:
          "GetPublicKey operation is invalid for key with key usage ENCRYPT_DECRYPT and key spec SYMMETRIC_DEFAULT",
        $metadata: {},
      }),
    );
    const error = await rejectedWith(loadKmsJwks(client, [ARN_1]), KmsKeyError);
    expect(error.message).toContain(
      `cannot read the public key of KMS key ${ARN_1}: KMS does not support this`,
    );
    expect(error.message).toContain("must be asymmetric ECC_NIST_P256 SIGN_VERIFY keys");
  });

  it("explains KMS errors, naming the key and the permission", async () => {
    kms.reset();
    kms
      .on(GetPublicKeyCommand)
      .rejects(Object.assign(new Error("not authorized"), { name: "AccessDeniedException", $metadata: {} }));
    const error = await rejectedWith(loadKmsJwks(client, [ARN_1]), KmsKeyError);
    expect(error.message).toBe(
      `cannot read the public key of KMS key ${ARN_1}: access denied; the caller needs kms:GetPublicKey on this key (key policy or IAM)`,
    );
  });

  it("names a missing key", async () => {
    fakeKms({ [ARN_1]: signingKey(p256()) });
    const error = await rejectedWith(loadKmsJwks(client, [ARN_1, ARN_2]), KmsKeyError);
    expect(error.message).toContain(`KMS key ${ARN_2}: no such key`);
  });

  it("refuses an alias or an empty list before calling KMS", async () => {
    fakeKms({});
    const alias = await rejectedWith(
      loadKmsJwks(client, [ARN_1, "arn:aws:kms:eu-west-1:123456789012:alias/tokens"]),
      KmsKeyError,
    );
    expect(alias.message).toContain("is a KMS alias");
    expect((await rejectedWith(loadKmsJwks(client, []), KmsKeyError)).message).toContain("at least one");
    expect(kms.commandCalls(GetPublicKeyCommand)).toHaveLength(0);
  });
});

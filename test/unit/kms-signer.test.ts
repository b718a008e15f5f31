import {
  DisabledException,
  KMSClient,
  KMSInvalidStateException,
  NotFoundException,
  SignCommand,
} from "@aws-sdk/client-kms";
import { mockClient } from "aws-sdk-client-mock";
import { JwksTokenVerifier } from "../../lambda/adapters/jwt-verifier.js";
import { loadKmsJwks } from "../../lambda/adapters/kms-public-keys.js";
import {
  KMS_RAW_MESSAGE_MAX_BYTES,
  KmsKeyError,
  KmsTokenSigner,
  kmsKeyIdOf,
  kmsKeyRegionOf,
} from "../../lambda/adapters/kms-signer.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { UnauthorizedError } from "../../lambda/core/errors.js";
import { systemClock } from "../../lambda/core/ports.js";
import type { ApiKeyRecord } from "../../lambda/core/types.js";
import { FakeKmsKeys } from "../helpers/fake-kms.js";
import { rejectedWith } from "../helpers/thrown.js";
import { decodeTokenPart } from "../helpers/tokens.js";

const ISSUER = "urn:streaming-ingest:eu-west-1:123456789012:ingest-test";
const AUDIENCE = "streaming-ingest";
const KEY_ID_1 = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const KEY_ID_2 = "mrk-0123456789abcdef0123456789abcdef";
const ARN_1 = `arn:aws:kms:eu-west-1:123456789012:key/${KEY_ID_1}`;
const ARN_2 = `arn:aws:kms:eu-west-1:123456789012:key/${KEY_ID_2}`;

const API_KEY: ApiKeyRecord = {
  id: "ik-AAAAAAAAAAAAAAAA",
  tenant: "acme",
  name: "pos",
  status: "active",
  createdAt: "2025-01-01T00:00:00.000Z",
};

/** KMS keys by ARN: real P-256 pairs; Sign answers DER like KMS, GetPublicKey the SPKI DER. */
const keys = new FakeKmsKeys();
keys.add(ARN_1);
keys.add(ARN_2);

const kms = mockClient(KMSClient);

function fakeKms(): void {
  keys.install(kms);
}

const client = new KMSClient({ region: "eu-west-1" });

async function issueWith(keyArn: string): Promise<string> {
  const signer = new KmsTokenSigner({ client, keyArn });
  const issued = await issueAccessToken({
    issuer: ISSUER,
    audience: AUDIENCE,
    signer,
    key: API_KEY,
    days: 3,
    clock: systemClock,
  });
  return issued.token;
}

async function verifierFor(keyArns: string[]): Promise<JwksTokenVerifier> {
  const jwks = await loadKmsJwks(client, keyArns);
  return new JwksTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks, clock: systemClock });
}

beforeEach(fakeKms);
afterAll(() => kms.restore());

describe("KmsTokenSigner", () => {
  it("issues a token whose kid is the key id and that verifies against the key's JWKS", async () => {
    const token = await issueWith(ARN_1);
    expect(decodeTokenPart(token, 0)).toEqual({ alg: "ES256", typ: "JWT", kid: KEY_ID_1 });
    const claims = (await verifierFor([ARN_1])).verify(token);
    expect(claims).toMatchObject({ keyId: API_KEY.id, tenant: "acme" });
    expect(claims.expiresAt - claims.issuedAt).toBe(3 * 86_400);
  });

  it("asks KMS to sign the exact signing input, RAW, with ECDSA_SHA_256 and the key ARN", async () => {
    const token = await issueWith(ARN_1);
    const calls = kms.commandCalls(SignCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toMatchObject({ KeyId: ARN_1, MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256" });
    const signingInput = token.split(".").slice(0, 2).join(".");
    expect(Buffer.from(input?.Message ?? []).toString("ascii")).toBe(signingInput);
  });

  it("verifies tokens of two live keys (rotation), and refuses a key that is not in the JWKS", async () => {
    const verifier = await verifierFor([ARN_1, ARN_2]);
    const older = await issueWith(ARN_1);
    const newer = await issueWith(ARN_2);
    expect(decodeTokenPart(newer, 0).kid).toBe(KEY_ID_2);
    expect(verifier.verify(older).keyId).toBe(API_KEY.id);
    expect(verifier.verify(newer).keyId).toBe(API_KEY.id);
    const onlyNewer = await verifierFor([ARN_2]);
    expect(() => onlyNewer.verify(older)).toThrow(UnauthorizedError);
    expect(() => onlyNewer.verify(older)).toThrow("unknown key");
  });

  it("refuses a signing input over KMS's 4096-byte RAW limit without calling KMS", async () => {
    const signer = new KmsTokenSigner({ client, keyArn: ARN_1 });
    const error = await rejectedWith(signer.sign(new Uint8Array(KMS_RAW_MESSAGE_MAX_BYTES + 1)), KmsKeyError);
    expect(error.message).toContain("at most 4096 bytes");
    expect(kms.commandCalls(SignCommand)).toHaveLength(0);
  });

  it("signs an input of exactly 4096 bytes", async () => {
    const signature = await new KmsTokenSigner({ client, keyArn: ARN_1 }).sign(new Uint8Array(4096));
    expect(signature).toHaveLength(64);
  });

  it("refuses a KMS answer that is not a DER ECDSA signature", async () => {
    kms.on(SignCommand).resolves({ Signature: new Uint8Array(64).fill(7) });
    const error = await rejectedWith(
      new KmsTokenSigner({ client, keyArn: ARN_1 }).sign(new Uint8Array(8)),
      KmsKeyError,
    );
    expect(error.message).toMatch(/not a P-256 ECDSA signature: DER ECDSA signature: expected a SEQUENCE/);
  });

  it("refuses a KMS answer without a signature", async () => {
    kms.on(SignCommand).resolves({});
    const error = await rejectedWith(
      new KmsTokenSigner({ client, keyArn: ARN_1 }).sign(new Uint8Array(8)),
      KmsKeyError,
    );
    expect(error.message).toBe(`KMS returned no signature for ${ARN_1}`);
  });

  const awsError = (name: string, message: string, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(message), { name, $metadata: {}, ...extra });

  it.each([
    [
      "access denied",
      awsError("AccessDeniedException", "User is not authorized to perform: kms:Sign"),
      "access denied; the caller needs kms:Sign on this key",
    ],
    [
      "an unknown key",
      new NotFoundException({ message: "Key does not exist", $metadata: {} }),
      "no such key in its region and account; check the ARN",
    ],
    [
      "a disabled key",
      new DisabledException({ message: "is disabled", $metadata: {} }),
      "the key is disabled; enable it",
    ],
    [
      "a key pending deletion",
      new KMSInvalidStateException({ message: "is pending deletion", $metadata: {} }),
      "the key is disabled or pending deletion (is pending deletion); enable it, or cancel its deletion",
    ],
    [
      "missing credentials",
      awsError("CredentialsProviderError", "Could not load credentials from any providers"),
      "no valid AWS credentials (CredentialsProviderError); configure them (aws configure, AWS_PROFILE",
    ],
    [
      "an unreachable KMS",
      awsError("Error", "getaddrinfo ENOTFOUND kms.eu-west-1.amazonaws.com", { code: "ENOTFOUND" }),
      "KMS cannot be reached (ENOTFOUND); check the network",
    ],
    ["a timeout", awsError("TimeoutError", "socket timed out"), "KMS did not answer in time"],
    ["throttling", awsError("ThrottlingException", "Rate exceeded"), "KMS is unavailable right now"],
    [
      "a key of the wrong usage",
      awsError("InvalidKeyUsageException", "KeyUsage ENCRYPT_DECRYPT"),
      "the key is not an ECC_NIST_P256 SIGN_VERIFY key",
    ],
    ["anything else", awsError("SomethingNew", "odd"), "SomethingNew: odd"],
  ])("explains %s in a message that says what to fix", async (_case, error, message) => {
    kms.on(SignCommand).rejects(error);
    const refused = await rejectedWith(
      new KmsTokenSigner({ client, keyArn: ARN_1 }).sign(new Uint8Array(8)),
      KmsKeyError,
    );
    expect(refused.message).toContain(`cannot sign with KMS key ${ARN_1}: ${message}`);
    expect(refused.cause).toBe(error);
  });
});

describe("kmsKeyIdOf", () => {
  it.each([
    [ARN_1, KEY_ID_1],
    [ARN_2, KEY_ID_2],
    [`arn:aws-cn:kms:cn-north-1:123456789012:key/${KEY_ID_1}`, KEY_ID_1],
    [`arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/${KEY_ID_1}`, KEY_ID_1],
  ])("reads the key id of %s", (arn, id) => {
    expect(kmsKeyIdOf(arn)).toBe(id);
  });

  it("reads the region of a key ARN", () => {
    expect(kmsKeyRegionOf(ARN_1)).toBe("eu-west-1");
  });

  it.each([
    ["arn:aws:kms:eu-west-1:123456789012:alias/ingest-tokens", "is a KMS alias; give the key ARN"],
    ["alias/ingest-tokens", "is a KMS alias"],
    [KEY_ID_1, "is not a KMS key ARN; expected arn:aws:kms:<region>:<account>:key/<key-id>"],
    [`arn:aws:s3:eu-west-1:123456789012:key/${KEY_ID_1}`, "is not a KMS key ARN"],
    ["arn:aws:kms:eu-west-1:123456789012:key/not-a-uuid", "is not a KMS key ARN"],
    ["", "is not a KMS key ARN"],
  ])("refuses %j with a clear error", (arn, message) => {
    expect(() => kmsKeyIdOf(arn)).toThrow(KmsKeyError);
    expect(() => kmsKeyIdOf(arn)).toThrow(message);
    expect(() => new KmsTokenSigner({ client, keyArn: arn })).toThrow(message);
  });
});

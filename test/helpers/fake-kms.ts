/**
 * KMS signing keys that really sign, behind an aws-sdk-client-mock KMSClient stub: real P-256 key pairs, `Sign`
 * answering a DER ECDSA signature of the exact message (as KMS does for ECDSA_SHA_256 over a RAW message) and
 * `GetPublicKey` the SPKI DER with the key's spec and usage. Tokens signed through it verify for real.
 */
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import {
  GetPublicKeyCommand,
  type GetPublicKeyCommandInput,
  type GetPublicKeyCommandOutput,
  type KMSClient,
  NotFoundException,
  SignCommand,
  type SignCommandInput,
} from "@aws-sdk/client-kms";
import type { AwsClientStub } from "aws-sdk-client-mock";

export interface KmsKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** An ARN of a (fake) KMS key in eu-west-1 of account 123456789012. */
export function kmsKeyArn(keyId: string): string {
  return `arn:aws:kms:eu-west-1:123456789012:key/${keyId}`;
}

export class FakeKmsKeys {
  private readonly keys = new Map<string, KmsKeyPair>();

  /** Adds a key with a new P-256 pair under `arn` (the KeyId KMS is called with). */
  add(arn: string): KmsKeyPair {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.keys.set(arn, pair);
    return pair;
  }

  /** What KMS answers GetPublicKey for `arn`. */
  publicKeyOutput(arn: string): GetPublicKeyCommandOutput {
    const key = this.keys.get(arn);
    if (key === undefined) throw notFound(arn);
    return {
      KeyId: arn,
      KeySpec: "ECC_NIST_P256",
      KeyUsage: "SIGN_VERIFY",
      SigningAlgorithms: ["ECDSA_SHA_256"],
      PublicKey: new Uint8Array(key.publicKey.export({ type: "spki", format: "der" })),
      $metadata: {},
    };
  }

  /** Resets `stub` and answers Sign and GetPublicKey from these keys (NotFoundException for any other KeyId). */
  install(stub: AwsClientStub<KMSClient>): void {
    stub.reset();
    stub.on(SignCommand).callsFake((input: SignCommandInput) => {
      const key = this.keys.get(input.KeyId ?? "");
      if (key === undefined || input.Message === undefined) throw notFound(input.KeyId);
      const signature = sign("sha256", input.Message, { key: key.privateKey, dsaEncoding: "der" });
      return { KeyId: input.KeyId, Signature: new Uint8Array(signature), SigningAlgorithm: "ECDSA_SHA_256" };
    });
    stub
      .on(GetPublicKeyCommand)
      .callsFake((input: GetPublicKeyCommandInput) => this.publicKeyOutput(input.KeyId ?? ""));
  }
}

function notFound(keyId: string | undefined): NotFoundException {
  return new NotFoundException({ message: `Key '${keyId}' does not exist`, $metadata: {} });
}

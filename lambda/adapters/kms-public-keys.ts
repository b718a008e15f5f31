/**
 * The public halves of the KMS token-signing keys as a JWKS for the verifier. Loaded once per Lambda container
 * (GetPublicKey), so requests never call KMS; several keys may be live while signing keys rotate.
 */
import { createPublicKey } from "node:crypto";
import { GetPublicKeyCommand, type KMSClient } from "@aws-sdk/client-kms";
import type { Jwks } from "aws-jwt-verify/jwk";
import { explainKmsError, KmsKeyError, kmsKeyIdOf } from "./kms-signer.js";

type Jwk = Jwks["keys"][number];

/**
 * Reads each key's public key (in parallel) and returns them as ES256 JWKs whose `kid` is the key id, the
 * `kid` KmsTokenSigner writes into tokens. Throws a KmsKeyError naming the key when one cannot be read or is
 * not an ECC_NIST_P256 SIGN_VERIFY key.
 */
export async function loadKmsJwks(client: KMSClient, keyArns: readonly string[]): Promise<Jwks> {
  if (keyArns.length === 0) throw new KmsKeyError("no token signing key ARNs given; at least one is needed");
  // Validate every ARN before calling KMS, so a typo is reported as such rather than as a KMS error.
  const unique = [...new Set(keyArns)];
  for (const arn of unique) kmsKeyIdOf(arn);
  return { keys: await Promise.all(unique.map((arn) => loadPublicJwk(client, arn))) };
}

async function loadPublicJwk(client: KMSClient, keyArn: string): Promise<Jwk> {
  let output: Awaited<ReturnType<typeof getPublicKey>>;
  try {
    output = await getPublicKey(client, keyArn);
  } catch (error) {
    throw explainKmsError(error, keyArn, "read the public key of");
  }
  if (output.KeySpec !== "ECC_NIST_P256") {
    throw new KmsKeyError(
      `KMS key ${keyArn} is a ${output.KeySpec ?? "key of unknown spec"} key; token signing keys must be ECC_NIST_P256 (ES256)`,
    );
  }
  if (output.KeyUsage !== "SIGN_VERIFY") {
    throw new KmsKeyError(
      `KMS key ${keyArn} has key usage ${output.KeyUsage ?? "unknown"}; token signing keys must be SIGN_VERIFY`,
    );
  }
  if (output.PublicKey === undefined) throw new KmsKeyError(`KMS returned no public key for ${keyArn}`);
  let jwk: { kty?: unknown; crv?: unknown; x?: unknown; y?: unknown };
  try {
    jwk = createPublicKey({ key: Buffer.from(output.PublicKey), format: "der", type: "spki" }).export({
      format: "jwk",
    });
  } catch (error) {
    throw new KmsKeyError(`KMS returned a public key for ${keyArn} that is not valid SPKI DER`, {
      cause: error,
    });
  }
  // KeySpec said P-256; the key itself must agree, or tokens would be checked against the wrong curve.
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string") {
    throw new KmsKeyError(`the public key of KMS key ${keyArn} is not a P-256 EC key`);
  }
  return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, kid: kmsKeyIdOf(keyArn), alg: "ES256", use: "sig" };
}

function getPublicKey(client: KMSClient, keyArn: string) {
  return client.send(new GetPublicKeyCommand({ KeyId: keyArn }));
}

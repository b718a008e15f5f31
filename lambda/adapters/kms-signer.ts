/**
 * The TokenSigner port on AWS KMS: an asymmetric ECC_NIST_P256 key signs the JWT signing input (ECDSA_SHA_256),
 * and its DER answer becomes the 64-byte r‖s form JOSE needs. The private key never leaves KMS.
 */
import { type KMSClient, SignCommand } from "@aws-sdk/client-kms";
import type { TokenSigner } from "../core/access-token.js";
import {
  awsErrorName,
  MISSING_CREDENTIALS_ERRORS,
  NETWORK_ERROR_CODES,
  nodeErrorCode,
  REJECTED_CREDENTIALS_ERRORS,
} from "./aws-errors.js";
import { derToJoseSignature } from "./ecdsa-signature.js";

/** KMS signs RAW messages of at most this many bytes (larger ones would have to be pre-hashed). */
export const KMS_RAW_MESSAGE_MAX_BYTES = 4096;

/** A KMS call failed; the message says what to fix. The SDK's error is kept as `cause`. */
export class KmsKeyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KmsKeyError";
  }
}

export interface KmsTokenSignerOptions {
  readonly client: KMSClient;
  /** The full key ARN (`arn:aws:kms:<region>:<account>:key/<key-id>`); aliases are not accepted. */
  readonly keyArn: string;
}

/** Signs access tokens with a KMS key; the token's `kid` is the key's id. */
export class KmsTokenSigner implements TokenSigner {
  readonly keyId: string;
  private readonly client: KMSClient;
  private readonly keyArn: string;

  constructor(options: KmsTokenSignerOptions) {
    this.keyId = kmsKeyIdOf(options.keyArn);
    this.client = options.client;
    this.keyArn = options.keyArn;
  }

  async sign(signingInput: Uint8Array): Promise<Uint8Array> {
    if (signingInput.byteLength > KMS_RAW_MESSAGE_MAX_BYTES) {
      throw new KmsKeyError(
        `the token's signing input is ${signingInput.byteLength} bytes; KMS signs RAW messages of at most ${KMS_RAW_MESSAGE_MAX_BYTES} bytes`,
      );
    }
    let signature: Uint8Array | undefined;
    try {
      const output = await this.client.send(
        new SignCommand({
          KeyId: this.keyArn,
          Message: signingInput,
          MessageType: "RAW",
          SigningAlgorithm: "ECDSA_SHA_256",
        }),
      );
      signature = output.Signature;
    } catch (error) {
      throw explainKmsError(error, this.keyArn, "sign with");
    }
    if (signature === undefined) throw new KmsKeyError(`KMS returned no signature for ${this.keyArn}`);
    try {
      return derToJoseSignature(signature);
    } catch (error) {
      throw new KmsKeyError(
        `KMS returned a signature for ${this.keyArn} that is not a P-256 ECDSA signature: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

// Standard key ids are UUIDs; multi-Region keys are `mrk-` followed by 32 hex digits.
const KEY_ARN_PATTERN =
  /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/**
 * The key id of a KMS key ARN (the part after `key/`): the `kid` tokens carry and verifiers look up. Throws
 * for anything but a key ARN: an alias can be re-pointed at another key, and the kid must stay stable.
 */
export function kmsKeyIdOf(keyArn: string): string {
  const match = KEY_ARN_PATTERN.exec(keyArn);
  if (match?.[1] !== undefined) return match[1];
  if (/^(arn:aws[a-z-]*:kms:[^:]*:[^:]*:)?alias\//.test(keyArn)) {
    throw new KmsKeyError(
      `${keyArn} is a KMS alias; give the key ARN (arn:aws:kms:<region>:<account>:key/<key-id>): the token kid is the key id and must not change when an alias is re-pointed`,
    );
  }
  throw new KmsKeyError(
    `${JSON.stringify(keyArn)} is not a KMS key ARN; expected arn:aws:kms:<region>:<account>:key/<key-id>`,
  );
}

/** The region part of a KMS key ARN (validated by kmsKeyIdOf first). */
export function kmsKeyRegionOf(keyArn: string): string {
  kmsKeyIdOf(keyArn);
  return keyArn.split(":")[3] ?? "";
}

/**
 * Turns a KMS client error into a KmsKeyError that says what to fix. `action` reads "<action> <key>", e.g.
 * "sign with" or "read the public key of".
 */
export function explainKmsError(error: unknown, keyArn: string, action: string): KmsKeyError {
  const name = awsErrorName(error);
  const code = nodeErrorCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  const cannot = `cannot ${action} KMS key ${keyArn}`;
  const options = { cause: error };
  if (MISSING_CREDENTIALS_ERRORS.has(name) || REJECTED_CREDENTIALS_ERRORS.has(name)) {
    return new KmsKeyError(
      `${cannot}: no valid AWS credentials (${name}); configure them (aws configure, AWS_PROFILE, or environment variables)`,
      options,
    );
  }
  switch (name) {
    case "AccessDeniedException":
      return new KmsKeyError(
        `${cannot}: access denied; the caller needs ${action === "sign with" ? "kms:Sign" : "kms:GetPublicKey"} on this key (key policy or IAM)`,
        options,
      );
    case "NotFoundException":
      return new KmsKeyError(
        `${cannot}: no such key in its region and account; check the ARN (is the stack deployed there?)`,
        options,
      );
    case "DisabledException":
      return new KmsKeyError(`${cannot}: the key is disabled; enable it (aws kms enable-key)`, options);
    case "KMSInvalidStateException":
      return new KmsKeyError(
        `${cannot}: the key is disabled or pending deletion (${detail}); enable it, or cancel its deletion (aws kms cancel-key-deletion), or use the current key`,
        options,
      );
    case "InvalidKeyUsageException":
      return new KmsKeyError(
        `${cannot}: the key is not an ECC_NIST_P256 SIGN_VERIFY key that allows ECDSA_SHA_256 (${detail})`,
        options,
      );
    case "UnsupportedOperationException":
      return new KmsKeyError(
        `${cannot}: KMS does not support this for the key (${detail}); token signing keys must be asymmetric ECC_NIST_P256 SIGN_VERIFY keys`,
        options,
      );
    case "InvalidArnException":
      return new KmsKeyError(`${cannot}: KMS refused the ARN (${detail}); check it`, options);
    case "KeyUnavailableException":
    case "DependencyTimeoutException":
    case "KMSInternalException":
    case "ThrottlingException":
      return new KmsKeyError(`${cannot}: KMS is unavailable right now (${name}); retry shortly`, options);
    case "TimeoutError":
      return new KmsKeyError(`${cannot}: KMS did not answer in time; check the network and retry`, options);
  }
  if (code !== undefined && NETWORK_ERROR_CODES.has(code)) {
    return new KmsKeyError(`${cannot}: KMS cannot be reached (${code}); check the network`, options);
  }
  return new KmsKeyError(`${cannot}: ${name === "" ? "" : `${name}: `}${detail}`, options);
}

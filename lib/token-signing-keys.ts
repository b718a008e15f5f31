/**
 * The KMS keys that sign access tokens (ES256; the private key never leaves KMS). One key per "generation":
 * the last generation signs new tokens, every generation still verifies, so rotation is add, deploy, drop later.
 */
import { RemovalPolicy, Stack } from "aws-cdk-lib";
import { Key, KeySpec, KeyUsage } from "aws-cdk-lib/aws-kms";
import { Construct } from "constructs";
import { acknowledgeRule } from "./nag-acknowledgements.js";
import { InvalidPropError } from "./prop-validation.js";

/** Generation names: short, lower-case, usable in a construct id and a KMS alias. */
const GENERATION_PATTERN = /^[a-z0-9-]{1,20}$/;

/** Props of {@link TokenSigningKeys}. */
export interface TokenSigningKeysProps {
  /**
   * Key generations, oldest first. The last one signs new tokens; all of them verify tokens. To rotate, append
   * a generation and deploy; remove the old one once the tokens it signed have expired.
   * @default ["v1"]
   */
  readonly generations?: readonly string[];
}

/** One asymmetric ECC_NIST_P256 SIGN_VERIFY key per generation, aliased `alias/<stack>-token-<generation>`. */
export class TokenSigningKeys extends Construct {
  /** Every live key, oldest first: the verifier trusts all of them. */
  readonly keys: readonly Key[];
  /** The key new tokens are signed with (the last generation). */
  readonly current: Key;
  /** The generation names, in the order of {@link keys}. */
  readonly generations: readonly string[];

  constructor(scope: Construct, id: string, props: TokenSigningKeysProps = {}) {
    super(scope, id);
    const generations = props.generations ?? ["v1"];
    validateGenerations(generations);
    this.generations = [...generations];
    const stackName = Stack.of(this).stackName;

    this.keys = generations.map((generation) => {
      const key = new Key(this, `Key-${generation}`, {
        description: `Streaming Ingest access-token signing key, generation ${generation} (${stackName})`,
        keySpec: KeySpec.ECC_NIST_P256,
        keyUsage: KeyUsage.SIGN_VERIFY,
        alias: `alias/${stackName}-token-${generation}`,
        // Deleting a key invalidates every token it signed; that must be a deliberate act, not a stack update.
        removalPolicy: RemovalPolicy.RETAIN,
      });
      acknowledgeRule(
        key,
        "KMS5",
        "Asymmetric KMS keys cannot rotate automatically; this key rotates by generations " +
          "(tokenSigningKeyGenerations: add a generation, deploy, remove the old one after its tokens expire).",
      );
      return key;
    });
    // validateGenerations guarantees at least one key.
    this.current = this.keys[this.keys.length - 1] as Key;
  }
}

/** Throws unless the generation list is non-empty, unique and well formed. */
export function validateGenerations(generations: readonly string[]): void {
  const prop = "tokenSigningKeyGenerations";
  if (generations.length === 0) {
    throw new InvalidPropError(prop, 'got an empty list; name at least one key generation, e.g. ["v1"].');
  }
  for (const generation of generations) {
    if (!GENERATION_PATTERN.test(generation)) {
      throw new InvalidPropError(
        prop,
        `generation ${JSON.stringify(generation)} is not 1–20 characters of a–z, 0–9 and "-"; rename it, e.g. "v2".`,
      );
    }
  }
  const duplicate = generations.find((generation, index) => generations.indexOf(generation) !== index);
  if (duplicate !== undefined) {
    throw new InvalidPropError(
      prop,
      `generation "${duplicate}" is listed twice; each generation is one key.`,
    );
  }
}

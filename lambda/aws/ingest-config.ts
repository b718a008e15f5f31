/**
 * The ingest Lambda's configuration, read once per container from the environment the stack sets, validated,
 * typed and frozen. A bad value fails the cold start with a message naming the variable.
 */

import { KmsKeyError, kmsKeyIdOf } from "../adapters/kms-signer.js";
import { DEFAULT_IDEMPOTENCY_WINDOW_SECONDS, IDEMPOTENCY_WINDOW_BOUNDS } from "../core/idempotency.js";
import {
  ConfigError,
  type Environment,
  registryCacheTtlSeconds,
  requiredVariable,
  wholeNumberVariable,
} from "./environment.js";

export interface IngestConfig {
  readonly streamsTable: string;
  readonly apiKeysTable: string;
  readonly tokenIssuer: string;
  readonly tokenAudience: string;
  /** KMS keys whose public keys verify tokens (all live generations). */
  readonly tokenKeyArns: readonly string[];
  /** How long registry records (and their absence) are trusted. */
  readonly registryCacheTtlSeconds: number;
  /** Time for all PutRecord attempts of one record. */
  readonly deliveryBudgetMs: number;
  /**
   * The Idempotency-Key table (IDEMPOTENCY_TABLE). The stack always sets it; without it a request that carries
   * the header is answered 500 and never stored unchecked.
   */
  readonly idempotencyTable?: string;
  /** How long an accepted Idempotency-Key is remembered (IDEMPOTENCY_WINDOW_SECONDS). @default 24 h */
  readonly idempotencyWindowSeconds?: number;
}

/**
 * Bounds of DELIVERY_BUDGET_MS: the budget must end before the core's 10 s delivery timeout (so a silent Firehose
 * is answered 503 with the budget's message, not 504) and well within the Lambda's 15 s timeout.
 */
export const DELIVERY_BUDGET_BOUNDS = { min: 100, max: 9_000 } as const;

export function readIngestConfig(env: Environment = process.env): IngestConfig {
  const tokenKeyArns = requiredVariable(env, "TOKEN_KEY_ARNS")
    .split(",")
    .map((arn) => arn.trim())
    .filter((arn) => arn !== "");
  if (tokenKeyArns.length === 0) throw new ConfigError("TOKEN_KEY_ARNS", "lists no key ARN");
  for (const arn of tokenKeyArns) {
    // The same rule the key loader applies (kid = key id), checked at cold start to name the variable.
    try {
      kmsKeyIdOf(arn);
    } catch (error) {
      if (!(error instanceof KmsKeyError)) throw error;
      throw new ConfigError("TOKEN_KEY_ARNS", `holds ${JSON.stringify(arn)}, which is not a KMS key ARN`);
    }
  }
  return Object.freeze({
    streamsTable: requiredVariable(env, "STREAMS_TABLE"),
    apiKeysTable: requiredVariable(env, "API_KEYS_TABLE"),
    tokenIssuer: requiredVariable(env, "TOKEN_ISSUER"),
    tokenAudience: requiredVariable(env, "TOKEN_AUDIENCE"),
    tokenKeyArns: Object.freeze(tokenKeyArns),
    registryCacheTtlSeconds: registryCacheTtlSeconds(env),
    deliveryBudgetMs: wholeNumberVariable(
      env,
      "DELIVERY_BUDGET_MS",
      6_000,
      DELIVERY_BUDGET_BOUNDS.min,
      DELIVERY_BUDGET_BOUNDS.max,
    ),
    ...optionalTable(env, "IDEMPOTENCY_TABLE"),
    idempotencyWindowSeconds: wholeNumberVariable(
      env,
      "IDEMPOTENCY_WINDOW_SECONDS",
      DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
      IDEMPOTENCY_WINDOW_BOUNDS.min,
      IDEMPOTENCY_WINDOW_BOUNDS.max,
    ),
  });
}

/** `{ idempotencyTable }` when the variable is set, else nothing. */
function optionalTable(env: Environment, name: string): { idempotencyTable?: string } {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? {} : { idempotencyTable: value };
}

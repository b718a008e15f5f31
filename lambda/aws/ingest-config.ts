/**
 * The ingest Lambda's configuration, read once per container from the environment the stack sets, validated,
 * typed and frozen. A bad value fails the cold start with a message naming the variable.
 */

/** A missing or invalid environment variable. */
export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`environment variable ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

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
}

/** Admins' edits must apply within a minute (DESIGN.md). */
export const MAX_REGISTRY_CACHE_TTL_SECONDS = 60;

/** The budget must leave room for the core's delivery timeout (10 s) and the Lambda timeout (15 s). */
const DELIVERY_BUDGET_BOUNDS = { min: 100, max: 9_000 } as const;

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-)?[0-9a-f-]{32,36}$/;

type Environment = Readonly<Record<string, string | undefined>>;

export function readIngestConfig(env: Environment = process.env): IngestConfig {
  const tokenKeyArns = required(env, "TOKEN_KEY_ARNS")
    .split(",")
    .map((arn) => arn.trim())
    .filter((arn) => arn !== "");
  if (tokenKeyArns.length === 0) throw new ConfigError("TOKEN_KEY_ARNS", "lists no key ARN");
  for (const arn of tokenKeyArns) {
    if (!KMS_KEY_ARN.test(arn)) {
      throw new ConfigError("TOKEN_KEY_ARNS", `holds ${JSON.stringify(arn)}, which is not a KMS key ARN`);
    }
  }
  return Object.freeze({
    streamsTable: required(env, "STREAMS_TABLE"),
    apiKeysTable: required(env, "API_KEYS_TABLE"),
    tokenIssuer: required(env, "TOKEN_ISSUER"),
    tokenAudience: required(env, "TOKEN_AUDIENCE"),
    tokenKeyArns: Object.freeze(tokenKeyArns),
    registryCacheTtlSeconds: wholeNumber(
      env,
      "REGISTRY_CACHE_TTL_SECONDS",
      30,
      0,
      MAX_REGISTRY_CACHE_TTL_SECONDS,
    ),
    deliveryBudgetMs: wholeNumber(
      env,
      "DELIVERY_BUDGET_MS",
      6_000,
      DELIVERY_BUDGET_BOUNDS.min,
      DELIVERY_BUDGET_BOUNDS.max,
    ),
  });
}

function required(env: Environment, name: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === "") throw new ConfigError(name, "must be set");
  return value;
}

function wholeNumber(env: Environment, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
  }
  return value;
}

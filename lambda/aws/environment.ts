/**
 * Reading a Lambda's environment (set by the stack): required strings and bounded whole numbers, each failing
 * with a ConfigError that names the variable, shared by both functions' configurations.
 */

/** A missing or invalid environment variable. */
export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`environment variable ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** Admins' edits must apply within a minute (DESIGN.md). */
export const MAX_REGISTRY_CACHE_TTL_SECONDS = 60;

/** The registry cache TTL both functions use by default (the stack passes the same value to both). */
export const DEFAULT_REGISTRY_CACHE_TTL_SECONDS = 30;

/** The trimmed value; throws when it is unset or empty. */
export function requiredVariable(env: Environment, name: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === "") throw new ConfigError(name, "must be set");
  return value;
}

/** A whole number from `min` to `max`, or `fallback` when unset. */
export function wholeNumberVariable(
  env: Environment,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The registry cache TTL in seconds (REGISTRY_CACHE_TTL_SECONDS), 0–60. */
export function registryCacheTtlSeconds(env: Environment): number {
  return wholeNumberVariable(
    env,
    "REGISTRY_CACHE_TTL_SECONDS",
    DEFAULT_REGISTRY_CACHE_TTL_SECONDS,
    0,
    MAX_REGISTRY_CACHE_TTL_SECONDS,
  );
}

/**
 * The local runtime's Idempotency-Key store: the embedded registry's `ingest-idempotency` table, its window
 * (option, else env INGEST_IDEMPOTENCY_WINDOW_SECONDS, else 24 h) and an hourly lazy sweep of expired keys
 * (dynalite has no TTL; expired keys already count as absent, the sweep only frees the space).
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoIdempotencyStore } from "../adapters/dynamo-idempotency.js";
import { LOCAL_REGISTRY_TABLES } from "../adapters/dynamo-registry.js";
import type { IdempotencyOptions } from "../core/handler.js";
import { DEFAULT_IDEMPOTENCY_WINDOW_SECONDS, IDEMPOTENCY_WINDOW_BOUNDS } from "../core/idempotency.js";
import type { Clock, Logger } from "../core/ports.js";

/** The environment variable `ingest serve` (and its workers) read the window from. */
export const IDEMPOTENCY_WINDOW_ENV = "INGEST_IDEMPOTENCY_WINDOW_SECONDS";

/** How often expired keys are swept from the local table. */
export const LOCAL_SWEEP_INTERVAL_MS = 3_600_000;

/** The window in seconds: `option`, else the environment variable, else 24 h; out of bounds throws, naming it. */
export function localIdempotencyWindowSeconds(
  option: number | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): number {
  const raw = option ?? env[IDEMPOTENCY_WINDOW_ENV]?.trim();
  if (raw === undefined || raw === "") return DEFAULT_IDEMPOTENCY_WINDOW_SECONDS;
  const value = Number(raw);
  const { min, max } = IDEMPOTENCY_WINDOW_BOUNDS;
  if (!Number.isInteger(value) || value < min || value > max) {
    const source = option === undefined ? IDEMPOTENCY_WINDOW_ENV : "idempotencyWindowSeconds";
    throw new RangeError(
      `${source} must be a whole number of seconds from ${min} to ${max}; got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** The handler's idempotency options on the local store. */
export function localIdempotency(
  client: DynamoDBDocumentClient,
  clock: Clock,
  logger: Logger,
  windowSeconds: number | undefined,
): IdempotencyOptions {
  const table = LOCAL_REGISTRY_TABLES.idempotency ?? "ingest-idempotency";
  return {
    store: new DynamoIdempotencyStore({
      client,
      table,
      logger,
      sweepIntervalMs: LOCAL_SWEEP_INTERVAL_MS,
      now: () => clock.now(),
    }),
    windowSeconds: localIdempotencyWindowSeconds(windowSeconds),
  };
}

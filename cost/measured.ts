/**
 * The numbers the cost model takes from this repository's benchmarks and stack, and the few it has to assume.
 * Re-measure with `npm run bench -- lambda core-cpu` and update them when the handler changes.
 */
import type { LambdaProfile } from "./model.js";

/**
 * `npm run bench -- lambda` (default settings, 2026-11-29, Node 20 on a shared 2-core x64 machine): CPU time per
 * warm invocation of the ingest bundle for one 321-byte JSON record, DynamoDB, KMS and Firehose answered on
 * loopback ("Warm invocations", ingest CPU mean). It includes the SDK's request signing and HTTP work. The
 * model stretches it by 1,769 MB / memory (Lambda's CPU share) and adds the Firehose round trip below.
 */
export const MEASURED_WARM_INVOCATION_CPU_MS = 1.99;
export const MEASURED_RECORD_BYTES = 321;

/** `npm run bench -- core-cpu` (same day): the handler core's CPU time per JSON record at two sizes. */
export const MEASURED_CORE_SMALL_JSON = { bytes: 321, cpuMs: 0.0134 } as const;
export const MEASURED_CORE_LARGE_JSON = { bytes: 204_855, cpuMs: 1.146 } as const;

/** `npm run bench -- lambda`: bytes the function logs per invocation (summary line + EMF metrics line). */
export const MEASURED_FUNCTION_LOG_BYTES = 833;
/** The same run: of those, the EMF metrics line (what is left with `requestLogs: false`). */
export const MEASURED_METRICS_LOG_BYTES = 384;

/** lib/ingest-function.ts: the ingest Lambda's memory size. */
export const INGEST_MEMORY_MB = 1024;
/** lib/ingest-function.ts default `registryCacheTtlSeconds`. */
export const REGISTRY_CACHE_TTL_SECONDS = 30;

/**
 * Assumed, not measured here: one PutRecord / PutRecordBatch round trip to Firehose in the same region. The
 * benchmark's loopback Firehose answers at once; a real one takes milliseconds, and the Lambda is billed for the
 * wait. Override the whole duration with `--lambda-ms` when you have CloudWatch numbers (REPORT lines).
 */
export const ASSUMED_FIREHOSE_PUT_MS = 15;
/** Assumed: Lambda's JSON platform lines per invocation (platform.start ~150 B + platform.report ~250 B). */
export const ASSUMED_PLATFORM_LOG_BYTES = 400;
/** Assumed: one access-log line of the API stage (the 12 fields of lib/ingest-api.ts, as JSON). */
export const ASSUMED_ACCESS_LOG_BYTES = 330;
/** Assumed: how long a Lambda container lives before it is replaced (it then fetches the KMS keys again). */
export const ASSUMED_CONTAINER_LIFETIME_HOURS = 1;

/** The profile the CLI uses unless told otherwise. */
export const MEASURED_LAMBDA_PROFILE: LambdaProfile = {
  ownCpuMs: MEASURED_WARM_INVOCATION_CPU_MS,
  measuredRecordBytes: MEASURED_RECORD_BYTES,
  coreSmall: MEASURED_CORE_SMALL_JSON,
  coreLarge: MEASURED_CORE_LARGE_JSON,
  firehoseMs: ASSUMED_FIREHOSE_PUT_MS,
  functionLogBytes: MEASURED_FUNCTION_LOG_BYTES,
  metricsLogBytes: MEASURED_METRICS_LOG_BYTES,
  platformLogBytes: ASSUMED_PLATFORM_LOG_BYTES,
  containerLifetimeHours: ASSUMED_CONTAINER_LIFETIME_HOURS,
};

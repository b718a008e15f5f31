/**
 * The monthly AWS cost of ingesting a given number of records, as pure arithmetic: this stack (HTTP API →
 * Lambda → Firehose → S3) next to the cheapest AWS-native alternative, an API Gateway REST API that puts each
 * request body straight into Firehose (no Lambda, none of this product's checks). Also the capacity the rate
 * needs: delivery streams per stream (the `shards` setting) and Lambda concurrency at the peak.
 *
 * Included: API Gateway requests, Lambda requests and GB-seconds, Firehose Direct PUT ingestion, the S3 PUTs
 * Firehose makes, DynamoDB registry reads, KMS (key-months and GetPublicKey), CloudWatch Logs ingestion.
 * Not included: S3 storage and lifecycle (depends on retention), data transfer, CloudWatch custom metrics,
 * dashboard and alarms (fixed, a few dollars a month), free tiers, savings plans and private pricing.
 */
import { MAX_RECORD_BYTES } from "../lambda/core/constants.js";
import { type DirectPutQuota, directPutQuota } from "./firehose-quotas.js";
import { BILLING_GB, type Prices, type PriceTier } from "./prices.js";

/** The month of AWS's pricing examples and calculator: 730 hours. */
export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
export const DAYS_PER_MONTH = HOURS_PER_MONTH / 24;

/** The batch endpoint's limits (see the batch contract): records per request and decoded bytes. */
export const MAX_BATCH_RECORDS = 500;
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Largest Firehose record; the batch sink packs NDJSON lines into records up to this size. */
export const MAX_FIREHOSE_RECORD_BYTES = 1000 * 1024;
/** A stream's `shards` setting may be at most this. */
export const MAX_SHARDS = 50;
/** Account defaults worth a warning when a rate needs more. */
export const DEFAULT_API_GATEWAY_RPS_QUOTA = 10_000;
export const DEFAULT_LAMBDA_CONCURRENCY = 1_000;

/** Lambda gives a function one full vCPU at this memory size, and CPU in proportion below it. */
export const FULL_VCPU_MEMORY_MB = 1769;

/** How long the Lambda takes and what it logs; the defaults come from cost/measured.ts. */
export interface LambdaProfile {
  /**
   * The Lambda's own CPU time for a single-record request of `measuredRecordBytes` (HTTP API event → core →
   * PutRecord → result), with the AWS services answering at once.
   */
  readonly ownCpuMs: number;
  readonly measuredRecordBytes: number;
  /** The handler core's CPU time per record at two sizes, for the per-record part of batches and big records. */
  readonly coreSmall: { readonly bytes: number; readonly cpuMs: number };
  readonly coreLarge: { readonly bytes: number; readonly cpuMs: number };
  /** Waiting for Firehose to acknowledge one PutRecord / PutRecordBatch call. */
  readonly firehoseMs: number;
  /** When set, the duration of every invocation (the model above is not used). */
  readonly overrideMs?: number;
  /** Bytes of log lines per invocation: the function's own (summary line + EMF metrics). */
  readonly functionLogBytes: number;
  /** Of those, the EMF metrics line, which is kept when request logs are off. */
  readonly metricsLogBytes: number;
  /** Lambda's platform lines per invocation (JSON format: platform.start and platform.report). */
  readonly platformLogBytes: number;
  /** How long a container lives before Lambda replaces it (it then loads the KMS public keys again). */
  readonly containerLifetimeHours: number;
}

export interface CostInput {
  readonly recordsPerDay: number;
  /** Average record size as stored (minified JSON), without the NDJSON newline. */
  readonly avgRecordBytes: number;
  /** Records per request: 1 = the single-record endpoint, more = the batch endpoint. */
  readonly batch: number;
  /** Decides the Firehose quota (prices are always us-east-1's). */
  readonly region: string;
  /** Peak rate over the daily average. */
  readonly peakFactor: number;
  readonly memoryMb: number;
  /** The stream's Firehose buffering (how often Firehose writes an S3 object). */
  readonly bufferMiB: number;
  readonly bufferSeconds: number;
  /** Token signing key generations (one KMS key each). */
  readonly signingKeys: number;
  /** Registry cache TTL: each container reads the stream and the key once per TTL. */
  readonly registryCacheTtlSeconds: number;
  /** One API access log line (both scenarios log one per request). */
  readonly accessLogBytes: number;
  /**
   * The stack's `requestLogs` context: true logs the function's summary line and Lambda's platform lines per
   * request; false keeps only the metrics line (and warnings and errors).
   */
  readonly requestLogs: boolean;
  readonly lambda: LambdaProfile;
}

/** One service's share of the monthly bill. */
export interface CostLine {
  readonly service: string;
  /** The arithmetic, for people. */
  readonly basis: string;
  readonly monthly: number;
}

export interface ScenarioCost {
  readonly name: string;
  readonly lines: readonly CostLine[];
  readonly monthly: number;
  readonly perMillionRecords: number;
}

/** Delivery streams one stream needs, and which quota decides it. */
export interface ShardPlan {
  readonly shards: number;
  readonly byRequests: number;
  readonly byRecords: number;
  readonly byBytes: number;
  readonly quota: DirectPutQuota;
}

/** Rates at the average or at the peak, per second. */
export interface Rates {
  readonly records: number;
  readonly requests: number;
  /** PutRecord / PutRecordBatch calls. */
  readonly firehoseCalls: number;
  readonly firehoseRecords: number;
  /** Record bytes sent to Firehose. */
  readonly bytes: number;
}

export interface CostEstimate {
  readonly input: CostInput;
  readonly recordsPerMonth: number;
  readonly requestsPerMonth: number;
  /** Each request body counts as this many HTTP API requests (512 KB metering). */
  readonly httpApiUnitsPerRequest: number;
  readonly lambdaMs: number;
  readonly lambdaBilledMs: number;
  readonly firehoseRecordsPerRequest: number;
  readonly firehoseBilledBytesPerRequest: number;
  readonly average: Rates;
  readonly peak: Rates;
  readonly shards: ShardPlan;
  readonly lambdaConcurrency: { readonly average: number; readonly peak: number };
  readonly s3ObjectsPerMonth: number;
  readonly ingest: ScenarioCost;
  readonly baseline: ScenarioCost;
  /** Things the rate needs beyond defaults (quota raises, shards over the maximum). */
  readonly warnings: readonly string[];
}

/** Cost of `quantity` units under a tiered price (tiers cumulative, in order). */
export function tieredCost(quantity: number, tiers: readonly PriceTier[]): number {
  let cost = 0;
  let from = 0;
  for (const tier of tiers) {
    if (quantity <= from) break;
    cost += (Math.min(quantity, tier.upTo) - from) * tier.price;
    from = tier.upTo;
  }
  return cost;
}

/** A record's bytes as Firehose bills them: rounded up to the next multiple of `rounding` (5 KB). */
export function firehoseBilledBytes(recordBytes: number, rounding: number): number {
  return Math.max(1, Math.ceil(recordBytes / rounding)) * rounding;
}

/**
 * How the bytes of one request become Firehose records: a single record is one Firehose record; a batch's
 * NDJSON lines are packed into records of at most 1,000 KiB (the slack of packing whole lines is ignored).
 */
export function packRequest(
  requestBytes: number,
  batch: number,
  rounding: number,
): { readonly records: number; readonly billedBytes: number } {
  if (batch === 1) return { records: 1, billedBytes: firehoseBilledBytes(requestBytes, rounding) };
  const full = Math.floor(requestBytes / MAX_FIREHOSE_RECORD_BYTES);
  const rest = requestBytes - full * MAX_FIREHOSE_RECORD_BYTES;
  const restBilled = rest > 0 ? firehoseBilledBytes(rest, rounding) : 0;
  return {
    records: full + (rest > 0 ? 1 : 0),
    billedBytes: full * firehoseBilledBytes(MAX_FIREHOSE_RECORD_BYTES, rounding) + restBilled,
  };
}

/** Delivery streams needed so that none exceeds its quota at these (peak) rates. */
export function deliveryStreamsNeeded(peak: Rates, quota: DirectPutQuota): ShardPlan {
  const byRequests = Math.ceil(peak.firehoseCalls / quota.requestsPerSecond);
  const byRecords = Math.ceil(peak.firehoseRecords / quota.recordsPerSecond);
  const byBytes = Math.ceil(peak.bytes / quota.bytesPerSecond);
  return { shards: Math.max(1, byRequests, byRecords, byBytes), byRequests, byRecords, byBytes, quota };
}

/** The handler core's CPU time for one record of `bytes`, interpolated linearly between the two measurements. */
export function coreRecordCpuMs(profile: LambdaProfile, bytes: number): number {
  const { coreSmall, coreLarge } = profile;
  const slope = (coreLarge.cpuMs - coreSmall.cpuMs) / (coreLarge.bytes - coreSmall.bytes);
  return Math.max(0, coreSmall.cpuMs + (bytes - coreSmall.bytes) * slope);
}

/**
 * How much longer CPU-bound work takes at `memoryMb` than on a full core: Lambda allocates CPU in proportion to
 * memory (one vCPU at 1,769 MB); more memory does not speed up this single-threaded handler.
 */
export function cpuSlowdown(memoryMb: number): number {
  return Math.max(1, FULL_VCPU_MEMORY_MB / memoryMb);
}

/**
 * One invocation's duration: the measured CPU time of the fixed part (everything but the record itself) plus
 * the core's CPU time for each of the `batch` records, stretched by {@link cpuSlowdown}, plus one Firehose round
 * trip (PutRecord, or one PutRecordBatch for a batch).
 */
export function lambdaDurationMs(
  profile: LambdaProfile,
  batch: number,
  recordBytes: number,
  memoryMb: number,
): number {
  if (profile.overrideMs !== undefined) return profile.overrideMs;
  const fixedCpu = Math.max(0, profile.ownCpuMs - coreRecordCpuMs(profile, profile.measuredRecordBytes));
  const cpu = fixedCpu + batch * coreRecordCpuMs(profile, recordBytes);
  return cpu * cpuSlowdown(memoryMb) + profile.firehoseMs;
}

/** Firehose writes one object per delivery stream each time its buffer fills or its interval passes. */
export function s3ObjectsPerMonth(
  shards: number,
  averageBytesPerSecond: number,
  bufferMiB: number,
  bufferSeconds: number,
): number {
  const perStream = averageBytesPerSecond / shards;
  const fillSeconds = perStream > 0 ? (bufferMiB * 1024 * 1024) / perStream : Infinity;
  return (shards * SECONDS_PER_MONTH) / Math.min(bufferSeconds, fillSeconds);
}

// ---- formatting of the basis column ----

/** 30,416,666,667 → "30.42 B"; 1,500 → "1,500". */
export function compactCount(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(2)} B`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  return Math.round(value).toLocaleString("en-US");
}

function dollars(value: number, digits = 2): string {
  return `$${value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: 10 })}`;
}

/** The prices of a tiered price's tiers, `scale` × the unit price each: "$1.00 → $0.90". */
function tierPrices(tiers: readonly PriceTier[], scale: number): string {
  return tiers
    .map((tier) => dollars(Math.round(tier.price * scale * 1e6) / 1e6))
    .filter((text, index, all) => all.indexOf(text) === index)
    .join(" → ");
}

function scenario(name: string, lines: CostLine[], recordsPerMonth: number): ScenarioCost {
  const monthly = lines.reduce((sum, line) => sum + line.monthly, 0);
  return { name, lines, monthly, perMillionRecords: monthly / (recordsPerMonth / 1e6) };
}

/** The whole estimate for one input. */
export function estimateCost(input: CostInput, prices: Prices): CostEstimate {
  const { batch, avgRecordBytes, lambda } = input;
  const recordsPerMonth = input.recordsPerDay * DAYS_PER_MONTH;
  const requestsPerMonth = recordsPerMonth / batch;
  // Each record is stored as its bytes plus the NDJSON newline; a request carries `batch` of them.
  const requestBytes = batch * (avgRecordBytes + 1);
  const httpApiUnitsPerRequest = Math.max(1, Math.ceil(requestBytes / prices.apiGatewayHttp.meteringBytes));
  const packed = packRequest(requestBytes, batch, prices.firehoseDirectPut.recordRoundingBytes);

  const averageRecords = input.recordsPerDay / 86_400;
  const rates = (records: number): Rates => ({
    records,
    requests: records / batch,
    firehoseCalls: records / batch,
    firehoseRecords: (records / batch) * packed.records,
    bytes: records * (avgRecordBytes + 1),
  });
  const average = rates(averageRecords);
  const peak = rates(averageRecords * input.peakFactor);
  const shards = deliveryStreamsNeeded(peak, directPutQuota(input.region));

  const lambdaMs = lambdaDurationMs(lambda, batch, avgRecordBytes, input.memoryMb);
  const granularity = prices.lambdaArm64.billingGranularityMs;
  const lambdaBilledMs = Math.ceil(lambdaMs / granularity) * granularity;
  const concurrency = {
    average: average.requests * (lambdaMs / 1000),
    peak: peak.requests * (lambdaMs / 1000),
  };

  // ---- this stack ----
  const httpUnits = requestsPerMonth * httpApiUnitsPerRequest;
  const gbSeconds = requestsPerMonth * (lambdaBilledMs / 1000) * (input.memoryMb / 1024);
  const firehoseGb = (requestsPerMonth * packed.billedBytes) / BILLING_GB;
  const firehoseCost = tieredCost(firehoseGb, prices.firehoseDirectPut.tiers);
  const objects = s3ObjectsPerMonth(shards.shards, average.bytes, input.bufferMiB, input.bufferSeconds);
  const s3Cost = objects * prices.s3PutRequest.perRequest;
  // Containers: on average as many as are busy at once; each reads the stream and the key once per TTL.
  const containers = Math.max(1, concurrency.average);
  const registryReads = containers * 2 * (SECONDS_PER_MONTH / input.registryCacheTtlSeconds);
  const keyLoads = containers * (HOURS_PER_MONTH / lambda.containerLifetimeHours) * input.signingKeys;
  const functionLogBytes = input.requestLogs ? lambda.functionLogBytes : lambda.metricsLogBytes;
  const platformLogBytes = input.requestLogs ? lambda.platformLogBytes : 0;
  const ingestLogBytes = functionLogBytes + platformLogBytes + input.accessLogBytes;
  const ingestLogGb = (requestsPerMonth * ingestLogBytes) / BILLING_GB;
  const baselineLogGb = (requestsPerMonth * input.accessLogBytes) / BILLING_GB;
  const http = prices.apiGatewayHttp;
  const rest = prices.apiGatewayRest;
  const firehoseBasis =
    `${compactCount(requestsPerMonth * packed.records)} records, billed ` +
    `${compactCount(packed.billedBytes / packed.records)} B each (5 KB rounding) = ` +
    `${compactCount(firehoseGb)} GB × ${tierPrices(prices.firehoseDirectPut.tiers, 1)}/GB`;
  const s3Basis = `${compactCount(objects)} objects (${shards.shards} delivery stream${shards.shards === 1 ? "" : "s"}, ${input.bufferMiB} MiB / ${input.bufferSeconds} s buffers) × $0.005/1,000`;
  const ingest = scenario(
    "HTTP API + Lambda",
    [
      {
        service: "API Gateway",
        basis:
          `HTTP API: ${compactCount(httpUnits)} requests${httpApiUnitsPerRequest > 1 ? ` (${httpApiUnitsPerRequest} per 512 KB-metered request)` : ""}` +
          ` × ${tierPrices(http.tiers, 1e6)}/M`,
        monthly: tieredCost(httpUnits, http.tiers),
      },
      {
        service: "Lambda requests",
        basis: `${compactCount(requestsPerMonth)} invocations × ${dollars(prices.lambdaArm64.perRequest * 1e6)}/M`,
        monthly: requestsPerMonth * prices.lambdaArm64.perRequest,
      },
      {
        service: "Lambda duration (arm64)",
        basis: `${lambdaBilledMs} ms × ${input.memoryMb} MB = ${compactCount(gbSeconds)} GB-s × ${dollars(prices.lambdaArm64.perGbSecond.tiers[0]?.price ?? 0, 10)}`,
        monthly: tieredCost(gbSeconds, prices.lambdaArm64.perGbSecond.tiers),
      },
      { service: "Firehose ingestion", basis: firehoseBasis, monthly: firehoseCost },
      { service: "S3 PUTs (Firehose objects)", basis: s3Basis, monthly: s3Cost },
      {
        service: "DynamoDB reads",
        basis: `~${compactCount(containers)} containers × 2 items / ${input.registryCacheTtlSeconds} s = ${compactCount(registryReads)} reads × $0.125/M`,
        monthly: registryReads * prices.dynamoDbReadUnit.perUnit,
      },
      {
        service: "KMS",
        basis: `${input.signingKeys} key × $1/month + ${compactCount(keyLoads)} GetPublicKey × $0.03/10k`,
        monthly: input.signingKeys * prices.kms.perKeyMonth + keyLoads * prices.kms.perRequest,
      },
      {
        service: "CloudWatch Logs",
        basis: `${compactCount(ingestLogBytes)} B/request (function ${functionLogBytes}, platform ${platformLogBytes}, access log ${input.accessLogBytes}${input.requestLogs ? "" : "; requestLogs false"}) = ${compactCount(ingestLogGb)} GB × $0.50`,
        monthly: ingestLogGb * prices.cloudWatchLogsIngestion.perGb,
      },
    ],
    recordsPerMonth,
  );

  // ---- the baseline: REST API → Firehose PutRecord of the request body ----
  const baseline = scenario(
    "REST API → Firehose",
    [
      {
        service: "API Gateway",
        basis: `REST API: ${compactCount(requestsPerMonth)} requests × ${tierPrices(rest.tiers, 1e6)}/M`,
        monthly: tieredCost(requestsPerMonth, rest.tiers),
      },
      { service: "Firehose ingestion", basis: firehoseBasis, monthly: firehoseCost },
      { service: "S3 PUTs (Firehose objects)", basis: s3Basis, monthly: s3Cost },
      {
        service: "CloudWatch Logs",
        basis: `${input.accessLogBytes} B/request access log = ${compactCount(baselineLogGb)} GB × $0.50`,
        monthly: baselineLogGb * prices.cloudWatchLogsIngestion.perGb,
      },
    ],
    recordsPerMonth,
  );

  const warnings: string[] = [];
  if (shards.shards > MAX_SHARDS) {
    warnings.push(
      `one stream would need ${shards.shards} delivery streams, over the shards maximum of ${MAX_SHARDS}: ask AWS to raise the Firehose quota, batch, or split the stream`,
    );
  }
  if (peak.requests > DEFAULT_API_GATEWAY_RPS_QUOTA) {
    warnings.push(
      `peak ${compactCount(peak.requests)} requests/s is over API Gateway's default account quota of ${DEFAULT_API_GATEWAY_RPS_QUOTA.toLocaleString("en-US")}/s: request a raise (and set throttleRateLimit)`,
    );
  }
  if (concurrency.peak > DEFAULT_LAMBDA_CONCURRENCY) {
    warnings.push(
      `peak Lambda concurrency ~${compactCount(concurrency.peak)} is over the default account limit of ${DEFAULT_LAMBDA_CONCURRENCY.toLocaleString("en-US")}: request a raise`,
    );
  }
  return {
    input,
    recordsPerMonth,
    requestsPerMonth,
    httpApiUnitsPerRequest,
    lambdaMs,
    lambdaBilledMs,
    firehoseRecordsPerRequest: packed.records,
    firehoseBilledBytesPerRequest: packed.billedBytes,
    average,
    peak,
    shards,
    lambdaConcurrency: concurrency,
    s3ObjectsPerMonth: objects,
    ingest,
    baseline,
    warnings,
  };
}

/** Largest record the API accepts (for input validation). */
export const MAX_AVG_RECORD_BYTES = MAX_RECORD_BYTES;

/**
 * `npm run cost -- --records-per-day 1e9 --avg-bytes 1000 [--batch 100] [--region us-east-1] ...`: prints the
 * monthly AWS cost of this stack next to an API Gateway REST → Firehose baseline, per service and per million
 * records, and the delivery streams (`shards`) one stream needs for the rate. Bad input exits 2.
 */
import {
  DEFAULT_REGION_QUOTA,
  directPutQuota,
  FIREHOSE_QUOTA_SOURCE,
  REGION_PATTERN,
} from "./firehose-quotas.js";
import {
  ASSUMED_ACCESS_LOG_BYTES,
  ASSUMED_FIREHOSE_PUT_MS,
  INGEST_MEMORY_MB,
  MEASURED_LAMBDA_PROFILE,
  MEASURED_WARM_INVOCATION_CPU_MS,
  REGISTRY_CACHE_TTL_SECONDS,
} from "./measured.js";
import {
  type CostEstimate,
  type CostInput,
  compactCount,
  cpuSlowdown,
  estimateCost,
  HOURS_PER_MONTH,
  MAX_AVG_RECORD_BYTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_RECORDS,
} from "./model.js";
import { PRICES_READ_ON, PRICES_REGION, US_EAST_1 } from "./prices.js";

export const USAGE = `usage: npm run cost -- --records-per-day N --avg-bytes N [options]

  --records-per-day N   records a day, e.g. 1e9 (required)
  --avg-bytes N         average record size in bytes as stored (minified JSON), 1–${MAX_AVG_RECORD_BYTES.toLocaleString("en-US")} (required)
  --batch N             records per request: 1 = POST /stream/v0/data (default), 2–${MAX_BATCH_RECORDS} = the batch endpoint
  --region R            decides the Firehose quota (default us-east-1; prices are always us-east-1's)
  --peak-factor F       peak rate over the daily average, ≥ 1 (default 3)
  --lambda-ms MS        use this duration per invocation instead of the measured model
  --memory-mb N         Lambda memory, 128–10240 (default ${INGEST_MEMORY_MB}, as the stack)
  --buffer-mib N        the stream's Firehose buffer size, 1–128 (default 5)
  --buffer-seconds N    the stream's Firehose buffer interval, 1–900 (default 300)
  --request-logs B      true (default) or false, as the stack's requestLogs context: false keeps only the
                        metrics line and warnings/errors (no summary line, no START/REPORT lines)
  --json                print the estimate as JSON
`;

/** Bad command-line input: the message names the option and what it accepts. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface ParsedArgs {
  readonly input: CostInput;
  readonly json: boolean;
  readonly help: boolean;
}

const NUMERIC_OPTIONS = [
  "records-per-day",
  "avg-bytes",
  "batch",
  "peak-factor",
  "lambda-ms",
  "memory-mb",
  "buffer-mib",
  "buffer-seconds",
] as const;
type NumericOption = (typeof NUMERIC_OPTIONS)[number];

function parseNumber(option: string, text: string): number {
  const cleaned = text.replace(/[_,]/g, "");
  const value = cleaned.trim() === "" ? Number.NaN : Number(cleaned);
  if (!Number.isFinite(value))
    throw new UsageError(`--${option} must be a number; got ${JSON.stringify(text)}`);
  return value;
}

function check(option: string, value: number, min: number, max: number, whole: boolean): number {
  if (value < min || value > max || (whole && !Number.isInteger(value))) {
    const range = max === Infinity ? `at least ${min}` : `from ${min} to ${max.toLocaleString("en-US")}`;
    throw new UsageError(`--${option} must be ${whole ? "a whole number " : ""}${range}; got ${value}`);
  }
  return value;
}

/** Parses the options into a model input with the measured defaults. Throws UsageError on bad input. */
export function parseCostArgs(argv: readonly string[]): ParsedArgs {
  const numbers: Partial<Record<NumericOption, number>> = {};
  let region = PRICES_REGION;
  let requestLogs = true;
  let json = false;
  let help = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? "";
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (arg === "--json") {
      json = true;
      continue;
    }
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      i += 1;
    }
    if (name === "region") {
      if (!REGION_PATTERN.test(value)) {
        throw new UsageError(
          `--region must be an AWS region name such as us-east-1; got ${JSON.stringify(value)}`,
        );
      }
      region = value;
    } else if (name === "request-logs") {
      if (value !== "true" && value !== "false") {
        throw new UsageError(`--request-logs must be true or false; got ${JSON.stringify(value)}`);
      }
      requestLogs = value === "true";
    } else if ((NUMERIC_OPTIONS as readonly string[]).includes(name)) {
      numbers[name as NumericOption] = parseNumber(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  if (help) return { input: placeholderInput(), json, help };
  const recordsPerDay = numbers["records-per-day"];
  const avgBytes = numbers["avg-bytes"];
  if (recordsPerDay === undefined) throw new UsageError("--records-per-day is required (e.g. 1e9)");
  if (avgBytes === undefined) throw new UsageError("--avg-bytes is required (e.g. 1000)");
  check("records-per-day", recordsPerDay, 1, 1e15, false);
  check("avg-bytes", avgBytes, 1, MAX_AVG_RECORD_BYTES, true);
  const batch = check("batch", numbers.batch ?? 1, 1, MAX_BATCH_RECORDS, true);
  if (batch > 1 && batch * (avgBytes + 1) > MAX_BATCH_BYTES) {
    throw new UsageError(
      `--batch ${batch} × ${avgBytes + 1} bytes per line is over the batch limit of ${MAX_BATCH_BYTES.toLocaleString("en-US")} bytes; use at most --batch ${Math.floor(MAX_BATCH_BYTES / (avgBytes + 1))}`,
    );
  }
  const lambdaMs = numbers["lambda-ms"];
  if (lambdaMs !== undefined) check("lambda-ms", lambdaMs, 0.001, 900_000, false);
  return {
    input: {
      recordsPerDay,
      avgRecordBytes: avgBytes,
      batch,
      region,
      peakFactor: check("peak-factor", numbers["peak-factor"] ?? 3, 1, 1000, false),
      memoryMb: check("memory-mb", numbers["memory-mb"] ?? INGEST_MEMORY_MB, 128, 10_240, true),
      bufferMiB: check("buffer-mib", numbers["buffer-mib"] ?? 5, 1, 128, true),
      bufferSeconds: check("buffer-seconds", numbers["buffer-seconds"] ?? 300, 1, 900, true),
      signingKeys: 1,
      registryCacheTtlSeconds: REGISTRY_CACHE_TTL_SECONDS,
      accessLogBytes: ASSUMED_ACCESS_LOG_BYTES,
      requestLogs,
      lambda:
        lambdaMs === undefined
          ? MEASURED_LAMBDA_PROFILE
          : { ...MEASURED_LAMBDA_PROFILE, overrideMs: lambdaMs },
    },
    json,
    help,
  };
}

function placeholderInput(): CostInput {
  return {
    recordsPerDay: 0,
    avgRecordBytes: 0,
    batch: 1,
    region: PRICES_REGION,
    peakFactor: 3,
    memoryMb: INGEST_MEMORY_MB,
    bufferMiB: 5,
    bufferSeconds: 300,
    signingKeys: 1,
    registryCacheTtlSeconds: REGISTRY_CACHE_TTL_SECONDS,
    accessLogBytes: ASSUMED_ACCESS_LOG_BYTES,
    requestLogs: true,
    lambda: MEASURED_LAMBDA_PROFILE,
  };
}

// ---- output ----

function money(value: number): string {
  if (value > 0 && value < 0.0001) return "<$0.0001";
  const digits = value !== 0 && Math.abs(value) < 0.1 ? 4 : 2;
  return `$${value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}

function integer(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** Left-aligns the first column and right-aligns the others. */
export function alignTable(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("   ")
      .trimEnd(),
  );
}

/** The report as text lines. */
export function formatEstimate(estimate: CostEstimate): string[] {
  const { input, ingest, baseline, shards, peak, average } = estimate;
  const services: string[] = [];
  for (const line of [...ingest.lines, ...baseline.lines]) {
    if (!services.includes(line.service)) services.push(line.service);
  }
  const cell = (lines: typeof ingest.lines, service: string, perMillion: boolean) => {
    const line = lines.find((candidate) => candidate.service === service);
    if (line === undefined) return "—";
    return money(perMillion ? line.monthly / (estimate.recordsPerMonth / 1e6) : line.monthly);
  };
  const table = alignTable([
    ["service", `${ingest.name} /month`, "per M records", `${baseline.name} /month`, "per M records"],
    ...services.map((service) => [
      service,
      cell(ingest.lines, service, false),
      cell(ingest.lines, service, true),
      cell(baseline.lines, service, false),
      cell(baseline.lines, service, true),
    ]),
    [
      "total",
      money(ingest.monthly),
      money(ingest.perMillionRecords),
      money(baseline.monthly),
      money(baseline.perMillionRecords),
    ],
  ]);
  const mode =
    input.batch === 1
      ? "one record per request (POST /stream/v0/data)"
      : `${input.batch} records per request (POST /stream/v0/batch)`;
  const quota = shards.quota;
  const quotaText = `${integer(quota.requestsPerSecond)} requests/s, ${integer(quota.recordsPerSecond)} records/s, ${quota.bytesPerSecond / 1024 / 1024} MiB/s`;
  const lambdaSource =
    input.lambda.overrideMs !== undefined
      ? "--lambda-ms"
      : `measured ${MEASURED_WARM_INVOCATION_CPU_MS} ms CPU per invocation${input.batch > 1 ? " plus the core's per-record CPU" : ""}, × ${cpuSlowdown(input.memoryMb).toFixed(2)} for Lambda's CPU share at ${input.memoryMb} MB, + ${ASSUMED_FIREHOSE_PUT_MS} ms assumed Firehose round trip; see cost/measured.ts`;
  const lines = [
    `Monthly AWS cost: ${integer(input.recordsPerDay)} records/day of ${integer(input.avgRecordBytes)} B, ${mode}`,
    `${PRICES_REGION} list prices read ${PRICES_READ_ON}; a month is ${HOURS_PER_MONTH} hours (${compactCount(estimate.recordsPerMonth)} records, ${compactCount(estimate.requestsPerMonth)} requests)`,
    "",
    ...table,
    "",
    `How (${ingest.name}):`,
    ...ingest.lines.map((line) => `  ${line.service}: ${line.basis}`),
    `How (${baseline.name}):`,
    ...baseline.lines
      .filter((line) => line.service === "API Gateway" || line.service === "CloudWatch Logs")
      .map((line) => `  ${line.service}: ${line.basis}`),
    "  Firehose and S3 as above.",
    "",
    `Lambda: ${estimate.lambdaMs.toFixed(2)} ms per invocation (${lambdaSource}), billed ${estimate.lambdaBilledMs} ms at ${input.memoryMb} MB; concurrency ~${integer(estimate.lambdaConcurrency.average)} average, ~${integer(estimate.lambdaConcurrency.peak)} at peak.`,
    "",
    `Capacity at the peak (${input.peakFactor} × the average of ${integer(average.records)} records/s) in ${input.region}:`,
    `  ${integer(peak.records)} records/s, ${integer(peak.requests)} requests/s, ${(peak.bytes / 1024 / 1024).toFixed(1)} MiB/s of records; Firehose: ${integer(peak.firehoseCalls)} calls/s carrying ${integer(peak.firehoseRecords)} records/s`,
    `  delivery streams for one stream (its \`shards\`): ${shards.shards} = max(requests ${shards.byRequests}, records ${shards.byRecords}, bytes ${shards.byBytes}) at the default Direct PUT quota of ${quotaText} per delivery stream (${FIREHOSE_QUOTA_SOURCE})`,
    ...estimate.warnings.map((warning) => `  warning: ${warning}`),
    "",
    "Included: API Gateway, Lambda (requests, arm64 GB-s), Firehose Direct PUT ingestion (each record rounded up to 5 KB), the S3 PUTs Firehose makes, DynamoDB registry reads (cached 30 s per container), KMS, CloudWatch Logs ingestion.",
    "Not included: S3 storage (~$0.023 per GB-month, depends on retention), data transfer, CloudWatch metrics/dashboard/alarms (a few $ a month), free tiers, discounts.",
    "Baseline: an API Gateway REST API with a direct Firehose PutRecord integration of the request body: no token check, no validation, no 413/415, no XML → CBOR, records land as sent.",
  ];
  if (input.region !== PRICES_REGION) {
    lines.push(`Note: prices are ${PRICES_REGION}'s; ${input.region} only changes the Firehose quota.`);
  }
  if (directPutQuota(input.region) === DEFAULT_REGION_QUOTA) {
    lines.push(`Note: ${input.region} has the smaller default Firehose quota; AWS raises it on request.`);
  }
  return lines;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Runs the command; returns the exit code (0, or 2 for bad input). */
export function runCostCli(argv: readonly string[], io: CliIo = processIo): number {
  let parsed: ParsedArgs;
  try {
    parsed = parseCostArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    io.stdout(USAGE);
    return 0;
  }
  const estimate = estimateCost(parsed.input, US_EAST_1);
  io.stdout(
    parsed.json ? `${JSON.stringify(estimate, null, 2)}\n` : `${formatEstimate(estimate).join("\n")}\n`,
  );
  return 0;
}

if (require.main === module) {
  // `npm run cost ... | head`: the reader went away; stop quietly instead of failing on the broken pipe.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });
  process.exitCode = runCostCli(process.argv.slice(2));
}

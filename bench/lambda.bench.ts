/**
 * `lambda`: the ingest Lambda as deployed. Its bundle is built with the stack's esbuild settings (size, and the
 * inputs that make it up); its cold module init is timed in fresh Node processes against a trivial handler
 * bundled the same way; its warm invocations are timed with the AWS services answered by a loopback endpoint
 * (so the Lambda's own work is measured, not Firehose's latency), against the trivial handler's.
 */
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { KeyObjectSigner } from "../lambda/adapters/local-signer.js";
import { apiKeyToItem, streamToItem } from "../lambda/adapters/registry-items.js";
import { INGEST_SERVICE, METRICS_NAMESPACE } from "../lambda/aws/metric-names.js";
import { issueAccessToken } from "../lambda/core/access-token.js";
import { systemClock } from "../lambda/core/ports.js";
import type { ApiKeyRecord, StreamRecord } from "../lambda/core/types.js";
import type { BenchCheck, BenchContext, Benchmark, BenchResult } from "./harness.js";
import { startLoopbackAws } from "./support/lambda-aws-loopback.js";
import {
  type BuiltBundle,
  buildIngestBundle,
  buildTrivialBundle,
  largestInputs,
  largestPackages,
} from "./support/lambda-bundles.js";
import { type InvokeResult, invokeInFreshProcess } from "./support/lambda-invoke.js";
import { orderRecord } from "./support/payloads.js";

const REGION = "us-east-1";
const KEY_UUID = "6f1c2d3e-4f50-4172-8394-a5b6c7d8e9f0";
const KEY_ARN = `arn:aws:kms:${REGION}:123456789012:key/${KEY_UUID}`;
const ISSUER = `urn:streaming-ingest:${REGION}:123456789012:BenchStack`;
const AUDIENCE = "streaming-ingest";
const TABLES = { streams: "BenchStack-Streams", apiKeys: "BenchStack-ApiKeys" };
const STREAM_ID = "is-BenchLmb";
const TENANT = "bench";

/** The small JSON record of every invocation (~300 bytes, like the README's example): an order with one line. */
const RECORD = JSON.stringify(orderRecord(1));

const STREAM: StreamRecord = {
  id: STREAM_ID,
  tenant: TENANT,
  name: "bench",
  description: "lambda benchmark",
  payload: "json",
  status: "active",
  delivery: { bufferMiB: 5, bufferSeconds: 300, compression: "none", shards: 1 },
  rateLimitPerSecond: 1000,
  rateLimitBurst: 1000,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  deliveryStreams: [`BenchStack-${STREAM_ID}-0`],
  deliveryStatus: "ACTIVE",
};

const API_KEY: ApiKeyRecord = {
  id: "ik-benchlambda00001",
  tenant: TENANT,
  name: "bench",
  status: "active",
  createdAt: "2026-01-01T00:00:00.000Z",
};

/**
 * The variables lib/ingest-function.ts sets (table names, token settings, cache TTL and budget at their
 * defaults, Powertools names, NODE_OPTIONS) plus what the Lambda runtime provides (region, credentials, log
 * level of the JSON logging format), with the SDK pointed at the loopback endpoint.
 */
function functionEnvironment(endpoint: string, sourceMaps: boolean): Record<string, string> {
  return {
    STREAMS_TABLE: TABLES.streams,
    API_KEYS_TABLE: TABLES.apiKeys,
    TOKEN_ISSUER: ISSUER,
    TOKEN_AUDIENCE: AUDIENCE,
    TOKEN_KEY_ARNS: KEY_ARN,
    REGISTRY_CACHE_TTL_SECONDS: "30",
    DELIVERY_BUDGET_MS: "6000",
    POWERTOOLS_SERVICE_NAME: INGEST_SERVICE,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    ...(sourceMaps ? { NODE_OPTIONS: "--enable-source-maps" } : {}),
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: "AKIDBENCHMARK000000",
    AWS_SECRET_ACCESS_KEY: "bench-secret",
    AWS_SESSION_TOKEN: "bench-session",
    AWS_LAMBDA_FUNCTION_NAME: "bench-ingest",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1024",
    AWS_LAMBDA_LOG_FORMAT: "JSON",
    AWS_LAMBDA_LOG_LEVEL: "INFO",
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ENDPOINT_URL_KMS: endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}

/** An API Gateway HTTP API (payload 2.0) event for a POST of `body`, as Lambda receives it. */
function httpApiEvent(token: string, body: string): Record<string, unknown> {
  const path = `/stream/v0/data/${STREAM_ID}`;
  const routeKey = "POST /stream/v0/data/{streamId}";
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: "",
    headers: {
      accept: "*/*",
      authorization: `Bearer ${token}`,
      "content-length": String(Buffer.byteLength(body)),
      "content-type": "application/json",
      host: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
      "user-agent": "bench/1.0",
      "x-amperity-tenant": TENANT,
      "x-amzn-trace-id": "Root=1-6749a3c0-0123456789abcdef01234567",
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-port": "443",
      "x-forwarded-proto": "https",
    },
    requestContext: {
      accountId: "123456789012",
      apiId: "a1b2c3d4e5",
      domainName: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
      domainPrefix: "a1b2c3d4e5",
      http: { method: "POST", path, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "bench/1.0" },
      requestId: "bench",
      routeKey,
      stage: "$default",
      time: "29/Nov/2026:10:00:00 +0000",
      timeEpoch: Date.UTC(2026, 10, 29, 10, 0, 0),
    },
    pathParameters: { streamId: STREAM_ID },
    isBase64Encoded: false,
    body,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

const r2 = (value: number) => Math.round(value * 100) / 100;
const r3 = (value: number) => Math.round(value * 1000) / 1000;
const mb = (bytes: number) => r3(bytes / 1_000_000);
const kb = (bytes: number) => Math.round(bytes / 100) / 10;

interface Settings {
  /** Fresh processes per variant for the cold-init medians (≥ 10). */
  readonly coldRuns: number;
  readonly warmup: number;
  readonly iterations: number;
  /** Warm children per bundle (alternating ingest / trivial); their samples are pooled. */
  readonly warmRounds: number;
  /** Also time the ingest bundle without NODE_OPTIONS=--enable-source-maps. */
  readonly withoutSourceMaps: boolean;
}

const DEFAULT_SETTINGS: Settings = {
  coldRuns: 12,
  warmup: 200,
  iterations: 1000,
  warmRounds: 2,
  withoutSourceMaps: true,
};
const QUICK_SETTINGS: Settings = {
  coldRuns: 10,
  warmup: 50,
  iterations: 150,
  warmRounds: 1,
  withoutSourceMaps: false,
};

function assertStatuses(label: string, result: InvokeResult, expected: string): void {
  const other = Object.entries(result.statuses).filter(([status]) => status !== expected);
  if (other.length > 0) {
    throw new Error(
      `${label}: expected every invocation to answer ${expected}, got ${JSON.stringify(result.statuses)}`,
    );
  }
}

export const benchmark: Benchmark = {
  name: "lambda",
  title: "Ingest Lambda bundle: size, cold module init, warm invocation (vs a trivial handler)",
  async run(context: BenchContext): Promise<BenchResult> {
    const settings = context.quick ? QUICK_SETTINGS : DEFAULT_SETTINGS;
    context.log("lambda: bundling (the stack's esbuild settings)");
    const ingest: BuiltBundle = await buildIngestBundle(join(context.tmpDir, "ingest"));
    const trivial: BuiltBundle = await buildTrivialBundle(join(context.tmpDir, "trivial"));

    const signing = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const spki = createPublicKey(signing.privateKey).export({ format: "der", type: "spki" });
    const { token } = await issueAccessToken({
      issuer: ISSUER,
      audience: AUDIENCE,
      signer: new KeyObjectSigner(KEY_UUID, signing.privateKey),
      key: API_KEY,
      days: 1,
      clock: systemClock,
    });
    const aws = await startLoopbackAws({
      tables: {
        [TABLES.streams]: { [STREAM.id]: streamToItem(STREAM) },
        [TABLES.apiKeys]: { [API_KEY.id]: apiKeyToItem(API_KEY) },
      },
      publicKeySpki: spki,
    });
    const scratch = join(context.tmpDir, "containers");
    mkdirSync(scratch, { recursive: true });
    const event = httpApiEvent(token, RECORD);
    const stackEnv = functionEnvironment(aws.endpoint, true);
    try {
      // ---- cold: fresh processes, interleaved ----
      const variants = [
        { label: "ingest", bundle: ingest, env: stackEnv, expected: "202" },
        { label: "trivial", bundle: trivial, env: stackEnv, expected: "200" },
        ...(settings.withoutSourceMaps
          ? [
              {
                label: "ingest, no --enable-source-maps",
                bundle: ingest,
                env: functionEnvironment(aws.endpoint, false),
                expected: "202",
              },
            ]
          : []),
      ];
      const cold = new Map<string, InvokeResult[]>(variants.map((variant) => [variant.label, []]));
      context.log(`lambda: cold starts, ${settings.coldRuns} fresh processes per variant`);
      for (let run = 0; run < settings.coldRuns; run += 1) {
        for (const variant of variants) {
          const result = await invokeInFreshProcess({
            bundle: variant.bundle.file,
            env: variant.env,
            event,
            warmup: 0,
            iterations: 0,
            scratch,
          });
          assertStatuses(variant.label, result, variant.expected);
          cold.get(variant.label)?.push(result);
        }
      }
      const coldOf = (label: string) => cold.get(label) ?? [];
      const medianOf = (label: string, pick: (result: InvokeResult) => number) =>
        median(coldOf(label).map(pick));

      // ---- warm: one process per bundle and round, many invocations ----
      context.log(`lambda: warm invocations, ${settings.iterations} per process`);
      const warmSamples = { ingest: [] as number[], trivial: [] as number[] };
      const warmCpuMs = { ingest: 0, trivial: 0 };
      let ingestLogBytes = 0;
      let ingestMetricsLogBytes = 0;
      let ingestInvocations = 0;
      const putsBefore = aws.calls.get("Firehose_20150804.PutRecord") ?? 0;
      for (let round = 0; round < settings.warmRounds; round += 1) {
        for (const [label, bundle, expected] of [
          ["ingest", ingest, "202"],
          ["trivial", trivial, "200"],
        ] as const) {
          const result = await invokeInFreshProcess({
            bundle: bundle.file,
            env: stackEnv,
            event,
            warmup: settings.warmup,
            iterations: settings.iterations,
            scratch,
          });
          assertStatuses(`${label} (warm)`, result, expected);
          warmSamples[label].push(...result.samples);
          warmCpuMs[label] += result.warmCpuMs;
          if (label === "ingest") {
            ingestLogBytes += result.logBytes;
            ingestMetricsLogBytes += result.metricsLogBytes;
            ingestInvocations += 1 + settings.warmup + settings.iterations;
          }
        }
      }
      const puts = (aws.calls.get("Firehose_20150804.PutRecord") ?? 0) - putsBefore;
      if (puts !== ingestInvocations) {
        throw new Error(
          `expected ${ingestInvocations} Firehose PutRecord calls in the warm runs, saw ${puts}`,
        );
      }

      const initDelta = medianOf("ingest", (r) => r.loadMs) - medianOf("trivial", (r) => r.loadMs);
      const initCpuDelta = medianOf("ingest", (r) => r.loadCpuMs) - medianOf("trivial", (r) => r.loadCpuMs);
      const warmIngest = warmSamples.ingest;
      const warmTrivial = warmSamples.trivial;
      const checks: BenchCheck[] = [
        {
          name: "ingest bundle size (index.js, minified)",
          actual: mb(ingest.bytes),
          target: 1,
          comparison: "<=",
          unit: "MB",
        },
        {
          name: "cold module init over the trivial bundle (CPU ms, medians)",
          actual: r2(initCpuDelta),
          target: 150,
          comparison: "<=",
          unit: "ms",
        },
      ];
      const coldRows = variants.map((variant) => [
        variant.label,
        coldOf(variant.label).length,
        r2(medianOf(variant.label, (r) => r.loadCpuMs)),
        r2(medianOf(variant.label, (r) => r.loadMs)),
        r2(medianOf(variant.label, (r) => r.sinceStartMs)),
        r2(medianOf(variant.label, (r) => r.wallMs)),
        r2(medianOf(variant.label, (r) => r.firstMs)),
        mb(medianOf(variant.label, (r) => r.rssAfterLoad)),
      ]);
      const warmRow = (
        label: string,
        samples: readonly number[],
        cpuMs: number,
        logBytes?: { all: number; metrics: number },
      ) => [
        label,
        samples.length,
        r3(cpuMs / samples.length),
        r3(mean(samples)),
        r3(percentile(samples, 0.5)),
        r3(percentile(samples, 0.99)),
        logBytes === undefined ? "—" : Math.round(logBytes.all),
        logBytes === undefined ? "—" : Math.round(logBytes.metrics),
      ];
      return {
        tables: [
          {
            title: "Bundles (esbuild, the stack's settings)",
            columns: ["bundle", "index.js MB", "index.js.map MB", "inputs"],
            rows: [
              ["ingest", mb(ingest.bytes), mb(ingest.mapBytes), Object.keys(ingest.metafile.inputs).length],
              [
                "trivial",
                mb(trivial.bytes),
                mb(trivial.mapBytes),
                Object.keys(trivial.metafile.inputs).length,
              ],
            ],
          },
          {
            title: "Ingest bundle: 10 largest inputs (bytes in the minified output)",
            columns: ["input", "KB"],
            rows: largestInputs(ingest.metafile, 10).map((share) => [share.name, kb(share.bytes)]),
          },
          {
            title: "Ingest bundle: 10 largest packages (bytes in the minified output)",
            columns: ["package", "KB", "share"],
            rows: largestPackages(ingest.metafile, 10).map((share) => [
              share.name,
              kb(share.bytes),
              `${Math.round((share.bytes / ingest.bytes) * 1000) / 10} %`,
            ]),
          },
          {
            title: "Cold start in fresh Node processes (medians)",
            columns: [
              "bundle",
              "processes",
              "module init CPU ms",
              "module init wall ms",
              "process start → loaded ms",
              "spawn → exit ms",
              "first invocation ms",
              "RSS after load MB",
            ],
            rows: coldRows,
          },
          {
            title: "Warm invocations (AWS answered on loopback), ms",
            columns: [
              "bundle",
              "invocations",
              "CPU mean",
              "wall mean",
              "wall p50",
              "wall p99",
              "log bytes per invocation",
              "of which EMF metrics",
            ],
            rows: [
              warmRow("ingest", warmIngest, warmCpuMs.ingest, {
                all: ingestLogBytes / ingestInvocations,
                metrics: ingestMetricsLogBytes / ingestInvocations,
              }),
              warmRow("trivial", warmTrivial, warmCpuMs.trivial),
              [
                "ingest − trivial",
                "",
                r3(warmCpuMs.ingest / warmIngest.length - warmCpuMs.trivial / warmTrivial.length),
                r3(mean(warmIngest) - mean(warmTrivial)),
                "",
                "",
                "",
                "",
              ],
            ],
          },
        ],
        checks,
        notes: [
          "Bundles: esbuild API with lib/bundled-function.ts's settings (bundle, platform node, target " +
            "ESBUILD_TARGET, cjs, minify, sourcemap without sources content, external cbor-extract only: the AWS " +
            "SDK is bundled). Built into the scratch directory; cdk.out is not used.",
          "Cold: each process loads index.js (module init, what Lambda reports as part of Init Duration) and " +
            "then answers one request (first invocation: SDK clients created, KMS public key and two registry " +
            "items fetched, one PutRecord). Variants run interleaved, with the stack's environment " +
            "(NODE_OPTIONS=--enable-source-maps) unless the label says otherwise.",
          "Warm: the same small JSON event (~300 B record) invoked sequentially; DynamoDB, KMS and Firehose are " +
            "a loopback HTTP server in the parent process answering at once, so this is the Lambda's own time " +
            "(HTTP API event → core → PutRecord over a keep-alive loopback socket → result, Powertools log line " +
            "and EMF metrics to stdout). Real Firehose PutRecord latency comes on top (see cost/measured.ts).",
          "CPU = process.cpuUsage() (user + system, all threads) in the child; wall = process.hrtime. This " +
            "machine is shared, so wall times also hold other processes' turns on the cores; the init target is " +
            "checked on CPU time (module init is CPU-bound: on an idle core its wall time is close to its CPU time).",
          `Module init over the trivial bundle, wall clock: ${r2(initDelta)} ms (medians).`,
          `Machine: Node ${process.version}, ${process.arch}; the Lambda runs Node 24 on arm64 at 1,024 MB ` +
            "(Lambda gives 1 vCPU per 1,769 MB, so about 0.58 vCPU: CPU-bound work takes ~1.7× its CPU time).",
        ],
      };
    } finally {
      await aws.close();
    }
  },
};

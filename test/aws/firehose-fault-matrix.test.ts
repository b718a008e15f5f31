/**
 * The ingest Lambda under every combination of Firehose faults, through aws-sdk-client-mock and the real
 * FirehoseSink: each request meets a scripted sequence of up to three attempt outcomes (success, "Slow down."
 * ServiceUnavailableException, ThrottlingException, InternalFailure 500, an SDK timeout, a network error, or
 * no answer at all), the last failure repeating. For every sequence: 202 only if an attempt was acknowledged,
 * 429/503 always with Retry-After, and the time spent (fake clock, injected sleep) within the delivery budget.
 * The batch endpoint meets the same faults plus PutRecordBatch partial failures (FailedPutCount > 0), and
 * answers 202 only once every packed record was acknowledged, each exactly once.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import {
  FirehoseClient,
  PutRecordBatchCommand,
  type PutRecordBatchCommandInput,
  type PutRecordBatchCommandOutput,
  PutRecordCommand,
  type PutRecordCommandOutput,
} from "@aws-sdk/client-firehose";
import { KMSClient } from "@aws-sdk/client-kms";
import { mockClient } from "aws-sdk-client-mock";
import type { RegistryTables } from "../../lambda/adapters/dynamo-registry.js";
import { KmsTokenSigner } from "../../lambda/adapters/kms-signer.js";
import { RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import type { IngestConfig } from "../../lambda/aws/ingest-config.js";
import { createIngestLambda, type IngestLambda } from "../../lambda/aws/ingest-lambda.js";
import { INGEST_SERVICE, METRICS_NAMESPACE } from "../../lambda/aws/metric-names.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { type EmbeddedRegistry, startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";
import { FakeKmsKeys } from "../helpers/fake-kms.js";
import { httpApiEvent, lambdaContext } from "../helpers/http-api-events.js";
import { type FakeClock, makeApiKey, makeStream } from "../helpers/in-memory-ports.js";
import { tokenClock } from "../helpers/tokens.js";

const TABLES: RegistryTables = { streams: "Matrix-Streams", apiKeys: "Matrix-ApiKeys" };
const KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ISSUER = "urn:streaming-ingest:eu-west-1:123456789012:StreamingIngest";
const AUDIENCE = "streaming-ingest";
const STREAM = "is-Matrix01";
const DELIVERY_STREAM = `StreamingIngest-${STREAM}-0`;
const BUDGET_MS = 2_000;

/** What one Firehose call does. */
type Outcome = "ok" | "slowDown" | "throttling" | "internal" | "sdkTimeout" | "network" | "hang";
/** Failures that answer (everything but ok and hang). */
const ANSWERING_FAILURES = ["slowDown", "throttling", "internal", "sdkTimeout", "network"] as const;

function sdkError(name: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(name), { name, ...fields });
}

/** The error a failing outcome rejects with, shaped as the SDK (or Node) produces it. */
function failure(outcome: Exclude<Outcome, "ok" | "hang">): Error {
  switch (outcome) {
    case "slowDown":
      return sdkError("ServiceUnavailableException", {
        message: "Slow down.",
        $fault: "server",
        $metadata: { httpStatusCode: 503 },
      });
    case "throttling":
      return sdkError("ThrottlingException", {
        $fault: "client",
        $metadata: { httpStatusCode: 400 },
        $retryable: { throttling: true },
      });
    case "internal":
      return sdkError("InternalFailure", { $fault: "server", $metadata: { httpStatusCode: 500 } });
    case "sdkTimeout":
      return sdkError("TimeoutError", { message: "Request timed out after 3000 ms" });
    case "network":
      return Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
  }
}

/**
 * Every sequence of up to three outcomes that can happen: a sequence ends at its first success or hang
 * (nothing follows either), and a sequence of three failures keeps failing like its last.
 */
function sequences<T extends string>(failures: readonly T[], length: number): (T | "ok" | "hang")[][] {
  const out: (T | "ok" | "hang")[][] = [];
  const extend = (prefix: (T | "ok" | "hang")[]) => {
    if (prefix.length === length) {
      out.push(prefix);
      return;
    }
    for (const end of ["ok", "hang"] as const) out.push([...prefix, end]);
    for (const next of failures) extend([...prefix, next]);
  };
  extend([]);
  return out;
}

/** Retryable failures a client can meet: throttling ones answer 429, the others 503. */
function expectedFailureStatus(sequence: readonly string[]): number {
  const last = sequence.at(-1);
  return last === "slowDown" || last === "throttling" ? 429 : 503;
}

/** The outcome of call `n` (0-based): the sequence's, then its last one forever. */
function outcomeAt<T extends string>(sequence: readonly T[], n: number): T | "ok" {
  return sequence[Math.min(n, sequence.length - 1)] ?? "ok";
}

const kmsKeys = new FakeKmsKeys();
kmsKeys.add(KEY_ARN);
const firehose = mockClient(FirehoseClient);
const kms = mockClient(KMSClient);

let dir: string;
let store: EmbeddedRegistry;
let lambda: IngestLambda;
let clock: FakeClock;
let token: string;
let outputSpies: jest.SpyInstance[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "firehose-matrix-"));
  store = await startEmbeddedRegistry(join(dir, "registry"), TABLES);
  const admin = new RegistryAdmin(store.client, TABLES);
  const key = makeApiKey({ id: "key-matrix" });
  await admin.createApiKey(key);
  await admin.createStream(
    makeStream({
      id: STREAM,
      deliveryStreams: [DELIVERY_STREAM],
      deliveryStatus: "ACTIVE",
      rateLimitPerSecond: 1_000_000,
      rateLimitBurst: 1_000_000,
    }),
  );
  kmsKeys.install(kms);
  clock = tokenClock();
  const config: IngestConfig = {
    streamsTable: TABLES.streams,
    apiKeysTable: TABLES.apiKeys,
    tokenIssuer: ISSUER,
    tokenAudience: AUDIENCE,
    tokenKeyArns: [KEY_ARN],
    // Long enough that the registry and the public key are read once for the whole matrix.
    registryCacheTtlSeconds: 3600,
    deliveryBudgetMs: BUDGET_MS,
  };
  lambda = createIngestLambda({
    config,
    dynamo: store.client,
    firehose: new FirehoseClient({ region: "eu-west-1" }),
    kms: new KMSClient({ region: "eu-west-1" }),
    logger: new Logger({ serviceName: INGEST_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: INGEST_SERVICE }),
    clock,
    // Backoff sleeps and the budget timer advance the fake clock and return at once.
    sleep: async (ms) => clock.advance(ms),
    random: () => 0.5,
  });
  token = (
    await issueAccessToken({
      issuer: ISSUER,
      audience: AUDIENCE,
      signer: new KmsTokenSigner({ client: new KMSClient({ region: "eu-west-1" }), keyArn: KEY_ARN }),
      key,
      days: 3,
      clock,
    })
  ).token;
});

afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  // Powertools writes logs and EMF to stdout/stderr: keep the test output readable.
  outputSpies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, "write").mockImplementation(() => true),
  );
});

afterEach(() => {
  for (const spy of outputSpies) spy.mockRestore();
  outputSpies = [];
  firehose.reset();
});

async function invoke(path: string, body: string, contentType: string) {
  const started = clock.now();
  const result = await lambda(
    httpApiEvent({
      path,
      headers: {
        authorization: `Bearer ${token}`,
        "x-amperity-tenant": "acme",
        "content-type": contentType,
      },
      body,
    }),
    lambdaContext(),
  );
  return { result, elapsedMs: clock.now() - started };
}

/** The checks every answer passes, whatever the faults. */
function expectContract(result: Awaited<ReturnType<IngestLambda>>, elapsedMs: number): void {
  expect([202, 429, 503]).toContain(result.statusCode);
  if (result.statusCode === 429 || result.statusCode === 503) {
    expect(Number(result.headers?.["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(String(result.body))).toMatchObject({ error: { retryable: true } });
  }
  expect(elapsedMs).toBeLessThanOrEqual(BUDGET_MS);
}

const singleSequences = sequences(ANSWERING_FAILURES, 3);

describe("PutRecord fault matrix (single records)", () => {
  it(`covers all ${singleSequences.length} sequences of up to 3 attempts`, () => {
    // 2 ends after 0, 1 or 2 failures (5 kinds each), plus 5^3 three-failure sequences.
    expect(singleSequences).toHaveLength(2 * (1 + 5 + 25) + 125);
  });

  it.each(singleSequences.map((sequence) => [sequence.join(" → "), sequence] as const))(
    "%s",
    async (_, sequence) => {
      let calls = 0;
      firehose.on(PutRecordCommand).callsFake((): Promise<PutRecordCommandOutput> => {
        const outcome = outcomeAt(sequence, calls++);
        if (outcome === "ok") return Promise.resolve({ RecordId: `rec-${calls}`, $metadata: {} });
        if (outcome === "hang") return new Promise(() => undefined);
        return Promise.reject(failure(outcome));
      });
      const { result, elapsedMs } = await invoke(
        `/stream/v0/data/${STREAM}`,
        '{"order":1}',
        "application/json",
      );
      expectContract(result, elapsedMs);
      const succeeds = sequence.includes("ok");
      if (succeeds) {
        expect(result.statusCode).toBe(202);
        // Acknowledged once: no put after the success (no duplicate for the client to see).
        expect(calls).toBe(sequence.indexOf("ok") + 1);
      } else if (sequence.includes("hang")) {
        expect(result.statusCode).toBe(503);
      } else {
        expect(result.statusCode).toBe(expectedFailureStatus(sequence));
        expect(calls).toBeGreaterThanOrEqual(sequence.length);
      }
    },
  );
});

/** What one PutRecordBatch call does: the single-record outcomes, plus partial failures of its entries. */
type BatchOutcome = Outcome | "partialSlowDown" | "partialInternal";

/** ~200 KB lines: 8 of them pack into two Firehose records (≤ 1,000 KiB each), so entries can fail apart. */
const LINE_COUNT = 8;
const batchLines = Array.from(
  { length: LINE_COUNT },
  (_, i) => `{"line":${i},"pad":"${String.fromCharCode(97 + i).repeat(200_000)}"}`,
);

const batchSequences: BatchOutcome[][] = sequences(
  ["partialSlowDown", "partialInternal", "slowDown", "internal", "network"] as const,
  2,
);

describe("PutRecordBatch fault matrix (batch endpoint, partial failures)", () => {
  it(`covers all ${batchSequences.length} sequences of up to 2 calls (1.6 MB each, so not 3)`, () => {
    expect(batchSequences).toHaveLength(2 * (1 + 5) + 25);
  });

  it.each(batchSequences.map((sequence) => [sequence.join(" → "), sequence] as const))(
    "%s",
    async (_, sequence) => {
      let calls = 0;
      /** Lines Firehose acknowledged, in order of acknowledgement. */
      const acknowledged: string[] = [];
      firehose
        .on(PutRecordBatchCommand)
        .callsFake((input: PutRecordBatchCommandInput): Promise<PutRecordBatchCommandOutput> => {
          const outcome = outcomeAt(sequence, calls++);
          if (outcome === "hang") return new Promise(() => undefined);
          if (outcome !== "ok" && outcome !== "partialSlowDown" && outcome !== "partialInternal") {
            return Promise.reject(failure(outcome));
          }
          const records = input.Records ?? [];
          // A partial failure fails the first entry (slow down) or the last (internal); the rest succeed.
          const failed =
            outcome === "partialSlowDown" ? 0 : outcome === "partialInternal" ? records.length - 1 : -1;
          const responses = records.map((record, index) => {
            if (index === failed) {
              return outcome === "partialSlowDown"
                ? { ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down." }
                : { ErrorCode: "InternalFailure", ErrorMessage: "internal" };
            }
            const text = Buffer.from(record.Data ?? new Uint8Array()).toString("utf8");
            acknowledged.push(...text.split("\n").filter((line) => line !== ""));
            return { RecordId: `rec-${calls}-${index}` };
          });
          return Promise.resolve({
            FailedPutCount: failed >= 0 ? 1 : 0,
            RequestResponses: responses,
            $metadata: {},
          });
        });
      const { result, elapsedMs } = await invoke(
        `/stream/v0/batch/${STREAM}`,
        `${batchLines.join("\n")}\n`,
        "application/x-ndjson",
      );
      expectContract(result, elapsedMs);
      const first = firehose.commandCalls(PutRecordBatchCommand)[0]?.args[0].input.Records ?? [];
      expect(first.length).toBe(2); // packed into two records, so entries can fail apart
      if (sequence.includes("ok")) {
        expect(result.statusCode).toBe(202);
        // Every line acknowledged exactly once: only failed entries were sent again.
        expect([...acknowledged].sort()).toEqual([...batchLines].sort());
      } else {
        // A failure that persists (also a partial one: the entry left keeps failing) ends in 429/503.
        expect(new Set(acknowledged).size).toBeLessThan(LINE_COUNT);
        const last = sequence.at(-1);
        const throttled = last === "slowDown" || last === "partialSlowDown";
        expect(result.statusCode).toBe(sequence.includes("hang") ? 503 : throttled ? 429 : 503);
      }
    },
  );
});

/**
 * batch: records/s through the batch endpoint (100 records per request) against the single-record endpoint,
 * on the same real local runtime (child process, real token, fdatasync before 202), with the same ~300-byte
 * record, the same autocannon load (connections, keep-alive) and alternating rounds (S B, then B S).
 */
import { MAX_FIREHOSE_RECORD_BYTES, packLines } from "../lambda/adapters/firehose-batch.js";
import type { BenchCheck, BenchContext, Benchmark, BenchResult } from "./harness.js";
import {
  describeStatus,
  failures,
  type LoadResult,
  mergeLoads,
  percentile,
  rate,
  runLoad,
} from "./support/load.js";
import { smallJson } from "./support/payloads.js";
import { countStoredRecords } from "./support/records.js";
import type { RuntimeServerInfo } from "./support/runtime-server.js";
import { type ServerProcess, startServerProcess } from "./support/server-process.js";

const CONNECTIONS = 50;
const RECORDS_PER_BATCH = 100;
const TARGET_RATIO = 20;
/** Firehose bills each record rounded up to 5 KB. */
const FIREHOSE_BILLING_UNIT = 5 * 1024;

type Mode = "single" | "batch";

interface Plan {
  readonly warmSeconds: number;
  /** Seconds of each alternating round, per mode. */
  readonly rounds: readonly number[];
}

const plan = (quick: boolean): Plan =>
  quick ? { warmSeconds: 1, rounds: [2, 2] } : { warmSeconds: 2, rounds: [6, 6, 6] };

const ms = (value: number) => Math.round(value * 100) / 100;
const fmt = (value: number) => Math.round(value).toLocaleString("en-US");

async function run(context: BenchContext): Promise<BenchResult> {
  context.log("starting the local runtime (child process)");
  const runtime = await startServerProcess<RuntimeServerInfo>("runtime-server.js", [
    "--data-dir",
    context.tmpDir,
  ]);
  try {
    return await measure(context, runtime);
  } finally {
    await runtime.stop();
  }
}

async function measure(
  { quick, log }: BenchContext,
  runtime: ServerProcess<RuntimeServerInfo>,
): Promise<BenchResult> {
  const info = runtime.info;
  const record = smallJson();
  const batchBody = Buffer.from(
    Array.from({ length: RECORDS_PER_BATCH }, () => record.toString("utf8")).join("\n"),
  );
  // Separate streams, so what landed can be counted per mode.
  const streams: Record<Mode, string> = { single: info.streams.json, batch: info.streams.largeJson };
  const accepted: Record<Mode, number> = { single: 0, batch: 0 };
  const recordsPer: Record<Mode, number> = { single: 1, batch: RECORDS_PER_BATCH };

  const load = async (mode: Mode, seconds: number): Promise<LoadResult> => {
    const path = mode === "single" ? "/stream/v0/data/" : "/stream/v0/batch/";
    const result = await runLoad({
      url: `${info.url}${path}${streams[mode]}`,
      connections: CONNECTIONS,
      durationSeconds: seconds,
      headers: {
        authorization: `Bearer ${info.token}`,
        "x-amperity-tenant": info.tenant,
        "content-type": mode === "single" ? "application/json" : "application/x-ndjson",
      },
      body: mode === "single" ? record : batchBody,
    });
    accepted[mode] += (result.status["202"] ?? 0) * recordsPer[mode];
    log(
      `${mode.padEnd(6)} ${seconds} s: ${fmt(rate(result))} req/s = ${fmt(rate(result) * recordsPer[mode])} records/s, p99 ${ms(percentile(result.latenciesMs, 99))} ms (${describeStatus(result)})`,
    );
    return result;
  };

  const { warmSeconds, rounds } = plan(quick);
  log(`warming up (${warmSeconds} s per mode)`);
  await load("single", warmSeconds / 2);
  await load("batch", warmSeconds / 2);
  const runs: Record<Mode, LoadResult[]> = { single: [], batch: [] };
  for (const [round, seconds] of rounds.entries()) {
    const order: Mode[] = round % 2 === 0 ? ["single", "batch"] : ["batch", "single"];
    for (const mode of order) runs[mode].push(await load(mode, seconds));
  }
  const single = mergeLoads(runs.single);
  const batch = mergeLoads(runs.batch);

  log("flushing the runtime and counting the records that landed");
  await runtime.request("flush");
  let missing = 0;
  const landed: (string | number)[][] = [];
  for (const mode of ["single", "batch"] as const) {
    const stored = await countStoredRecords(info.dataDir, info.tenant, streams[mode]);
    missing += Math.max(0, accepted[mode] - stored);
    landed.push([mode, streams[mode], accepted[mode], stored, stored - accepted[mode]]);
  }

  const singleRecords = rate(single);
  const batchRecords = rate(batch) * RECORDS_PER_BATCH;
  const ratio = batchRecords / singleRecords;
  const row = (label: string, result: LoadResult, perRequest: number, bytes: number) => [
    label,
    perRequest,
    fmt(rate(result)),
    fmt(rate(result) * perRequest),
    ms(percentile(result.latenciesMs, 50)),
    ms(percentile(result.latenciesMs, 99)),
    Math.round((rate(result) * bytes) / 1e5) / 10,
    describeStatus(result),
  ];

  // What the same 100 records cost on Firehose (billed per record, rounded up to 5 KB).
  const lines = Array.from({ length: RECORDS_PER_BATCH }, () => Buffer.concat([record, Buffer.from("\n")]));
  const packed = packLines(lines);
  const billed = (sizes: readonly number[]) =>
    sizes.reduce((sum, size) => sum + Math.ceil(size / FIREHOSE_BILLING_UNIT) * FIREHOSE_BILLING_UNIT, 0);
  const singleBilled = billed(lines.map((line) => line.byteLength));
  const batchBilled = billed(packed.map((item) => item.byteLength));

  const checks: BenchCheck[] = [
    {
      name: `batch (${RECORDS_PER_BATCH} records/request) records/s vs single-record endpoint`,
      actual: ratio,
      target: TARGET_RATIO,
      comparison: ">=",
      unit: "×",
    },
    {
      name: "non-2xx responses, connection errors and timeouts (both modes)",
      actual:
        failures(single) + failures(batch) + single.errors + batch.errors + single.timeouts + batch.timeouts,
      target: 0,
      comparison: "<=",
      unit: "",
    },
    {
      name: "records answered 202 but not found on disk after a flush",
      actual: missing,
      target: 0,
      comparison: "<=",
      unit: "",
    },
  ];
  const seconds = rounds.reduce((a, b) => a + b, 0);
  return {
    tables: [
      {
        title: `Records/s, single-record endpoint vs batch endpoint, ${CONNECTIONS} connections (same ${record.byteLength}-byte record)`,
        columns: [
          "endpoint",
          "records/request",
          "req/s",
          "records/s",
          "p50 ms",
          "p99 ms",
          "MB/s in",
          "responses",
        ],
        rows: [
          row("POST /stream/v0/data", single, 1, record.byteLength),
          row("POST /stream/v0/batch", batch, RECORDS_PER_BATCH, batchBody.byteLength),
          ["batch ÷ single (records/s)", "", "", Math.round(ratio * 10) / 10, "", "", "", ""],
        ],
      },
      {
        title: "Records landed (warm-up included)",
        columns: ["endpoint", "stream", "records answered 202", "records stored", "stored − 202"],
        rows: landed,
      },
      {
        title: `AWS: Firehose billed volume for ${RECORDS_PER_BATCH} such records (each record rounded up to 5 KB)`,
        columns: ["endpoint", "Firehose records", "billed KB", "÷ single"],
        rows: [
          ["single (one PutRecord each)", lines.length, singleBilled / 1024, 1],
          [
            `batch (packed ≤ ${fmt(MAX_FIREHOSE_RECORD_BYTES)} B)`,
            packed.length,
            batchBilled / 1024,
            Math.round((batchBilled / singleBilled) * 1000) / 1000,
          ],
        ],
      },
    ],
    checks,
    notes: [
      `subject and baseline: the same local runtime (startLocalRuntime as \`ingest serve\` runs it, FileSink fdatasync before 202, rate limit 1,000,000/s) in one child process; load: autocannon (keep-alive) in the runner process, ${CONNECTIONS} connections for both`,
      `baseline: POST /stream/v0/data with one ${record.byteLength}-byte JSON record; subject: POST /stream/v0/batch with ${RECORDS_PER_BATCH} copies of it as NDJSON (${fmt(batchBody.byteLength)} bytes); ${seconds} s per mode in alternating rounds after a ${warmSeconds} s warm-up`,
      "stored − 202 > 0 is expected: requests still in flight when a run stops are stored but their answers are not counted",
    ],
  };
}

export const benchmark: Benchmark = {
  name: "batch",
  title: `batch endpoint (${RECORDS_PER_BATCH} records/request) vs single-record endpoint: records/s`,
  run,
};

/**
 * Runs a Lambda bundle in a fresh Node process, like a new Lambda container: the bundle is loaded (module init,
 * timed), then invoked once (the cold first request), then `warmup` + `iterations` more times (the warm
 * requests, each timed). The process reports through a result file; what the function logs to stdout is
 * counted, not kept.
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The script the child runs (CommonJS, no dependencies: the bundle must stand alone). */
const INVOKER_SOURCE = `"use strict";
const { writeFileSync } = require("node:fs");
const { performance } = require("node:perf_hooks");
const loadStart = process.hrtime.bigint();
const loadCpuStart = process.cpuUsage();
const { handler } = require(process.env.BENCH_BUNDLE);
const loadCpu = process.cpuUsage(loadCpuStart);
const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
const loadCpuMs = (loadCpu.user + loadCpu.system) / 1000;
const sinceStartMs = performance.now();
const rssAfterLoad = process.memoryUsage().rss;
const template = JSON.parse(process.env.BENCH_EVENT);
const warmup = Number(process.env.BENCH_WARMUP);
const iterations = Number(process.env.BENCH_ITERATIONS);
let n = 0;
function context() {
  n += 1;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "bench-ingest",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:bench-ingest",
    memoryLimitInMB: "1024",
    awsRequestId: "00000000-0000-4000-8000-" + String(n).padStart(12, "0"),
    logGroupName: "/aws/lambda/bench-ingest",
    logStreamName: "2026/11/29/[$LATEST]bench",
    getRemainingTimeInMillis: () => 15000,
    done() {},
    fail() {},
    succeed() {},
  };
}
const statuses = {};
async function invoke() {
  const event = JSON.parse(JSON.stringify(template));
  event.requestContext.requestId = "bench-" + n;
  const ctx = context();
  const start = process.hrtime.bigint();
  const result = await handler(event, ctx);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const status = String(result && result.statusCode);
  statuses[status] = (statuses[status] || 0) + 1;
  return ms;
}
(async () => {
  const firstMs = await invoke();
  for (let i = 0; i < warmup; i += 1) await invoke();
  const samples = [];
  const warmCpuStart = process.cpuUsage();
  for (let i = 0; i < iterations; i += 1) samples.push(await invoke());
  const warmCpu = process.cpuUsage(warmCpuStart);
  const warmCpuMs = (warmCpu.user + warmCpu.system) / 1000;
  writeFileSync(
    process.env.BENCH_RESULT,
    JSON.stringify({
      loadMs,
      loadCpuMs,
      sinceStartMs,
      rssAfterLoad,
      firstMs,
      samples,
      warmCpuMs,
      statuses,
      rssEnd: process.memoryUsage().rss,
    }),
  );
})().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
`;

export interface InvokeOptions {
  /** index.js of the bundle. */
  readonly bundle: string;
  /** The environment of the function (the stack's variables and the runtime's), PATH added here. */
  readonly env: Readonly<Record<string, string>>;
  /** The API Gateway event, invoked once cold and then `warmup` + `iterations` times. */
  readonly event: unknown;
  readonly warmup: number;
  readonly iterations: number;
  /** Scratch directory for the script and the result file. */
  readonly scratch: string;
}

export interface InvokeResult {
  /** require() of the bundle: module init (wall clock). */
  readonly loadMs: number;
  /** CPU time (user + system, all threads) of that require(). */
  readonly loadCpuMs: number;
  /** performance.now() after the load: Node start-up plus module init. */
  readonly sinceStartMs: number;
  readonly rssAfterLoad: number;
  /** The first invocation (clients created, keys loaded, registry read). */
  readonly firstMs: number;
  /** Each warm invocation after the warm-up, in ms (wall clock). */
  readonly samples: readonly number[];
  /** CPU time of all those warm invocations together (includes the invoker's event copy, a few µs each). */
  readonly warmCpuMs: number;
  /** statusCode → invocations answered with it. */
  readonly statuses: Readonly<Record<string, number>>;
  readonly rssEnd: number;
  /** Bytes the function wrote to stdout/stderr (its log lines). */
  readonly logBytes: number;
  /** Of those, the bytes of embedded-metric-format lines (kept when the stack's `requestLogs` is false). */
  readonly metricsLogBytes: number;
  /** Wall time from spawn to exit, as the parent saw it. */
  readonly wallMs: number;
}

let sequence = 0;

/** Spawns one fresh process for the bundle and returns what it measured. */
export async function invokeInFreshProcess(options: InvokeOptions): Promise<InvokeResult> {
  sequence += 1;
  const script = join(options.scratch, "invoke.cjs");
  writeFileSync(script, INVOKER_SOURCE);
  const resultFile = join(options.scratch, `result-${process.pid}-${sequence}.json`);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [script], {
    cwd: options.scratch,
    env: {
      PATH: process.env.PATH ?? "",
      ...options.env,
      BENCH_BUNDLE: options.bundle,
      BENCH_EVENT: JSON.stringify(options.event),
      BENCH_WARMUP: String(options.warmup),
      BENCH_ITERATIONS: String(options.iterations),
      BENCH_RESULT: resultFile,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let logBytes = 0;
  let metricsLogBytes = 0;
  let partialLine = "";
  let stderrTail = "";
  child.stdout.on("data", (chunk: Buffer) => {
    logBytes += chunk.length;
    const lines = (partialLine + chunk.toString("utf8")).split("\n");
    partialLine = lines.pop() ?? "";
    for (const line of lines) {
      // Powertools Metrics writes CloudWatch embedded metric format: JSON with an `_aws` member.
      if (line.includes('"_aws":')) metricsLogBytes += Buffer.byteLength(line) + 1;
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    logBytes += chunk.length;
    stderrTail = (stderrTail + chunk.toString("utf8")).slice(-2000);
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (code !== 0) throw new Error(`bundle process exited with ${code}: ${stderrTail}`);
  const parsed = JSON.parse(readFileSync(resultFile, "utf8")) as Omit<
    InvokeResult,
    "logBytes" | "metricsLogBytes" | "wallMs"
  >;
  rmSync(resultFile, { force: true });
  return { ...parsed, logBytes, metricsLogBytes, wallMs };
}

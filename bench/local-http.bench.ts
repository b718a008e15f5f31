/**
 * local-http: the real local runtime (real token, registry cache, validation, fsync before 202) against a bare
 * node:http server that reads the body and answers 202, both in their own child process, driven by the same
 * autocannon load (50 connections) with the same bodies: small JSON (~300 B), 1 KiB XML and 200 KiB JSON.
 * Baseline and subject runs alternate (B S, then S B) so drift hits both alike.
 */
import type { BenchCheck, BenchContext, Benchmark, BenchResult, BenchTable } from "./harness.js";
import type { BareServerInfo } from "./support/bare-server.js";
import {
  describeStatus,
  failures,
  type LoadResult,
  mergeLoads,
  percentile,
  rate,
  runLoad,
} from "./support/load.js";
import { largeJson, smallJson, xmlDocument } from "./support/payloads.js";
import { countStoredRecords } from "./support/records.js";
import type { RuntimeServerInfo } from "./support/runtime-server.js";
import { type ServerProcess, startServerProcess } from "./support/server-process.js";

const CONNECTIONS = 50;

interface Workload {
  readonly key: "small" | "xml" | "large";
  readonly label: string;
  readonly body: Buffer;
  readonly contentType: string;
  readonly stream: (info: RuntimeServerInfo) => string;
  /** Seconds of each alternating measurement. */
  readonly rounds: readonly number[];
}

function workloads(quick: boolean): Workload[] {
  return [
    {
      key: "small",
      label: "small JSON",
      body: smallJson(),
      contentType: "application/json",
      stream: (info) => info.streams.json,
      rounds: quick ? [1.5] : [4, 4],
    },
    {
      key: "xml",
      label: "1 KiB XML",
      body: xmlDocument(),
      contentType: "application/xml",
      stream: (info) => info.streams.xml,
      rounds: quick ? [1] : [3, 3],
    },
    {
      key: "large",
      label: "200 KiB JSON",
      body: largeJson(200 * 1024),
      contentType: "application/json",
      stream: (info) => info.streams.largeJson,
      rounds: quick ? [1] : [3, 3],
    },
  ];
}

/** 202s and run count per runtime stream, to compare with what landed on disk. */
class Accepted {
  readonly byStream = new Map<string, { accepted: number; runs: number }>();
  /** Non-2xx answers, connection errors and timeouts of every runtime run, warm-up included. */
  failed = 0;
  add(stream: string, result: LoadResult): void {
    this.failed += failures(result) + result.errors + result.timeouts;
    const entry = this.byStream.get(stream) ?? { accepted: 0, runs: 0 };
    entry.accepted += result.status["202"] ?? 0;
    entry.runs++;
    this.byStream.set(stream, entry);
  }
}

const ms = (value: number) => Math.round(value * 100) / 100;

async function run(context: BenchContext): Promise<BenchResult> {
  const { log } = context;
  log("starting the bare server and the local runtime (child processes)");
  const [bare, runtime] = await Promise.all([
    startServerProcess<BareServerInfo>("bare-server.js", []),
    startServerProcess<RuntimeServerInfo>("runtime-server.js", ["--data-dir", context.tmpDir]),
  ]);
  try {
    return await measure(context, bare, runtime);
  } finally {
    await Promise.all([bare.stop(), runtime.stop()]);
  }
}

async function measure(
  { quick, log }: BenchContext,
  bare: ServerProcess<BareServerInfo>,
  runtime: ServerProcess<RuntimeServerInfo>,
): Promise<BenchResult> {
  const info = runtime.info;
  const accepted = new Accepted();
  const load = async (server: "bare" | "runtime", workload: Workload, seconds: number) => {
    const stream = workload.stream(info);
    const result = await runLoad({
      url:
        server === "bare"
          ? `${bare.info.url}/stream/v0/data/${stream}`
          : `${info.url}/stream/v0/data/${stream}`,
      connections: CONNECTIONS,
      durationSeconds: seconds,
      // The same request bytes go to both servers; the bare one ignores the headers.
      headers: {
        authorization: `Bearer ${info.token}`,
        "x-amperity-tenant": info.tenant,
        "content-type": workload.contentType,
      },
      body: workload.body,
    });
    if (server === "runtime") accepted.add(stream, result);
    log(
      `${workload.label.padEnd(12)} ${server.padEnd(7)} ${seconds} s: ${Math.round(rate(result))} req/s, p99 ${ms(percentile(result.latenciesMs, 99))} ms (${describeStatus(result)})`,
    );
    return result;
  };

  const all = workloads(quick);
  // Warm-up: small JSON on both, XML on the runtime too (its parser must be compiled before it is measured).
  // Quick runs warm the bare server on small JSON only: each autocannon run costs ~1 s of set-up when busy.
  const warm = quick ? 0.5 : 1;
  const [smallLoad, xmlLoad] = all;
  if (smallLoad === undefined || xmlLoad === undefined) throw new Error("unreachable: workloads are fixed");
  log(
    `warming up (${warm} s per server: small JSON, and XML on the runtime${quick ? "" : " and the bare server"})`,
  );
  await load("bare", smallLoad, quick ? warm : warm / 2);
  if (!quick) await load("bare", xmlLoad, warm / 2);
  await load("runtime", smallLoad, warm / 2);
  await load("runtime", xmlLoad, warm / 2);

  const measured = new Map<Workload["key"], { bare: LoadResult; runtime: LoadResult }>();
  for (const workload of all) {
    const bareRuns: LoadResult[] = [];
    const runtimeRuns: LoadResult[] = [];
    for (const [round, seconds] of workload.rounds.entries()) {
      // B S, S B, B S, …: neither side always runs first.
      if (round % 2 === 0) {
        bareRuns.push(await load("bare", workload, seconds));
        runtimeRuns.push(await load("runtime", workload, seconds));
      } else {
        runtimeRuns.push(await load("runtime", workload, seconds));
        bareRuns.push(await load("bare", workload, seconds));
      }
    }
    measured.set(workload.key, { bare: mergeLoads(bareRuns), runtime: mergeLoads(runtimeRuns) });
  }

  log("flushing the runtime and counting the records that landed");
  await runtime.request("flush");
  const landed: (string | number)[][] = [];
  let missing = 0;
  let unexplained = 0;
  for (const workload of all) {
    const stream = workload.stream(info);
    const sent = accepted.byStream.get(stream) ?? { accepted: 0, runs: 0 };
    const stored = await countStoredRecords(info.dataDir, info.tenant, stream);
    missing += Math.max(0, sent.accepted - stored);
    // Each run may leave one request per connection in flight when it stops: stored, its answer not counted.
    unexplained += Math.max(0, stored - sent.accepted - CONNECTIONS * sent.runs);
    landed.push([workload.label, stream, sent.accepted, stored, stored - sent.accepted]);
  }

  const rows: (string | number)[][] = [];
  const checks: BenchCheck[] = [];
  let bareFailures = 0;
  for (const workload of all) {
    const pair = measured.get(workload.key);
    if (pair === undefined) continue;
    const p99Ratio = percentile(pair.runtime.latenciesMs, 99) / percentile(pair.bare.latenciesMs, 99);
    const rateRatio = rate(pair.runtime) / rate(pair.bare);
    for (const [server, result] of [
      ["bare node:http", pair.bare],
      ["local runtime", pair.runtime],
    ] as const) {
      const isRuntime = result === pair.runtime;
      rows.push([
        workload.label,
        server,
        Math.round(rate(result)),
        ms(percentile(result.latenciesMs, 50)),
        ms(percentile(result.latenciesMs, 99)),
        ms(percentile(result.latenciesMs, 99.9)),
        Math.round((rate(result) * workload.body.byteLength) / 1e5) / 10,
        isRuntime ? Math.round(rateRatio * 1000) / 1000 : 1,
        isRuntime ? Math.round(p99Ratio * 100) / 100 : 1,
        describeStatus(result),
      ]);
      if (!isRuntime) bareFailures += failures(result) + result.errors + result.timeouts;
    }
    if (workload.key === "small") {
      checks.push({
        name: "small JSON req/s vs bare",
        actual: rateRatio,
        target: 0.7,
        comparison: ">=",
        unit: "×",
      });
      checks.push({
        name: "small JSON p99 vs bare",
        actual: p99Ratio,
        target: 2,
        comparison: "<=",
        unit: "×",
      });
    } else if (workload.key === "xml") {
      checks.push({
        name: "1 KiB XML req/s vs bare",
        actual: rateRatio,
        target: 0.5,
        comparison: ">=",
        unit: "×",
      });
    }
  }
  checks.push({
    name: "local runtime: non-2xx responses, connection errors and timeouts (warm-up included)",
    actual: accepted.failed,
    target: 0,
    comparison: "<=",
    unit: "",
  });
  checks.push({
    name: "records answered 202 but not found on disk after a flush",
    actual: missing,
    target: 0,
    comparison: "<=",
    unit: "",
  });

  checks.push({
    name: "records on disk beyond the 202 answers plus the requests in flight when runs stopped",
    actual: unexplained,
    target: 0,
    comparison: "<=",
    unit: "",
  });

  const tables: BenchTable[] = [
    {
      title: `HTTP throughput and latency, ${CONNECTIONS} connections (latency of 2xx responses)`,
      columns: [
        "payload",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "MB/s in",
        "req/s ÷ bare",
        "p99 ÷ bare",
        "responses",
      ],
      rows,
    },
    {
      title: "Records landed (runtime streams, warm-up included)",
      columns: ["payload", "stream", "202 answers", "records stored", "stored − 202"],
      rows: landed,
    },
  ];
  const seconds = (w: Workload) => w.rounds.reduce((a, b) => a + b, 0);
  const notes = [
    `baseline: bare node:http in its own process, reads the body, answers a fixed 202 JSON; subject: startLocalRuntime as \`ingest serve\` runs it (embedded registry, ES256 token, rate limit set to 1,000,000/s, FileSink fdatasync before 202); load generator: autocannon in the runner process; all share the machine's cores`,
    `each side ran ${all.map((w) => `${seconds(w)} s of ${w.label}`).join(", ")} in alternating rounds after a ${warm} s warm-up per server`,
    "stored − 202 > 0 is expected: requests still in flight when a run stops are stored but their answers are not counted",
  ];
  if (bareFailures > 0)
    notes.push(`the bare baseline itself had ${bareFailures} failed requests: its numbers are suspect`);
  return { tables, checks, notes };
}

export const benchmark: Benchmark = {
  name: "local-http",
  title: "local runtime vs bare node:http (50 connections; small JSON, 1 KiB XML, 200 KiB JSON)",
  run,
};

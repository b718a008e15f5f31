/**
 * memory: peak RSS of the real local runtime under load — idle, 50 and 1,000 connections of small JSON — next
 * to the bare node:http server under the same load (the baseline), then the runtime on a simulated slow disk
 * with 1,000 connections of 128 KiB records: back-pressure must answer 503 and memory must stay bounded
 * (the sink's 64 MiB pending cap plus the bodies in flight), not grow with the load or with time.
 */
import type { BenchCheck, BenchContext, Benchmark, BenchResult, BenchTable } from "./harness.js";
import type { BareServerInfo } from "./support/bare-server.js";
import { describeStatus, failures, type LoadResult, percentile, rate, runLoad } from "./support/load.js";
import { largeJson, smallJson } from "./support/payloads.js";
import type { MemorySample } from "./support/protocol.js";
import type { RuntimeServerInfo } from "./support/runtime-server.js";
import { type ServerProcess, startServerProcess } from "./support/server-process.js";

const MIB = 1024 * 1024;
/** The FileSink's default bound on bytes queued but not yet durable. */
const SINK_PENDING_CAP = 64 * MIB;
/** Allowance for everything else a loaded process holds (parsers, sockets, GC slack). */
const OVERHEAD_ALLOWANCE = 64 * MIB;
const SLOW_DISK_BYTES_PER_SECOND = 16 * MIB;
const SLOW_SYNC_MS = 5;
const SLOW_CONNECTIONS = 1000;
/** 1,000 × 128 KiB = 125 MiB offered at once: well past the 64 MiB cap, with less upload than 200 KiB bodies. */
const SLOW_BODY_BYTES = 128 * 1024;

const mb = (bytes: number) => Math.round((bytes / MIB) * 10) / 10;

interface Phase {
  readonly server: string;
  readonly load: string;
  readonly before: MemorySample;
  readonly after: MemorySample;
  readonly result?: LoadResult;
}

function headersFor(info: RuntimeServerInfo): Record<string, string> {
  return {
    authorization: `Bearer ${info.token}`,
    "x-amperity-tenant": info.tenant,
    "content-type": "application/json",
  };
}

/** Runs `load` against `server` and reports its peak RSS during the run. */
async function phase(
  server: ServerProcess<unknown>,
  name: string,
  loadName: string,
  load: () => Promise<LoadResult>,
): Promise<Phase> {
  const before = await server.resetPeak();
  const result = await load();
  const after = await server.memory();
  return { server: name, load: loadName, before, after, result };
}

async function run(context: BenchContext): Promise<BenchResult> {
  const { quick, log, tmpDir } = context;
  const seconds = quick ? 1 : 4;
  const slowSeconds = quick ? 4 : 12;
  const small = smallJson();
  const phases: Phase[] = [];

  log(
    `starting the bare server, the local runtime and the runtime on a slow disk (${mb(SLOW_DISK_BYTES_PER_SECOND)} MiB/s writes, +${SLOW_SYNC_MS} ms per sync)`,
  );
  const settled = await Promise.allSettled([
    startServerProcess<BareServerInfo>("bare-server.js", []),
    startServerProcess<RuntimeServerInfo>("runtime-server.js", ["--data-dir", `${tmpDir}/fast`]),
    startServerProcess<RuntimeServerInfo>("runtime-server.js", [
      "--data-dir",
      `${tmpDir}/slow`,
      "--slow-disk-bytes-per-s",
      String(SLOW_DISK_BYTES_PER_SECOND),
      "--slow-sync-ms",
      String(SLOW_SYNC_MS),
    ]),
  ]);
  const [bareStart, runtimeStart, slowStart] = settled;
  if (
    bareStart?.status !== "fulfilled" ||
    runtimeStart?.status !== "fulfilled" ||
    slowStart?.status !== "fulfilled"
  ) {
    await Promise.all(settled.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
    throw settled.find((s) => s.status === "rejected")?.reason ?? new Error("a server did not start");
  }
  const bare = bareStart.value;
  const runtime = runtimeStart.value;
  const slow = slowStart.value;
  let idleRuntime: MemorySample;
  let idleBare: MemorySample;
  try {
    idleBare = await bare.memory();
    idleRuntime = await runtime.memory();
    phases.push({ server: "bare node:http", load: "idle", before: idleBare, after: idleBare });
    phases.push({ server: "local runtime", load: "idle", before: idleRuntime, after: idleRuntime });
    const info = runtime.info;
    for (const connections of [50, 1000]) {
      for (const [name, server, url] of [
        ["bare node:http", bare, `${bare.info.url}/stream/v0/data/${info.streams.json}`],
        ["local runtime", runtime, `${info.url}/stream/v0/data/${info.streams.json}`],
      ] as const) {
        const p = await phase(server, name, `${connections} conns, small JSON`, () =>
          runLoad({ url, connections, durationSeconds: seconds, headers: headersFor(info), body: small }),
        );
        log(
          `${name} ${connections} conns: peak RSS ${mb(p.after.peakRss)} MiB, ${Math.round(rate(p.result as LoadResult))} req/s (${describeStatus(p.result as LoadResult)})`,
        );
        phases.push(p);
      }
    }
  } catch (error) {
    await slow.kill();
    throw error;
  } finally {
    await Promise.all([bare.stop(), runtime.stop()]);
  }

  const large = largeJson(SLOW_BODY_BYTES);
  const timeline: { at: number; rss: number }[] = [];
  let slowPhase: Phase;
  try {
    const info = slow.info;
    const idleSlow = await slow.resetPeak();
    const began = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const sample = await slow.memory();
        timeline.push({ at: (performance.now() - began) / 1000, rss: sample.rss });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    const result = await runLoad({
      url: `${info.url}/stream/v0/data/${info.streams.largeJson}`,
      connections: SLOW_CONNECTIONS,
      durationSeconds: slowSeconds,
      headers: headersFor(info),
      body: large,
      timeoutSeconds: 30,
    });
    sampling = false;
    await sampler;
    slowPhase = {
      server: "runtime, slow disk",
      load: `${SLOW_CONNECTIONS} conns, 128 KiB JSON`,
      before: idleSlow,
      after: await slow.memory(),
      result,
    };
    log(`slow disk: peak RSS ${mb(slowPhase.after.peakRss)} MiB (${describeStatus(result)})`);
  } finally {
    // Its data is not needed: a clean stop would wait for up to 64 MiB to trickle onto the slow disk.
    await slow.kill();
  }
  phases.push(slowPhase);

  const find = (server: string, load: string) =>
    phases.find((p) => p.server === server && p.load.startsWith(load));
  const peak = (server: string, load: string) => find(server, load)?.after.peakRss ?? Number.NaN;
  const rows = phases.map((p) => [
    p.server,
    p.load,
    mb(p.load === "idle" ? p.after.rss : p.after.peakRss),
    mb(p.after.heapUsed),
    mb(p.after.arrayBuffers),
    p.result === undefined ? "" : Math.round(rate(p.result)),
    p.result === undefined ? "" : Math.round(percentile(p.result.latenciesMs, 99) * 10) / 10,
    p.result === undefined ? "" : describeStatus(p.result),
  ]);

  const runtimeGrowth = peak("local runtime", "1000") / peak("local runtime", "50 ");
  const bareGrowth = peak("bare node:http", "1000") / peak("bare node:http", "50 ");
  const slowResult = slowPhase.result as LoadResult;
  const inFlightBodies = SLOW_CONNECTIONS * large.byteLength;
  const slowBound = slowPhase.before.rss + SINK_PENDING_CAP + inFlightBodies + OVERHEAD_ALLOWANCE;
  // The queue fills up to its cap early in the run (under a second on a quiet machine); after that, memory
  // must level off: the last third may not climb past what the first two thirds reached.
  const third = slowSeconds / 3;
  const early = Math.max(0, ...timeline.filter((t) => t.at <= 2 * third).map((t) => t.rss));
  const late = Math.max(0, ...timeline.filter((t) => t.at > 2 * third).map((t) => t.rss));
  // 504 is the documented answer for a record the disk did not make durable within the delivery timeout.
  const undocumented = Object.entries(slowResult.status)
    .filter(([code]) => code !== "202" && code !== "503" && code !== "504")
    .reduce((sum, [, count]) => sum + count, 0);

  const checks: BenchCheck[] = [
    {
      // Sockets and HTTP parsers alone grow the bare server's RSS with the connections: the baseline.
      name: "runtime peak RSS growth 50 → 1,000 connections, over the bare server's growth",
      actual: runtimeGrowth / bareGrowth,
      target: 1.25,
      comparison: "<=",
      unit: "×",
    },
    {
      name: "runtime at 50 and 1,000 connections: non-2xx responses and errors",
      actual: [find("local runtime", "50 "), find("local runtime", "1000")].reduce(
        (sum, p) => sum + (p?.result === undefined ? 0 : failures(p.result) + p.result.errors),
        0,
      ),
      target: 0,
      comparison: "<=",
      unit: "",
    },
    {
      name: "slow disk: peak RSS (bound: idle + 64 MiB sink cap + 1,000 × 128 KiB bodies + 64 MiB)",
      actual: mb(slowPhase.after.peakRss),
      target: mb(slowBound),
      comparison: "<=",
      unit: "MiB",
    },
    {
      name: "slow disk: 503 answers (back-pressure)",
      actual: slowResult.status["503"] ?? 0,
      target: 1,
      comparison: ">=",
      unit: "",
    },
    {
      name: "slow disk: peak RSS in the last third of the run vs the first two thirds",
      actual: early > 0 ? late / early : Number.NaN,
      target: 1.25,
      comparison: "<=",
      unit: "×",
    },
    {
      name: "slow disk: answers other than 202/503/504, connection errors and timeouts",
      actual: undocumented + slowResult.errors + slowResult.timeouts,
      target: 0,
      comparison: "<=",
      unit: "",
    },
  ];
  const tables: BenchTable[] = [
    {
      title: "Server RSS (MiB): idle, and the peak during each load",
      columns: [
        "server",
        "load",
        "RSS MiB",
        "heap used MiB",
        "array buffers MiB",
        "req/s",
        "p99 ms",
        "responses",
      ],
      rows,
    },
    {
      title: "Slow disk: runtime RSS over time (MiB)",
      columns: ["t s", "RSS MiB"],
      rows: timeline
        .filter((_, index) => index % Math.max(1, Math.ceil(timeline.length / 12)) === 0)
        .map((t) => [Math.round(t.at * 10) / 10, mb(t.rss)]),
    },
  ];
  const notes = [
    "peak RSS is the kernel's VmHWM of the server process, reset before each load; the load generator runs in the runner process",
    `bare node:http peak RSS grew ${Math.round(bareGrowth * 100) / 100}× from 50 to 1,000 connections (sockets and parsers alone); the runtime's ratio above compares to that`,
    `slow disk: every write paced to ${mb(SLOW_DISK_BYTES_PER_SECOND)} MiB/s, every sync +${SLOW_SYNC_MS} ms; the sink holds at most 64 MiB not yet durable and answers 503 sink_busy past it`,
  ];
  return { tables, checks, notes };
}

export const benchmark: Benchmark = {
  name: "memory",
  title: "server RSS at 50 and 1,000 connections and on a slow disk (bounded, back-pressure 503)",
  run,
};

/**
 * `npm run soak -- fuzz [--quick]`: the HTTP fuzzing of test/integration/http-fuzz.test.ts at soak volume,
 * against the real local runtime in its own process (bench/support/runtime-server.ts: what `ingest serve`
 * runs). 100,000 generated cases (5,000 with --quick): hostile header sets, methods, paths, encodings,
 * framings and bodies, and malformed HTTP on raw sockets. Every answer must be a documented status with a
 * JSON body; valid requests must be accepted; the server must stay up (health every 1,000 cases) with
 * bounded memory; and what it stored must be exactly what its 202s promised.
 */
import { join } from "node:path";
import fc from "fast-check";
import type { MemorySample } from "../bench/support/protocol.js";
import type { RuntimeServerInfo } from "../bench/support/runtime-server.js";
import { startServerProcess } from "../bench/support/server-process.js";
import {
  checkLandings,
  describeCase,
  type FuzzCase,
  FuzzTally,
  type FuzzTarget,
  fuzzCase,
  runCase,
} from "../test/helpers/fuzz-cases.js";
import type { Soak, SoakRow } from "./harness.js";

const FULL_CASES = 100_000;
const QUICK_CASES = 5_000;
const BATCH = 1_000;
const CONCURRENCY = 32;
/** The server's default request timeout is 30 s; a case may legitimately wait for it (then 408). */
const HANG_MS = 45_000;
const MiB = 1024 * 1024;
/** Peak RSS the server may reach over the whole run (it starts at ~100 MiB with the embedded registry). */
const RSS_BOUND = 512 * MiB;

async function health(url: string): Promise<number> {
  try {
    const res = await fetch(`${url}/health`);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export const soak: Soak = {
  name: "fuzz",
  title: "HTTP fuzzing against a real server process: documented 4xx only, exact landing, bounded memory",
  async run({ quick, log, tmpDir }) {
    const total = Number(process.env.FUZZ_CASES ?? (quick ? QUICK_CASES : FULL_CASES));
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    const server = await startServerProcess<RuntimeServerInfo>("runtime-server.js", [
      "--data-dir",
      join(tmpDir, "data"),
    ]);
    const rows: SoakRow[] = [];
    try {
      const url = new URL(server.info.url);
      const target: FuzzTarget = {
        host: url.hostname,
        port: Number(url.port),
        tenant: server.info.tenant,
        json: { streamId: server.info.streams.json, token: server.info.token },
        xml: { streamId: server.info.streams.xml, token: server.info.token },
      };
      const tally = new FuzzTally();
      const examples: string[] = [];
      const start: MemorySample = await server.memory();
      let peakRss = start.rss;
      let healthFailures = 0;
      let healthChecks = 0;
      const started = performance.now();
      const arbitrary = fuzzCase(target);
      // One continuous pool (a case that legitimately waits 30 s for the request timeout holds up only its own
      // connection); cases are sampled 1,000 at a time, each batch from its own seed.
      let queue: FuzzCase[] = [];
      let sampled = 0;
      let batch = 0;
      let checksDue = 0;
      const take = (): FuzzCase | undefined => {
        if (queue.length === 0 && sampled < total) {
          const n = Math.min(BATCH, total - sampled);
          queue = fc.sample(arbitrary, { numRuns: n, seed: seed + batch++ }).reverse();
          sampled += n;
        }
        return queue.pop();
      };
      const check = async () => {
        healthChecks++;
        if ((await health(server.info.url)) !== 200) healthFailures++;
        const memory = await server.memory();
        peakRss = Math.max(peakRss, memory.peakRss, memory.rss);
        if (healthChecks % 10 === 0) {
          log(
            `${tally.cases.toLocaleString("en-US")} cases, ${tally.problems.length} problems, ` +
              `rss ${Math.round(memory.rss / MiB)} MiB, ${Math.round((performance.now() - started) / 1000)} s`,
          );
        }
      };
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let c = take(); c !== undefined; c = take()) {
            const outcome = await runCase(target, c, HANG_MS);
            for (const problem of tally.record(c, outcome)) {
              if (examples.length < 5) {
                examples.push(`${c.family}: ${problem} — ${describeCase(target, c)}`);
                log(`PROBLEM ${examples.at(-1)}`);
              }
            }
            if (Math.floor(tally.cases / BATCH) > checksDue) {
              checksDue++;
              await check();
            }
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      await server.request("flush");
      const end = await server.memory();
      const landingProblems = checkLandings(join(server.info.dataDir, "objects"), target, tally.landed);
      for (const problem of landingProblems.slice(0, 3)) log(`PROBLEM ${problem}`);

      const problemCount = tally.problems.length;
      rows.push({
        scenario:
          "HTTP fuzzing (hostile well-formed requests + malformed HTTP on raw sockets), real server process",
        volume: `${tally.cases.toLocaleString("en-US")} cases in ${Math.round(seconds)} s (${Math.round(tally.cases / seconds)}/s, ${CONCURRENCY} connections), seed ${seed}, ${tally.families.size} case families`,
        result:
          `${problemCount === 0 ? "every answer a documented status with JSON body + x-request-id; no 5xx, no hang, no unanswered connection" : `${problemCount} problem(s): ${examples[0] ?? ""}`}; ` +
          `statuses ${tally.statusSummary()}; slowest ${Math.round(tally.maxMs)} ms`,
        ok: problemCount === 0 && tally.cases === total,
      });
      rows.push({
        scenario: "fuzzing: accepted records land exactly (NDJSON bytes, CBOR values with key order)",
        volume: `${tally.landed.length.toLocaleString("en-US")} records answered 202`,
        result:
          landingProblems.length === 0
            ? "stored data equals the 202s exactly (no loss, no extra record, no byte changed)"
            : `${landingProblems.length} difference(s): ${landingProblems[0]}`,
        ok: landingProblems.length === 0 && tally.landed.length > 0,
      });
      rows.push({
        scenario: "fuzzing: server stays up, memory bounded",
        volume: `${healthChecks} health checks (one per ${BATCH.toLocaleString("en-US")} cases)`,
        result:
          `${healthChecks - healthFailures}/${healthChecks} answered 200; server RSS ${Math.round(start.rss / MiB)} MiB at start, ` +
          `peak ${Math.round(peakRss / MiB)} MiB, ${Math.round(end.rss / MiB)} MiB at end (bound ${RSS_BOUND / MiB} MiB)`,
        ok: healthFailures === 0 && peakRss < RSS_BOUND,
      });
    } finally {
      await server.stop();
    }
    return { rows };
  },
};

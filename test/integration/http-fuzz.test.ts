/**
 * Property-based HTTP fuzzing of the real local runtime over loopback: a few thousand generated requests
 * (hostile header sets, methods, paths, encodings, framings, bodies) and malformed HTTP, each on its own raw
 * socket. Every answer must be a documented status with a JSON body and an x-request-id, no connection may hang
 * or close unanswered, valid requests must be accepted, the server must stay up with bounded memory, and what
 * it stored must be exactly what the 202s promised. The soak (soak/fuzz.soak.ts) runs the same cases ×100.
 */
import fc from "fast-check";
import {
  checkLandings,
  describeCase,
  type FuzzCase,
  FuzzTally,
  type FuzzTarget,
  fuzzCase,
  runCase,
} from "../helpers/fuzz-cases.js";
import { send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

const CASES = Number(process.env.FUZZ_CASES ?? 3000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const CONCURRENCY = 16;

/** Runs `cases` through `worker` with at most `limit` in flight. */
async function pool<T>(
  items: readonly T[],
  limit: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await worker(item);
      }
    }),
  );
}

describe("HTTP fuzzing against the local runtime", () => {
  let t: TestRuntime;
  let target: FuzzTarget;

  beforeAll(async () => {
    // Short server timeouts: the rare case that legitimately waits for one (then 408) costs 2 s, not 30.
    t = await startTestRuntime({ requestTimeoutMs: 2_000, headersTimeoutMs: 2_000 });
    const unlimited = { rateLimitPerSecond: 1_000_000, rateLimitBurst: 10_000_000 };
    const json = await t.ready(unlimited);
    const xml = await t.ready({ ...unlimited, payload: "xml" });
    const url = new URL(t.runtime.url);
    target = {
      host: url.hostname,
      port: Number(url.port),
      tenant: "acme",
      json: { streamId: json.stream.id, token: json.token },
      xml: { streamId: xml.stream.id, token: xml.token },
    };
  });
  afterAll(async () => {
    await t.stop();
  });

  it(`answers ${CASES} generated requests with documented statuses, stays up, and stores exactly what it accepted`, async () => {
    const cases: FuzzCase[] = fc.sample(fuzzCase(target), { numRuns: CASES, seed: SEED });
    const tally = new FuzzTally();
    const failures: string[] = [];
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    await pool(cases, CONCURRENCY, async (c) => {
      const outcome = await runCase(target, c, 6_000);
      if (
        process.env.FUZZ_SHOW !== undefined &&
        outcome.kind === "response" &&
        String(outcome.status) === process.env.FUZZ_SHOW
      ) {
        process.stdout.write(`FUZZ_SHOW ${outcome.status}: ${describeCase(target, c)}\n`);
      }
      for (const problem of tally.record(c, outcome)) {
        if (failures.length < 10) {
          failures.push(`${c.family}: ${problem}\n  request: ${describeCase(target, c)}`);
        }
      }
      if (tally.cases % 100 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
    });
    const health = await send(`${t.runtime.url}/health`, { method: "GET" });
    await t.runtime.flush();
    const landingProblems = checkLandings(t.runtime.layout.objects, target, tally.landed);

    expect({ seed: SEED, failures }).toEqual({ seed: SEED, failures: [] });
    expect(landingProblems).toEqual([]);
    expect(health.status).toBe(200);
    // Every family was exercised, and enough valid records were accepted to make the landing check count.
    expect(tally.cases).toBe(CASES);
    expect(tally.statuses.get("202") ?? 0).toBeGreaterThan(CASES / 20);
    for (const status of ["400", "401", "403", "404", "405", "413", "415", "431"]) {
      expect([status, tally.statuses.get(status) ?? 0]).toEqual([status, expect.any(Number)]);
      expect(tally.statuses.get(status) ?? 0).toBeGreaterThan(0);
    }
    // Memory stays bounded: the bodies sent add up to hundreds of MiB, the process grows by far less.
    expect(rssMax - rssBefore).toBeLessThan(256 * 1024 * 1024);
    // No case took anywhere near the hang bound.
    expect(tally.maxMs).toBeLessThan(4_000);
    // For the record (RELIABILITY.md): what was tried and what came back.
    process.stdout.write(
      `http-fuzz: ${tally.cases} cases, seed ${SEED}, statuses ${tally.statusSummary()}, ` +
        `max ${Math.round(tally.maxMs)} ms, rss +${Math.round((rssMax - rssBefore) / 2 ** 20)} MiB, ` +
        `${tally.landed.length} records landed exactly; 408 from ${[...(tally.familiesByStatus.get("408") ?? [])].join(", ")}\n`,
    );
  }, 60_000);
});

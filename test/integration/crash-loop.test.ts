/**
 * The crash loop, short: the real `ingest serve --workers 1` process SIGKILLed under concurrent
 * keep-alive load, mid-seal and during start-up recovery, restarted each time; then every 202'd record is in
 * the sealed files exactly once, none torn, nothing left in-flight. `npm run soak` runs the long version
 * (≥ 20 kills) with the same code (soak/support/crash-loop.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crashLoopHealthy, runCrashLoop } from "../../soak/support/crash-loop.js";
import { CLI } from "../helpers/cli.js";

describe("crash loop (short)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ingest-crash-loop-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("loses, doubles and tears nothing across SIGKILLs under load, mid-seal and mid-recovery", async () => {
    const report = await runCrashLoop({
      cli: CLI,
      dataDir: join(dir, "data"),
      loadKills: 1,
      sealKills: 1,
      recoveryKills: 1,
      workers: 4,
      // One process: the quickest start-up. The soak and process.test.ts kill the default primary + workers.
      serverProcesses: 1,
      loadMs: [100, 300],
      seed: 20261129,
      log: () => undefined,
    });
    expect(report.kills.map((kill) => kill.kind).sort()).toEqual(["load", "recovery", "seal"]);
    // Each kill was sent right after its moment was seen: a seal's temp file appeared, recovery began.
    expect(report.kills.filter((kill) => !kill.observed)).toEqual([]);
    expect(report.accepted).toBeGreaterThan(20);
    expect(report.missing).toEqual([]);
    expect(report.duplicated).toEqual([]);
    expect(report.tornFiles).toEqual([]);
    expect(report.invalidRecords).toEqual([]);
    expect(report.inflightLeft).toEqual([]);
    expect(report.cleanExit).toBe(0);
    expect(report.unexpectedStatuses).toBe(0);
    expect(crashLoopHealthy(report)).toBe(true);
  }, 60_000);
});

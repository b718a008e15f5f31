/**
 * `npm run soak -- crash-loop`: the real server process SIGKILLed ≥ 20 times under concurrent keep-alive load
 * (at random moments and mid-seal) plus during start-up recovery, restarted each time; then every 202'd record
 * must be in the sealed files exactly once, with no torn record and nothing left in-flight.
 */
import { join } from "node:path";
import type { Soak, SoakRow } from "./harness.js";
import { type CrashLoopReport, type KillKind, runCrashLoop } from "./support/crash-loop.js";

function kills(report: CrashLoopReport, kind: KillKind): { count: number; observed: number; hits: number } {
  const matching = report.kills.filter((kill) => kill.kind === kind);
  return {
    count: matching.length,
    observed: matching.filter((kill) => kill.observed).length,
    hits: matching.filter((kill) => kill.hit).length,
  };
}

function list(items: readonly string[]): string {
  return items.length === 0 ? "" : ` (${items.slice(0, 3).join(", ")}${items.length > 3 ? ", …" : ""})`;
}

/** The table rows of one crash-loop report. */
export function crashLoopRows(report: CrashLoopReport, workers: number): SoakRow[] {
  const load = kills(report, "load");
  const seal = kills(report, "seal");
  const recovery = kills(report, "recovery");
  const refused = Object.entries(report.refusedByStatus)
    .map(([status, count]) => `${count}×${status}`)
    .join(", ");
  const sent =
    report.accepted + report.unanswered + Object.values(report.refusedByStatus).reduce((a, b) => a + b, 0);
  return [
    {
      scenario: "SIGKILL at random moments under load",
      volume: `${load.count} kills, ${workers} keep-alive clients`,
      result: `${load.count} restarts, all recovered`,
      ok: load.count > 0,
    },
    {
      scenario: "SIGKILL mid-seal (flush writing a .gz)",
      volume: `${seal.count} kills under load`,
      result: `${seal.observed}/${seal.count} sent as a seal began; ${seal.hits} left a half-written object`,
      ok: seal.count === 0 || seal.observed > 0,
    },
    {
      scenario: "SIGKILL during start-up recovery",
      volume: `${recovery.count} kills before listening`,
      result: `${recovery.observed}/${recovery.count} sent as recovery began; ${recovery.hits} left it unfinished`,
      ok: recovery.count === 0 || recovery.observed > 0,
    },
    {
      scenario: "every 202'd record sealed exactly once",
      volume: `${sent} sent: ${report.accepted} 202, ${report.unanswered} unanswered${refused === "" ? "" : `, ${refused}`}`,
      result: `${report.missing.length} lost${list(report.missing)}, ${report.duplicated.length} doubled${list(report.duplicated)}`,
      ok: report.missing.length === 0 && report.duplicated.length === 0 && report.unexpectedStatuses === 0,
    },
    {
      scenario: "no torn or invalid record in sealed files",
      volume: `${report.sealedFiles} files, ${report.sealedRecords} records, ${(report.sealedBytes / 1024).toFixed(0)} KiB`,
      result: `${report.tornFiles.length} torn files${list(report.tornFiles)}, ${report.invalidRecords.length} invalid lines${list(report.invalidRecords)}`,
      ok: report.tornFiles.length === 0 && report.invalidRecords.length === 0,
    },
    {
      scenario: "clean restart, flush, SIGTERM",
      volume: `${report.kills.length} crashes before it, ${(report.durationMs / 1000).toFixed(0)} s in all`,
      result: `exit ${report.cleanExit}, ${report.inflightLeft.length} in-flight files left${list(report.inflightLeft)}`,
      ok: report.cleanExit === 0 && report.inflightLeft.length === 0,
    },
  ];
}

interface Variant {
  readonly label: string;
  readonly serverProcesses: number;
  readonly loadKills: number;
  readonly sealKills: number;
  readonly recoveryKills: number;
}

export const soak: Soak = {
  name: "crash-loop",
  title: "SIGKILL the server under load, mid-seal and mid-recovery; nothing 202'd lost or doubled",
  async run(context) {
    const workers = context.quick ? 4 : 8;
    const seed = Number(process.env.SOAK_SEED ?? Date.now() % 2_147_483_647);
    context.log(`seed ${seed} (repeat the same kill schedule with SOAK_SEED=${seed})`);
    // The default server (a primary and one worker per core; the primary is killed, its workers follow) and,
    // in the long run, the single-process server (`--workers 1`).
    const variants: Variant[] = context.quick
      ? [{ label: "--workers 2", serverProcesses: 2, loadKills: 3, sealKills: 1, recoveryKills: 1 }]
      : [
          { label: "--workers 2", serverProcesses: 2, loadKills: 17, sealKills: 3, recoveryKills: 3 },
          { label: "--workers 1", serverProcesses: 1, loadKills: 4, sealKills: 1, recoveryKills: 1 },
        ];
    const rows: SoakRow[] = [];
    for (const [index, variant] of variants.entries()) {
      context.log(`${variant.label}:`);
      const report = await runCrashLoop({
        cli: join(__dirname, "..", "bin", "ingest.js"),
        dataDir: join(context.tmpDir, `data-${index}`),
        loadKills: variant.loadKills,
        sealKills: variant.sealKills,
        recoveryKills: variant.recoveryKills,
        workers,
        serverProcesses: variant.serverProcesses,
        loadMs: context.quick ? [150, 600] : [200, 1500],
        seed: seed + index,
        log: (line) => context.log(line),
      });
      for (const row of crashLoopRows(report, workers)) {
        rows.push({ ...row, scenario: `[${variant.label}] ${row.scenario}` });
      }
    }
    return { rows };
  },
};

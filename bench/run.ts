/**
 * `node dist/bench/run.js [names...] [--quick] [--markdown FILE]` — runs the benchmarks in dist/bench/*.bench.js
 * (all, or those named) one after another, each with a fresh scratch directory; prints each one's tables and
 * PASS/MISS checks, then a summary; `--markdown FILE` writes the same as Markdown headed by the machine.
 * Exit 0 even when targets are missed (MISS is information), 1 when a benchmark crashed, 2 on a usage error.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { cpus, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Benchmark } from "./harness.js";
import {
  type BenchOutcome,
  formatMarkdownReport,
  formatOutcomeText,
  formatSummaryText,
  type MachineInfo,
} from "./report.js";
import { parseRunnerArgs, type RunnerOptions, runnerUsage, UsageError } from "./support/runner-args.js";

/** The order benchmarks run in; others follow by name. */
export const PREFERRED_ORDER = ["local-http", "core-cpu", "lambda", "memory", "batch"];

function order(a: Benchmark, b: Benchmark): number {
  const rank = (name: string) => {
    const at = PREFERRED_ORDER.indexOf(name);
    return at === -1 ? PREFERRED_ORDER.length : at;
  };
  return rank(a.name) - rank(b.name) || a.name.localeCompare(b.name);
}

/** A benchmark module that could not be loaded: reported as crashed, so the others still run. */
interface Broken {
  readonly name: string;
  readonly error: string;
}

async function loadBenchmarks(directory: string): Promise<{ benchmarks: Benchmark[]; broken: Broken[] }> {
  const files = (await readdir(directory)).filter((file) => file.endsWith(".bench.js"));
  const benchmarks: Benchmark[] = [];
  const broken: Broken[] = [];
  for (const file of files) {
    const name = file.slice(0, -".bench.js".length);
    try {
      const module = (await import(pathToFileURL(join(directory, file)).href)) as { benchmark?: Benchmark };
      if (module.benchmark === undefined) throw new Error(`${file} does not export "benchmark"`);
      benchmarks.push(module.benchmark);
    } catch (error) {
      broken.push({
        name,
        error: `could not load ${file}: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
  return { benchmarks: benchmarks.sort(order), broken };
}

export function machineInfo(): MachineInfo {
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim() ?? "unknown",
    cores: cpuList.length,
    memoryBytes: totalmem(),
    node: process.version,
    os: `${platform()} ${release()}`,
    date: new Date().toISOString(),
  };
}

async function runOne(benchmark: Benchmark, quick: boolean): Promise<BenchOutcome> {
  const tmpDir = await mkdtemp(join(tmpdir(), `bench-${benchmark.name}-`));
  const started = performance.now();
  const log = (line: string) =>
    process.stderr.write(
      `[${benchmark.name} ${((performance.now() - started) / 1000).toFixed(1)} s] ${line}\n`,
    );
  log(`starting${quick ? " (quick)" : ""}`);
  try {
    const result = await benchmark.run({ quick, log, tmpDir });
    return {
      name: benchmark.name,
      title: benchmark.title,
      seconds: (performance.now() - started) / 1000,
      result,
    };
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`crashed: ${message}`);
    return {
      name: benchmark.name,
      title: benchmark.title,
      seconds: (performance.now() - started) / 1000,
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    await rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function main(): Promise<number> {
  let options: RunnerOptions;
  try {
    options = parseRunnerArgs(process.argv.slice(2), "dist/bench/run.js");
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n${runnerUsage("dist/bench/run.js")}\n`);
    return 2;
  }
  const { benchmarks: available, broken: allBroken } = await loadBenchmarks(__dirname);
  const known = (name: string) =>
    available.some((b) => b.name === name) || allBroken.some((b) => b.name === name);
  const unknown = options.names.filter((name) => !known(name));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown benchmark(s): ${unknown.join(", ")}; available: ${[...available, ...allBroken].map((b) => b.name).join(", ")}\n`,
    );
    return 2;
  }
  const broken =
    options.names.length === 0 ? allBroken : allBroken.filter((b) => options.names.includes(b.name));
  const selected =
    options.names.length === 0 ? available : available.filter((b) => options.names.includes(b.name));
  const machine = machineInfo();
  process.stdout.write(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB, Node ${machine.node}, ${machine.os}, ${machine.date}\n\n`,
  );
  const outcomes: BenchOutcome[] = [];
  for (const { name, error } of broken) {
    process.stderr.write(`[${name}] ${error}\n`);
    const outcome: BenchOutcome = { name, title: "(could not be loaded)", seconds: 0, error };
    outcomes.push(outcome);
    process.stdout.write(`${formatOutcomeText(outcome)}\n`);
  }
  for (const benchmark of selected) {
    const outcome = await runOne(benchmark, options.quick);
    outcomes.push(outcome);
    process.stdout.write(`${formatOutcomeText(outcome)}\n`);
  }
  process.stdout.write(`${formatSummaryText(outcomes)}\n`);
  if (options.markdown !== undefined) {
    const command = `npm run bench --${options.names.length > 0 ? ` ${options.names.join(" ")}` : ""}${options.quick ? " --quick" : ""}`;
    await writeFile(options.markdown, formatMarkdownReport(machine, outcomes, command));
    process.stderr.write(`wrote ${options.markdown}\n`);
  }
  return outcomes.some((o) => o.result === undefined) ? 1 : 0;
}

// Exit explicitly: a crashed benchmark may have left a handle (a socket, a child) open.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);

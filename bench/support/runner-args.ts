/**
 * The command line shared by the benchmark and soak runners: `[names...] [--quick] [--markdown FILE]`
 * (`--markdown=FILE` too), `--help` prints the usage and exits 0.
 */

export interface RunnerOptions {
  /** The benchmarks or soaks named; empty means all. */
  readonly names: readonly string[];
  readonly quick: boolean;
  /** Where to write the Markdown report, if asked. */
  readonly markdown: string | undefined;
}

/** A bad command line: the runner prints the message and the usage, and exits 2. */
export class UsageError extends Error {}

/** `script` names the runner in the usage line, e.g. `dist/bench/run.js`. */
export function runnerUsage(script: string): string {
  return `usage: node ${script} [names...] [--quick] [--markdown FILE]`;
}

export function parseRunnerArgs(argv: readonly string[], script: string): RunnerOptions {
  const names: string[] = [];
  let quick = false;
  let markdown: string | undefined;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? "";
    if (arg === "--quick") quick = true;
    else if (arg === "--markdown") {
      markdown = argv[++index];
      if (markdown === undefined || markdown === "") throw new UsageError("--markdown needs a file name");
    } else if (arg.startsWith("--markdown=")) markdown = arg.slice("--markdown=".length);
    else if (arg === "--help" || arg === "-h") {
      process.stdout.write(`${runnerUsage(script)}\n`);
      process.exit(0);
    } else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}`);
    else names.push(arg);
  }
  return { names, quick, markdown };
}

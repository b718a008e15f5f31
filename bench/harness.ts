/**
 * The shape every benchmark in bench/ shares: it measures its subject and a baseline in the same run (these
 * machines are noisy), prints absolute numbers, and states each target as a check that passes or misses.
 */

/** What the runner gives a benchmark. */
export interface BenchContext {
  /** `--quick`: a shorter run (the whole benchmark ≤ 15 s on 2 cores) with the same shape. */
  readonly quick: boolean;
  /** Progress lines (stderr), never part of the results. */
  log(line: string): void;
  /** A fresh scratch directory for this benchmark, removed afterwards. */
  readonly tmpDir: string;
}

/** One target of the issue, e.g. "small JSON req/s ≥ 0.70× bare". */
export interface BenchCheck {
  readonly name: string;
  readonly actual: number;
  readonly target: number;
  /** `>=`: actual must be at least target; `<=`: at most. */
  readonly comparison: ">=" | "<=";
  /** Unit of actual and target, e.g. "×", "µs", "ms", "MB". */
  readonly unit: string;
}

/** A table of absolute numbers (and the ratios derived from them). */
export interface BenchTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

export interface BenchResult {
  readonly tables: readonly BenchTable[];
  readonly checks: readonly BenchCheck[];
  /** Short remarks worth keeping next to the numbers (e.g. what the baseline is). */
  readonly notes?: readonly string[];
}

export interface Benchmark {
  /** Selects it on the command line: `npm run bench -- <name>`. */
  readonly name: string;
  readonly title: string;
  run(context: BenchContext): Promise<BenchResult>;
}

/** Whether a check meets its target. */
export function passes(check: BenchCheck): boolean {
  return check.comparison === ">=" ? check.actual >= check.target : check.actual <= check.target;
}

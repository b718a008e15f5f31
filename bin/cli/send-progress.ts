/**
 * Progress of `ingest send`, on stderr: a bar redrawn in place on a terminal, plain lines every few seconds
 * otherwise (logs, CI, tests). All rendering lives here, so a library could replace it in one place.
 */

export interface ProgressSnapshot {
  /** Records with a final answer (accepted or rejected). */
  readonly records: number;
  readonly accepted: number;
  readonly rejected: number;
  /** Input bytes covered by records with a final answer. */
  readonly bytes: number;
  /** Size of all input files. */
  readonly totalBytes: number;
  readonly elapsedMs: number;
}

export type ProgressMode = "bar" | "plain" | "none";

const BAR_WIDTH = 24;

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatDuration(ms: number): string {
  if (ms < 9_950) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Records per second so far. */
export function rateOf(s: ProgressSnapshot): number {
  return s.elapsedMs > 0 ? (s.records * 1000) / s.elapsedMs : 0;
}

/** Time left, from the input bytes still to go at the byte rate so far; undefined until there is a rate. */
export function etaMs(s: ProgressSnapshot): number | undefined {
  if (s.bytes <= 0 || s.elapsedMs <= 0 || s.totalBytes <= 0) return undefined;
  return (Math.max(0, s.totalBytes - s.bytes) * s.elapsedMs) / s.bytes;
}

function percent(s: ProgressSnapshot): number {
  return s.totalBytes > 0 ? Math.min(100, (100 * s.bytes) / s.totalBytes) : 100;
}

/** One plain line: `progress: 10,000 records (9,998 accepted, 2 rejected), 2.1 MiB of 21.0 MiB (10%), …`. */
export function plainLine(s: ProgressSnapshot): string {
  const eta = etaMs(s);
  return (
    `progress: ${formatCount(s.records)} records (${formatCount(s.accepted)} accepted, ${formatCount(s.rejected)} rejected), ` +
    `${formatBytes(s.bytes)} of ${formatBytes(s.totalBytes)} (${Math.floor(percent(s))}%), ` +
    `${formatCount(rateOf(s))} records/s, ${eta === undefined ? "ETA -" : `ETA ${formatDuration(eta)}`}`
  );
}

/** The terminal bar: `[#########---------------]  38%  38,000 rec  8.0/21.0 MiB  4,512 rec/s  ETA 0m12s`. */
export function barLine(s: ProgressSnapshot): string {
  const filled = Math.round((percent(s) / 100) * BAR_WIDTH);
  const eta = etaMs(s);
  const rejected = s.rejected > 0 ? `  ${formatCount(s.rejected)} rejected` : "";
  return (
    `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${String(Math.floor(percent(s))).padStart(3)}%  ` +
    `${formatCount(s.records)} rec${rejected}  ${formatBytes(s.bytes)}/${formatBytes(s.totalBytes)}  ` +
    `${formatCount(rateOf(s))} rec/s  ETA ${eta === undefined ? "-" : formatDuration(eta)}`
  );
}

/** Draws progress on a timer until stopped; the last state is always drawn once more on stop. */
export class ProgressReporter {
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly mode: ProgressMode,
    private readonly write: (text: string) => void,
    private readonly snapshot: () => ProgressSnapshot,
    /** Plain lines: every this many ms. The bar redraws every 200 ms. */
    private readonly plainIntervalMs = 5_000,
  ) {}

  start(): void {
    if (this.mode === "none") return;
    const every = this.mode === "bar" ? 200 : this.plainIntervalMs;
    this.timer = setInterval(() => this.draw(), every);
    this.timer.unref();
  }

  /** Draws the final state (the bar then ends its line) and stops the timer. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === "none") return;
    this.draw();
    if (this.mode === "bar" && this.drawn) this.write("\n");
  }

  /** Prints a line of its own (the bar is redrawn below it on its next tick). */
  note(text: string): void {
    if (this.mode === "none") return;
    this.write(this.mode === "bar" ? `\r\x1b[K${text}\n` : `${text}\n`);
  }

  private draw(): void {
    const s = this.snapshot();
    if (this.mode === "bar") {
      // Carriage return + erase line: the bar is redrawn in place.
      this.write(`\r${barLine(s)}\x1b[K`);
      this.drawn = true;
    } else {
      this.write(`${plainLine(s)}\n`);
    }
  }
}

/**
 * Formatting of benchmark results: aligned text tables and PASS/MISS check lines for the terminal, the same as
 * Markdown (headed by the machine it ran on) for bench/RESULTS.md. Pure functions: no I/O.
 */
import { type BenchCheck, type BenchResult, type BenchTable, passes } from "./harness.js";

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly os: string;
  readonly date: string;
}

/** What one benchmark produced, or how it failed. */
export interface BenchOutcome {
  readonly name: string;
  readonly title: string;
  readonly seconds: number;
  readonly result?: BenchResult;
  readonly error?: string;
}

/** A number as a table cell: thousands separators, at most 3 significant decimals below 10. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { minimumFractionDigits: 0, maximumFractionDigits: digits });
}

const cell = (value: string | number): string => (typeof value === "number" ? formatNumber(value) : value);

/** Columns padded to their widest cell; numbers right-aligned, text left-aligned. */
export function formatTextTable(table: BenchTable): string {
  const rows = table.rows.map((row) => table.columns.map((_, column) => row[column] ?? ""));
  const texts = [table.columns.slice(), ...rows.map((row) => row.map(cell))];
  const widths = table.columns.map((_, column) =>
    Math.max(...texts.map((line) => (line[column] ?? "").length)),
  );
  const numeric = table.columns.map(
    (_, column) => rows.length > 0 && rows.every((row) => typeof row[column] === "number"),
  );
  const render = (line: readonly string[]) =>
    line
      .map((text, column) =>
        numeric[column] ? text.padStart(widths[column] ?? 0) : text.padEnd(widths[column] ?? 0),
      )
      .join("  ")
      .trimEnd();
  return [
    table.title,
    render(texts[0] ?? []),
    widths.map((width) => "-".repeat(width)).join("  "),
    ...texts.slice(1).map(render),
  ].join("\n");
}

const escapeMarkdown = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

export function formatMarkdownTable(table: BenchTable): string {
  const line = (cells: readonly string[]) => `| ${cells.map(escapeMarkdown).join(" | ")} |`;
  const numeric = table.columns.map(
    (_, column) => table.rows.length > 0 && table.rows.every((row) => typeof row[column] === "number"),
  );
  return [
    `**${escapeMarkdown(table.title)}**`,
    "",
    line(table.columns),
    `|${numeric.map((n) => (n ? "---:" : "---")).join("|")}|`,
    ...table.rows.map((row) => line(table.columns.map((_, column) => cell(row[column] ?? "")))),
  ].join("\n");
}

/** `PASS  small JSON req/s vs bare: 0.82 × (target ≥ 0.7 ×)` */
export function formatCheck(check: BenchCheck): string {
  const unit = check.unit === "" ? "" : ` ${check.unit}`;
  const comparison = check.comparison === ">=" ? "≥" : "≤";
  return `${passes(check) ? "PASS" : "MISS"}  ${check.name}: ${formatNumber(check.actual)}${unit} (target ${comparison} ${formatNumber(check.target)}${unit})`;
}

export function formatOutcomeText(outcome: BenchOutcome): string {
  const lines = [`== ${outcome.name}: ${outcome.title} (${outcome.seconds.toFixed(1)} s)`, ""];
  if (outcome.result === undefined) {
    lines.push(`CRASHED: ${outcome.error ?? "unknown error"}`, "");
    return lines.join("\n");
  }
  for (const table of outcome.result.tables) lines.push(formatTextTable(table), "");
  for (const check of outcome.result.checks) lines.push(formatCheck(check));
  if (outcome.result.checks.length > 0) lines.push("");
  for (const note of outcome.result.notes ?? []) lines.push(`note: ${note}`);
  if ((outcome.result.notes ?? []).length > 0) lines.push("");
  return lines.join("\n");
}

export function formatOutcomeMarkdown(outcome: BenchOutcome): string {
  const lines = [`## ${outcome.name}: ${escapeMarkdown(outcome.title)}`, ""];
  if (outcome.result === undefined) {
    lines.push(
      `**Crashed** after ${outcome.seconds.toFixed(1)} s: \`${outcome.error ?? "unknown error"}\``,
      "",
    );
    return lines.join("\n");
  }
  lines.push(`Ran for ${outcome.seconds.toFixed(1)} s.`, "");
  for (const table of outcome.result.tables) lines.push(formatMarkdownTable(table), "");
  if (outcome.result.checks.length > 0) {
    lines.push("| check | actual | target | result |", "|---|---:|---:|---|");
    for (const check of outcome.result.checks) {
      const unit = check.unit === "" ? "" : ` ${check.unit}`;
      lines.push(
        `| ${escapeMarkdown(check.name)} | ${formatNumber(check.actual)}${unit} | ${check.comparison === ">=" ? "≥" : "≤"} ${formatNumber(check.target)}${unit} | ${passes(check) ? "PASS" : "**MISS**"} |`,
      );
    }
    lines.push("");
  }
  for (const note of outcome.result.notes ?? []) lines.push(`- ${escapeMarkdown(note)}`);
  if ((outcome.result.notes ?? []).length > 0) lines.push("");
  return lines.join("\n");
}

interface Tally {
  readonly pass: number;
  readonly miss: number;
  readonly crashed: number;
}

function tally(outcomes: readonly BenchOutcome[]): Tally {
  const checks = outcomes.flatMap((o) => o.result?.checks ?? []);
  return {
    pass: checks.filter(passes).length,
    miss: checks.filter((c) => !passes(c)).length,
    crashed: outcomes.filter((o) => o.result === undefined).length,
  };
}

export function formatSummaryText(outcomes: readonly BenchOutcome[]): string {
  const lines = ["== summary"];
  for (const outcome of outcomes) {
    const t = tally([outcome]);
    lines.push(
      `${outcome.name.padEnd(12)} ${outcome.result === undefined ? "CRASHED" : `${t.pass} pass, ${t.miss} miss`} (${outcome.seconds.toFixed(1)} s)`,
    );
  }
  const all = tally(outcomes);
  lines.push(
    `total: ${all.pass} pass, ${all.miss} miss${all.crashed > 0 ? `, ${all.crashed} crashed` : ""} (MISS is information, not a failure)`,
  );
  return lines.join("\n");
}

const GIB = 1024 ** 3;

export function formatMarkdownReport(
  machine: MachineInfo,
  outcomes: readonly BenchOutcome[],
  command: string,
): string {
  const all = tally(outcomes);
  const lines = [
    "# Benchmark results",
    "",
    `Produced by \`${command}\`. Every benchmark measures its baseline in the same run; ratios are the numbers to compare across machines.`,
    "",
    "| machine | |",
    "|---|---|",
    `| CPU | ${escapeMarkdown(machine.cpu)} |`,
    `| cores | ${machine.cores} |`,
    `| RAM | ${(machine.memoryBytes / GIB).toFixed(1)} GiB |`,
    `| Node | ${machine.node} |`,
    `| OS | ${escapeMarkdown(machine.os)} |`,
    `| date | ${machine.date} |`,
    "",
    "| benchmark | checks | time |",
    "|---|---|---:|",
    ...outcomes.map((o) => {
      const t = tally([o]);
      return `| ${o.name} | ${o.result === undefined ? "**crashed**" : `${t.pass} pass, ${t.miss} miss`} | ${o.seconds.toFixed(1)} s |`;
    }),
    `| **total** | ${all.pass} pass, ${all.miss} miss${all.crashed > 0 ? `, ${all.crashed} crashed` : ""} | |`,
    "",
    ...outcomes.map(formatOutcomeMarkdown),
  ];
  return `${lines.join("\n").trimEnd()}\n`;
}

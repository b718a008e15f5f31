/** Formatting of the soak runner's result table: plain aligned text for the terminal and Markdown. */

export interface TableRow {
  readonly soak: string;
  readonly scenario: string;
  readonly volume: string;
  readonly result: string;
  readonly ok: boolean;
}

const HEADER = ["soak", "scenario", "volume tried", "result", "ok"] as const;

function cells(row: TableRow): string[] {
  return [row.soak, row.scenario, row.volume, row.result, row.ok ? "ok" : "FAIL"];
}

/** One aligned text table, columns separated by ` | `, a dashed rule under the header. */
export function formatTextTable(rows: readonly TableRow[]): string {
  const all = [HEADER.slice(), ...rows.map(cells)];
  const widths = HEADER.map((_, column) => Math.max(...all.map((line) => (line[column] ?? "").length)));
  const render = (line: readonly string[]): string =>
    line
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join(" | ")
      .trimEnd();
  const rule = widths.map((width) => "-".repeat(width)).join("-|-");
  return [render(all[0] ?? []), rule, ...all.slice(1).map(render)].join("\n");
}

function escapeMarkdown(cell: string): string {
  return cell.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** The same table as GitHub Markdown. */
export function formatMarkdownTable(rows: readonly TableRow[]): string {
  const line = (values: readonly string[]): string => `| ${values.map(escapeMarkdown).join(" | ")} |`;
  return [
    line(HEADER),
    `|${HEADER.map(() => "---").join("|")}|`,
    ...rows.map((row) => line(cells(row))),
  ].join("\n");
}

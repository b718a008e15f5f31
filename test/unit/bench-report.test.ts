/** The bench runner's formatting: PASS/MISS lines, aligned tables, the Markdown report and its summary. */
import { passes } from "../../bench/harness.js";
import {
  type BenchOutcome,
  formatCheck,
  formatMarkdownReport,
  formatNumber,
  formatSummaryText,
  formatTextTable,
} from "../../bench/report.js";

const outcome: BenchOutcome = {
  name: "local-http",
  title: "runtime vs bare",
  seconds: 12.34,
  result: {
    tables: [
      {
        title: "Throughput",
        columns: ["payload", "req/s", "ratio"],
        rows: [
          ["small JSON", 12345, 0.7812],
          ["1 KiB XML", 987, 0.25],
        ],
      },
    ],
    checks: [
      { name: "small JSON req/s vs bare", actual: 0.7812, target: 0.7, comparison: ">=", unit: "×" },
      { name: "1 KiB XML req/s vs bare", actual: 0.25, target: 0.5, comparison: ">=", unit: "×" },
      { name: "errors", actual: 0, target: 0, comparison: "<=", unit: "" },
    ],
    notes: ["baseline | bare"],
  },
};

describe("bench report", () => {
  it("prints a check as PASS or MISS with actual, comparison, target and unit", () => {
    const [pass, miss, none] = outcome.result?.checks ?? [];
    if (pass === undefined || miss === undefined || none === undefined) throw new Error("fixture");
    expect(formatCheck(pass)).toBe("PASS  small JSON req/s vs bare: 0.781 × (target ≥ 0.7 ×)");
    expect(formatCheck(miss)).toBe("MISS  1 KiB XML req/s vs bare: 0.25 × (target ≥ 0.5 ×)");
    expect(formatCheck(none)).toBe("PASS  errors: 0 (target ≤ 0)");
    expect(passes({ ...none, actual: 1 })).toBe(false);
  });

  it("formats numbers with separators and fewer decimals as they grow", () => {
    expect([formatNumber(12345.6), formatNumber(45.67), formatNumber(4.567), formatNumber(0.12345)]).toEqual([
      "12,346",
      "45.7",
      "4.57",
      "0.123",
    ]);
    expect(formatNumber(Number.NaN)).toBe("NaN");
  });

  it("aligns text tables: numbers to the right, text to the left", () => {
    const table = outcome.result?.tables[0];
    if (table === undefined) throw new Error("fixture");
    expect(formatTextTable(table).split("\n")).toEqual([
      "Throughput",
      "payload      req/s  ratio",
      "----------  ------  -----",
      "small JSON  12,345  0.781",
      "1 KiB XML      987   0.25",
    ]);
  });

  it("writes a Markdown report headed by the machine, with a summary and escaped cells", () => {
    const markdown = formatMarkdownReport(
      {
        cpu: "Test CPU",
        cores: 2,
        memoryBytes: 8 * 1024 ** 3,
        node: "v20.0.0",
        os: "linux 6",
        date: "2026-01-01",
      },
      [outcome, { name: "memory", title: "rss", seconds: 1, error: "boom" }],
      "npm run bench --",
    );
    expect(markdown).toContain("| CPU | Test CPU |");
    expect(markdown).toContain("| RAM | 8.0 GiB |");
    expect(markdown).toContain("| local-http | 2 pass, 1 miss | 12.3 s |");
    expect(markdown).toContain("| memory | **crashed** | 1.0 s |");
    expect(markdown).toContain("| 1 KiB XML req/s vs bare | 0.25 × | ≥ 0.5 × | **MISS** |");
    expect(markdown).toContain("- baseline \\| bare");
    expect(markdown).toContain("|---|---:|---:|");
  });

  it("summarises pass, miss and crashed benchmarks; a miss is not a failure", () => {
    const text = formatSummaryText([outcome, { name: "memory", title: "rss", seconds: 1, error: "boom" }]);
    expect(text).toContain("local-http   2 pass, 1 miss (12.3 s)");
    expect(text).toContain("memory       CRASHED (1.0 s)");
    expect(text).toContain("total: 2 pass, 1 miss, 1 crashed");
  });
});

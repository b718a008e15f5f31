/** The soak runner's result table: aligned text for the terminal, escaped Markdown for files. */
import { formatMarkdownTable, formatTextTable } from "../../soak/support/table.js";

const rows = [
  { soak: "crash-loop", scenario: "SIGKILL under load", volume: "23 kills", result: "0 lost", ok: true },
  { soak: "faults", scenario: "a|b", volume: "1", result: "1 lost", ok: false },
];

describe("soak result table", () => {
  it("aligns every column and marks rows that are not ok", () => {
    expect(formatTextTable(rows).split("\n")).toEqual([
      "soak       | scenario           | volume tried | result | ok",
      "-----------|--------------------|--------------|--------|-----",
      "crash-loop | SIGKILL under load | 23 kills     | 0 lost | ok",
      "faults     | a|b                | 1            | 1 lost | FAIL",
    ]);
  });

  it("writes Markdown with pipes in cells escaped", () => {
    expect(formatMarkdownTable(rows).split("\n")).toEqual([
      "| soak | scenario | volume tried | result | ok |",
      "|---|---|---|---|---|",
      "| crash-loop | SIGKILL under load | 23 kills | 0 lost | ok |",
      "| faults | a\\|b | 1 | 1 lost | FAIL |",
    ]);
  });
});

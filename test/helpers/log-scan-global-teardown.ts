/**
 * Jest globalTeardown: scans every log line captured during the run for tokens, private keys and canary record
 * content, and fails the run naming the file and line of each. The scanner first proves it still finds planted
 * leaks, and the run must have captured at least one test file: a scan that saw nothing cannot pass.
 * INGEST_TEST_LOG_KEEP=1 keeps the captured files of a clean run (to look at what was captured).
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
// Extensionless: global hooks load outside jest's moduleNameMapper, which maps the `.js` suffix away.
import { assertScannerWorks, formatFindings, scanText } from "./log-scan";

export default function scanCapturedLogs(): void {
  const dir = process.env.INGEST_TEST_LOG_DIR;
  if (dir === undefined || dir === "")
    throw new Error("log scan: INGEST_TEST_LOG_DIR is not set (globalSetup)");
  assertScannerWorks();
  const captured = readdirSync(dir)
    .filter((name) => name.endsWith(".log"))
    .sort()
    .map((name) => ({ file: join(dir, name), text: readFileSync(join(dir, name), "utf8") }));
  const testFiles = new Set(
    captured.flatMap(({ text }) =>
      text
        .split("\n")
        .filter((line) => line.endsWith("\tcapture\t# capture started"))
        .map((line) => line.split("\t")[0]),
    ),
  );
  if (testFiles.size === 0) {
    throw new Error(
      `log scan: no test file was captured in ${dir}; is test/helpers/log-capture-setup.ts in setupFilesAfterEnv?`,
    );
  }
  const findings = captured.flatMap(({ file, text }) => scanText(text, file));
  if (findings.length > 0) {
    throw new Error(
      `log scan: ${findings.length} captured log line(s) hold a token, key material or record content (kept in ${dir}; each line is <test file>\\t<source>\\t<log line>):\n${formatFindings(findings)}`,
    );
  }
  const lines = captured.reduce((n, { text }) => n + text.split("\n").length - 1, 0);
  const keep = process.env.INGEST_TEST_LOG_KEEP === "1";
  process.stderr.write(
    `log scan: ${lines.toLocaleString("en-US")} log lines from ${testFiles.size} test files hold no token, key material or record content${keep ? ` (kept in ${dir})` : ""}\n`,
  );
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

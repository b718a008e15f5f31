/** Jest globalSetup: a fresh directory for this run's captured log lines (see log-capture.ts). */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function createLogCaptureDirectory(): void {
  // Workers are started after this and inherit the variable.
  process.env.INGEST_TEST_LOG_DIR = mkdtempSync(join(tmpdir(), "ingest-test-logs-"));
}

/** Jest setupFilesAfterEnv: captures this test file's log lines for the run-wide leak scan (log-capture.ts). */
import { startLogCapture, stopLogCapture } from "./log-capture.js";

const dir = process.env.INGEST_TEST_LOG_DIR;
if (dir !== undefined && dir !== "") {
  startLogCapture(dir, expect.getState().testPath ?? "unknown test file");
  afterAll(() => stopLogCapture());
}

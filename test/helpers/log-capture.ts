/**
 * Captures every log line a test file produces into the run's log directory (INGEST_TEST_LOG_DIR, made by
 * test/helpers/log-scan-global-setup.ts), where the global teardown scans it for leaked tokens, keys and
 * record content. Sources: process.stdout/stderr writes, the collecting loggers of test/helpers, Powertools
 * loggers (even while a test mocks stdout) and the stderr of `ingest serve` children. Not captured: CLI output
 * (tokens are printed on purpose; it is not a log), and the jest console (tests' own debug prints; wrapping it
 * would make jest show this file as the origin of every console.log).
 */
import { appendFileSync, closeSync, openSync, writeSync } from "node:fs";
import { join, relative } from "node:path";

/**
 * The capturing function is shared through globalThis so that every instance of this module (after
 * jest.resetModules) writes to the same file. Only a function is put there, never a mutable object: jest
 * "soft-deletes" the properties of objects left on the global at teardown, and writes to them then recurse.
 */
const CAPTURE_KEY = Symbol.for("streaming-ingest.test-log-capture");

type CaptureFn = (source: string, text: string) => void;

function activeCapture(): CaptureFn | undefined {
  const fn = (globalThis as Record<symbol, unknown>)[CAPTURE_KEY];
  return typeof fn === "function" ? (fn as CaptureFn) : undefined;
}

/**
 * Records one log line (or several, newline-separated) from `source`. A no-op when the run has no log
 * directory (e.g. a test started outside jest's config).
 */
export function captureLogLine(source: string, text: string): void {
  activeCapture()?.(source, text);
}

/** Records a structured log entry as the JSON line a logger would write (String() when it is not JSON-able). */
export function captureLogEntry(source: string, entry: unknown): void {
  let text: string;
  try {
    text = JSON.stringify(entry) ?? String(entry);
  } catch {
    text = String(entry);
  }
  captureLogLine(source, text);
}

/** This module instance's capture, when it started one: what stopLogCapture undoes. */
let stopActive: (() => void) | undefined;

/** Starts capturing for the current test file (one file per jest worker process): called by the jest setup. */
export function startLogCapture(dir: string, testPath: string): void {
  const file = join(dir, `${process.pid}.log`);
  const testFile = relative(process.cwd(), testPath);
  let fd: number | undefined;
  // After the file's last test, lines from late hooks are appended without keeping the file open.
  let stopped = false;
  // Re-entrancy guard: our own writes must not capture themselves.
  let busy = false;
  // A failed write must not break the logger that called us, but must not pass unnoticed either.
  let failure: unknown;
  const capture: CaptureFn = (source, text) => {
    if (busy) return;
    busy = true;
    try {
      let out = "";
      for (const line of text.split("\n")) {
        if (line.trim() !== "") out += `${testFile}\t${source}\t${line}\n`;
      }
      if (out === "") return;
      if (stopped) appendFileSync(file, out);
      else {
        fd ??= openSync(file, "a");
        writeSync(fd, out);
      }
    } catch (error) {
      failure ??= error;
    } finally {
      busy = false;
    }
  };
  (globalThis as Record<symbol, unknown>)[CAPTURE_KEY] = capture;
  capture("capture", "# capture started");

  const restore: (() => void)[] = [];
  for (const [name, stream] of [
    ["stdout", process.stdout],
    ["stderr", process.stderr],
  ] as const) {
    const original = stream.write;
    const tee = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      if (!stopped) capture(name, chunkText(chunk));
      return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
    stream.write = tee;
    // Only undo our own wrapper: a test's spy that is still installed is the test's to restore. jest may
    // also put the tee back later (restoring a test's spy at teardown): once stopped, it only passes through,
    // so jest's own output after the file is never taken for this file's logs.
    restore.push(() => {
      if (stream.write === tee) stream.write = original;
    });
  }
  stopActive = () => {
    for (const undo of restore.splice(0)) undo();
    stopped = true;
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    if (failure !== undefined) {
      throw new Error(`log capture could not write ${file}; this file's logs were not all scanned`, {
        cause: failure,
      });
    }
  };
}

/** Stops capturing: puts stdout/stderr back and closes the file (later lines are still appended). */
export function stopLogCapture(): void {
  stopActive?.();
  stopActive = undefined;
}

/** The text of a stream write's chunk (a string, a Buffer or another typed array, even from another realm). */
function chunkText(chunk: unknown): string {
  if (typeof chunk === "string") return chunk;
  if (ArrayBuffer.isView(chunk))
    return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("utf8");
  return String(chunk);
}

/** Shared fixtures of the file-sink tests: streams, records, a fake clock, a fault-injecting file system. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { encode } from "cbor-x";
import { FileSink, type FileSinkOptions } from "../../lambda/adapters/file-sink.js";
import { IngestError } from "../../lambda/core/errors.js";
import type { Logger } from "../../lambda/core/ports.js";
import type { AcceptedRecord, DeliverySettings, StreamRecord } from "../../lambda/core/types.js";

export const STREAM_ID = "is-AbCDefGH";
export const TENANT = "acme";
/** 2024-03-05T07:08:09.500Z */
export const START = Date.UTC(2024, 2, 5, 7, 8, 9, 500);

export function makeStream(
  delivery: Partial<DeliverySettings> = {},
  overrides: Partial<StreamRecord> = {},
): StreamRecord {
  return {
    id: STREAM_ID,
    tenant: TENANT,
    name: "orders",
    description: "",
    payload: "json",
    status: "active",
    delivery: { bufferMiB: 5, bufferSeconds: 300, compression: "none", shards: 1, ...delivery },
    rateLimitPerSecond: 1000,
    rateLimitBurst: 1000,
    createdAt: "2024-01-01T00:00:00Z",
    updatedAt: "2024-01-01T00:00:00Z",
    deliveryStreams: [],
    ...overrides,
  };
}

/** One NDJSON line `{"i":<i>,"pad":"x…"}\n`, padded to exactly `size` bytes when given. */
export function jsonLine(i: number, size?: number): Buffer {
  const bare = `{"i":${i},"pad":""}\n`;
  const pad = size === undefined ? 0 : size - Buffer.byteLength(bare);
  return Buffer.from(`{"i":${i},"pad":"${"x".repeat(Math.max(0, pad))}"}\n`);
}

export function jsonRecord(stream: StreamRecord, i: number, size?: number): AcceptedRecord {
  return { stream, data: jsonLine(i, size) };
}

export function cborRecord(stream: StreamRecord, value: Record<string, unknown>): AcceptedRecord {
  return { stream, data: encode(value) };
}

/** A clock whose time the test sets. */
export class FakeClock {
  constructor(public time = START) {}
  now(): number {
    return this.time;
  }
}

/** A logger that keeps its lines, so tests can check what was (not) logged. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(JSON.stringify({ level, message, ...fields }));
  };
  return { lines, info: log("info"), warn: log("warn"), error: log("error") };
}

export function tempRoot(): string {
  return mkdtempSync(`${tmpdir()}/sink-`);
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

/** Files under `dir`, as `/`-separated paths relative to it, sorted. */
export function listFiles(dir: string, prefix = ""): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries
    .flatMap((name) => {
      const path = join(dir, name);
      const relative = prefix === "" ? name : `${prefix}/${name}`;
      return statSync(path).isDirectory() ? listFiles(path, relative) : [relative];
    })
    .sort();
}

/** Keys of the sealed objects, sorted (`streams/…`). */
export function objectKeys(root: string): string[] {
  return listFiles(join(root, "streams"), "streams");
}

/** Batch files still in-flight (not the `.seq` file). */
export function inflightBatches(root: string): string[] {
  return listFiles(join(root, ".inflight")).filter((path) => !path.split("/").pop()?.startsWith("."));
}

/** The content of a sealed object, gunzipped when its key ends in `.gz`. */
export function readObject(root: string, key: string): Buffer {
  const bytes = readFileSync(join(root, ...key.split("/")));
  return key.endsWith(".gz") ? gunzipSync(bytes) : bytes;
}

/** The `i` of every NDJSON line of every sealed object, in key order. */
export function sealedLineIds(root: string): number[] {
  return objectKeys(root).flatMap((key) =>
    readObject(root, key)
      .toString("utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => (JSON.parse(line) as { i: number }).i),
  );
}

/** The fault-injecting file system the faults soak uses too: see soak/support/faulty-sink-fs.ts. */
export { errnoError, FaultySinkFs as FaultyFs } from "../../soak/support/faulty-sink-fs.js";

const liveSinks: FileSink[] = [];

/** A sink on `root` with a fake clock, a recording logger and (optionally) other options. */
export function makeSink(
  root: string,
  extra: Partial<FileSinkOptions> = {},
): { sink: FileSink; clock: FakeClock; logger: ReturnType<typeof recordingLogger> } {
  const clock = new FakeClock();
  const logger = recordingLogger();
  const sink = new FileSink({ root, clock, logger, ...extra });
  liveSinks.push(sink);
  return { sink, clock, logger };
}

/** Closes every sink made by makeSink (so no file handle outlives its test). */
export async function closeSinks(): Promise<void> {
  const sinks = liveSinks.splice(0);
  await Promise.all(sinks.map((sink) => sink.close()));
}

/** A promise and the function that resolves it. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** The IngestError a promise rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejection(promise: Promise<unknown>): Promise<IngestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof IngestError) {
      return error;
    }
    throw error;
  }
  throw new Error("expected a rejection");
}

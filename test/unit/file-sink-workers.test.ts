/**
 * File sink in cluster mode (`ingest serve --workers N`): each worker writes its own in-flight folder, batch
 * numbers come from one shared reservation, a single process's recovery also covers workers' folders, and a
 * worker's covers only its own.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseBatchFileName } from "../../lambda/adapters/batch-file-name.js";
import { parseWorkerInflightDirName, workerInflightDirName } from "../../lambda/adapters/worker-inflight.js";
import { SharedSequences } from "../../lambda/local/cluster-inflight.js";
import { WorkerShareRateLimiter } from "../../lambda/local/cluster-worker.js";
import {
  closeSinks,
  inflightBatches,
  jsonLine,
  jsonRecord,
  makeSink,
  makeStream,
  objectKeys,
  recordingLogger,
  removeRoot,
  sealedLineIds,
  tempRoot,
} from "./file-sink-fixtures.js";

let root: string;
beforeEach(() => {
  root = tempRoot();
});
afterEach(async () => {
  await closeSinks();
  removeRoot(root);
});

/** Two worker sinks sharing one batch counter, as the primary hands it out. */
function twoWorkers() {
  let last = 0;
  const reserveSequence = async () => ++last;
  return [
    makeSink(root, { worker: { id: "101", reserveSequence } }).sink,
    makeSink(root, { worker: { id: "202", reserveSequence } }).sink,
  ];
}

it("writes each worker's open batches in its own folder, numbered from the shared reservation", async () => {
  const [a, b] = twoWorkers();
  const stream = makeStream();
  await Promise.all([a?.put(jsonRecord(stream, 1)), b?.put(jsonRecord(stream, 2))]);
  const open = inflightBatches(root);
  expect(open.map((path) => path.split("/").slice(0, 3).join("/")).sort()).toEqual([
    "@worker-101/acme/is-AbCDefGH",
    "@worker-202/acme/is-AbCDefGH",
  ]);
  expect(open.map((path) => parseBatchFileName(path.split("/").pop() ?? "")?.seq).sort()).toEqual([1, 2]);

  await Promise.all([a?.flush(), b?.flush()]);
  const keys = objectKeys(root);
  expect(keys).toHaveLength(2);
  expect(new Set(keys.map((k) => parseBatchFileName(k.split("/").pop() ?? "")?.seq)).size).toBe(2);
  expect(sealedLineIds(root).sort()).toEqual([1, 2]);
});

it("recovers workers' folders in a single process, once, and numbers later batches past theirs", async () => {
  const dir = join(root, ".inflight", "@worker-4242", "acme", "is-AbCDefGH");
  mkdirSync(dir, { recursive: true });
  // A torn tail, as a SIGKILL mid-write leaves it.
  writeFileSync(join(dir, "is-AbCDefGH-000009-2024-03-05-07-08-09-abcdefgh.ndjson"), `${jsonLine(1)}{"i":2,`);
  const { sink, logger } = makeSink(root);
  const report = await sink.recover();
  expect(report).toMatchObject({ sealed: 1, failed: 0 });
  expect(logger.lines.filter((l) => l.includes("recovery done"))).toHaveLength(1);
  expect(sealedLineIds(root)).toEqual([1]);
  expect(inflightBatches(root)).toEqual([]);

  await sink.put(jsonRecord(makeStream(), 3));
  const [open] = inflightBatches(root);
  expect(open?.startsWith("acme/is-AbCDefGH/")).toBe(true);
  expect(parseBatchFileName(open?.split("/").pop() ?? "")?.seq).toBe(10);
});

it("a worker's recovery covers only its own folder", async () => {
  for (const owner of ["@worker-1", "@worker-2"]) {
    const dir = join(root, ".inflight", owner, "acme", "is-AbCDefGH");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `is-AbCDefGH-00000${owner.slice(-1)}-2024-03-05-07-08-09-abcdefgh.ndjson`),
      jsonLine(1),
    );
  }
  const { sink } = makeSink(root, { worker: { id: "1", reserveSequence: async () => 99 } });
  expect((await sink.recover()).sealed).toBe(1);
  expect(inflightBatches(root)).toEqual([
    "@worker-2/acme/is-AbCDefGH/is-AbCDefGH-000002-2024-03-05-07-08-09-abcdefgh.ndjson",
  ]);
});

it("names worker folders so they never pass for a tenant's, and refuses ids that are not pids", () => {
  expect(workerInflightDirName("12345")).toBe("@worker-12345");
  expect(parseWorkerInflightDirName("@worker-12345")).toBe(12345);
  expect(parseWorkerInflightDirName("acme")).toBeUndefined();
  expect(parseWorkerInflightDirName("@worker-../x")).toBeUndefined();
  expect(() => workerInflightDirName("../etc")).toThrow(TypeError);
});

describe("SharedSequences (the primary's batch numbers)", () => {
  const stream = { id: "is-AbCDefGH", tenant: "acme" };

  it("hands out distinct consecutive numbers to concurrent reservations and persists the last", async () => {
    const sequences = new SharedSequences(root, recordingLogger());
    const seqs = await Promise.all(Array.from({ length: 20 }, () => sequences.reserve(stream)));
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(readFileSync(join(root, ".inflight", "acme", "is-AbCDefGH", ".seq"), "utf8")).toBe("20\n");
    // A new primary (or a single process) continues from the same file.
    expect(await new SharedSequences(root, recordingLogger()).reserve(stream)).toBe(21);
  });

  it("refuses what is not a stream id and tenant (no path leaves .inflight)", async () => {
    const sequences = new SharedSequences(root, recordingLogger());
    await expect(sequences.reserve({ id: "../../x", tenant: "acme" })).rejects.toThrow();
    await expect(sequences.reserve({ id: "is-AbCDefGH", tenant: "../up" })).rejects.toThrow();
  });
});

it("splits a stream's rate limit evenly between workers", () => {
  const clock = { time: 0, now: () => clock.time };
  const limiter = new WorkerShareRateLimiter(clock, 2);
  // 10/s with a burst of 4 for the stream: each of 2 workers admits a burst of 2 and 5/s.
  expect([1, 2, 3].map(() => limiter.take("is-AbCDefGH", 10, 4).allowed)).toEqual([true, true, false]);
  clock.time += 200;
  expect(limiter.take("is-AbCDefGH", 10, 4).allowed).toBe(true);
  expect(limiter.take("is-AbCDefGH", 10, 4).allowed).toBe(false);
});

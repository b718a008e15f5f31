/** File sink, write path: durability before resolve, group commit, the pending-bytes bound and close(). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encode } from "cbor-x";
import {
  closeSinks,
  FaultyFs,
  gate,
  inflightBatches,
  jsonLine,
  jsonRecord,
  makeSink,
  makeStream,
  objectKeys,
  rejection,
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

describe("FileSink write path", () => {
  it("resolves a put only when its bytes are in the in-flight batch file", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream();
    await sink.put(jsonRecord(stream, 1));
    await sink.put(jsonRecord(stream, 2));

    const [batch] = inflightBatches(root);
    expect(batch).toMatch(/^acme\/is-AbCDefGH\/is-AbCDefGH-000001-.*\.ndjson$/);
    const bytes = readFileSync(join(root, ".inflight", ...(batch ?? "").split("/")));
    expect(bytes).toEqual(Buffer.concat([jsonLine(1), jsonLine(2)]));
  });

  it("coalesces 100 concurrent puts into a few fdatasyncs and keeps them in order, each exactly once", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs });
    const stream = makeStream();
    await sink.put(jsonRecord(stream, 0));
    const before = { writes: fs.writes, datasyncs: fs.datasyncs };

    await Promise.all(Array.from({ length: 100 }, (_, i) => sink.put(jsonRecord(stream, i + 1))));

    // At most: the first record alone (nothing was in progress), then the other 99 queued behind it together.
    expect(fs.datasyncs - before.datasyncs).toBeLessThanOrEqual(2);
    expect(fs.writes - before.writes).toBe(fs.datasyncs - before.datasyncs);
    await sink.flush();
    expect(sealedLineIds(root)).toEqual(Array.from({ length: 101 }, (_, i) => i));
  });

  it("writes the first record after an idle period at once, and the records queued meanwhile in one commit", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs });
    const stream = makeStream();
    await sink.put(jsonRecord(stream, 0));
    const slow = gate();
    fs.datasyncGate = slow.promise;
    const started = new Promise<void>((resolve) => {
      fs.onDatasync = resolve;
    });
    const writesBefore = fs.writes;

    const first = sink.put(jsonRecord(stream, 1));
    await started;
    expect(fs.writes).toBe(writesBefore + 1);
    const queued = [2, 3, 4, 5].map((i) => sink.put(jsonRecord(stream, i)));
    fs.onDatasync = undefined;
    fs.datasyncGate = undefined;
    slow.open();
    await Promise.all([first, ...queued]);

    expect(fs.writes).toBe(writesBefore + 2);
    await sink.flush();
    expect(sealedLineIds(root)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("answers 503 sink_busy past the pending-bytes bound while a slow fdatasync holds the queue, then resumes", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs, maxPendingBytes: 300 });
    const stream = makeStream();
    await sink.put(jsonRecord(stream, 0, 100));
    const slow = gate();
    fs.datasyncGate = slow.promise;

    const admitted = [1, 2, 3].map((i) => sink.put(jsonRecord(stream, i, 100)));
    const refused = await rejection(sink.put(jsonRecord(stream, 4, 100)));
    expect(refused).toMatchObject({ status: 503, code: "sink_busy", retryAfterSeconds: 1 });

    fs.datasyncGate = undefined;
    slow.open();
    await Promise.all(admitted);
    await sink.put(jsonRecord(stream, 5, 100));
    await sink.flush();
    expect(sealedLineIds(root)).toEqual([0, 1, 2, 3, 5]);
  });

  it("keeps puts of different streams in separate batches", async () => {
    const { sink } = makeSink(root);
    const a = makeStream();
    const b = makeStream({}, { id: "is-Zz000001", tenant: "other" });
    await Promise.all([sink.put(jsonRecord(a, 1)), sink.put(jsonRecord(b, 2)), sink.put(jsonRecord(a, 3))]);
    const keys = await sink.flush();
    expect(keys.sort()).toEqual([
      expect.stringMatching(/^streams\/acme\/is-AbCDefGH\//),
      expect.stringMatching(/^streams\/other\/is-Zz000001\//),
    ]);
  });

  it("close() waits for queued writes, seals everything and refuses later puts with 503", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream();
    const queued = Array.from({ length: 10 }, (_, i) => sink.put(jsonRecord(stream, i)));
    await sink.close();
    await Promise.all(queued);

    expect(objectKeys(root)).toHaveLength(1);
    expect(inflightBatches(root)).toEqual([]);
    expect(sealedLineIds(root)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const refused = await rejection(sink.put(jsonRecord(stream, 10)));
    expect(refused).toMatchObject({ status: 503, code: "sink_unavailable", retryable: true });
    expect(refused.message).toMatch(/shutting down/);
  });

  it("refuses records that would break the batch framing, without writing them", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream();
    const noNewline = await rejection(sink.put({ stream, data: Buffer.from('{"a":1}') }));
    expect(noNewline.status).toBe(500);
    const badTenant = await rejection(sink.put(jsonRecord(makeStream({}, { tenant: "../x" }), 1)));
    expect(badTenant.status).toBe(500);
    const xml = makeStream({}, { payload: "xml" });
    const notAMap = await rejection(sink.put({ stream: xml, data: encode(["a"]) }));
    expect(notAMap.status).toBe(500);
    expect(inflightBatches(root)).toEqual([]);
  });

  it("never logs record content", async () => {
    const fs = new FaultyFs();
    const { sink, logger } = makeSink(root, { fs });
    const stream = makeStream();
    const secret = { stream, data: Buffer.from('{"card":"4111-SECRET"}\n') };
    await sink.put(secret);
    fs.writeFault = "EIO";
    await expect(sink.put(secret)).rejects.toThrow();
    fs.writeFault = undefined;
    await sink.flush();
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.lines.join("\n")).not.toContain("SECRET");
  });
});

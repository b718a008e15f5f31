/**
 * File sink, batches: every record of a batch request in one group commit (one write, one fdatasync), never
 * split across batch files, all-or-nothing on a failed write, and the same bounds as put.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AcceptedBatch, StreamRecord } from "../../lambda/core/types.js";
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
  readObject,
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

/** A batch of NDJSON lines numbered from..from+count-1, each `size` bytes when given. */
function batchOf(stream: StreamRecord, from: number, count: number, size?: number): AcceptedBatch {
  return { stream, records: Array.from({ length: count }, (_, i) => jsonLine(from + i, size)) };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
/** 0.001 MiB = 1,048 bytes: a tiny buffer size so files fill after a few records. */
const TINY_MIB = 0.001;

function inflightContent(): Buffer {
  const [batch] = inflightBatches(root);
  return readFileSync(join(root, ".inflight", ...(batch ?? "").split("/")));
}

describe("FileSink.putBatch", () => {
  it("writes every record of the batch with one write and one fdatasync, in order, before it resolves", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs });
    const stream = makeStream();
    await sink.putBatch(batchOf(stream, 0, 100));
    expect({ writes: fs.writes, datasyncs: fs.datasyncs }).toEqual({ writes: 1, datasyncs: 1 });
    expect(inflightContent()).toEqual(Buffer.concat(range(0, 100).map((i) => jsonLine(i))));
  });

  it("does not resolve before its fdatasync finished", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs });
    const slow = gate();
    fs.datasyncGate = slow.promise;
    let settled = false;
    const put = sink.putBatch(batchOf(makeStream(), 0, 3)).then(() => {
      settled = true;
    });
    await new Promise<void>((resolve) => {
      fs.onDatasync = resolve;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    slow.open();
    await put;
    expect(settled).toBe(true);
  });

  it("joins a group commit with single puts queued meanwhile, its records kept together and in order", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs });
    const stream = makeStream();
    await sink.put(jsonRecord(stream, 0));
    const slow = gate();
    fs.datasyncGate = slow.promise;
    const started = new Promise<void>((resolve) => {
      fs.onDatasync = resolve;
    });
    const first = sink.put(jsonRecord(stream, 1));
    await started;
    fs.onDatasync = undefined;
    const queued = [
      sink.put(jsonRecord(stream, 2)),
      sink.putBatch(batchOf(stream, 3, 5)),
      sink.put(jsonRecord(stream, 8)),
    ];
    const writesBefore = fs.writes;
    fs.datasyncGate = undefined;
    slow.open();
    await Promise.all([first, ...queued]);
    expect(fs.writes).toBe(writesBefore + 1);
    await sink.flush();
    expect(sealedLineIds(root)).toEqual(range(0, 9));
  });

  it("seals the open file first when the batch does not fit in its remaining size", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream({ bufferMiB: TINY_MIB });
    await sink.put(jsonRecord(stream, 0, 600));
    await sink.putBatch(batchOf(stream, 1, 3, 200));
    await sink.sealDue(); // runs the seal started in the background; the clock did not move
    // The first file was sealed with the single record only; the batch is whole in the next file.
    const keys = objectKeys(root);
    expect(keys).toHaveLength(1);
    expect(readObject(root, keys[0] ?? "")).toEqual(jsonLine(0, 600));
    expect(inflightContent()).toEqual(Buffer.concat([1, 2, 3].map((i) => jsonLine(i, 200))));
  });

  it("appends to the open file when the batch fits, as single records do", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream({ bufferMiB: TINY_MIB });
    await sink.put(jsonRecord(stream, 0, 300));
    await sink.putBatch(batchOf(stream, 1, 3, 200));
    expect(objectKeys(root)).toEqual([]);
    expect(inflightContent()).toEqual(
      Buffer.concat([jsonLine(0, 300), ...[1, 2, 3].map((i) => jsonLine(i, 200))]),
    );
  });

  it("puts a batch larger than the buffer size into a file of its own, sealed once written", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream({ bufferMiB: TINY_MIB });
    await sink.put(jsonRecord(stream, 0, 100));
    await sink.putBatch(batchOf(stream, 1, 10, 300));
    await sink.put(jsonRecord(stream, 11, 100));
    await sink.flush();
    const keys = objectKeys(root);
    expect(keys).toHaveLength(3);
    const contents = keys.map((key) => readObject(root, key));
    expect(contents).toContainEqual(Buffer.concat(range(1, 10).map((i) => jsonLine(i, 300))));
    expect(sealedLineIds(root)).toEqual(range(0, 12));
  });

  it("stores none of the batch when its write fails (the torn tail is cut) and answers 503", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs });
    const stream = makeStream();
    await sink.put(jsonRecord(stream, 0));
    fs.writeFault = "EIO";
    fs.tornWrites = true;
    const error = await rejection(sink.putBatch(batchOf(stream, 1, 50)));
    expect({ status: error.status, code: error.code }).toEqual({ status: 503, code: "sink_unavailable" });
    expect(error.retryAfterSeconds).toBe(1);
    fs.writeFault = undefined;
    await sink.flush();
    expect(sealedLineIds(root)).toEqual([0]);
  });

  it("answers 503 sink_busy when the batch would pass the pending-bytes bound, and stores nothing", async () => {
    const { sink } = makeSink(root, { maxPendingBytes: 1000 });
    const error = await rejection(sink.putBatch(batchOf(makeStream(), 0, 20, 100)));
    expect({ status: error.status, code: error.code }).toEqual({ status: 503, code: "sink_busy" });
    expect(inflightBatches(root)).toEqual([]);
    await sink.putBatch(batchOf(makeStream(), 0, 5, 100));
  });

  it("refuses a batch holding a record without its newline (500), writing none of it", async () => {
    const { sink, logger } = makeSink(root);
    const stream = makeStream();
    const error = await rejection(
      sink.putBatch({ stream, records: [jsonLine(0), Buffer.from('{"secret":"zebra"}')] }),
    );
    expect(error.status).toBe(500);
    expect(inflightBatches(root)).toEqual([]);
    expect(logger.lines.join("\n")).not.toContain("zebra");
  });

  it("answers 503 once the sink is closing", async () => {
    const { sink } = makeSink(root);
    await sink.close();
    const error = await rejection(sink.putBatch(batchOf(makeStream(), 0, 2)));
    expect({ status: error.status, code: error.code }).toEqual({ status: 503, code: "sink_unavailable" });
  });
});

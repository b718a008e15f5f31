/** File sink, early back-pressure: assertReady refuses before a body is read while the queue is full. */
import { IngestError } from "../../lambda/core/errors.js";
import {
  closeSinks,
  FaultyFs,
  gate,
  jsonRecord,
  makeSink,
  makeStream,
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

function thrownBy(action: () => void): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("FileSink.assertReady", () => {
  it("passes below the pending-bytes bound, answers 503 sink_busy at it, and passes again once it drains", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs, maxPendingBytes: 300 });
    const stream = makeStream();
    await sink.put(jsonRecord(stream, 0, 100));
    const slow = gate();
    fs.datasyncGate = slow.promise;

    expect(thrownBy(() => sink.assertReady())).toBeUndefined();
    // 1 is written (held by the slow datasync), 2 and 3 queue behind it: 300 bytes pending, the bound.
    const admitted = [1, 2, 3].map((i) => sink.put(jsonRecord(stream, i, 100)));
    const refused = thrownBy(() => sink.assertReady());
    expect(refused).toBeInstanceOf(IngestError);
    expect(refused).toMatchObject({ status: 503, code: "sink_busy", retryAfterSeconds: 1 });

    fs.datasyncGate = undefined;
    slow.open();
    await Promise.all(admitted);
    expect(thrownBy(() => sink.assertReady())).toBeUndefined();
    await sink.put(jsonRecord(stream, 4, 100));
    await sink.flush();
    expect(sealedLineIds(root)).toEqual([0, 1, 2, 3, 4]);
  });
});

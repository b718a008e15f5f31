/** File sink under injected disk faults: 503 instead of a lie, no lost or doubled record, self-healing. */
import { IngestError } from "../../lambda/core/errors.js";
import {
  closeSinks,
  FaultyFs,
  inflightBatches,
  jsonRecord,
  makeSink,
  makeStream,
  objectKeys,
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

describe("FileSink under disk faults", () => {
  // A failed fdatasync also fails the one after the cut, so that batch is abandoned for a new one.
  it.each([
    ["EIO on write", { writeFault: "EIO" }, 1],
    ["EIO on write after half the bytes (torn tail)", { writeFault: "EIO", tornWrites: true }, 1],
    ["ENOSPC on fdatasync", { datasyncFault: "ENOSPC" }, 2],
  ])(
    "answers 503 sink_unavailable on %s, then resumes by itself with every acknowledged record kept once",
    async (_, fault, objects) => {
      const fs = new FaultyFs();
      const { sink } = makeSink(root, { fs });
      const stream = makeStream();
      await Promise.all([1, 2, 3].map((i) => sink.put(jsonRecord(stream, i))));

      Object.assign(fs, fault);
      const failed = await Promise.allSettled([4, 5, 6].map((i) => sink.put(jsonRecord(stream, i))));
      for (const result of failed) {
        expect(result.status).toBe("rejected");
        const reason = result.status === "rejected" ? result.reason : undefined;
        expect(reason).toBeInstanceOf(IngestError);
        expect(reason).toMatchObject({ status: 503, code: "sink_unavailable", retryAfterSeconds: 1 });
        expect((reason as Error).cause).toMatchObject({ code: expect.stringMatching(/^(EIO|ENOSPC)$/) });
      }

      Object.assign(fs, { writeFault: undefined, tornWrites: false, datasyncFault: undefined });
      await sink.put(jsonRecord(stream, 7));
      await Promise.all([8, 9].map((i) => sink.put(jsonRecord(stream, i))));
      await sink.flush();
      expect(sealedLineIds(root)).toEqual([1, 2, 3, 7, 8, 9]);
      expect(objectKeys(root)).toHaveLength(objects);
    },
  );

  it("abandons a batch whose torn tail cannot be cut, writes later records to a new one, and cuts it on sealing", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs });
    const stream = makeStream();
    await sink.put(jsonRecord(stream, 1));

    Object.assign(fs, { writeFault: "EIO", tornWrites: true, truncateFault: "EIO" });
    await expect(sink.put(jsonRecord(stream, 2))).rejects.toMatchObject({ code: "sink_unavailable" });
    Object.assign(fs, { writeFault: undefined, tornWrites: false });
    await sink.put(jsonRecord(stream, 3));
    expect(inflightBatches(root)).toHaveLength(2);
    expect(await sink.flush()).toHaveLength(1); // the abandoned one still cannot be cut; it stays in-flight

    fs.truncateFault = undefined;
    expect(await sink.sealDue()).toBe(1); // retried
    expect(sealedLineIds(root)).toEqual([1, 3]);
    expect(inflightBatches(root)).toEqual([]);
  });

  it("rejects puts while a batch cannot be opened and accepts them again once the disk works", async () => {
    const fs = new FaultyFs();
    fs.openFault = "EACCES";
    const { sink } = makeSink(root, { fs });
    const stream = makeStream();
    const refused = await Promise.allSettled([1, 2].map((i) => sink.put(jsonRecord(stream, i))));
    expect(refused.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    expect(inflightBatches(root)).toEqual([]);

    fs.openFault = undefined;
    await sink.put(jsonRecord(stream, 3));
    await sink.flush();
    expect(sealedLineIds(root)).toEqual([3]);
  });

  it("keeps a batch in-flight when sealing fails, logs the stream and error code, and seals it on retry", async () => {
    const fs = new FaultyFs();
    const { sink, logger } = makeSink(root, { fs });
    await sink.put(jsonRecord(makeStream(), 1));
    fs.renameFault = "EIO";
    expect(await sink.flush()).toEqual([]);
    expect(inflightBatches(root)).toHaveLength(1);
    const errorLine = logger.lines.find((line) => line.includes("could not seal"));
    expect(JSON.parse(errorLine ?? "{}")).toMatchObject({ streamId: "is-AbCDefGH", code: "EIO" });

    fs.renameFault = undefined;
    await sink.put(jsonRecord(makeStream(), 2)); // goes to a new batch: the old one is sealed-to-be
    expect(await sink.flush()).toHaveLength(2);
    expect(sealedLineIds(root)).toEqual([1, 2]);
  });

  it("keeps a gzip batch in-flight when its compressed copy cannot be moved into place, with no partial object", async () => {
    const fs = new FaultyFs();
    const { sink } = makeSink(root, { fs });
    const stream = makeStream({ compression: "gzip" });
    await sink.put(jsonRecord(stream, 1));
    fs.renameFault = "ENOSPC";
    expect(await sink.flush()).toEqual([]);
    expect(objectKeys(root)).toEqual([]);
    fs.renameFault = undefined;
    expect(await sink.sealDue()).toBe(1);
    expect(sealedLineIds(root)).toEqual([1]);
    expect(inflightBatches(root)).toEqual([]);
  });
});

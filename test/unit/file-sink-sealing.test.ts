/** File sink, sealing: by size, by age, flush, the object key layout, batch numbers, gzip and CBOR. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeMultiple } from "cbor-x";
import {
  cborRecord,
  closeSinks,
  FakeClock,
  inflightBatches,
  jsonLine,
  jsonRecord,
  makeSink,
  makeStream,
  objectKeys,
  readObject,
  removeRoot,
  START,
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

const KEY =
  /^streams\/acme\/is-AbCDefGH\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/is-AbCDefGH-(\d{6})-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-[a-z0-9]{8}\.ndjson$/;

describe("FileSink sealing", () => {
  it("seals a batch once it holds bufferMiB (1 MiB of records)", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream({ bufferMiB: 1 });
    for (let i = 0; i < 4; i++) {
      await sink.put(jsonRecord(stream, i, 256 * 1024));
    }
    await sink.put(jsonRecord(stream, 4, 100));
    await sink.sealDue(); // joins the size-triggered seal if it still runs in the background

    expect(objectKeys(root)).toHaveLength(1);
    const [key] = objectKeys(root);
    expect(readObject(root, key ?? "").byteLength).toBe(1024 * 1024);
    expect(inflightBatches(root)).toHaveLength(1);
  });

  it("honours a fractional bufferMiB and never puts more than the limit plus one record in a file", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream({ bufferMiB: 1000 / (1024 * 1024) });
    // Concurrent: while the first batch is being opened all 25 queue up, yet each file takes only what fits.
    await Promise.all(Array.from({ length: 25 }, (_, i) => sink.put(jsonRecord(stream, i, 100))));
    await sink.flush();

    const sizes = objectKeys(root).map((key) => readObject(root, key).byteLength);
    expect(sizes).toEqual([1000, 1000, 500]);
    expect(sealedLineIds(root)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it("seals a batch by age only once bufferSeconds have passed since it was opened", async () => {
    const { sink, clock } = makeSink(root);
    const stream = makeStream({ bufferSeconds: 60 });
    await sink.put(jsonRecord(stream, 1));
    clock.time = START + 59_999;
    await sink.put(jsonRecord(stream, 2));
    expect(await sink.sealDue()).toBe(0);

    clock.time = START + 60_000;
    expect(await sink.sealDue()).toBe(1);
    expect(sealedLineIds(root)).toEqual([1, 2]);
    expect(inflightBatches(root)).toEqual([]);
    expect(await sink.sealDue()).toBe(0);
  });

  it("flush() seals every open batch and returns the object keys; an empty sink flushes nothing", async () => {
    const { sink } = makeSink(root);
    expect(await sink.flush()).toEqual([]);
    await sink.put(jsonRecord(makeStream(), 1));
    const keys = await sink.flush();
    expect(keys).toEqual(objectKeys(root));
    expect(keys).toHaveLength(1);
    expect(await sink.flush()).toEqual([]);
  });

  it("names objects by tenant, stream, opening hour (UTC) and a batch number that keeps increasing across restarts", async () => {
    const first = makeSink(root);
    const stream = makeStream();
    await first.sink.put(jsonRecord(stream, 1));
    await first.sink.flush();
    first.clock.time = Date.UTC(2024, 11, 31, 23, 59, 58);
    await first.sink.put(jsonRecord(stream, 2));
    await first.sink.flush();

    const second = makeSink(root); // a restart on the same root
    await second.sink.recover();
    second.clock.time = Date.UTC(2025, 0, 1, 0, 0, 1);
    await second.sink.put(jsonRecord(stream, 3));
    await second.sink.flush();
    const third = makeSink(root); // even without recover()
    await third.sink.put(jsonRecord(stream, 4));
    await third.sink.flush();

    const parsed = objectKeys(root).map((key) => KEY.exec(key)?.slice(1));
    expect(parsed).toEqual([
      ["2024", "03", "05", "07", "000001", "2024-03-05-07-08-09"],
      ["2024", "03", "05", "07", "000004", "2024-03-05-07-08-09"],
      ["2024", "12", "31", "23", "000002", "2024-12-31-23-59-58"],
      ["2025", "01", "01", "00", "000003", "2025-01-01-00-00-01"],
    ]);
  });

  it("uses the injected random suffix", async () => {
    const { sink } = makeSink(root, { randomSuffix: () => "zz99" });
    await sink.put(jsonRecord(makeStream(), 1));
    expect(await sink.flush()).toEqual([
      "streams/acme/is-AbCDefGH/2024/03/05/07/is-AbCDefGH-000001-2024-03-05-07-08-09-zz99.ndjson",
    ]);
  });

  it("gzips the sealed object of a gzip stream and names it .ndjson.gz", async () => {
    const { sink } = makeSink(root);
    const stream = makeStream({ compression: "gzip" });
    const lines = Array.from({ length: 50 }, (_, i) => jsonLine(i, 300));
    await Promise.all(lines.map((data) => sink.put({ stream, data })));
    const [key] = await sink.flush();

    expect(key).toMatch(/\.ndjson\.gz$/);
    const raw = readFileSync(join(root, ...(key ?? "").split("/")));
    expect(raw.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(readObject(root, key ?? "")).toEqual(Buffer.concat(lines));
    expect(inflightBatches(root)).toEqual([]); // no source, no temp file left
  });

  it("writes XML streams as a CBOR sequence of maps that decodes to the records (gzip too)", async () => {
    const { sink } = makeSink(root);
    const values = [{ zip: "00501", n: { "@id": "1", v: ["a", "b"] } }, { empty: "" }, { text: "ünïcødé" }];
    for (const compression of ["none", "gzip"] as const) {
      const stream = makeStream({ compression }, { payload: "xml" });
      await Promise.all(values.map((value) => sink.put(cborRecord(stream, value))));
    }
    await sink.flush();
    const keys = objectKeys(root); // the first was sealed in the background when the compression changed

    expect(keys).toEqual([expect.stringMatching(/\.cbor$/), expect.stringMatching(/\.cbor\.gz$/)]);
    for (const key of keys) {
      expect(decodeMultiple(readObject(root, key))).toEqual(values);
    }
  });

  it("starts a new batch when the stream's payload type or compression changes", async () => {
    const { sink } = makeSink(root);
    await sink.put(jsonRecord(makeStream(), 1));
    await sink.put(jsonRecord(makeStream({ compression: "gzip" }), 2));
    await sink.put(cborRecord(makeStream({}, { payload: "xml" }), { a: "1" }));
    await sink.flush();
    const keys = objectKeys(root); // the first two were sealed in the background as the format changed
    expect(keys.map((key) => key.replace(/^.*\d{6}-[\d-]+-[a-z0-9]+/, ""))).toEqual([
      ".ndjson",
      ".ndjson.gz",
      ".cbor",
    ]);
    expect(keys.map((key) => key.match(/-(\d{6})-/)?.[1])).toEqual(["000001", "000002", "000003"]);
  });

  it("applies the newest bufferSeconds to the open batch", async () => {
    const clock = new FakeClock();
    const { sink } = makeSink(root, { clock });
    await sink.put(jsonRecord(makeStream({ bufferSeconds: 900 }), 1));
    await sink.put(jsonRecord(makeStream({ bufferSeconds: 10 }), 2));
    clock.time = START + 10_000;
    expect(await sink.sealDue()).toBe(1);
  });
});

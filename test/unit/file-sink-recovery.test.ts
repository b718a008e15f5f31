/** File sink, crash recovery: torn tails cut back to the last whole record, then sealed exactly once. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { decodeMultiple, encode } from "cbor-x";
import {
  closeSinks,
  FaultyFs,
  inflightBatches,
  jsonLine,
  jsonRecord,
  makeSink,
  makeStream,
  objectKeys,
  readObject,
  removeRoot,
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

const STREAM_DIR = ["acme", "is-AbCDefGH"];
const NAME = "is-AbCDefGH-000007-2024-03-05-07-08-09-abcdefgh";
const OBJECT_DIR = "streams/acme/is-AbCDefGH/2024/03/05/07";

/** Writes a file into the stream's in-flight folder as a crash would have left it. */
function leaveInflight(name: string, content: Uint8Array): void {
  const dir = join(root, ".inflight", ...STREAM_DIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), content);
}

const maps = [{ a: "1" }, { b: { c: ["x", "y"] } }, { d: "00501" }];
const cborBytes = Buffer.concat(maps.map((value) => encode(value)));

describe("FileSink.recover()", () => {
  it.each([
    [
      "a torn NDJSON line",
      `${NAME}.ndjson`,
      Buffer.from('{"i":1}\n{"i":2}\n{"i":'),
      Buffer.from('{"i":1}\n{"i":2}\n'),
    ],
    [
      "zero bytes after NDJSON lines",
      `${NAME}.ndjson`,
      Buffer.concat([Buffer.from('{"i":1}\n'), Buffer.alloc(4096)]),
      Buffer.from('{"i":1}\n'),
    ],
    [
      "a torn CBOR map",
      `${NAME}.cbor`,
      Buffer.concat([cborBytes, encode({ e: "long text" }).subarray(0, 5)]),
      cborBytes,
    ],
    ["zero bytes after CBOR maps", `${NAME}.cbor`, Buffer.concat([cborBytes, Buffer.alloc(4096)]), cborBytes],
    [
      "a CBOR item that is not a map, and everything after it",
      `${NAME}.cbor`,
      Buffer.concat([cborBytes, encode(42), encode({ z: "1" })]),
      cborBytes,
    ],
    [
      "CBOR garbage",
      `${NAME}.cbor`,
      Buffer.concat([cborBytes, Buffer.from([0xbc, 0x00, 0xff, 0x1c])]),
      cborBytes,
    ],
  ])("cuts %s back to the last whole record and seals the rest", async (_, name, content, kept) => {
    leaveInflight(name, content);
    const { sink } = makeSink(root);
    const report = await sink.recover();

    expect(report).toMatchObject({
      sealed: 1,
      truncatedBytes: content.byteLength - kept.byteLength,
      failed: 0,
    });
    expect(objectKeys(root)).toEqual([`${OBJECT_DIR}/${name}`]);
    expect(readObject(root, `${OBJECT_DIR}/${name}`)).toEqual(kept);
    expect(inflightBatches(root)).toEqual([]);
    if (name.endsWith(".cbor")) {
      expect(decodeMultiple(readObject(root, `${OBJECT_DIR}/${name}`))).toEqual(maps);
    }
  });

  it("gzips a recovered batch whose name ends in .gz", async () => {
    leaveInflight(`${NAME}.ndjson.gz`, Buffer.from('{"i":1}\n{"i'));
    const { sink } = makeSink(root);
    await sink.recover();
    expect(readObject(root, `${OBJECT_DIR}/${NAME}.ndjson.gz`)).toEqual(Buffer.from('{"i":1}\n'));
  });

  it("only removes the in-flight file when its object already exists (a crash after sealing)", async () => {
    const finalPath = join(root, ...OBJECT_DIR.split("/"), `${NAME}.ndjson.gz`);
    mkdirSync(join(finalPath, ".."), { recursive: true });
    writeFileSync(finalPath, gzipSync('{"i":1}\n{"i":2}\n'));
    leaveInflight(`${NAME}.ndjson.gz`, Buffer.from('{"i":1}\n{"i":2}\n'));
    leaveInflight(`${NAME}.ndjson.gz.tmp`, Buffer.from([0x1f, 0x8b]));
    const { sink } = makeSink(root);
    const report = await sink.recover();

    expect(report).toMatchObject({ sealed: 0, alreadySealed: 1, removedTemp: 1 });
    expect(objectKeys(root)).toEqual([`${OBJECT_DIR}/${NAME}.ndjson.gz`]);
    expect(readObject(root, `${OBJECT_DIR}/${NAME}.ndjson.gz`).toString()).toBe('{"i":1}\n{"i":2}\n');
    expect(inflightBatches(root)).toEqual([]);
  });

  it("removes leftover temp files and in-flight files without a whole record, and leaves unknown files alone", async () => {
    leaveInflight(`${NAME}.cbor.gz.tmp`, Buffer.from("half a gzip"));
    leaveInflight(".seq.tmp", Buffer.from("9"));
    leaveInflight("is-AbCDefGH-000002-2024-03-05-07-08-09-aaaaaaaa.ndjson", Buffer.alloc(0));
    leaveInflight("is-AbCDefGH-000003-2024-03-05-07-08-09-bbbbbbbb.cbor", Buffer.from([0xa2, 0x61]));
    leaveInflight("notes.txt", Buffer.from("mine"));
    const { sink, logger } = makeSink(root);
    const report = await sink.recover();

    expect(report).toEqual({
      sealed: 0,
      alreadySealed: 0,
      truncatedBytes: 2,
      removedEmpty: 2,
      removedTemp: 2,
      failed: 0,
    });
    expect(objectKeys(root)).toEqual([]);
    expect(inflightBatches(root)).toEqual(["acme/is-AbCDefGH/notes.txt"]);
    expect(logger.lines.some((line) => line.includes("unknown file"))).toBe(true);
  });

  it("continues batch numbers after the .seq file and the recovered in-flight names", async () => {
    leaveInflight(".seq", Buffer.from("5\n"));
    leaveInflight(`${NAME}.ndjson`, Buffer.from('{"i":1}\n'));
    const { sink } = makeSink(root);
    await sink.recover();
    await sink.put(jsonRecord(makeStream(), 2));
    const [key] = await sink.flush();
    expect(key).toMatch(/is-AbCDefGH-000008-/);
  });

  it("recovers what a crashed sink left behind: every acknowledged record exactly once", async () => {
    const crashed = makeSink(root).sink;
    const stream = makeStream();
    await Promise.all(Array.from({ length: 20 }, (_, i) => crashed.put(jsonRecord(stream, i))));
    const [batch] = inflightBatches(root);
    const path = join(root, ".inflight", ...(batch ?? "").split("/"));
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.from('{"i":20,"pa')]));

    const { sink } = makeSink(root);
    await sink.recover();
    const [key] = objectKeys(root);
    const lines = Array.from({ length: 20 }, (_, i) => jsonLine(i));
    expect(readObject(root, key ?? "")).toEqual(Buffer.concat(lines));
  });

  it("keeps a file it cannot recover in-flight and seals it on a later flush", async () => {
    leaveInflight(`${NAME}.ndjson`, Buffer.from('{"i":1}\n'));
    const fs = new FaultyFs();
    fs.renameFault = "EIO";
    const { sink } = makeSink(root, { fs });
    expect(await sink.recover()).toMatchObject({ failed: 1, sealed: 0 });
    expect(existsSync(join(root, ".inflight", ...STREAM_DIR, `${NAME}.ndjson`))).toBe(true);

    fs.renameFault = undefined;
    expect(await sink.flush()).toEqual([`${OBJECT_DIR}/${NAME}.ndjson`]);
  });

  it("refuses to run after puts started", async () => {
    const { sink } = makeSink(root);
    await sink.put(jsonRecord(makeStream(), 1));
    await expect(sink.recover()).rejects.toThrow(/before the first put/);
  });
});

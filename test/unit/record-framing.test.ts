/** Framing of batch files for crash recovery: where the last whole NDJSON line / CBOR map ends. */
import { encode } from "cbor-x";
import fc from "fast-check";
import {
  cborItemEnd,
  cborWholeLength,
  isCborRecord,
  ndjsonWholeLength,
} from "../../lambda/adapters/record-framing.js";

/** Values like the XML converter produces, plus the CBOR types a decoder could meet. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  ),
  node: fc.oneof(
    { depthSize: "small" },
    tie("leaf"),
    fc.array(tie("node"), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie("node"), { maxKeys: 4 }),
  ),
})).node;
const record = fc.dictionary(fc.string({ minLength: 1 }), value, { minKeys: 1, maxKeys: 5 });

describe("record framing", () => {
  it("finds the end of any CBOR item cbor-x encodes", () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        expect(cborItemEnd(bytes, 0)).toBe(bytes.byteLength);
        expect(cborItemEnd(bytes.subarray(0, bytes.byteLength - 1), 0)).toBeUndefined();
      }),
    );
  });

  it("cuts a CBOR sequence of maps cut anywhere back to the last whole map", () => {
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 6 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (maps, at) => {
          const items = maps.map((m) => encode(m));
          const whole = Buffer.concat(items);
          const cut = Math.floor(at * whole.byteLength);
          let boundary = 0;
          for (const item of items) {
            if (boundary + item.byteLength > cut) break;
            boundary += item.byteLength;
          }
          expect(cborWholeLength(whole.subarray(0, cut))).toBe(boundary);
          expect(cborWholeLength(Buffer.concat([whole.subarray(0, boundary), Buffer.alloc(64)]))).toBe(
            boundary,
          );
          for (const item of items) {
            expect(isCborRecord(item)).toBe(true);
          }
        },
      ),
    );
  });

  it("does not take a map head followed by zero fill for a record", () => {
    const item = encode({ key: "value" });
    for (let keep = 1; keep <= 3; keep++) {
      const torn = Buffer.concat([item.subarray(0, keep), Buffer.alloc(16)]);
      expect(cborWholeLength(torn)).toBe(0);
    }
  });

  it("accepts exactly one non-empty map with text keys as a CBOR record", () => {
    expect(isCborRecord(encode({ a: "1" }))).toBe(true);
    expect(isCborRecord(encode({}))).toBe(false);
    expect(isCborRecord(encode(new Map([[1, "a"]])))).toBe(false);
    expect(isCborRecord(encode(["a"]))).toBe(false);
    expect(isCborRecord(Buffer.concat([encode({ a: "1" }), encode({ b: "2" })]))).toBe(false);
    expect(isCborRecord(encode({ a: "1" }).subarray(0, 4))).toBe(false);
  });

  it("keeps indefinite-length maps and stops at a reserved head or a non-map item", () => {
    const indefinite = Buffer.from([0xbf, 0x61, 0x61, 0x61, 0x62, 0xff]); // {_ "a": "b"}
    expect(cborWholeLength(indefinite)).toBe(6);
    expect(cborWholeLength(Buffer.concat([indefinite, Buffer.from([0xbc])]))).toBe(6);
    expect(cborWholeLength(Buffer.concat([indefinite, encode([1, 2]), indefinite]))).toBe(6);
    expect(cborWholeLength(Buffer.from([0xa1, 0x61, 0x61, 0xff]))).toBe(0); // a stray break is malformed
    expect(cborWholeLength(Buffer.from([0xbf, 0xff]))).toBe(0); // an empty map is no record
  });

  it("cuts NDJSON after the last newline", () => {
    expect(ndjsonWholeLength(Buffer.from('{"a":1}\n{"a":2}\n{"a"'))).toBe(16);
    expect(ndjsonWholeLength(Buffer.from('{"a":1'))).toBe(0);
    expect(ndjsonWholeLength(Buffer.alloc(0))).toBe(0);
  });
});

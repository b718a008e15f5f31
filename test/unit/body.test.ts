/** Body decoding within the size limit (identity and gzip, no zip bombs) and strict UTF-8. */
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { decodeBody, decodeUtf8, maxWireBytes, payloadTooLarge } from "../../lambda/core/body.js";
import { InvalidRecordError, PayloadTooLargeError } from "../../lambda/core/errors.js";
import { rejectionOf, thrownBy } from "../helpers/thrown.js";

const LIMIT = 260_096;

const invalidRecordOf = (fn: () => unknown) => thrownBy(fn, InvalidRecordError);

describe("maxWireBytes", () => {
  it("reads at most the decoded limit of an identity body", () => {
    expect(maxWireBytes("identity")).toBe(LIMIT);
    expect(maxWireBytes("identity", 100)).toBe(100);
  });

  it("reads up to twice the limit of a gzip body (incompressible data grows a little)", () => {
    expect(maxWireBytes("gzip")).toBe(2 * LIMIT);
    expect(maxWireBytes("gzip", 100)).toBe(2 * LIMIT);
    expect(maxWireBytes("gzip", 1_000_000)).toBe(2_000_000);
  });

  it("never refuses on the wire a gzip body whose decoded size is within the limit", () => {
    // A linear congruential generator: deterministic bytes that gzip cannot shrink.
    const incompressible = Buffer.alloc(LIMIT);
    let state = 12_345;
    for (let i = 0; i < LIMIT; i++) {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      incompressible[i] = state >>> 24;
    }
    expect(gzipSync(incompressible).byteLength).toBeGreaterThan(LIMIT);
    expect(gzipSync(incompressible).byteLength).toBeLessThanOrEqual(maxWireBytes("gzip"));
  });
});

describe("payloadTooLarge", () => {
  it("names the body's size and the limit, with thousands separators", () => {
    const error = payloadTooLarge(300_112);
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect(error.status).toBe(413);
    expect(error.message).toBe("body is 300,112 bytes; the limit is 260,096 bytes");
  });

  it("names the limit when the size is not known", () => {
    expect(payloadTooLarge(undefined, 1234).message).toBe("body is larger than the limit of 1,234 bytes");
  });
});

describe("decodeBody", () => {
  describe("identity", () => {
    it("returns a body within the limit as it is", async () => {
      const raw = Buffer.from('{"a":1}');
      await expect(decodeBody(raw, "identity")).resolves.toBe(raw);
    });

    it.each([
      [0, 10],
      [10, 10],
      [LIMIT, LIMIT],
    ])("accepts %i bytes with a limit of %i", async (size, limit) => {
      await expect(decodeBody(new Uint8Array(size), "identity", limit)).resolves.toHaveLength(size);
    });

    it("answers 413 one byte past the limit, naming both sizes", async () => {
      const error = await rejectionOf(decodeBody(new Uint8Array(LIMIT + 1), "identity"));
      expect(error).toBeInstanceOf(PayloadTooLargeError);
      expect((error as PayloadTooLargeError).message).toBe(
        "body is 260,097 bytes; the limit is 260,096 bytes",
      );
    });
  });

  describe("gzip", () => {
    it("inflates a gzip body", async () => {
      const decoded = await decodeBody(gzipSync(Buffer.from('{"a":1}')), "gzip");
      expect(Buffer.from(decoded).toString("utf8")).toBe('{"a":1}');
    });

    it.each([
      [9, 10],
      [10, 10],
      [LIMIT, LIMIT],
    ])("accepts a gzip body decoding to %i bytes with a limit of %i", async (size, limit) => {
      await expect(decodeBody(gzipSync(Buffer.alloc(size, 0x61)), "gzip", limit)).resolves.toHaveLength(size);
    });

    it.each([
      [11, 10],
      [LIMIT + 1, LIMIT],
    ])(
      "answers 413 to a gzip body decoding to %i bytes with a limit of %i, naming the limit",
      async (size, limit) => {
        const error = await rejectionOf(decodeBody(gzipSync(Buffer.alloc(size, 0x61)), "gzip", limit));
        expect(error).toBeInstanceOf(PayloadTooLargeError);
        expect((error as PayloadTooLargeError).message).toContain(`${limit.toLocaleString("en-US")} bytes`);
      },
    );

    it("answers 413 to a zip bomb without inflating it (10 MiB of zeros)", async () => {
      const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
      const error = await rejectionOf(decodeBody(bomb, "gzip"));
      expect(error).toBeInstanceOf(PayloadTooLargeError);
    });

    it.each<[string, Uint8Array]>([
      ["not gzip at all", Buffer.from('{"a":1}')],
      ["empty", new Uint8Array()],
      ["truncated", gzipSync(Buffer.from('{"a":1}')).subarray(0, 12)],
      ["followed by junk", Buffer.concat([gzipSync(Buffer.from("{}")), Buffer.from("junk")])],
    ])("answers 400 invalid_encoding to a gzip body that is %s", async (_name, raw) => {
      const error = await rejectionOf(decodeBody(raw, "gzip"));
      expect(error).toBeInstanceOf(InvalidRecordError);
      expect((error as InvalidRecordError).code).toBe("invalid_encoding");
      expect((error as InvalidRecordError).status).toBe(400);
    });
  });
});

describe("decodeUtf8", () => {
  it.each([
    ["ASCII", '{"a":1}'],
    ["two-byte characters", "Zoë, Ærø"],
    ["three-byte characters", "東京 €"],
    ["four-byte characters", "🌍𝄞"],
    ["an empty body", ""],
  ])("decodes %s", (_name, text) => {
    expect(decodeUtf8(Buffer.from(text, "utf8"))).toBe(text);
  });

  it("drops one leading byte order mark", () => {
    expect(decodeUtf8(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toBe("{}");
  });

  it("keeps a second byte order mark and one that does not lead", () => {
    expect(decodeUtf8(Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x7b]))).toBe("\ufeff{");
    expect(decodeUtf8(Buffer.from([0x7b, 0xef, 0xbb, 0xbf]))).toBe("{\ufeff");
  });

  it.each<[string, number[]]>([
    ["a lone continuation byte", [0x80]],
    ["a truncated two-byte sequence", [0x7b, 0xc3]],
    ["a truncated three-byte sequence", [0xe2, 0x82]],
    ["an overlong encoding of '/'", [0xc0, 0xaf]],
    ["an overlong three-byte NUL", [0xe0, 0x80, 0x80]],
    ["an encoded UTF-16 surrogate", [0xed, 0xa0, 0x80]],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["the byte 0xFF", [0xff]],
    ["a Latin-1 'é'", [0x22, 0xe9, 0x22]],
  ])("answers 400 invalid_utf8 to %s, never replacing it", (_name, bytes) => {
    const error = invalidRecordOf(() => decodeUtf8(Buffer.from(bytes)));
    expect(error.code).toBe("invalid_utf8");
    expect(error.message).toBe("body is not valid UTF-8");
  });

  it("round-trips any well-formed text that does not start with a byte order mark", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }).filter((s) => !s.startsWith("\ufeff")),
        (text) => {
          expect(decodeUtf8(Buffer.from(text, "utf8"))).toBe(text);
        },
      ),
      { numRuns: 500 },
    );
  });
});

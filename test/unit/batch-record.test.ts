/** Splitting and validating an NDJSON batch body: records, line numbers, limits and the per-line errors. */
import { parseBatch } from "../../lambda/core/batch-record.js";
import {
  InvalidBatchError,
  InvalidRecordError,
  PayloadTooLargeError,
  TooManyRecordsError,
} from "../../lambda/core/errors.js";
import { thrownBy } from "../helpers/thrown.js";

const bytes = (text: string | Uint8Array): Uint8Array =>
  typeof text === "string" ? new TextEncoder().encode(text) : text;
const texts = (records: readonly Uint8Array[]): string[] =>
  records.map((record) => Buffer.from(record).toString("utf8"));
const parse = (text: string | Uint8Array, limits = {}) => texts(parseBatch(bytes(text), limits));
const batchError = (text: string | Uint8Array, limits = {}) =>
  thrownBy(() => parseBatch(bytes(text), limits), InvalidBatchError);

describe("parseBatch: records", () => {
  it("returns one minified NDJSON line per record, in order, each ending in \\n", () => {
    expect(parse('{"a": 1}\n{ "b" : [1, 2] }\n{"c":"x y"}')).toEqual([
      '{"a":1}\n',
      '{"b":[1,2]}\n',
      '{"c":"x y"}\n',
    ]);
  });

  it("keeps every lexeme as sent (numbers, escapes, duplicate keys)", () => {
    expect(parse('{"n":1.0e+400,"s":"\\u00e9\\n","k":1,"k":2}\n')).toEqual([
      '{"n":1.0e+400,"s":"\\u00e9\\n","k":1,"k":2}\n',
    ]);
  });

  it("accepts \\r\\n, a trailing newline, blank and whitespace-only lines, and a leading BOM", () => {
    expect(parse('\uFEFF{"a":1}\r\n\r\n  \t \n{"b":2}\r\n\n')).toEqual(['{"a":1}\n', '{"b":2}\n']);
  });

  it("takes exactly the record limit", () => {
    const body = '{"i":1}\n'.repeat(500);
    expect(parseBatch(bytes(body))).toHaveLength(500);
  });
});

describe("parseBatch: limits (413 before any line is validated)", () => {
  it("refuses more records than the limit with 413 too_many_records, counting only non-blank lines", () => {
    const body = `${'{"i":1}\n\n'.repeat(501)}not json\n`;
    const error = thrownBy(() => parseBatch(bytes(body)), TooManyRecordsError);
    expect(error.status).toBe(413);
    expect(error.code).toBe("too_many_records");
    expect(error.message).toBe("batch holds 502 records; the limit is 500 records per request");
    expect(parseBatch(bytes('{"i":1}\n\n'.repeat(500)))).toHaveLength(500);
  });

  it("refuses a line longer than one record's limit with 413 naming the line and both sizes", () => {
    const big = `{"s":"${"x".repeat(300)}"}`;
    const body = `{"a":1}\nbad\n${big}\n`;
    const error = thrownBy(() => parseBatch(bytes(body), { maxRecordBytes: 200 }), PayloadTooLargeError);
    expect(error.status).toBe(413);
    expect(error.message).toBe(`line 3 is ${big.length} bytes; the limit for one record is 200 bytes`);
  });

  it("measures a line without its line break, so a line of exactly the limit passes with \\r\\n", () => {
    const line = `{"s":"${"x".repeat(92)}"}`; // 100 bytes
    expect(parse(`${line}\r\n`, { maxRecordBytes: 100 })).toEqual([`${line}\n`]);
  });

  it("uses the contract's 260,096-byte line limit by default", () => {
    const line = (n: number) => `{"s":"${"x".repeat(n - 8)}"}`;
    expect(parseBatch(bytes(`${line(260_096)}\n`))).toHaveLength(1);
    const error = thrownBy(() => parseBatch(bytes(`${line(260_097)}\n`)), PayloadTooLargeError);
    expect(error.message).toBe("line 1 is 260,097 bytes; the limit for one record is 260,096 bytes");
  });

  it("answers 400 empty_batch for a body without records", () => {
    for (const body of ["", "\n", " \r\n\t\n", "\uFEFF"]) {
      const error = thrownBy(() => parseBatch(bytes(body)), InvalidRecordError);
      expect(error.code).toBe("empty_batch");
      expect(error.status).toBe(400);
    }
  });
});

describe("parseBatch: invalid lines (400 invalid_batch, nothing returned)", () => {
  it("lists every bad line by its physical number, with a code and a message about the line", () => {
    const error = batchError('{"ok":1}\n\n[1,2]\n{"ok":2}\n{"a":}\n"s"\n{"a":1}{"b":2}\n{"ok":3}');
    expect(error.status).toBe(400);
    expect(error.code).toBe("invalid_batch");
    expect(error.lines).toEqual([
      { line: 3, code: "not_an_object", message: expect.stringMatching(/^line is a JSON array/) },
      { line: 5, code: "invalid_json", message: expect.stringContaining("(column 6)") },
      { line: 6, code: "not_an_object", message: expect.stringMatching(/^line is a JSON string/) },
      { line: 7, code: "multiple_values", message: expect.stringContaining("one object per line") },
    ]);
    expect(error.message).toBe(
      "4 of 7 records are not a valid JSON object (lines 3, 5, 6, 7); nothing was stored: fix them and send the whole batch again",
    );
    expect(error.toResponseBody()).toEqual({
      error: { code: "invalid_batch", message: error.message, retryable: false, lines: error.lines },
    });
  });

  it("reports invalid UTF-8 and a BOM after the first line per line", () => {
    const body = Buffer.concat([
      bytes('{"a":1}\n{"b":"'),
      Buffer.from([0xc3, 0x28]),
      bytes('"}\n\uFEFF{"c":1}\n'),
    ]);
    const error = batchError(body);
    expect(error.lines.map((line) => [line.line, line.code])).toEqual([
      [2, "invalid_utf8"],
      [3, "invalid_json"],
    ]);
  });

  it("reports a line nested too deep", () => {
    const error = batchError(`{"a":1}\n${'{"a":'.repeat(5)}1${"}".repeat(5)}\n`, { maxDepth: 4 });
    expect(error.lines).toEqual([{ line: 2, code: "too_deep", message: expect.any(String) }]);
  });

  it("lists at most the cap and says how many more bad lines there were", () => {
    const body = Array.from({ length: 130 }, (_, i) => (i % 2 === 0 ? "x" : '{"ok":1}')).join("\n");
    const error = batchError(body);
    expect(error.lines).toHaveLength(65);
    const capped = batchError(body, { maxListedErrors: 10 });
    expect(capped.lines.map((line) => line.line)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    expect(capped.unlisted).toBe(55);
    expect(capped.message).toContain("65 of 130 records are not a valid JSON object");
    expect(capped.message).toContain("lines 1, 3, 5, 7, 9, 11, 13, 15, 17, 19 and 55 more");
    expect(capped.message).toContain("the first 10 are listed");
    expect(capped.toResponseBody().error.unlisted_lines).toBe(55);
  });

  it("never quotes more than one character of a bad line", () => {
    const error = batchError('{"a":1}\n{"secret-zebra": secret-zebra}\n');
    expect(JSON.stringify(error.toResponseBody())).not.toContain("zebra");
  });

  it("keeps the 400 when the body also holds a blank line (line numbers count physical lines)", () => {
    const error = batchError("\n\n\nnope\r\n");
    expect(error.lines.map((line) => line.line)).toEqual([4]);
    expect(error.message).toContain("1 of 1 records is not a valid JSON object (line 4)");
  });
});

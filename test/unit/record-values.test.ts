/** The value model of `ingest read`: stored JSON lines read without losing number texts, and flattening. */
import { fc, test } from "@fast-check/jest";
import { parseJsonLine, toCell, toColumns, toJson } from "../../bin/cli/record-values.js";

describe("parseJsonLine / toJson", () => {
  it("keeps number texts, key order, duplicate keys and __proto__ as data", () => {
    const line =
      '{"big":12345678901234567890,"f":1.0,"e":1e400,"neg":-0.50E-3,"z":"00501","__proto__":{"x":1},"a":1,"a":2}';
    const value = parseJsonLine(line);
    expect(toJson(value)).toBe(line);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it("drops only insignificant whitespace", () => {
    expect(toJson(parseJsonLine(' { "a" : [ 1 , true , null , "\\u00e9\\n" ] } '))).toBe(
      '{"a":[1,true,null,"é\\n"]}',
    );
  });

  it.each([
    ["{", "expected a string at offset 1"],
    ['{"a":}', "expected a value at offset 5"],
    ['{"a":1}x', "expected the end of the line at offset 7"],
    ['{"a":tru}', "expected a value at offset 5"],
    ['{"a\u0001":1}', "Bad control character"],
  ])("refuses the damaged line %j", (line, message) => {
    expect(() => parseJsonLine(line)).toThrow(message);
  });

  test.prop([fc.jsonValue()])("reads back any JSON text as JSON.parse would, numbers as written", (value) => {
    const compact = JSON.stringify(value);
    expect(toJson(parseJsonLine(compact))).toBe(compact);
    expect(toJson(parseJsonLine(JSON.stringify(value, null, 2)))).toBe(compact);
    expect(JSON.parse(toJson(parseJsonLine(compact)))).toEqual(JSON.parse(compact));
  });
});

describe("toColumns", () => {
  const record = parseJsonLine(
    '{"id":"o-1","total":12.50,"customer":{"name":"Ann","address":{"city":"Lyon"}},"items":[{"sku":"A","qty":2},{"sku":"B"}],"tags":[],"meta":{},"note":null}',
  );

  it("flattens objects into dotted columns and arrays into indexed ones, keeping empty containers", () => {
    const columns = toColumns(record, true);
    expect([...columns.keys()]).toEqual([
      "id",
      "total",
      "customer.name",
      "customer.address.city",
      "items.0.sku",
      "items.0.qty",
      "items.1.sku",
      "tags",
      "meta",
      "note",
    ]);
    expect([...columns.values()].map(toCell)).toEqual([
      "o-1",
      "12.50",
      "Ann",
      "Lyon",
      "A",
      "2",
      "B",
      "[]",
      "{}",
      null,
    ]);
  });

  it("without flattening, keeps nested values as JSON text in top-level columns", () => {
    const columns = toColumns(record, false);
    expect([...columns.keys()]).toEqual(["id", "total", "customer", "items", "tags", "meta", "note"]);
    expect(toCell(columns.get("items"))).toBe('[{"sku":"A","qty":2},{"sku":"B"}]');
  });

  it("lets the last of duplicate keys win, as JSON.parse does", () => {
    expect(toCell(toColumns(parseJsonLine('{"a":1,"b":2,"a":3}'), true).get("a"))).toBe("3");
  });

  it("refuses two values that would share one column instead of dropping one", () => {
    expect(() => toColumns(parseJsonLine('{"a.b":1,"a":{"b":2}}'), true)).toThrow(
      'two values of one record map to column "a.b"',
    );
    expect(toColumns(parseJsonLine('{"a.b":1,"a":{"b":2}}'), false).size).toBe(2);
  });

  test.prop([fc.dictionary(fc.string(), fc.jsonValue())])(
    "every leaf of any object lands in exactly one column",
    (object) => {
      let columns: Map<string, unknown>;
      try {
        columns = toColumns(parseJsonLine(JSON.stringify(object)), true);
      } catch (error) {
        expect((error as Error).message).toContain("two values of one record map to column");
        return;
      }
      const leaves = (v: unknown): number =>
        v !== null && typeof v === "object"
          ? Object.values(v).length === 0
            ? 1
            : Object.values(v).reduce((n: number, c) => n + leaves(c), 0)
          : 1;
      expect(columns.size).toBe(Object.keys(object).length === 0 ? 0 : leaves(object));
    },
  );
});

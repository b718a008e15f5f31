/**
 * Exact data fidelity of JSON records, property-based: for any JSON object text a client may send (numbers as
 * arbitrary lexemes, strings with every escape and every plane, duplicate and prototype-named keys, random
 * whitespace between tokens), the stored NDJSON line is the model's compact rendering byte for byte, parses to
 * the same value as the input, and keeps every number text. Checked at the minifier, at the record encoder
 * (UTF-8 bytes, BOM) and through the whole handler (gzip, the sink's bytes). The expected line comes from the
 * generator's model (test/helpers/record-models.ts), never from the code under test.
 */
import fc from "fast-check";
import { minifyJsonRecord } from "../../lambda/core/json-record.js";
import { encodeRecord } from "../../lambda/core/record-encoding.js";
import { jsonRecord, numberLexemes, TRICKY_NUMBER_LEXEMES } from "../helpers/record-models.js";
import { unthrottledHandler } from "../helpers/unthrottled-handler.js";

/** The number lexemes of a JSON text in order, found by a scanner that knows only strings and numbers. */
function numberTexts(json: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < json.length; i++) {
    const c = json[i] ?? "";
    if (c === '"') {
      for (i++; json[i] !== '"'; i++) if (json[i] === "\\") i++;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      const start = i;
      while (i + 1 < json.length && /[0-9eE+\-.]/.test(json[i + 1] ?? "")) i++;
      out.push(json.slice(start, i + 1));
    }
  }
  return out;
}

/**
 * A parsed value as plain arrays (objects become their own entries in order), so that equality neither trips
 * over own `constructor` keys nor ignores key order.
 */
function entriesForm(value: unknown): unknown {
  if (Array.isArray(value)) return { array: value.map(entriesForm) };
  if (typeof value === "object" && value !== null) {
    return { object: Object.keys(value).map((k) => [k, entriesForm((value as Record<string, unknown>)[k])]) };
  }
  return value;
}

const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort();

describe("JSON data fidelity (property-based)", () => {
  const prototypeBefore = prototypeKeys();
  afterAll(() => {
    // Nothing was written onto Object.prototype by any run (no __proto__ / constructor pollution).
    expect(prototypeKeys()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("stores any object text as its compact form: same value, same number texts, same key order", () => {
    fc.assert(
      fc.property(jsonRecord, ({ node, text, compact }) => {
        const stored = minifyJsonRecord(text);
        expect(stored).toBe(compact);
        expect(entriesForm(JSON.parse(stored))).toEqual(entriesForm(JSON.parse(text)));
        expect(numberTexts(stored)).toEqual(numberLexemes(node));
        // Key order (duplicates included) as sent: compare the top-level keys in order of appearance.
        expect(stored.startsWith(`{${node.members.length ? `"${node.members[0]?.[0]}"` : "}"}`)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("encodes any object sent as UTF-8 (with or without a BOM) to exactly one NDJSON line", () => {
    fc.assert(
      fc.property(jsonRecord, fc.boolean(), ({ text, compact }, bom) => {
        const bytes = Buffer.concat([Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(text, "utf8")]);
        const line = Buffer.from(encodeRecord("json", bytes)).toString("utf8");
        expect(line).toBe(`${compact}\n`);
        // One line: every LF or CR inside the record is escaped, so NDJSON framing holds.
        expect(line.indexOf("\n")).toBe(line.length - 1);
        expect(line).not.toContain("\r");
      }),
      { numRuns: 1000 },
    );
  });

  it("hands the sink exactly the compact line for any object, plain or gzip, through the whole handler", async () => {
    const { post } = await unthrottledHandler("json");
    await fc.assert(
      fc.asyncProperty(jsonRecord, fc.boolean(), async ({ text, compact }, gzip) => {
        const { status, received } = await post(text, "application/json; charset=utf-8", gzip);
        expect(status).toBe(202);
        expect(received.map((r) => Buffer.from(r.data).toString("utf8"))).toEqual([`${compact}\n`]);
      }),
      { numRuns: 300 },
    );
  });

  it.each(TRICKY_NUMBER_LEXEMES)(
    "keeps %s, which JSON.parse/stringify would change, byte for byte",
    (lexeme) => {
      const stored = minifyJsonRecord(`{ "n" : ${lexeme} ,\n "a" : [ ${lexeme} ] }`);
      expect(stored).toBe(`{"n":${lexeme},"a":[${lexeme}]}`);
      expect(numberTexts(stored)).toEqual([lexeme, lexeme]);
    },
  );

  it("stores __proto__ and constructor keys as data that parses back as own properties", () => {
    const stored = minifyJsonRecord('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"x": 1}}}');
    const parsed = JSON.parse(stored) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(["__proto__", "constructor"]);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

/** The JSON record contract: one object per body, minified with every lexeme kept exactly as sent. */
import fc from "fast-check";
import { InvalidRecordError } from "../../lambda/core/errors.js";
import { minifyJsonRecord } from "../../lambda/core/json-record.js";
import { thrownBy } from "../helpers/thrown.js";

const rejectionOf = (fn: () => unknown) => thrownBy(fn, InvalidRecordError);

/** True when `json` has a space, tab, CR or LF outside its strings. */
function hasWhitespaceOutsideStrings(json: string): boolean {
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
    } else if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r") {
      return true;
    }
  }
  return false;
}

/** Offsets of compact JSON where whitespace may go: next to a structural character, outside strings. */
function tokenBoundaries(json: string): number[] {
  const boundaries = [0];
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i] ?? "";
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    if ("{}[]:,".includes(ch)) boundaries.push(i, i + 1);
  }
  boundaries.push(json.length);
  return [...new Set(boundaries)];
}

function isPlainObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const whitespace = fc.string({ unit: fc.constantFrom(" ", "\t", "\n", "\r"), minLength: 1, maxLength: 4 });
const jsonObject = fc.oneof(
  fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 })),
  fc.object({ maxDepth: 3 }),
);
/** A JSON object's compact text and the same text pretty-printed with extra whitespace between tokens. */
const compactAndSpaced = fc
  .tuple(
    jsonObject,
    fc.integer({ min: 0, max: 8 }),
    fc.array(fc.tuple(fc.nat(), whitespace), { maxLength: 20 }),
  )
  .map(([value, indent, insertions]) => {
    const compact = JSON.stringify(value);
    let spaced = JSON.stringify(value, null, indent);
    const boundaries = tokenBoundaries(spaced);
    // Insert from the highest offset down so earlier offsets stay valid.
    const offsets = insertions
      .map(([n, ws]) => [boundaries[n % boundaries.length] ?? 0, ws] as const)
      .sort((a, b) => b[0] - a[0]);
    for (const [at, ws] of offsets) spaced = spaced.slice(0, at) + ws + spaced.slice(at);
    return { compact, spaced };
  });
const numberLexeme = fc
  .tuple(
    fc.boolean(),
    fc.oneof(fc.constant("0"), fc.stringMatching(/^[1-9][0-9]{0,25}$/)),
    fc.option(fc.stringMatching(/^\.[0-9]{1,20}$/), { nil: "" }),
    fc.option(fc.stringMatching(/^[eE][+-]?[0-9]{1,4}$/), { nil: "" }),
  )
  .map(([negative, int, frac, exp]) => `${negative ? "-" : ""}${int}${frac}${exp}`);

describe("minifyJsonRecord", () => {
  it("minifies a pretty-printed object with a leading space and newlines", () => {
    const body = ' {\n  "email": "example@amperity.com",\n  "first_name": "Justin"\n }';
    expect(minifyJsonRecord(body)).toBe('{"email":"example@amperity.com","first_name":"Justin"}');
  });

  it("returns the input string itself when it holds no insignificant whitespace", () => {
    const body = '{"a":[1,2,{"b":null}],"c":"x y"}';
    expect(minifyJsonRecord(body)).toBe(body);
  });

  it("drops whitespace before and after the object", () => {
    expect(minifyJsonRecord('\r\n\t {"a":1} \n\n')).toBe('{"a":1}');
  });

  it.each([
    "12345678901234567890",
    "1.0",
    "1e400",
    "-0",
    "-0.0e-0",
    "1E+2",
    "0.1000000000000000055511151231257827",
  ])("keeps %s byte for byte", (lexeme) => {
    expect(minifyJsonRecord(`{ "n" : ${lexeme} , "a": [ ${lexeme} ] }`)).toBe(
      `{"n":${lexeme},"a":[${lexeme}]}`,
    );
  });

  it("keeps string escapes exactly as written", () => {
    const body = String.raw`{"e": "\u00e9\u00E9", "q": "\"\\\/\b\f\n\r\t", "lone": "\ud800"}`;
    expect(minifyJsonRecord(body)).toBe(
      String.raw`{"e":"\u00e9\u00E9","q":"\"\\\/\b\f\n\r\t","lone":"\ud800"}`,
    );
  });

  it("keeps raw non-ASCII characters and whitespace inside strings", () => {
    const body = '{ "name" : "é  \u{1F600}\u2028 x\u007f " , "key with spaces" : " " }';
    expect(minifyJsonRecord(body)).toBe('{"name":"é  \u{1F600}\u2028 x\u007f ","key with spaces":" "}');
  });

  it("keeps key order and duplicate keys as sent", () => {
    expect(minifyJsonRecord('{"b": 1, "a": 2, "b": 3}')).toBe('{"b":1,"a":2,"b":3}');
  });

  it("keeps __proto__ and constructor keys as plain data", () => {
    const body = '{ "__proto__": {"polluted": true}, "constructor": {"prototype": 1} }';
    expect(minifyJsonRecord(body)).toBe('{"__proto__":{"polluted":true},"constructor":{"prototype":1}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("accepts nesting exactly at the limit of 64 levels", () => {
    const body = `{"a":${"[".repeat(63)}${"]".repeat(63)}}`;
    expect(minifyJsonRecord(body)).toBe(body);
  });

  it("honours a smaller maxDepth", () => {
    expect(minifyJsonRecord('{"a":{}}', 2)).toBe('{"a":{}}');
    expect(rejectionOf(() => minifyJsonRecord('{"a":{"b":[]}}', 2)).code).toBe("too_deep");
    expect(rejectionOf(() => minifyJsonRecord("{}", Number.NaN)).code).toBe("too_deep");
  });

  describe("rejects with a 400 naming the problem", () => {
    it.each([
      ["empty_body", "", "body is empty; send one JSON object"],
      ["empty_body", " \n\t\r ", "body is empty"],
      ["not_an_object", "[]", "body is a JSON array; each request must hold exactly one JSON object"],
      ["not_an_object", '[{"a":1}]', "body is a JSON array"],
      ["not_an_object", '"x"', "body is a JSON string"],
      ["not_an_object", "1", "body is a JSON number"],
      ["not_an_object", " -2.5", "body is a JSON number"],
      ["not_an_object", "true", "body is a JSON boolean"],
      ["not_an_object", "null", "body is JSON null"],
      ["multiple_values", '{"a":1}\n{"a":2}', "it looks like NDJSON"],
      ["multiple_values", "{} {}", "found more data at offset 3"],
      ["multiple_values", "{}[]", "body holds more than one JSON value"],
      ["multiple_values", '{"a":{}}}', "found '}' at offset 8"],
      [
        "too_deep",
        `{"a":${"[".repeat(64)}${"]".repeat(64)}}`,
        "deeper than the limit of 64 levels (at offset 68)",
      ],
      [
        "invalid_json",
        '{"a":1,}',
        "at offset 7 (line 1, column 8): expected a double-quoted key (trailing commas",
      ],
      ["invalid_json", '{"a":[1,]}', "trailing commas are not allowed"],
      [
        "invalid_json",
        '{"a":"x\ty"}',
        "control characters must be escaped inside a string, but found control",
      ],
      ["invalid_json", '{"a":"\u0000"}', "found control character U+0000"],
      ["invalid_json", '{"a":"abc', "at offset 5 (line 1, column 6): unterminated string"],
      ["invalid_json", '{"a', "unterminated string"],
      ["invalid_json", '{"a":"\\x"}', "invalid escape"],
      ["invalid_json", '{"a":"\\u12G4"}', "a \\u escape needs four hex digits, but found 'G'"],
      ["invalid_json", '{"a":"\\u12', "a \\u escape needs four hex digits, but found the end of the body"],
      ["invalid_json", '{"a":"\\u001\u0010"}', "a \\u escape needs four hex digits"],
      ["invalid_json", '{"a":01}', "numbers must not have leading zeros"],
      ["invalid_json", '{"a":-01}', "numbers must not have leading zeros"],
      ["invalid_json", '{"a":+1}', "numbers must not start with '+'"],
      ["invalid_json", '{"a":.5}', "numbers need a digit before the decimal point"],
      ["invalid_json", '{"a":1.}', "expected a digit after the decimal point"],
      ["invalid_json", '{"a":1.e5}', "expected a digit after the decimal point"],
      ["invalid_json", '{"a":1e}', "expected a digit in the exponent"],
      ["invalid_json", '{"a":1e+}', "expected a digit in the exponent"],
      ["invalid_json", '{"a":-}', "expected a digit after '-'"],
      ["invalid_json", '{"a":NaN}', "NaN and Infinity are not JSON values"],
      ["invalid_json", '{"a":-Infinity}', "expected a digit after '-'"],
      ["invalid_json", '{"a":tru}', "expected the literal true"],
      ["invalid_json", '{"a":nul}', "expected the literal null"],
      ["invalid_json", "{'a':1}", "strings and keys must use double quotes"],
      ["invalid_json", '{"a":1 // note\n}', "comments are not allowed in JSON"],
      ["invalid_json", '{"a" 1}', "expected ':' after an object key, but found '1'"],
      ["invalid_json", '{"a":}', "expected a value after ':'"],
      ["invalid_json", "{a:1}", "expected a double-quoted key, but found 'a'"],
      ["invalid_json", '{"a":1 "b":2}', "expected ',' or '}' after an object member"],
      ["invalid_json", '{"a":[1 2]}', "expected ',' or ']' after an array element"],
      ["invalid_json", '{"a":[}', "expected a value, but found '}'"],
      ["invalid_json", '{"a":1', "found the end of the body"],
      ["invalid_json", '{\n  "a": 1,\n  "b": x\n}', "at offset 19 (line 3, column 8)"],
      ["invalid_json", "\uFEFF{}", "expected a JSON object starting with '{', but found character U+FEFF"],
      ["invalid_json", "\u00a0{}", "found character U+00A0"],
    ])("%s: %j", (code, body, message) => {
      const error = rejectionOf(() => minifyJsonRecord(body));
      expect(error.code).toBe(code);
      expect(error.status).toBe(400);
      expect(error.message).toContain(message);
    });

    it("answers too_deep for 100,000 nested arrays quickly, without overflowing the stack", () => {
      const body = `{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
      const started = performance.now();
      expect(rejectionOf(() => minifyJsonRecord(body)).code).toBe("too_deep");
      expect(performance.now() - started).toBeLessThan(50);
      // With no limit the same input is scanned iteratively, not recursively.
      expect(minifyJsonRecord(body, Number.POSITIVE_INFINITY)).toBe(body);
      expect(rejectionOf(() => minifyJsonRecord("[".repeat(100_000))).code).toBe("not_an_object");
    });

    it("never shows more than one character of the record in a message", () => {
      const secret = "s3cr3t-ssn-123-45-6789";
      for (const body of [`{"${secret}`, `{"a":"${secret}\n"}`, `{"a":${secret}}`, `{} ${secret}`]) {
        expect(rejectionOf(() => minifyJsonRecord(body)).message).not.toContain("s3");
      }
    });
  });

  describe("properties", () => {
    it("minifies any pretty-printed or re-spaced object to exactly its compact form", () => {
      fc.assert(
        fc.property(compactAndSpaced, ({ compact, spaced }) => {
          const minified = minifyJsonRecord(spaced);
          expect(minified).toBe(compact);
          expect(JSON.parse(minified)).toStrictEqual(JSON.parse(spaced));
          expect(hasWhitespaceOutsideStrings(minified)).toBe(false);
        }),
        { numRuns: 1000 },
      );
    });

    it("is idempotent", () => {
      fc.assert(
        fc.property(compactAndSpaced, ({ spaced }) => {
          const once = minifyJsonRecord(spaced);
          expect(minifyJsonRecord(once)).toBe(once);
        }),
        { numRuns: 500 },
      );
    });

    const mutatedJson = fc
      .tuple(
        fc.oneof(jsonObject, fc.jsonValue({ maxDepth: 3 })).map((v) => JSON.stringify(v, null, 1)),
        fc.array(
          fc.tuple(
            fc.constantFrom("delete", "insert", "replace"),
            fc.nat(),
            fc.oneof(
              fc.constantFrom(..."{}[]:,\"\\ \t\n\r0123456789-+.eEtrufalsnu/'\u0000\u001f\u007f\u00e9\ud800"),
              fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
            ),
          ),
          { minLength: 1, maxLength: 3 },
        ),
      )
      .map(([text, mutations]) => {
        let mutated = text;
        for (const [kind, n, ch] of mutations) {
          const at = n % (mutated.length + 1);
          const skip = kind === "insert" ? 0 : 1;
          mutated = mutated.slice(0, at) + (kind === "delete" ? "" : ch) + mutated.slice(at + skip);
        }
        return mutated;
      });

    it.each([
      ["arbitrary strings", fc.string()],
      ["arbitrary full-Unicode strings", fc.string({ unit: "binary" })],
      ["arbitrary strings in braces", fc.string({ unit: "binary-ascii" }).map((s) => `{${s}}`)],
      ["mutations of valid JSON", mutatedJson],
    ])("rejects %s exactly when JSON.parse fails or gives no plain object", (_name, texts) => {
      fc.assert(
        fc.property(texts, (text) => {
          let expected: unknown;
          let parses = true;
          try {
            expected = JSON.parse(text);
          } catch {
            parses = false;
          }
          let minified: string | undefined;
          try {
            minified = minifyJsonRecord(text, Number.POSITIVE_INFINITY);
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidRecordError);
          }
          expect(minified !== undefined).toBe(parses && isPlainObject(expected));
          if (minified !== undefined) expect(JSON.parse(minified)).toStrictEqual(expected);
        }),
        { numRuns: 2000 },
      );
    });

    it("keeps every valid number lexeme exactly", () => {
      fc.assert(
        fc.property(numberLexeme, whitespace, (lexeme, ws) => {
          const minified = minifyJsonRecord(`{${ws}"n"${ws}:${ws}${lexeme}${ws},"a":[${lexeme}${ws}]}`);
          expect(minified).toBe(`{"n":${lexeme},"a":[${lexeme}]}`);
          expect(minified).toContain(lexeme);
          expect(JSON.parse(minified).n).toBe(JSON.parse(lexeme));
        }),
        { numRuns: 1000 },
      );
    });
  });
});

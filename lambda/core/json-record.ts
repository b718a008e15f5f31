/**
 * Validation of a JSON request body as exactly one RFC 8259 object, minified in a single pass that keeps every
 * lexeme (numbers, string escapes, key order, duplicate keys) exactly as the client sent it.
 */
import { MAX_NESTING_DEPTH } from "./constants.js";
import { InvalidRecordError } from "./errors.js";

// Character codes the scanner branches on.
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const ONE = 0x31;
const NINE = 0x39;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

// What the scanner expects next.
const ROOT_VALUE = 0;
const MEMBER_VALUE = 1; // after ':'
const FIRST_ELEMENT = 2; // after '[': a value or ']'
const NEXT_ELEMENT = 3; // after ',' in an array
const FIRST_KEY = 4; // after '{': a key or '}'
const NEXT_KEY = 5; // after ',' in an object
const COLON_AFTER_KEY = 6;
const SEPARATOR = 7; // after a value: ',' or the closer of the innermost container

/**
 * Validates that `text` is exactly one JSON object (RFC 8259) nested at most `maxDepth` deep and returns it
 * minified: whitespace outside strings is dropped and everything else is kept character for character, so
 * `1.0`, `1e400`, `"\u00e9"` and duplicate keys reach the stored NDJSON line as sent.
 *
 * @param text - the decoded body (UTF-8 already decoded, a leading BOM already stripped)
 * @param maxDepth - deepest nesting of objects and arrays allowed; the top-level object is depth 1
 * @returns the object on one line; `text` itself when it holds no insignificant whitespace
 * @throws InvalidRecordError with code `empty_body`, `not_an_object`, `multiple_values`, `too_deep` or
 *   `invalid_json`; messages give the offset but never more than one character of the record
 */
export function minifyJsonRecord(text: string, maxDepth: number = MAX_NESTING_DEPTH): string {
  const length = text.length;
  let i = skipWhitespace(text, 0);
  if (i === length) throw new InvalidRecordError("body is empty; send one JSON object", "empty_body");
  if (text.charCodeAt(i) !== OPEN_BRACE) throw notAnObject(text, i);

  // Output is built from the unchanged runs between whitespace runs; `runStart` opens the pending one.
  let out = "";
  let runStart = i;
  // An explicit stack (true = object) instead of recursion, so hostile nesting cannot overflow the call stack.
  const inObject: boolean[] = [];
  let depth = 0;
  let state = ROOT_VALUE;
  for (;;) {
    let c = text.charCodeAt(i); // NaN past the end, which matches no branch below
    if (c === SPACE || c === LF || c === CR || c === TAB) {
      out += text.slice(runStart, i);
      i = skipWhitespace(text, i + 1);
      runStart = i;
      c = text.charCodeAt(i);
    }
    if (state === SEPARATOR) {
      const closer = inObject[depth - 1] ? CLOSE_BRACE : CLOSE_BRACKET;
      if (c === COMMA) {
        state = inObject[depth - 1] ? NEXT_KEY : NEXT_ELEMENT;
        i++;
        continue;
      }
      if (c !== closer) {
        const what = inObject[depth - 1] ? "an object member" : "an array element";
        throw syntaxError(text, i, `expected ',' or '${String.fromCharCode(closer)}' after ${what}`);
      }
    } else if (state === FIRST_KEY || state === NEXT_KEY) {
      if (c === QUOTE) {
        i = scanString(text, i);
        state = COLON_AFTER_KEY;
        continue;
      }
      if (c !== CLOSE_BRACE || state === NEXT_KEY) {
        const trailingComma = c === CLOSE_BRACE ? " (trailing commas are not allowed)" : "";
        throw syntaxError(text, i, `expected a double-quoted key${trailingComma}`);
      }
    } else if (state === COLON_AFTER_KEY) {
      if (c !== COLON) throw syntaxError(text, i, "expected ':' after an object key");
      state = MEMBER_VALUE;
      i++;
      continue;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      // Written as !(<) so that a NaN limit fails closed instead of disabling the check.
      if (!(depth < maxDepth)) {
        throw new InvalidRecordError(
          `JSON nesting is deeper than the limit of ${maxDepth} levels (at offset ${i})`,
          "too_deep",
        );
      }
      inObject[depth++] = c === OPEN_BRACE;
      state = c === OPEN_BRACE ? FIRST_KEY : FIRST_ELEMENT;
      i++;
      continue;
    } else if (c !== CLOSE_BRACKET || state !== FIRST_ELEMENT) {
      i = scanScalar(text, i, state);
      state = SEPARATOR;
      continue;
    }
    // Only a container's matching closer reaches this point.
    depth--;
    i++;
    state = SEPARATOR;
    if (depth === 0) break;
  }

  const end = i;
  const extra = skipWhitespace(text, end);
  if (extra !== length) throw multipleValues(text, end, extra);
  if (runStart === 0 && end === length) return text;
  return out + text.slice(runStart, end);
}

function skipWhitespace(text: string, from: number): number {
  let i = from;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) return i;
    i++;
  }
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** Scans a string, number or literal starting at `start` (a value state) and returns the offset after it. */
function scanScalar(text: string, start: number, state: number): number {
  const c = text.charCodeAt(start);
  if (c === QUOTE) return scanString(text, start);
  if (c === MINUS || isDigit(c)) return scanNumber(text, start);
  for (const literal of ["true", "false", "null"]) {
    if (c === literal.charCodeAt(0)) {
      if (text.startsWith(literal, start)) return start + literal.length;
      throw syntaxError(text, start, `expected the literal ${literal}`);
    }
  }
  let expected = state === MEMBER_VALUE ? "expected a value after ':'" : "expected a value";
  if (state === NEXT_ELEMENT && c === CLOSE_BRACKET) expected += " (trailing commas are not allowed)";
  if (c === PLUS) expected += " (numbers must not start with '+')";
  if (c === DOT) expected += " (numbers need a digit before the decimal point)";
  if (c === 0x4e || c === 0x49) expected += " (NaN and Infinity are not JSON values)";
  throw syntaxError(text, start, expected);
}

/** Scans the string whose opening quote is at `start`; returns the offset after its closing quote. */
function scanString(text: string, start: number): number {
  const length = text.length;
  let i = start + 1;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      i = scanEscape(text, i);
    } else if (c < SPACE) {
      throw syntaxError(text, i, "control characters must be escaped inside a string");
    } else {
      i++;
    }
  }
  throw syntaxError(text, start, "unterminated string: no closing '\"' before the end of the body");
}

/** Checks the escape whose backslash is at `start`; returns the offset after it. */
function scanEscape(text: string, start: number): number {
  switch (text.charCodeAt(start + 1)) {
    case QUOTE:
    case BACKSLASH:
    case 0x2f: // /
    case 0x62: // b
    case 0x66: // f
    case 0x6e: // n
    case 0x72: // r
    case 0x74: // t
      return start + 2;
    case 0x75: // u: exactly four hex digits; lone surrogates are valid JSON and are kept as written
      for (let i = start + 2; i < start + 6; i++) {
        const c = text.charCodeAt(i);
        const lower = c | 0x20; // folds A-F onto a-f
        if (!isDigit(c) && !(lower >= 0x61 && lower <= 0x66)) {
          throw syntaxError(text, i, "a \\u escape needs four hex digits");
        }
      }
      return start + 6;
    default:
      throw syntaxError(
        text,
        start + 1,
        'invalid escape; allowed are \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX',
      );
  }
}

/** Scans `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` from `start`; returns the offset after it. */
function scanNumber(text: string, start: number): number {
  let i = start;
  let c = text.charCodeAt(i);
  if (c === MINUS) c = text.charCodeAt(++i);
  if (c === ZERO) {
    c = text.charCodeAt(++i);
    if (isDigit(c)) throw syntaxError(text, i - 1, "numbers must not have leading zeros");
  } else if (c >= ONE && c <= NINE) {
    do c = text.charCodeAt(++i);
    while (isDigit(c));
  } else {
    throw syntaxError(text, i, "expected a digit after '-'");
  }
  if (c === DOT) {
    c = text.charCodeAt(++i);
    if (!isDigit(c)) throw syntaxError(text, i, "expected a digit after the decimal point");
    do c = text.charCodeAt(++i);
    while (isDigit(c));
  }
  if (c === 0x65 || c === 0x45) {
    c = text.charCodeAt(++i);
    if (c === PLUS || c === MINUS) c = text.charCodeAt(++i);
    if (!isDigit(c)) throw syntaxError(text, i, "expected a digit in the exponent");
    do c = text.charCodeAt(++i);
    while (isDigit(c));
  }
  return i;
}

/** The 400 for a body whose top-level value is valid-looking but not an object. */
function notAnObject(text: string, at: number): InvalidRecordError {
  const c = text.charCodeAt(at);
  let kind: string | undefined;
  if (c === OPEN_BRACKET) kind = "a JSON array";
  else if (c === QUOTE) kind = "a JSON string";
  else if (c === MINUS || isDigit(c)) kind = "a JSON number";
  else if (text.startsWith("true", at) || text.startsWith("false", at)) kind = "a JSON boolean";
  else if (text.startsWith("null", at)) kind = "JSON null";
  if (kind === undefined) return syntaxError(text, at, "expected a JSON object starting with '{'");
  return new InvalidRecordError(
    `body is ${kind}; each request must hold exactly one JSON object`,
    "not_an_object",
  );
}

/** The 400 for data after the object; names NDJSON when that data is another object on a later line. */
function multipleValues(text: string, end: number, extra: number): InvalidRecordError {
  const c = text.charCodeAt(extra);
  let message: string;
  if (c === OPEN_BRACE && text.lastIndexOf("\n", extra) >= end) {
    message =
      `body holds more than one JSON value (found another object at offset ${extra}, line ${lineOf(text, extra)}); ` +
      "it looks like NDJSON: send one object per request";
  } else if (c === OPEN_BRACE || c === OPEN_BRACKET || c === QUOTE || c === MINUS || isDigit(c)) {
    message = `body holds more than one JSON value (found more data at offset ${extra}); send one object per request`;
  } else {
    message =
      `body holds more data after the JSON object (found ${describe(text, extra)} at offset ${extra}); ` +
      "send exactly one object per request";
  }
  return new InvalidRecordError(message, "multiple_values");
}

/** The 400 for a syntax error at `at`; shows at most one character of the record. */
function syntaxError(text: string, at: number, expected: string): InvalidRecordError {
  const column = at - text.lastIndexOf("\n", at - 1);
  const found = describe(text, at);
  let hint = "";
  const c = text.charCodeAt(at);
  if (c === 0x27) hint = "; strings and keys must use double quotes";
  else if (c === 0x2f) hint = "; comments are not allowed in JSON";
  return new InvalidRecordError(
    `invalid JSON at offset ${at} (line ${lineOf(text, at)}, column ${column}): ${expected}, but found ${found}${hint}`,
    "invalid_json",
  );
}

/** One character as a message may show it: printable ASCII quoted, anything else as its code point. */
function describe(text: string, at: number): string {
  const c = text.codePointAt(at);
  if (c === undefined) return "the end of the body";
  if (c > SPACE && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  const hex = c.toString(16).toUpperCase().padStart(4, "0");
  return c < SPACE ? `control character U+${hex}` : `character U+${hex}`;
}

/** The 1-based line of `at`, counted only when a message needs it. */
function lineOf(text: string, at: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < at; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/**
 * Records as `ingest read` sees them: a small value model that keeps what a warehouse loader needs exactly as
 * stored (number lexemes such as `12345678901234567890` or `1.0`, key order, `__proto__` keys as data), read
 * from NDJSON lines or decoded CBOR items, and flattened into dotted columns for CSV.
 */

/** A JSON number kept as the text it was written as. */
export interface NumberText {
  readonly kind: "number";
  readonly text: string;
}

/** An object's members in their stored order (duplicates included, as stored). */
export interface Members {
  readonly kind: "object";
  readonly entries: readonly (readonly [string, RecordValue])[];
}

export type RecordValue = string | boolean | null | NumberText | Members | readonly RecordValue[];

/**
 * Parses one stored NDJSON line. The line was validated when it was accepted, but a file can be damaged since:
 * anything that is not JSON throws a SyntaxError with the offset.
 */
export function parseJsonLine(text: string): RecordValue {
  const reader = new JsonReader(text);
  const value = reader.value();
  reader.end();
  return value;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// The string token's extent; JSON.parse then checks its escapes and refuses raw control characters.
const STRING = /"(?:[^"\\]|\\.)*"/y;
const WHITESPACE = /[ \t\n\r]*/y;

class JsonReader {
  private at = 0;

  constructor(private readonly text: string) {}

  value(): RecordValue {
    this.skip();
    const c = this.text[this.at];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') return this.string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9"))
      return { kind: "number", text: this.match(NUMBER) };
    for (const [word, value] of LITERALS) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    throw this.fail("a value");
  }

  end(): void {
    this.skip();
    if (this.at !== this.text.length) throw this.fail("the end of the line");
  }

  private object(): Members {
    this.at++;
    const entries: [string, RecordValue][] = [];
    if (this.next("}")) return { kind: "object", entries };
    do {
      this.skip();
      const key = this.string();
      if (!this.next(":")) throw this.fail("':'");
      entries.push([key, this.value()]);
    } while (this.next(","));
    if (!this.next("}")) throw this.fail("',' or '}'");
    return { kind: "object", entries };
  }

  private array(): RecordValue[] {
    this.at++;
    const items: RecordValue[] = [];
    if (this.next("]")) return items;
    do items.push(this.value());
    while (this.next(","));
    if (!this.next("]")) throw this.fail("',' or ']'");
    return items;
  }

  private string(): string {
    return JSON.parse(this.match(STRING)) as string;
  }

  private next(char: string): boolean {
    this.skip();
    if (this.text[this.at] !== char) return false;
    this.at++;
    return true;
  }

  private skip(): void {
    WHITESPACE.lastIndex = this.at;
    WHITESPACE.exec(this.text);
    this.at = WHITESPACE.lastIndex;
  }

  private match(pattern: RegExp): string {
    pattern.lastIndex = this.at;
    const found = pattern.exec(this.text);
    if (found === null) throw this.fail(pattern === STRING ? "a string" : "a number");
    this.at = pattern.lastIndex;
    return found[0];
  }

  private fail(expected: string): SyntaxError {
    return new SyntaxError(`expected ${expected} at offset ${this.at}`);
  }
}

const LITERALS: readonly (readonly [string, RecordValue])[] = [
  ["true", true],
  ["false", false],
  ["null", null],
];

/** Converts a decoded CBOR item (maps decoded as `Map`, text strings only) into the same model. */
export function fromCbor(value: unknown): RecordValue {
  if (value instanceof Map) {
    return { kind: "object", entries: [...value].map(([k, v]) => [String(k), fromCbor(v)] as const) };
  }
  if (Array.isArray(value)) return value.map(fromCbor);
  if (typeof value === "number" || typeof value === "bigint") return { kind: "number", text: String(value) };
  if (typeof value === "string" || typeof value === "boolean" || value === null) return value;
  if (value === undefined) return null;
  throw new TypeError(`unexpected CBOR value of type ${typeof value}`);
}

/** Writes a value back as compact JSON, numbers exactly as stored. */
export function toJson(value: RecordValue): string {
  if (value === null || typeof value === "boolean") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(toJson).join(",")}]`;
  const v = value as NumberText | Members;
  if (v.kind === "number") return v.text;
  return `{${v.entries.map(([k, item]) => `${JSON.stringify(k)}:${toJson(item)}`).join(",")}}`;
}

/**
 * Flattens a record into columns: nested object members become dotted names (`customer.address.city`) and
 * array elements indexed ones (`items.0.sku`). Empty objects and arrays keep their column, as `{}` / `[]`.
 * Without `nested`, only the top level becomes columns and nested values stay JSON text.
 *
 * @throws Error when two paths give the same column name (a key that itself holds a dot, like `{"a.b": 1,
 *   "a": {"b": 2}}`), because one of the two values would otherwise be lost silently
 */
export function toColumns(record: RecordValue, nested: boolean): Map<string, RecordValue> {
  const columns = new Map<string, RecordValue>();
  const walk = (name: string, value: RecordValue) => {
    const children = nested ? childrenOf(value) : undefined;
    if (children !== undefined && children.length > 0) {
      for (const [key, child] of children) walk(`${name}.${key}`, child);
      return;
    }
    if (columns.has(name)) {
      throw new Error(
        `two values of one record map to column ${JSON.stringify(name)} (a key holds a dot or a digit-only name); read it without --flatten`,
      );
    }
    columns.set(name, value);
  };
  const top = childrenOf(record);
  if (top === undefined || Array.isArray(record)) return new Map([["value", record]]);
  for (const [key, value] of top) walk(key, value);
  return columns;
}

function childrenOf(value: RecordValue): (readonly [string, RecordValue])[] | undefined {
  if (Array.isArray(value)) return value.map((item, i) => [String(i), item] as const);
  if (value !== null && typeof value === "object" && (value as Members).kind === "object") {
    return lastWins((value as Members).entries);
  }
  return undefined;
}

/** Keeps the last of duplicate keys at the first key's position. */
function lastWins(entries: readonly (readonly [string, RecordValue])[]): (readonly [string, RecordValue])[] {
  const byKey = new Map<string, RecordValue>();
  for (const [key, value] of entries) byKey.set(key, value);
  return [...byKey];
}

/** One CSV cell: strings as they are, numbers as stored, `true`/`false`, null as an empty cell, the rest JSON. */
export function toCell(value: RecordValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return String(value);
  if (!Array.isArray(value) && (value as NumberText).kind === "number") return (value as NumberText).text;
  return toJson(value);
}

/**
 * Generators of JSON and XML records together with a model of what they hold, so tests can compute the exact
 * expected stored form from the model rather than from any parser under test. Used by the property tests and
 * by the HTTP fuzzing (test/helpers/fuzz-cases.ts, also run by the soak). No jest imports: the soak builds it.
 */
import fc from "fast-check";

// ---------------------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------------------

/** A JSON value as written: numbers keep their lexeme, strings their escapes, objects their member order. */
export type JsonNode =
  | { readonly t: "number"; readonly lexeme: string }
  | { readonly t: "string"; readonly raw: string } // the text between the quotes, escapes as written
  | { readonly t: "literal"; readonly text: "true" | "false" | "null" }
  | { readonly t: "array"; readonly items: readonly JsonNode[] }
  | { readonly t: "object"; readonly members: readonly (readonly [string, JsonNode])[] }; // keys raw, like strings

/** Lexemes that JSON.parse / JSON.stringify would change: rounding, `1.0` → `1`, `1e400` → Infinity → null. */
export const TRICKY_NUMBER_LEXEMES = [
  "12345678901234567890",
  "1.0",
  "1e400",
  "-1e400",
  "1e-400",
  "-0",
  "-0.0",
  "0.1000000000000000055511151231257827",
  "9007199254740993",
  "1E+2",
  "2.50",
  "0e0",
  "123456789012345678901234567890.123456789012345678901234567890e-12",
] as const;

const numberLexeme: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(...TRICKY_NUMBER_LEXEMES) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.boolean(),
        fc.oneof(fc.constant("0"), fc.stringMatching(/^[1-9][0-9]{0,24}$/)),
        fc.option(fc.stringMatching(/^\.[0-9]{1,18}$/), { nil: "" }),
        fc.option(fc.stringMatching(/^[eE][+-]?[0-9]{1,4}$/), { nil: "" }),
      )
      .map(([negative, int, frac, exp]) => `${negative ? "-" : ""}${int}${frac}${exp}`),
  },
);

/** A code point that UTF-8 can carry (no lone surrogates), from any plane, weighted to the interesting ones. */
export const unicodeCharacter: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }).map((cp) => String.fromCodePoint(cp)),
  fc.integer({ min: 0x80, max: 0xd7ff }).map((cp) => String.fromCodePoint(cp)),
  fc.integer({ min: 0xe000, max: 0xffff }).map((cp) => String.fromCodePoint(cp)),
  // any of the 16 supplementary planes, picked as a plane first so that every plane is visited
  fc
    .tuple(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 0xffff }))
    .map(([plane, offset]) => String.fromCodePoint(plane * 0x10000 + offset)),
  fc.constantFrom("\u2028", "\u2029", "\u007f", "\ufeff", "\u00e9", "e\u0301", "\u{1F600}"),
);

/** One piece of a JSON string literal's text: a raw character or an escape, written as a client might. */
const stringPiece: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: unicodeCharacter.filter((c) => c !== '"' && c !== "\\") },
  { weight: 2, arbitrary: fc.constantFrom('\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t") },
  {
    // \uXXXX of anything, in either hex case: control characters, quotes, lone and paired surrogate halves
    weight: 2,
    arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.boolean()).map(([cp, upper]) => {
      const hex = cp.toString(16).padStart(4, "0");
      return `\\u${upper ? hex.toUpperCase() : hex}`;
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom("\\ud83d\\ude00", "\\uD800", "\\uDFFF", "\\u0000", "\\u001f") },
);

const stringRaw = fc.array(stringPiece, { maxLength: 12 }).map((pieces) => pieces.join(""));

/** Keys: arbitrary, prototype-sensitive names, and a small pool so that duplicate keys are common. */
const keyRaw: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: stringRaw },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "__proto__",
      "constructor",
      "prototype",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "__defineGetter__",
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom("a", "b", "id", "") },
);

const { node: jsonNode } = fc.letrec<{ node: JsonNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 3, arbitrary: numberLexeme.map((lexeme) => ({ t: "number" as const, lexeme })) },
    { weight: 3, arbitrary: stringRaw.map((raw) => ({ t: "string" as const, raw })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("true", "false", "null").map((text) => ({ t: "literal" as const, text })),
    },
    {
      weight: 1,
      arbitrary: fc.array(tie("node"), { maxLength: 5 }).map((items) => ({ t: "array" as const, items })),
    },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.tuple(keyRaw, tie("node")), { maxLength: 5 })
        .map((members) => ({ t: "object" as const, members })),
    },
  ),
}));

/** A top-level JSON object node. */
export const jsonObjectNode: fc.Arbitrary<Extract<JsonNode, { t: "object" }>> = fc
  .array(fc.tuple(keyRaw, jsonNode), { maxLength: 8 })
  .map((members) => ({ t: "object" as const, members }));

/** Insignificant whitespace (RFC 8259: space, tab, LF, CR), usually none. */
const jsonWhitespace = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(" ", "\t", "\n", "\r"), maxLength: 4 }) },
);

/**
 * Renders a node; `ws()` supplies the whitespace for each slot between tokens (a fresh value per call).
 * With `ws = () => ""` the result is the compact form the stored NDJSON line must equal.
 */
export function renderJson(node: JsonNode, ws: () => string = () => ""): string {
  switch (node.t) {
    case "number":
      return node.lexeme;
    case "string":
      return `"${node.raw}"`;
    case "literal":
      return node.text;
    case "array":
      return `[${ws()}${node.items.map((item) => renderJson(item, ws)).join(`${ws()},${ws()}`)}${ws()}]`;
    case "object":
      return `{${ws()}${node.members
        .map(([key, value]) => `"${key}"${ws()}:${ws()}${renderJson(value, ws)}`)
        .join(`${ws()},${ws()}`)}${ws()}}`;
  }
}

/** The number lexemes of a node in document order. */
export function numberLexemes(node: JsonNode): string[] {
  switch (node.t) {
    case "number":
      return [node.lexeme];
    case "array":
      return node.items.flatMap(numberLexemes);
    case "object":
      return node.members.flatMap(([, value]) => numberLexemes(value));
    default:
      return [];
  }
}

/** A JSON object record: its model, the text a client sends (random whitespace) and the compact form. */
export interface JsonRecordCase {
  readonly node: Extract<JsonNode, { t: "object" }>;
  /** What the client sends. */
  readonly text: string;
  /** What must be stored (before the NDJSON newline). */
  readonly compact: string;
}

export const jsonRecord: fc.Arbitrary<JsonRecordCase> = fc
  .tuple(jsonObjectNode, fc.array(jsonWhitespace, { minLength: 1, maxLength: 64 }))
  .map(([node, spaces]) => {
    let slot = 0;
    const ws = () => spaces[slot++ % spaces.length] ?? "";
    const text = `${ws()}${renderJson(node, ws)}${ws()}`;
    return { node, text, compact: renderJson(node) };
  });

// ---------------------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------------------

/** The value an element converts to (see lambda/core/xml-record.ts): text, a map, or repeated siblings. */
export type XmlModelValue = string | Map<string, XmlModelValue> | XmlModelValue[];

export interface XmlElementModel {
  readonly name: string;
  readonly attributes: readonly (readonly [string, string])[];
  readonly content: readonly XmlContentModel[];
}
export type XmlContentModel =
  | { readonly kind: "element"; readonly element: XmlElementModel }
  /** Data text: at least one character that is not XML whitespace. */
  | { readonly kind: "text"; readonly text: string }
  /** A CDATA section: its content is data even when empty of non-whitespace (when not empty). */
  | { readonly kind: "cdata"; readonly text: string }
  /** Indentation between child elements: only space, tab and LF. */
  | { readonly kind: "indent"; readonly text: string }
  | { readonly kind: "comment" }
  | { readonly kind: "pi" };

/** Prefixes declared on the root (namespaces are kept in names as written, declarations as attributes). */
const NAMESPACE_PREFIXES = ["p", "ns1", "xs"] as const;

const asciiNameStart = fc.constantFrom(..."abcxyzABC_");
/** Name characters from other scripts and the supplementary planes (XML 1.0 allows U+10000–U+EFFFF). */
const wideNameChar = fc.oneof(
  fc.constantFrom("é", "ß", "Ω", "名", "前", "ж", "ü"),
  fc.integer({ min: 1, max: 14 }).map((plane) => String.fromCodePoint(plane * 0x10000 + 0x100)),
);
const localName: fc.Arbitrary<string> = fc.oneof(
  // a small pool, so that same-name siblings (arrays) are frequent
  { weight: 5, arbitrary: fc.constantFrom("a", "b", "item", "record", "x-y", "_u.v", "n1") },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype", "toString", "valueOf") },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.oneof(asciiNameStart, wideNameChar),
        fc.array(fc.oneof(asciiNameStart, wideNameChar, fc.constantFrom("-", ".", "0", "9")), {
          maxLength: 5,
        }),
      )
      .map(([first, rest]) => first + rest.join("")),
  },
);
const qualifiedName = fc.oneof(
  { weight: 4, arbitrary: localName },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...NAMESPACE_PREFIXES), localName).map(([p, n]) => `${p}:${n}`),
  },
);

/** A character XML 1.0 allows, from any plane, weighted towards those that need escaping. */
const xmlChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom("&", "<", ">", '"', "'", "]", ";", "#", "\r", "\t", "\n", " ") },
  { weight: 3, arbitrary: fc.integer({ min: 0x21, max: 0x7e }).map((cp) => String.fromCodePoint(cp)) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xd7ff }).map((cp) => String.fromCodePoint(cp)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0xfffd }).map((cp) => String.fromCodePoint(cp)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 0xffff }))
      .map(([plane, offset]) => String.fromCodePoint(plane * 0x10000 + offset)),
  },
);
const isXmlWhitespace = (s: string) => /^[ \t\n\r]*$/.test(s);
const dataText = fc
  .array(xmlChar, { minLength: 1, maxLength: 10 })
  .map((cs) => cs.join(""))
  .filter((s) => !isXmlWhitespace(s));
const cdataText = fc
  .array(
    fc.oneof(
      xmlChar.filter((c) => c !== "\r"),
      fc.constantFrom("<a>", "&amp;", "]]", "]>"),
    ),
    { maxLength: 8 },
  )
  .map((cs) => cs.join(""))
  .filter((s) => !s.includes("]]>") && !s.endsWith("]]") && !s.endsWith("]"));
const indent = fc.string({ unit: fc.constantFrom(" ", "\t", "\n"), minLength: 1, maxLength: 4 });

export const { element: xmlElementModel } = fc.letrec<{
  element: XmlElementModel;
  content: XmlContentModel;
}>((tie) => ({
  element: fc.record({
    name: qualifiedName,
    attributes: fc.uniqueArray(fc.tuple(qualifiedName, fc.oneof(dataText, fc.constant(""))), {
      maxLength: 3,
      selector: ([n]) => n,
    }),
    content: fc.array(tie("content"), { maxLength: 6 }),
  }),
  content: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 3, arbitrary: dataText.map((text) => ({ kind: "text" as const, text })) },
    { weight: 1, arbitrary: cdataText.map((text) => ({ kind: "cdata" as const, text })) },
    { weight: 2, arbitrary: indent.map((text) => ({ kind: "indent" as const, text })) },
    { weight: 1, arbitrary: fc.constantFrom({ kind: "comment" as const }, { kind: "pi" as const }) },
    {
      weight: 3,
      arbitrary: tie("element").map((child) => ({
        kind: "element" as const,
        element: child as XmlElementModel,
      })),
    },
  ),
}));

/** How characters are written: as little escaping as allowed, or with entities and character references. */
export type XmlEscaping = "minimal" | "entities" | "references";

const ENTITY: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

function escapeXml(text: string, escaping: XmlEscaping, inAttribute: boolean): string {
  let out = "";
  for (const c of text) {
    const cp = c.codePointAt(0) ?? 0;
    // A literal CR would be read as LF; tab/LF in an attribute would be normalised to a space.
    if (c === "\r" || (inAttribute && (c === "\t" || c === "\n"))) out += `&#${cp};`;
    else if (c === "&" || c === "<" || c === ">" || (inAttribute && c === '"')) out += ENTITY[c];
    else if (escaping !== "minimal" && (c === '"' || c === "'")) out += ENTITY[c];
    else if (escaping === "references" && cp > 0x7e) out += cp % 2 ? `&#${cp};` : `&#x${cp.toString(16)};`;
    else out += c;
  }
  return out;
}

function serialiseElement(el: XmlElementModel, escaping: XmlEscaping, extraAttributes: string): string {
  const attributes =
    extraAttributes + el.attributes.map(([n, v]) => ` ${n}="${escapeXml(v, escaping, true)}"`).join("");
  if (el.content.length === 0) return `<${el.name}${attributes}/>`;
  const inner = el.content
    .map((item) => {
      switch (item.kind) {
        case "element":
          return serialiseElement(item.element, escaping, "");
        case "text":
          return escapeXml(item.text, escaping, false);
        case "cdata":
          return `<![CDATA[${item.text}]]>`;
        case "indent":
          return item.text;
        case "comment":
          return "<!-- a comment with <markup> & stuff -->";
        default: // "pi"
          return "<?app some data?>";
      }
    })
    .join("");
  return `<${el.name}${attributes}>${inner}</${el.name}>`;
}

const NAMESPACE_DECLARATIONS: readonly (readonly [string, string])[] = [
  ["xmlns", "urn:example:default"],
  ...NAMESPACE_PREFIXES.map((p) => [`xmlns:${p}`, `urn:example:${p}`] as const),
];

/** The root with every namespace prefix declared on it (the declarations are attributes of the model). */
export function withNamespaceDeclarations(root: XmlElementModel): XmlElementModel {
  const own = new Set(root.attributes.map(([n]) => n));
  return {
    ...root,
    attributes: [...NAMESPACE_DECLARATIONS.filter(([n]) => !own.has(n)), ...root.attributes],
  };
}

/** The document text for a root element model (declare namespaces with withNamespaceDeclarations first). */
export function serialiseXml(root: XmlElementModel, escaping: XmlEscaping, declaration: boolean): string {
  const prolog = declaration ? '<?xml version="1.0" encoding="UTF-8"?>\n<!-- prolog -->\n' : "";
  return `${prolog}${serialiseElement(root, escaping, "")}\n`;
}

/** The converted value of an element, computed from the model by the documented rules. */
export function expectedXmlValue(el: XmlElementModel): XmlModelValue {
  const map = new Map<string, XmlModelValue>(el.attributes.map(([n, v]) => [`@${n}`, v]));
  const hasChildren = el.content.some((item) => item.kind === "element");
  if (!hasChildren) {
    const text = el.content
      .map((item) =>
        item.kind === "text" || item.kind === "cdata" || item.kind === "indent" ? item.text : "",
      )
      .join("");
    if (map.size === 0) return text;
    if (text !== "") map.set("#text", text);
    return map;
  }
  const pieces: string[] = [];
  let run = "";
  let significant = false;
  for (const item of el.content) {
    if (item.kind === "text" || item.kind === "cdata" || item.kind === "indent") {
      run += item.text;
      significant ||= item.kind === "text" || (item.kind === "cdata" && item.text !== "");
    } else if (item.kind === "element") {
      if (significant) pieces.push(run);
      run = "";
      significant = false;
      const value = expectedXmlValue(item.element);
      const earlier = map.get(item.element.name);
      if (earlier === undefined) map.set(item.element.name, value);
      else if (Array.isArray(earlier)) earlier.push(value);
      else map.set(item.element.name, [earlier, value]);
    }
  }
  if (significant) pieces.push(run);
  if (pieces.length > 0) map.set("#text", pieces.length === 1 ? (pieces[0] ?? "") : pieces);
  return map;
}

/** An XML record: the model, the document text and the value its CBOR item must decode to. */
export interface XmlRecordCase {
  readonly root: XmlElementModel;
  readonly text: string;
  readonly expected: Map<string, XmlModelValue>;
}

export const xmlRecord: fc.Arbitrary<XmlRecordCase> = fc
  .tuple(
    xmlElementModel,
    fc.constantFrom<XmlEscaping>("minimal", "entities", "references"),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([model, escaping, declaration, namespaces]) => {
    const root = namespaces ? withNamespaceDeclarations(model) : model;
    return {
      root,
      text: serialiseXml(root, escaping, declaration),
      expected: new Map([[root.name, expectedXmlValue(root)]]),
    };
  });

/**
 * A decoded value turned into nested arrays of entries, so that a deep equality also checks key order
 * (jest's Map equality ignores it).
 */
export function orderedForm(value: unknown): unknown {
  if (value instanceof Map) return [...value.entries()].map(([k, v]) => [k, orderedForm(v)]);
  if (Array.isArray(value)) return value.map(orderedForm);
  return value;
}

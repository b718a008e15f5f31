/**
 * The XML → value conversion as it was before the one-pass parser (lambda/core/xml-parse.ts): pre-scans, the
 * fast-xml-parser validator, then the fast-xml-parser parser and a conversion walk. Kept unchanged (apart from
 * import paths and these names) as the oracle for test/unit/xml-differential.test.ts only.
 */
import { Encoder } from "cbor-x";
import { type ValidationError, XMLParser, XMLValidator } from "fast-xml-parser";
import { MAX_NESTING_DEPTH } from "../../lambda/core/constants.js";
import { InvalidRecordError } from "../../lambda/core/errors.js";
import { decodeAttributeValue, decodeCharacterData } from "../../lambda/core/xml-entities.js";
import {
  notWellFormedAt,
  refuseDoctype,
  refuseForbiddenCharacters,
  scanStructure,
} from "../../lambda/core/xml-prescan.js";

/** The converted form of an element: its text, a map of attributes/children/text, or repeated siblings. */
export type ReferenceXmlValue = string | Map<string, ReferenceXmlValue> | ReferenceXmlValue[];

// Keys of fast-xml-parser's `preserveOrder` output: none of them is a valid XML name, so none collides with one.
const TEXT = "#text";
const CDATA = "#cdata";
const ATTRIBUTES = ":@";

/**
 * fast-xml-parser throws on elements named like these (prototype-pollution guard), even though it builds no
 * object keyed by them that matters here. They are renamed with a `#` prefix, which no XML name can start
 * with, and the prefix is removed again when the Map is built, so they are stored as ordinary data.
 */
const GUARDED_NAMES: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
const GUARD_PREFIX = "#";

/** Most characters of the document an error message may quote, and the longest message we pass on. */
const MAX_QUOTED = 20;
const MAX_MESSAGE = 200;

/** Plain RFC 8949 output: Maps become CBOR maps with no tag 259, no records/packing/bundling extensions. */
const cborEncoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  pack: false,
  structuredClone: false,
  bundleStrings: false,
  tagUint8Array: false,
  useSelfDescribedHeader: false,
});

const defaultParser = createParser(MAX_NESTING_DEPTH);

/**
 * Validates `text` as one well-formed XML document and converts it to its value:
 * - a Map with one key, the root element's name (namespace prefix kept), holding the root's value;
 * - an element with only text and no attributes is that text, verbatim (never trimmed or coerced; `<a/>` is "");
 * - otherwise a Map of `@name` → attribute value, child name → child value (same-name siblings → array in
 *   document order), and `#text` → the text (for mixed content: the non-whitespace runs between children, a
 *   string if one, an array if several);
 * - CDATA is text, kept verbatim; the five XML entities and numeric references are decoded; comments, PIs and
 *   the XML declaration are dropped.
 *
 * @param text - the decoded body (UTF-8 already decoded, a leading BOM already stripped)
 * @param maxDepth - deepest element nesting allowed; the root element is depth 1
 * @throws InvalidRecordError with code `empty_body`, `doctype_not_allowed`, `too_deep`, `too_many_attributes`
 *   or `invalid_xml`; messages quote at most ~20 characters of the document
 */
export function referenceParseXmlRecord(
  text: string,
  maxDepth: number = MAX_NESTING_DEPTH,
): Map<string, ReferenceXmlValue> {
  if (isWhitespace(text)) throw new InvalidRecordError("body is empty; send one XML document", "empty_body");
  // Order matters: DOCTYPEs are refused before anything else reads the document, depth before any parser
  // walks it.
  refuseDoctype(text);
  scanStructure(text, maxDepth);
  refuseForbiddenCharacters(text);
  validate(text);
  return convertDocument(parse(text, maxDepth));
}

/**
 * {@link parseXmlRecord}, then encoded as one CBOR data item: a map (major type 5) that any RFC 8949 decoder
 * reads, with text strings for every name and value.
 *
 * @throws InvalidRecordError as {@link parseXmlRecord}
 */
export function referenceXmlRecordToCbor(text: string, maxDepth: number = MAX_NESTING_DEPTH): Uint8Array {
  return cborEncoder.encode(referenceParseXmlRecord(text, maxDepth));
}

/** Runs the fast-xml-parser validator; the parser alone accepts many documents that are not well-formed. */
function validate(text: string): void {
  let result: true | ValidationError;
  try {
    result = XMLValidator.validate(forNameValidation(text));
  } catch (cause) {
    throw new InvalidRecordError("XML could not be validated", "invalid_xml", { cause });
  }
  if (result === true) return;
  const { line, col, msg } = result.err;
  // "Start tag expected." comes without a column.
  throw notWellFormedAt(line, Number.isInteger(col) ? col : 1, clipMessage(msg));
}

// A character from the supplementary planes (a surrogate pair) in planes 1–14, and in planes 15–16.
const NAME_PLANES = /[\uD800-\uDB7F][\uDC00-\uDFFF]/g;
const PRIVATE_PLANES = /[\uDB80-\uDBFF][\uDC00-\uDFFF]/g;

/**
 * The text the validator checks. XML 1.0 names may use U+10000–U+EFFFF (planes 1–14), but the fast-xml-parser
 * validator only knows BMP name characters and refuses e.g. `<𐄀/>` as an invalid name. Each such pair is
 * swapped for two ASCII name characters, and each pair from planes 15–16 (never part of a name) for two
 * characters no name may hold, so names are judged by the XML rule. Lengths in UTF-16 units are unchanged,
 * so reported columns still point into the original; text content is unaffected (the parser reads the
 * original).
 */
function forNameValidation(text: string): string {
  if (!/[\uD800-\uDBFF]/.test(text)) return text;
  return text.replace(NAME_PLANES, "AA").replace(PRIVATE_PLANES, "!!");
}

/** The parser's ordered node list; every parser exception becomes a 400. */
function parse(text: string, maxDepth: number): unknown {
  const parser = maxDepth === MAX_NESTING_DEPTH ? defaultParser : createParser(maxDepth);
  try {
    return parser.parse(text);
  } catch (cause) {
    const message = cause instanceof Error ? clipMessage(cause.message) : "unknown parser error";
    throw new InvalidRecordError(`XML could not be parsed: ${message}`, "invalid_xml", { cause });
  }
}

function createParser(maxDepth: number): XMLParser {
  return new XMLParser({
    preserveOrder: true, // keeps mixed content and sibling order; we decide arrays ourselves
    ignoreAttributes: false,
    attributeNamePrefix: "@",
    parseTagValue: false, // never coerce: "00501" stays "00501"
    parseAttributeValue: false,
    trimValues: false,
    processEntities: false, // we decode references ourselves, so CDATA is never decoded and unknown ones fail
    htmlEntities: false,
    cdataPropName: CDATA,
    ignoreDeclaration: true,
    ignorePiTags: true,
    jPath: false, // we use no callback that needs the path; skips building a path string per tag
    maxNestedTags: maxDepth, // a backstop only: scanStructure has already refused deeper documents
    onDangerousProperty: (name) => name, // keep `toString`, `valueOf`… as they are (we only build Maps)
    transformTagName: (name) => (GUARDED_NAMES.has(name) ? GUARD_PREFIX + name : name),
  });
}

function convertDocument(nodes: unknown): Map<string, ReferenceXmlValue> {
  let document: Map<string, ReferenceXmlValue> | undefined;
  for (const node of asNodeList(nodes)) {
    const key = firstKey(node);
    // The parser keeps whitespace it met before a top-level PI; scanStructure has already refused any other
    // text, CDATA or a second element outside the root, so the throw below is only a safety net.
    if (key === TEXT && isWhitespace(asString(node[TEXT]))) continue;
    if (key === TEXT || key === CDATA || document !== undefined) {
      throw new InvalidRecordError(
        "XML must hold exactly one root element and no text outside it",
        "invalid_xml",
      );
    }
    document = new Map([[elementName(key), convertElement(node, key)]]);
  }
  if (document === undefined) throw new InvalidRecordError("XML has no root element", "invalid_xml");
  return document;
}

/** Recursion is bounded by `maxDepth`, which scanStructure enforced before parsing. */
function convertElement(node: OrderedNode, key: string): ReferenceXmlValue {
  let map: Map<string, ReferenceXmlValue> | undefined;
  const attributes = node[ATTRIBUTES];
  if (attributes !== undefined) {
    map = new Map();
    const record = asRecord(attributes);
    for (const name of Object.keys(record)) map.set(name, decodeAttributeValue(asString(record[name])));
  }
  let run = ""; // text and CDATA since the last child element
  let significant = false; // the run holds non-empty CDATA, a reference or non-whitespace
  const pieces: string[] = []; // significant runs of mixed content
  let hasChildElements = false;
  for (const child of asNodeList(node[key])) {
    const childKey = firstKey(child);
    if (childKey === TEXT) {
      const raw = asString(child[TEXT]);
      if (raw.includes("]]>")) {
        throw new InvalidRecordError("']]>' is not allowed in text content", "invalid_xml");
      }
      run += decodeCharacterData(raw);
      significant ||= !isWhitespace(raw);
    } else if (childKey === CDATA) {
      const content = cdataContent(child[CDATA]);
      run += content;
      significant ||= content !== ""; // CDATA is explicit data, even when it is only whitespace
    } else {
      // Whitespace-only runs between child elements are indentation, not data.
      if (significant) pieces.push(run);
      run = "";
      significant = false;
      hasChildElements = true;
      map ??= new Map();
      const name = elementName(childKey);
      const value = convertElement(child, childKey);
      // Element values are never arrays, so an array here is the list of earlier same-name siblings.
      const earlier = map.get(name);
      if (earlier === undefined) map.set(name, value);
      else if (Array.isArray(earlier)) earlier.push(value);
      else map.set(name, [earlier, value]);
    }
  }
  if (!hasChildElements) {
    if (map === undefined) return run;
    if (run !== "") map.set(TEXT, run);
    return map;
  }
  if (significant) pieces.push(run);
  if (map === undefined) throw new Error("unreachable: an element with children has a map");
  if (pieces.length > 0) map.set(TEXT, pieces.length === 1 ? (pieces[0] ?? "") : pieces);
  return map;
}

// --- the shape of fast-xml-parser's preserveOrder output, checked where it is read (its API returns `any`) ---

type OrderedNode = Record<string, unknown>;

function asNodeList(value: unknown): OrderedNode[] {
  if (!Array.isArray(value)) {
    throw new Error("fast-xml-parser returned an unexpected shape (not a node list)");
  }
  return value as OrderedNode[];
}

function asRecord(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null) {
    throw new Error("fast-xml-parser returned unexpected attributes");
  }
  return value as Record<string, unknown>;
}

function asString(value: unknown): string {
  if (typeof value !== "string") throw new Error("fast-xml-parser returned a non-string value");
  return value;
}

/** A node's own first key: its element name, `#text` or `#cdata` (the attributes key `:@` always comes later). */
function firstKey(node: OrderedNode): string {
  for (const key in node) return key;
  throw new Error("fast-xml-parser returned an empty node");
}

/** CDATA is stored as `[{ "#text": content }]`; the content is kept verbatim. */
function cdataContent(value: unknown): string {
  const [inner] = asNodeList(value);
  return inner === undefined ? "" : asString(inner[TEXT]);
}

function elementName(key: string): string {
  return key.startsWith(GUARD_PREFIX) ? key.slice(GUARD_PREFIX.length) : key;
}

/** True when `s` holds only XML whitespace (space, tab, LF, CR), or nothing. */
function isWhitespace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/** A library message with every long run of non-space characters (a quoted name or value) cut to 20. */
function clipMessage(message: string): string {
  const clipped = message.replace(/\S{21,}/gu, (run) => `${Array.from(run).slice(0, MAX_QUOTED).join("")}…`);
  return clipped.length > MAX_MESSAGE ? `${clipped.slice(0, MAX_MESSAGE)}…` : clipped;
}

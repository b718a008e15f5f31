/**
 * XML request bodies: one well-formed XML document is validated and converted to the value that is stored as
 * one CBOR data item (RFC 8949) in the stream's CBOR-sequence files. The document is checked and converted in
 * one pass by xml-parse.ts, after the cheap pre-scans of xml-prescan.ts.
 */
import { Encoder } from "cbor-x";
import { MAX_NESTING_DEPTH } from "./constants.js";
import { InvalidRecordError } from "./errors.js";
import { parseXmlDocument, type XmlValue } from "./xml-parse.js";
import { refuseDoctype, refuseForbiddenCharacters, scanStructure } from "./xml-prescan.js";

export type { XmlValue } from "./xml-parse.js";

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
export function parseXmlRecord(text: string, maxDepth: number = MAX_NESTING_DEPTH): Map<string, XmlValue> {
  if (isWhitespace(text)) throw new InvalidRecordError("body is empty; send one XML document", "empty_body");
  // DOCTYPEs are refused before anything else reads the document.
  refuseDoctype(text);
  try {
    refuseForbiddenCharacters(text);
    return parseXmlDocument(text, maxDepth);
  } catch (error) {
    // A document with several problems is refused for the one the structure scan meets first, as it always
    // was: `too_deep` / `too_many_attributes` anywhere win over a syntax error found earlier in one pass.
    // Only on this error path is the text scanned a second time.
    if (error instanceof InvalidRecordError && error.code === "invalid_xml") scanStructure(text, maxDepth);
    throw error;
  }
}

/**
 * {@link parseXmlRecord}, then encoded as one CBOR data item: a map (major type 5) that any RFC 8949 decoder
 * reads, with text strings for every name and value.
 *
 * @throws InvalidRecordError as {@link parseXmlRecord}
 */
export function xmlRecordToCbor(text: string, maxDepth: number = MAX_NESTING_DEPTH): Uint8Array {
  return cborEncoder.encode(parseXmlRecord(text, maxDepth));
}

/** True when `s` holds only XML whitespace (space, tab, LF, CR), or nothing. */
function isWhitespace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/**
 * One-pass XML 1.0 well-formedness check and conversion to the stored value model. It replaces running the
 * fast-xml-parser validator and then its parser over the same text: the document is read once, left to right,
 * every construct is checked where it is read, and the value is built as elements close (no intermediate node
 * list). Nesting is tracked on an explicit stack, so hostile depth cannot overflow the call stack.
 *
 * What is checked, all with `invalid_xml` unless noted: element and attribute names (the XML 1.0 Name
 * production, planes 1–14 included), attribute syntax (whitespace before each attribute, `=`, quoted value,
 * no `<` in a value, no duplicate names), matching end tags, one root element with only whitespace,
 * comments and processing instructions around it, closed comments/CDATA sections/PIs, PI targets (`xml` in
 * any case only as the XML declaration, which must open the document and follow the XMLDecl grammar), no
 * `]]>` in text, only the five predefined entities and valid character references, nesting deeper than
 * `maxDepth` (`too_deep`) and more than {@link MAX_XML_ATTRIBUTES} attributes on one element
 * (`too_many_attributes`). DOCTYPEs and characters outside the XML `Char` production are refused by the
 * caller's pre-checks (xml-prescan.ts) before this runs. Line breaks (CR LF, lone CR) are read as LF (§2.11).
 *
 * Kept as they always were, so that stored values and accepted documents do not change: `--` inside a comment
 * is tolerated, an empty-element tag (`<b/>`) adds no nesting level to the depth check, and namespaces are
 * not checked (prefixes are part of the name).
 */
import { InvalidRecordError } from "./errors.js";
import { decodeAttributeValue, decodeCharacterData } from "./xml-entities.js";
import { MAX_XML_ATTRIBUTES, notWellFormed } from "./xml-prescan.js";
import {
  APOS,
  BANG,
  CR,
  EQUALS,
  GT,
  LF,
  LT,
  MAX_QUOTED,
  QUESTION,
  QUOTE,
  quote,
  SLASH,
  SPACE,
  TAB,
  XML_NAME,
} from "./xml-text.js";

/** The converted form of an element: its text, a map of attributes/children/text, or repeated siblings. */
export type XmlValue = string | Map<string, XmlValue> | XmlValue[];

const TEXT_KEY = "#text";

/** ASCII name characters: 1 = NameChar only (digits, `-`, `.`), 2 = NameStartChar too. */
const ASCII_NAME = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z_:]/.test(ch)) ASCII_NAME[c] = 2;
  else if (/[0-9.-]/.test(ch)) ASCII_NAME[c] = 1;
}

/** A PI target: a name right after `<?`, followed by whitespace or `?>` (same rule as xml-prescan.ts). */
const PI_TARGET = /^[^\s?<>&"'=/!0-9.-][^\s?<>&"'=/!]*/;

const LINE_BREAKS = /\r\n?/g;

/** XML 1.0 §2.8 XMLDecl: version, then optional encoding and standalone, in that order. */
const S = "[ \\t\\r\\n]";
const XML_DECLARATION = new RegExp(
  String.raw`^<\?xml${S}+version${S}*=${S}*(?:"1\.[0-9]+"|'1\.[0-9]+')` +
    String.raw`(?:${S}+encoding${S}*=${S}*(?:"[A-Za-z][\w.-]*"|'[A-Za-z][\w.-]*'))?` +
    String.raw`(?:${S}+standalone${S}*=${S}*(?:"(?:yes|no)"|'(?:yes|no)'))?${S}*\?>$`,
);

/** An element whose end tag has not been read yet. */
interface Frame {
  readonly name: string;
  /** Index of the element's `<`, for messages. */
  readonly start: number;
  /** Attributes, then children and `#text`; created on the first attribute or child. */
  map: Map<string, XmlValue> | undefined;
  /** Text and CDATA since the last child element. */
  run: string;
  /** The run holds non-empty CDATA, a reference or a non-whitespace character. */
  significant: boolean;
  /** Significant runs of mixed content. */
  pieces: string[] | undefined;
  hasChildElements: boolean;
}

/**
 * Checks `text` as one well-formed XML document and converts it (rules in xml-record.ts). The caller has
 * already refused empty bodies, DOCTYPE/ENTITY declarations and forbidden characters.
 *
 * @throws InvalidRecordError `invalid_xml`, `too_deep` or `too_many_attributes`
 */
export function parseXmlDocument(text: string, maxDepth: number): Map<string, XmlValue> {
  const length = text.length;
  const stack: Frame[] = [];
  let top: Frame | undefined; // stack[stack.length - 1]
  let document: Map<string, XmlValue> | undefined;
  let pos = 0;

  while (pos < length) {
    const lt = text.indexOf("<", pos);
    const textEnd = lt === -1 ? length : lt;
    if (textEnd > pos) {
      if (top === undefined) refuseTextOutsideRoot(text, pos, textEnd);
      else addText(top, text, pos, textEnd);
    }
    if (lt === -1) break;
    const c1 = text.charCodeAt(lt + 1);

    if (c1 === SLASH) {
      // End tag: '</' Name S? '>'
      if (top === undefined)
        throw notWellFormed(text, lt, `end tag '${endTagName(text, lt)}' has no start tag`);
      const name = top.name;
      let i = lt + 2 + name.length;
      if (!text.startsWith(name, lt + 2) || !isNameEnd(text.charCodeAt(i))) {
        throw mismatchedEndTag(text, lt, top);
      }
      while (isSpace(text.charCodeAt(i))) i++;
      if (text.charCodeAt(i) !== GT) {
        if (i >= length) throw notWellFormed(text, lt, `end tag '${clip(name)}' is not closed`);
        throw notWellFormed(text, i, `unexpected character in end tag '${clip(name)}'`);
      }
      pos = i + 1;
      const closed = top;
      stack.pop();
      top = stack[stack.length - 1];
      const value = finish(closed);
      if (top === undefined) document = new Map([[closed.name, value]]);
      else addChild(top, closed.name, value);
    } else if (c1 === BANG) {
      if (text.startsWith("--", lt + 2)) {
        const end = text.indexOf("-->", lt + 4);
        if (end === -1) throw notWellFormed(text, lt, "comment is not closed");
        pos = end + 3;
      } else if (text.startsWith("[CDATA[", lt + 2)) {
        if (top === undefined) throw notWellFormed(text, lt, "CDATA section outside the root element");
        const end = text.indexOf("]]>", lt + 9);
        if (end === -1) throw notWellFormed(text, lt, "CDATA section is not closed");
        const content = normaliseLineBreaks(text.slice(lt + 9, end));
        top.run += content;
        if (content !== "") top.significant = true; // CDATA is explicit data, even when only whitespace
        pos = end + 3;
      } else {
        throw notWellFormed(text, lt, `unexpected markup declaration '${quote(text, lt, lt + 12)}'`);
      }
    } else if (c1 === QUESTION) {
      const end = text.indexOf("?>", lt + 2);
      if (end === -1) throw notWellFormed(text, lt, "processing instruction is not closed");
      checkPiTarget(text, lt, end);
      pos = end + 2;
    } else {
      // Start tag or empty-element tag.
      if (top === undefined && document !== undefined)
        throw notWellFormed(text, lt, "more than one root element");
      const nameEnd = scanName(text, lt + 1, "element");
      const name = text.slice(lt + 1, nameEnd);
      let map: Map<string, XmlValue> | undefined;
      let attributes = 0;
      let i = nameEnd;
      let empty = false;
      for (;;) {
        const before = i;
        while (isSpace(text.charCodeAt(i))) i++;
        const c = text.charCodeAt(i);
        if (c === GT) break;
        if (c === SLASH) {
          if (text.charCodeAt(i + 1) !== GT) throw notWellFormed(text, i, "expected '>' after '/' in a tag");
          empty = true;
          i++;
          break;
        }
        if (i >= length) throw notWellFormed(text, lt, `tag '${clip(name)}' is not closed`);
        if (i === before) throw notWellFormed(text, i, "attributes must be separated by whitespace");
        // Attribute: Name S? '=' S? quoted value
        if (++attributes > MAX_XML_ATTRIBUTES) {
          throw new InvalidRecordError(
            `an XML element has more than ${MAX_XML_ATTRIBUTES.toLocaleString("en-US")} attributes`,
            "too_many_attributes",
          );
        }
        const attrStart = i;
        const attrEnd = scanName(text, i, "attribute");
        const key = `@${text.slice(i, attrEnd)}`;
        i = attrEnd;
        while (isSpace(text.charCodeAt(i))) i++;
        if (text.charCodeAt(i) !== EQUALS) {
          throw notWellFormed(text, i, `attribute '${clip(key.slice(1))}' needs '=' and a quoted value`);
        }
        i++;
        while (isSpace(text.charCodeAt(i))) i++;
        const q = text.charCodeAt(i);
        if (q !== QUOTE && q !== APOS) {
          throw notWellFormed(text, i, `the value of attribute '${clip(key.slice(1))}' must be quoted`);
        }
        const close = text.indexOf(q === QUOTE ? '"' : "'", i + 1);
        if (close === -1)
          throw notWellFormed(text, i, `the value of attribute '${clip(key.slice(1))}' is not closed`);
        const raw = text.slice(i + 1, close);
        const ltInValue = raw.indexOf("<");
        if (ltInValue !== -1) throw notWellFormed(text, i + 1 + ltInValue, "'<' is not allowed inside a tag");
        map ??= new Map();
        if (map.has(key)) throw notWellFormed(text, attrStart, `duplicate attribute '${clip(key.slice(1))}'`);
        map.set(key, located(text, i + 1, raw, decodeAttributeValue));
        i = close + 1;
      }
      pos = i + 1;
      if (empty) {
        // An empty element adds no nesting level (as the structure pre-scan has always counted it).
        const value: XmlValue = map ?? "";
        if (top === undefined) document = new Map([[name, value]]);
        else addChild(top, name, value);
      } else {
        if (stack.length >= maxDepth) {
          throw new InvalidRecordError(
            `XML elements are nested more than ${maxDepth} deep (the root element is depth 1)`,
            "too_deep",
          );
        }
        top = {
          name,
          start: lt,
          map,
          run: "",
          significant: false,
          pieces: undefined,
          hasChildElements: false,
        };
        stack.push(top);
      }
    }
  }
  if (top !== undefined) throw notWellFormed(text, top.start, `element '${clip(top.name)}' is not closed`);
  if (document === undefined) throw new InvalidRecordError("XML has no root element", "invalid_xml");
  return document;
}

/** Character data between markup inside an element: checked, line breaks normalised, references decoded. */
function addText(frame: Frame, text: string, from: number, to: number): void {
  const raw = text.slice(from, to);
  const cdataEnd = raw.indexOf("]]>");
  if (cdataEnd !== -1) throw notWellFormed(text, from + cdataEnd, "']]>' is not allowed in text content");
  frame.run += located(text, from, raw, decodeCharacterData);
  // Whitespace-only runs between child elements are indentation, not data; a reference is data.
  if (!frame.significant && !isWhitespace(raw)) frame.significant = true;
}

function addChild(parent: Frame, name: string, value: XmlValue): void {
  if (parent.significant) pushPiece(parent);
  parent.run = "";
  parent.significant = false;
  parent.hasChildElements = true;
  if (parent.map === undefined) parent.map = new Map();
  const map = parent.map;
  // Element values are never arrays, so an array here is the list of earlier same-name siblings.
  const earlier = map.get(name);
  if (earlier === undefined) map.set(name, value);
  else if (Array.isArray(earlier)) earlier.push(value);
  else map.set(name, [earlier, value]);
}

function pushPiece(frame: Frame): void {
  if (frame.pieces === undefined) frame.pieces = [frame.run];
  else frame.pieces.push(frame.run);
}

/** The value of an element whose end tag was just read. */
function finish(frame: Frame): XmlValue {
  const map = frame.map;
  if (!frame.hasChildElements) {
    if (map === undefined) return frame.run;
    if (frame.run !== "") map.set(TEXT_KEY, frame.run);
    return map;
  }
  if (frame.significant) pushPiece(frame);
  const pieces = frame.pieces;
  if (map === undefined) throw new Error("unreachable: an element with children has a map");
  if (pieces !== undefined) map.set(TEXT_KEY, pieces.length === 1 ? (pieces[0] ?? "") : pieces);
  return map;
}

/**
 * The end of the name starting at `from`, checked against the XML Name production, which must be followed
 * by whitespace, `>`, `/` or (attributes) `=`.
 */
function scanName(text: string, from: number, what: "element" | "attribute"): number {
  let i = from;
  let ascii = true;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c < 128) {
      if (ASCII_NAME[c] === 0) break;
    } else if (Number.isNaN(c)) {
      break;
    } else {
      ascii = false;
    }
    i++;
  }
  const stop = text.charCodeAt(i);
  const delimited =
    isSpace(stop) ||
    stop === GT ||
    stop === SLASH ||
    (what === "attribute" && stop === EQUALS) ||
    i >= text.length;
  if (i === from || !delimited) {
    if (i === from && isSpace(stop))
      throw notWellFormed(text, i, `whitespace is not allowed before the ${what} name`);
    const end = delimited ? i : i + 1;
    throw notWellFormed(text, from, `invalid ${what} name '${quote(text, from, end)}'`);
  }
  const valid = ascii ? ASCII_NAME[text.charCodeAt(from)] === 2 : XML_NAME.test(text.slice(from, i));
  if (!valid) throw notWellFormed(text, from, `invalid ${what} name '${quote(text, from, i)}'`);
  return i;
}

/** Whether the character after an end tag's name ends the name. */
function isNameEnd(c: number): boolean {
  return c === GT || isSpace(c) || Number.isNaN(c);
}

function mismatchedEndTag(text: string, lt: number, open: Frame): InvalidRecordError {
  const opened = position(text, open.start);
  return notWellFormed(
    text,
    lt,
    `Expected closing tag '${clip(open.name)}' (opened at line ${opened.line}, column ${opened.column}) ` +
      `instead of '${endTagName(text, lt)}'`,
  );
}

/** The (clipped) name of the end tag at `lt`, for messages. */
function endTagName(text: string, lt: number): string {
  let end = lt + 2;
  while (end < text.length && end < lt + 2 + MAX_QUOTED + 1) {
    const c = text.charCodeAt(end);
    if (c === GT || isSpace(c) || c === LT) break;
    end++;
  }
  return quote(text, lt + 2, end);
}

/** Line and column (1-based, UTF-16 units) of `at`. */
function position(text: string, at: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let nl = text.indexOf("\n"); nl !== -1 && nl < at; nl = text.indexOf("\n", nl + 1)) {
    line++;
    lineStart = nl + 1;
  }
  return { line, column: at - lineStart + 1 };
}

/**
 * The processing instruction at `lt` (its `?>` at `end`) needs a target name followed by whitespace or `?>`.
 * The target `xml` (any case) is reserved for the XML declaration, which may only open the document and
 * must follow its grammar (XML 1.0 §2.6, §2.8); its content is otherwise ignored.
 */
function checkPiTarget(text: string, lt: number, end: number): void {
  const inner = text.slice(lt + 2, end);
  const target = PI_TARGET.exec(inner)?.[0];
  if (target === undefined || (inner.length > target.length && !isSpace(inner.charCodeAt(target.length)))) {
    throw notWellFormed(text, lt, "processing instruction needs a target name right after '<?'");
  }
  if (target.length !== 3 || target.toLowerCase() !== "xml") return;
  if (lt !== 0)
    throw notWellFormed(text, lt, "the XML declaration is only allowed at the start of the document");
  if (!XML_DECLARATION.test(text.slice(0, end + 2))) {
    throw notWellFormed(text, 0, 'malformed XML declaration (expected <?xml version="1.0" …?>)');
  }
}

function refuseTextOutsideRoot(text: string, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if (!isSpace(text.charCodeAt(i))) throw notWellFormed(text, i, "text outside the root element");
  }
}

/**
 * `decode(raw with line breaks normalised)`; a refused reference is reported with the line and column of
 * its `&` (found again on this error path only).
 */
function located(text: string, from: number, raw: string, decode: (s: string) => string): string {
  try {
    return decode(normaliseLineBreaks(raw));
  } catch (error) {
    if (!(error instanceof InvalidRecordError)) throw error;
    let at = from;
    for (let amp = raw.indexOf("&"); amp !== -1; amp = raw.indexOf("&", amp + 1)) {
      const semicolon = raw.indexOf(";", amp);
      try {
        decode(raw.slice(amp, semicolon === -1 ? raw.length : semicolon + 1));
      } catch {
        at = from + amp;
        break;
      }
    }
    const { line, column } = position(text, at);
    throw new InvalidRecordError(`${error.message} (at line ${line}, column ${column})`, error.code, {
      cause: error,
    });
  }
}

/** XML end-of-line handling (§2.11): CR LF and a lone CR are read as LF. */
function normaliseLineBreaks(s: string): string {
  return s.indexOf("\r") === -1 ? s : s.replace(LINE_BREAKS, "\n");
}

function isSpace(c: number): boolean {
  return c === SPACE || c === LF || c === TAB || c === CR;
}

/** True when `s` holds only XML whitespace (space, tab, LF, CR), or nothing. */
function isWhitespace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (!isSpace(s.charCodeAt(i))) return false;
  }
  return true;
}

function clip(s: string): string {
  return quote(s, 0, s.length);
}

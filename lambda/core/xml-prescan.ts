/**
 * Cheap linear scans of an XML body: DOCTYPE/ENTITY refusal and forbidden characters run before the one-pass
 * parser (xml-parse.ts) reads the document; the structure scan runs only when the parser refuses a document,
 * so that a document with several problems is refused for the same one as before (depth and attribute count
 * anywhere win over a syntax error).
 */
import { InvalidRecordError } from "./errors.js";
import { APOS, BANG, EQUALS, GT, QUESTION, QUOTE, quote, SLASH } from "./xml-text.js";

/**
 * Most attributes one element may carry: bounds the work and the map built per element (with fast-xml-parser,
 * one element with 37,000 attributes in a 254 KiB body cost ~230 ms), and no real record comes near this.
 */
export const MAX_XML_ATTRIBUTES = 1_000;

/**
 * Characters outside the XML 1.0 `Char` production: C0 controls other than tab/LF/CR, U+FFFE/U+FFFF and (in
 * `u` mode a surrogate pair is one code point, so only lone halves match) unpaired surrogates.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the forbidden control characters is the point
const FORBIDDEN_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/u;

/**
 * Refuses any `<!DOCTYPE` or `<!ENTITY` outside comments and CDATA sections. Runs first and on its own, so
 * billion-laughs, quadratic-blowup and external-entity documents are refused before anything else reads them,
 * in one `indexOf` sweep.
 *
 * @throws InvalidRecordError `doctype_not_allowed`
 */
export function refuseDoctype(text: string): void {
  let at = text.indexOf("<!");
  while (at !== -1) {
    let resume = at + 2;
    if (text.startsWith("--", at + 2)) {
      const end = text.indexOf("-->", at + 4);
      if (end === -1) return; // an unclosed comment hides the rest; the structure scan reports it
      resume = end + 3;
    } else if (text.startsWith("[CDATA[", at + 2)) {
      const end = text.indexOf("]]>", at + 9);
      if (end === -1) return;
      resume = end + 3;
    } else if (
      startsWithIgnoreCase(text, at + 2, "DOCTYPE") ||
      startsWithIgnoreCase(text, at + 2, "ENTITY")
    ) {
      throw new InvalidRecordError(
        "DOCTYPE and entity declarations are not allowed (no external entities, no entity expansion)",
        "doctype_not_allowed",
      );
    }
    at = text.indexOf("<!", resume);
  }
}

/**
 * Refuses characters XML 1.0 does not allow anywhere in a document, even escaped as text.
 *
 * @throws InvalidRecordError `invalid_xml`
 */
export function refuseForbiddenCharacters(text: string): void {
  const match = FORBIDDEN_CHARACTER.exec(text);
  if (match === null) return;
  const code = match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
  throw notWellFormed(text, match.index, `character U+${code} is not allowed in XML`);
}

/**
 * Walks the markup once (text runs are skipped with `indexOf`) and checks, in document order: nesting deeper
 * than `maxDepth` (decided at the first tag past the limit, so 100,000 nested elements cost no more than 65),
 * `<!…>` markup other than comments and CDATA, unclosed comments/CDATA/PIs, `<` inside a start tag, more than
 * {@link MAX_XML_ATTRIBUTES} attributes on one element, and anything but whitespace, comments and PIs outside
 * the one root element. Tag-name matching and attribute
 * syntax are left to the parser; when the markup is too broken to walk (a tag with no `>`) this scan stops and
 * leaves the report to the parser.
 *
 * @throws InvalidRecordError `too_deep`, `too_many_attributes` or `invalid_xml`
 */
export function scanStructure(text: string, maxDepth: number): void {
  const length = text.length;
  let depth = 0;
  let rootClosed = false;
  let pos = 0; // first character not yet examined
  let knownLt = -1; // a '<' already found past a start tag, so the text after it is not searched twice
  while (pos < length) {
    const lt = knownLt >= pos ? knownLt : text.indexOf("<", pos);
    if (depth === 0) refuseTextOutsideRoot(text, pos, lt === -1 ? length : lt);
    if (lt === -1) return;
    const c1 = text.charCodeAt(lt + 1);
    if (c1 === BANG) {
      if (text.startsWith("--", lt + 2)) {
        pos = endOf(text, "-->", lt + 4, lt, "comment is not closed");
      } else if (text.startsWith("[CDATA[", lt + 2)) {
        if (depth === 0) throw notWellFormed(text, lt, "CDATA section outside the root element");
        pos = endOf(text, "]]>", lt + 9, lt, "CDATA section is not closed");
      } else {
        throw notWellFormed(text, lt, `unexpected markup declaration '${quote(text, lt, lt + 12)}'`);
      }
    } else if (c1 === QUESTION) {
      pos = endOf(text, "?>", lt + 2, lt, "processing instruction is not closed");
      checkPiTarget(text, lt, pos - 2);
    } else if (c1 === SLASH) {
      const gt = text.indexOf(">", lt + 2);
      if (gt === -1) return;
      if (depth > 0) depth--;
      if (depth === 0) rootClosed = true;
      pos = gt + 1;
    } else {
      const gt = startTagEnd(text, lt + 1);
      if (gt === -1) return;
      // '<' is never allowed inside a tag; in an attribute value the parser would take it as data.
      knownLt = text.indexOf("<", lt + 1);
      if (knownLt !== -1 && knownLt < gt) {
        throw notWellFormed(text, knownLt, "'<' is not allowed inside a tag");
      }
      if (depth === 0 && rootClosed) throw notWellFormed(text, lt, "more than one root element");
      if (text.charCodeAt(gt - 1) === SLASH) {
        if (depth === 0) rootClosed = true;
      } else if (++depth > maxDepth) {
        throw new InvalidRecordError(
          `XML elements are nested more than ${maxDepth} deep (the root element is depth 1)`,
          "too_deep",
        );
      }
      pos = gt + 1;
    }
  }
}

/**
 * The index of the `>` closing a start tag whose name starts at `from`, skipping quoted values; -1 if none.
 * Counts the `=` outside quotes on the way, which is the attribute count of a well-formed tag.
 */
function startTagEnd(text: string, from: number): number {
  const length = text.length;
  let attributes = 0;
  for (let i = from; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === GT) return i;
    if (c === EQUALS && ++attributes > MAX_XML_ATTRIBUTES) {
      throw new InvalidRecordError(
        `an XML element has more than ${MAX_XML_ATTRIBUTES.toLocaleString("en-US")} attributes`,
        "too_many_attributes",
      );
    }
    if (c === QUOTE || c === APOS) {
      i = text.indexOf(c === QUOTE ? '"' : "'", i + 1);
      if (i === -1) return -1;
    }
  }
  return -1;
}

/** A PI target: a name right after `<?`, followed by whitespace or `?>`. */
const PI_TARGET = /^[^\s?<>&"'=/!0-9.-][^\s?<>&"'=/!]*/;

/**
 * Checks the processing instruction at `lt` (its `?>` at `end`): it needs a target, and the target `xml` (any
 * case) is reserved for the XML declaration, which may only open the document (XML 1.0 §2.6, §2.8).
 */
function checkPiTarget(text: string, lt: number, end: number): void {
  const inner = text.slice(lt + 2, end);
  const target = PI_TARGET.exec(inner)?.[0];
  if (target === undefined || (inner.length > target.length && !/^\s/.test(inner.slice(target.length)))) {
    throw notWellFormed(text, lt, "processing instruction needs a target name right after '<?'");
  }
  if (target.toLowerCase() === "xml" && text.slice(0, lt).trim() !== "") {
    throw notWellFormed(text, lt, "the XML declaration is only allowed at the start of the document");
  }
}

/** The index just past `terminator` (searched from `from`), or a 400 naming the construct opened at `start`. */
function endOf(text: string, terminator: string, from: number, start: number, problem: string): number {
  const end = text.indexOf(terminator, from);
  if (end === -1) throw notWellFormed(text, start, problem);
  return end + terminator.length;
}

function refuseTextOutsideRoot(text: string, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
      throw notWellFormed(text, i, "text outside the root element");
    }
  }
}

function startsWithIgnoreCase(text: string, at: number, word: string): boolean {
  return text.slice(at, at + word.length).toUpperCase() === word;
}

/**
 * The 400 for a document that is not well-formed, located by line and column (1-based, counted in UTF-16
 * units, as JavaScript string indices count them).
 */
export function notWellFormed(text: string, at: number, problem: string): InvalidRecordError {
  let line = 1;
  let lineStart = 0;
  for (let nl = text.indexOf("\n"); nl !== -1 && nl < at; nl = text.indexOf("\n", nl + 1)) {
    line++;
    lineStart = nl + 1;
  }
  return notWellFormedAt(line, at - lineStart + 1, problem);
}

/** The 400 for a document that is not well-formed at a known line and column. */
export function notWellFormedAt(line: number, column: number, problem: string): InvalidRecordError {
  return new InvalidRecordError(
    `XML is not well-formed at line ${line}, column ${column}: ${problem}`,
    "invalid_xml",
  );
}

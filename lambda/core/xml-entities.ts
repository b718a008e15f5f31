/**
 * Decoding of XML references in text and attribute values: exactly the five predefined entities and numeric
 * character references. With DOCTYPEs refused there are no other entities, so any other reference is a 400.
 */
import { InvalidRecordError } from "./errors.js";
import { MAX_QUOTED, XML_NAME } from "./xml-text.js";

const PREDEFINED: ReadonlyMap<string, string> = new Map([
  ["amp", "&"],
  ["lt", "<"],
  ["gt", ">"],
  ["quot", '"'],
  ["apos", "'"],
]);

const NUMERIC_REFERENCE = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/;

/** Literal whitespace that attribute-value normalisation (XML 1.0 §3.3.3) turns into a space. */
const ATTRIBUTE_WHITESPACE = /[\t\n\r]/g;

/**
 * Replaces every `&…;` reference in a run of character data with the character(s) it stands for.
 *
 * @param raw - text exactly as it appears between markup (never CDATA content, which is not decoded)
 * @returns `raw` itself when it holds no `&`
 * @throws InvalidRecordError `invalid_xml` for an undefined entity, a malformed or forbidden character
 *   reference, or a bare `&`
 */
export function decodeCharacterData(raw: string): string {
  let amp = raw.indexOf("&");
  if (amp === -1) return raw;
  let out = "";
  let copied = 0; // raw[copied, amp) is still to be copied
  while (amp !== -1) {
    const semicolon = raw.indexOf(";", amp + 1);
    if (semicolon === -1) throw bareAmpersand(raw, amp);
    const reference = raw.slice(amp + 1, semicolon);
    out += raw.slice(copied, amp) + resolve(reference, raw, amp);
    copied = semicolon + 1;
    amp = raw.indexOf("&", copied);
  }
  return out + raw.slice(copied);
}

/**
 * Normalises an attribute value the way XML 1.0 §3.3.3 requires for undeclared (CDATA) attributes: each
 * literal tab, line feed or carriage return becomes a space; then references are decoded, so `&#10;` still
 * yields a line feed.
 *
 * @throws InvalidRecordError `invalid_xml` as {@link decodeCharacterData}
 */
export function decodeAttributeValue(raw: string): string {
  ATTRIBUTE_WHITESPACE.lastIndex = 0;
  const normalised = ATTRIBUTE_WHITESPACE.test(raw) ? raw.replace(ATTRIBUTE_WHITESPACE, " ") : raw;
  return decodeCharacterData(normalised);
}

/** The text one reference (without its `&` and `;`) stands for. */
function resolve(reference: string, raw: string, amp: number): string {
  const predefined = PREDEFINED.get(reference);
  if (predefined !== undefined) return predefined;
  if (reference.charCodeAt(0) === 0x23 /* # */) return resolveNumeric(reference);
  if (XML_NAME.test(reference)) {
    throw new InvalidRecordError(
      `undefined entity &${clip(reference)}; (only &amp; &lt; &gt; &quot; &apos; and numeric character ` +
        "references are defined; DOCTYPEs are not allowed)",
      "invalid_xml",
    );
  }
  throw bareAmpersand(raw, amp);
}

function resolveNumeric(reference: string): string {
  const match = NUMERIC_REFERENCE.exec(reference);
  if (match === null) {
    throw new InvalidRecordError(
      `malformed character reference &${clip(reference)}; (use &#decimal; or &#xhex;)`,
      "invalid_xml",
    );
  }
  const hex = match[1];
  // More than 7 significant digits is past U+10FFFF whatever they are; parsing them could lose precision.
  const digits = (hex ?? match[2] ?? "").replace(/^0+/, "");
  const codePoint =
    digits.length > 7 ? Number.POSITIVE_INFINITY : Number.parseInt(digits || "0", hex ? 16 : 10);
  if (!isXmlCharacter(codePoint)) {
    throw new InvalidRecordError(
      `character reference &${clip(reference)}; names a character that is not allowed in XML`,
      "invalid_xml",
    );
  }
  return String.fromCodePoint(codePoint);
}

/** The XML 1.0 `Char` production. */
function isXmlCharacter(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

function bareAmpersand(raw: string, amp: number): InvalidRecordError {
  return new InvalidRecordError(
    `'&' must start an entity or character reference (write a literal '&' as &amp;): '${clip(raw.slice(amp))}'`,
    "invalid_xml",
  );
}

/** At most `MAX_QUOTED` UTF-16 units of `s`, never splitting a surrogate pair, with an ellipsis when cut. */
function clip(s: string): string {
  if (s.length <= MAX_QUOTED) return s;
  const last = s.charCodeAt(MAX_QUOTED - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? MAX_QUOTED - 1 : MAX_QUOTED;
  return `${s.slice(0, end)}…`;
}

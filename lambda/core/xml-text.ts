/**
 * What the XML modules (xml-prescan.ts, xml-parse.ts, xml-entities.ts) share: the characters they scan for (as
 * UTF-16 code units), the XML 1.0 Name production, and how much of a document an error message may quote.
 */

export const LT = 0x3c;
export const GT = 0x3e;
export const SLASH = 0x2f;
export const BANG = 0x21;
export const QUESTION = 0x3f;
export const QUOTE = 0x22;
export const APOS = 0x27;
export const EQUALS = 0x3d;
export const SPACE = 0x20;
export const TAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;

/** Most characters of the document a message may quote. */
export const MAX_QUOTED = 20;

// The XML 1.0 (fifth edition) Name production.
const NAME_START =
  ":A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C\\u200D" +
  "\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}";
export const XML_NAME = new RegExp(
  `^[${NAME_START}][${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F\\u2040]*$`,
  "u",
);

/** At most `MAX_QUOTED` characters of `text[from, to)`, never splitting a surrogate pair, with an ellipsis when cut. */
export function quote(text: string, from: number, to: number): string {
  let end = Math.min(to, from + MAX_QUOTED, text.length);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(from, end) + (end < to && end < text.length ? "…" : "");
}

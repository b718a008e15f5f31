/**
 * Differential test of the one-pass XML parser (lambda/core/xml-parse.ts) against the conversion it replaced
 * (fast-xml-parser validator + parser + conversion walk, kept as test/helpers/xml-record-reference.ts): for
 * hand-written documents, generated well-formed documents and generated documents with random damage, both
 * must produce the same CBOR bytes (both encode with the same cbor-x options, so equal values give equal
 * bytes) or refuse with the same error code.
 *
 * The only allowed differences are the documented ones, each pinned by its own test below:
 * - the old code accepted some documents that are not well-formed (JavaScript-only whitespace such as U+00A0
 *   or U+3000 used as a separator in tags and PIs, a stray `=` in a start tag, a malformed XML declaration,
 *   an element name starting with a plane-15/16 character); they are now refused with `invalid_xml`;
 * - the old validator read every plane 1–14 character in a name as "AA", so names differing only there
 *   collided: it accepted mismatched end tags like `<a𐄀></a𐄁>` and refused distinct attributes like
 *   `a𐄀="1" a𐄁="2"` as repeated; both are now judged by the real names;
 * - the old parser refused well-formed processing instructions whose data holds an unbalanced quote or a
 *   `<`/`>` ("Pi Tag is not closed"); they are now accepted and dropped like any other PI.
 */
import { Decoder, decode, Encoder } from "cbor-x";
import fc from "fast-check";
import { InvalidRecordError } from "../../lambda/core/errors.js";
import { xmlRecordToCbor } from "../../lambda/core/xml-record.js";
import { xmlRecord } from "../helpers/record-models.js";
import { referenceXmlRecordToCbor } from "../helpers/xml-record-reference.js";

/** Fixed so the test is deterministic; set XML_DIFF_SEED to explore other documents. */
const SEED = Number(process.env.XML_DIFF_SEED ?? 20261129);

/** The encoder options xml-record.ts uses, to re-encode a decoded value for byte comparison. */
const cborEncoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  pack: false,
  structuredClone: false,
  bundleStrings: false,
  tagUint8Array: false,
  useSelfDescribedHeader: false,
});

type Outcome = { cbor: string } | { code: string; message: string };

function outcome(convert: (text: string, maxDepth?: number) => Uint8Array, xml: string, maxDepth?: number) {
  try {
    return { cbor: Buffer.from(convert(xml, maxDepth)).toString("hex") } as Outcome;
  } catch (error) {
    if (!(error instanceof InvalidRecordError)) throw error;
    return { code: error.code, message: error.message } as Outcome;
  }
}

const current = (xml: string, maxDepth?: number) => outcome(xmlRecordToCbor, xml, maxDepth);
const previous = (xml: string, maxDepth?: number) => outcome(referenceXmlRecordToCbor, xml, maxDepth);

/** The comparable part of an outcome: the bytes, or the error code (message wording may differ). */
const verdict = (o: Outcome) => ("cbor" in o ? o.cbor : `error ${o.code}`);

/** JavaScript `\s` characters that are not XML whitespace (space, tab, LF, CR). */
const NON_XML_WHITESPACE = /[^\S \t\n\r]/u;
/** A processing instruction whose data holds a quote, `<` or `>`. */
const QUOTED_PI = /<\?(?:(?!\?>)[\s\S])*?["'<>](?:(?!\?>)[\s\S])*?\?>/;
/**
 * Whether a refusal the old code did not make is one of the documented stricter rules: the message names the
 * rule, and the document holds what triggers it.
 */
function stricterRule(xml: string, message: string): boolean {
  if (message.includes("malformed XML declaration")) return /^<\?xml/i.test(xml);
  const rule =
    /attributes must be separated by whitespace|invalid (element|attribute) name|unexpected character in end tag|Expected closing tag|processing instruction needs a target/;
  if (!rule.test(message)) return false;
  return NON_XML_WHITESPACE.test(xml) || /[\u{F0000}-\u{10FFFF}]/u.test(xml) || /["'\s]=|=\s*[=/>]/.test(xml);
}

const SUPPLEMENTARY = /[\u{10000}-\u{EFFFF}]/u;

/** `s` with each distinct plane 1–14 character replaced by a distinct CJK ideograph (also a name character). */
function swapSupplementary(s: string): string {
  return s.replace(/[\u{10000}-\u{EFFFF}]/gu, (c) =>
    String.fromCodePoint(0x4e00 + ((c.codePointAt(0) ?? 0) % 0x5000)),
  );
}

/** An outcome with the same swap applied to every string of the value (error outcomes unchanged). */
function swappedOutcome(o: Outcome): Outcome {
  if (!("cbor" in o)) return o;
  const swap = (v: unknown): unknown =>
    typeof v === "string"
      ? swapSupplementary(v)
      : Array.isArray(v)
        ? v.map(swap)
        : new Map([...(v as Map<string, unknown>)].map(([k, x]) => [swapSupplementary(k), swap(x)]));
  const value = swap(new Decoder({ mapsAsObjects: false }).decode(Buffer.from(o.cbor, "hex")));
  return { cbor: Buffer.from(cborEncoder.encode(value)).toString("hex") };
}

/**
 * Checks one document: same verdict, or one of the documented differences. Returns which, for coverage
 * counts.
 */
function compare(xml: string, maxDepth?: number): "same" | "stricter" | "pi" | "supplementary" {
  const a = previous(xml, maxDepth);
  const b = current(xml, maxDepth);
  if (verdict(a) === verdict(b)) return "same";
  if (SUPPLEMENTARY.test(xml)) {
    // The old validator saw every plane 1–14 character as "AA", so names differing only there collided
    // (distinct attributes refused as repeated, mismatched end tags accepted). With each such character
    // swapped for a distinct BMP name character both agree, and the new result must not depend on the swap.
    const swapped = swapSupplementary(xml);
    const b2 = current(swapped, maxDepth);
    if (verdict(previous(swapped, maxDepth)) === verdict(b2) && verdict(b2) === verdict(swappedOutcome(b))) {
      return "supplementary";
    }
  }
  if ("cbor" in a && "code" in b && b.code === "invalid_xml" && stricterRule(xml, b.message))
    return "stricter";
  if ("code" in a && a.message.includes("Pi Tag is not closed") && "cbor" in b && QUOTED_PI.test(xml)) {
    // Old refused a well-formed PI; new drops it: the value must be what the old code gives without the PIs.
    const withoutPis = xml.replace(/<\?(?:(?!\?>)[\s\S])*\?>/g, (pi, offset) =>
      offset === 0 && /^<\?xml[\s?]/.test(pi) ? pi : "",
    );
    const expected = previous(withoutPis, maxDepth);
    if (verdict(expected) === verdict(b)) return "pi";
  }
  throw new Error(
    `outcomes differ for ${JSON.stringify(xml)} (maxDepth ${maxDepth}):\n` +
      `  before: ${JSON.stringify(a)}\n  now:    ${JSON.stringify(b)}`,
  );
}

describe("one-pass XML parser against the fast-xml-parser conversion it replaced", () => {
  const nested = (depth: number, inner = "x") => `${"<a>".repeat(depth)}${inner}${"</a>".repeat(depth)}`;
  const attributes = (n: number) => `<e${Array.from({ length: n }, (_, i) => ` a${i}="${i}"`).join("")}/>`;

  it.each([
    // values
    "<a/>",
    "<a></a>",
    "<a>00501</a>",
    "<a>  padded\n</a>",
    "<a>x\r\ny\rz</a>",
    "<a b='x\r\ny\tz\nw&#10;&#9;'/>",
    "<a><![CDATA[x\r\ny\rz]]></a>",
    "<a>\r\n<b/>\r\n</a>",
    "<a>&#13;\n</a>",
    "<a>\n\n<b/>\rx</a>",
    "<a>x\r\n<!-- c -->\ry</a>",
    '<a x="1"> </a>',
    '<a x="1"></a>',
    "<a>&#x20;<b/></a>",
    "<a>&#32;<b/></a>",
    "<a><![CDATA[]]></a>",
    "<a><b/><![CDATA[ ]]></a>",
    "<a><b/><![CDATA[]]>\n</a>",
    "<a><b/> <![CDATA[ ]]> </a>",
    '<a b="1">  <c/>  </a>',
    "<a>a]]b</a>",
    "<a>a]b>c</a>",
    "<a><![CDATA[x]]]></a>",
    "<a>text<b>c</b>tail</a>",
    "<p>Hello <b>world</b> and <i>you</i>!</p>",
    "<r><a>1</a><b>x</b><a>2</a><c><d/></c><a>3</a></r>",
    "<a><b></b><b/><b x='1'/><b>t</b></a>",
    "<a>x<![CDATA[y]]>z<b/></a>",
    "<a>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1D11E;&#0000128512;</a>",
    '<a t="&lt;&gt;&amp;&quot;&apos;&#65;&#x42;"/>',
    "<a b='\"' c=\"'\" d='>' e=']]>'/>",
    "<a b = '1' />",
    "<a\n>x</a\n>",
    "<a></a >",
    "<a\r\nb='1'\r\n/>",
    "<a\tb='1'/>",
    "<a  />",
    "<a:b:c/>",
    "<:a/>",
    "<a.b/>",
    "<a-b/>",
    "<é/>",
    "<a\u00B7/>",
    "<a\u{10000}/>",
    "<\u{10000}/>",
    "<a \u{10000}='1'/>",
    "<a>\u{F0000}</a>",
    '<𐄀 𝒜="v"><p:𝒜>x</p:𝒜></𐄀>',
    "<r><clef>𝄞</clef><名前 属性='値'>テキスト</名前><zw>\uFEFF\u200B\u{10FFFD}</zw></r>",
    '<ns:root xmlns:ns="urn:x" xmlns="urn:y"><ns:item ns:id="1">a</ns:item></ns:root>',
    '<__proto__ __proto__="p" constructor="c"><constructor>1</constructor><prototype/><toString>s</toString></__proto__>',
    // prolog and epilog
    "<?xml version='1.0'?><a/>",
    '<?xml version="1.0" encoding="UTF-8"?>\n<a/>\n',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><a/>',
    '<?xml version="1.0"?><?xml-stylesheet href="x"?><a><?php echo 1; ?>t</a>',
    "<?PI?><a/>",
    "<?p\tx?><a/>",
    "<?p:x?><a/>",
    "<?xmlfoo x?><a/>",
    "<a><?xml-foo?></a>",
    "\n<a/>",
    "<a/>\r\n",
    "<a>text</a>\r\n",
    "<a/><!-- c -->  <?p?>",
    "<!-- head --><?app x?>\n<a>x<!-- c -->y<?pi data?>z</a>\n<!-- tail -->\n",
    "<a><!----></a>",
    "<a><!-- x ---></a>",
    "<a><!--x--y--></a>",
    // refusals
    "",
    " \r\n\t ",
    "<a><b></a>",
    "<a></b>",
    "<A></a>",
    "<a><b/>",
    "<a>",
    "</a>",
    "<a></a></a>",
    "<a><b></a></b>",
    "<a/><b/>",
    "<a>1</a><a>2</a>",
    "<a/>trailing",
    "leading<a/>",
    "<a/>\u00a0",
    "<![CDATA[x]]><a/>",
    '<?xml version="1.0"?><!-- nothing -->',
    "hello",
    '{"a": 1}',
    "<1a/>",
    "<-a/>",
    "<\u00B7a/>",
    "< a/>",
    "<a/ >",
    "<a b=1/>",
    "<a b/>",
    '<a b="1"c="2"/>',
    '<a b="1" b="2"/>',
    '<a b="<"/>',
    "<a></a b>",
    "<a></ a>",
    "<a>]]></a>",
    "<a><!foo></a>",
    "<a><!- x --></a>",
    "<a><![cdata[x]]></a>",
    "<a/><!-- no end",
    "<a><![CDATA[x</a>",
    "<a><?p never closed</a>",
    "<a>\u0001</a>",
    "<a>\uD800</a>",
    "<a>\uFFFE</a>",
    "<a\u{F0000}/>",
    "<a \u{100000}='1'/>",
    '<a><?xml version="1.0"?></a>',
    "<a/><?XML version='1.0'?>",
    "  <?xml version='1.0'?><a/>",
    "<?p?><a/><?xml v?>",
    "<a><? ?></a>",
    "<a><? php ?></a>",
    "<?1p?><a/>",
    '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    "<!doctype a><a/>",
    "<a><!DOCTYPE b></a>",
    '<a><!ENTITY x "y"></a>',
    "<a>&nbsp;</a>",
    '<a b="&foo;"/>',
    "<a>fish & chips</a>",
    '<a b="fish & chips"/>',
    "<a>&amp</a>",
    "<a>& amp;</a>",
    "<a>&#X41;</a>",
    "<a>&#0;</a>",
    "<a>&#xD800;</a>",
    "<a>&#x110000;</a>",
    "<a>&#x;</a>",
    "<a>&#;</a>",
    "<a>&a.b;</a>",
    "<a>&1;</a>",
    "<a>&;</a>",
    // precedence between refusals
    nested(64),
    nested(65),
    nested(64, "<b/>"),
    nested(64, "<b></b>"),
    `<x>${nested(64)}</y>`,
    `<x>\u0001${nested(64)}</x>`,
    `<a b=1>${nested(70)}`,
    `<a></b>${attributes(1001)}`,
    `<a>&nbsp;${nested(70)}</a>`,
    attributes(1000),
    attributes(1001),
    `<a b="1" b="2"${attributes(1001).slice(2)}`,
  ])("gives the same result for %j", (xml) => {
    expect(compare(xml)).toBe("same");
  });

  it("gives the same result with a custom maxDepth", () => {
    for (const maxDepth of [1, 2, 3]) {
      for (const depth of [1, 2, 3, 4]) {
        expect(compare(nested(depth), maxDepth)).toBe("same");
        expect(compare(nested(depth, "<b/>"), maxDepth)).toBe("same");
        expect(compare(`${nested(depth)}<x/>`, maxDepth)).toBe("same");
      }
    }
  });

  // --- generated documents ---

  const names = fc.constantFrom(
    "a",
    "b",
    "c",
    "ns:a",
    "x.y",
    "_z",
    "a-1",
    "é",
    "𐄀",
    "__proto__",
    "constructor",
  );
  const texts = fc.constantFrom(
    "x",
    " ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "00501",
    "&amp;",
    "&lt;",
    "&#65;",
    "&#x1F600;",
    "&#13;",
    "&#32;",
    "]",
    ">",
    "'",
    '"',
    "😀",
    "\u00a0",
    "a b",
    "",
  );
  const space = fc.constantFrom(" ", "\n", "  ", "\t", "\r\n");
  const tagEnd = fc.constantFrom(">", " >", "\n>");

  interface Node {
    name: string;
    attributes: [string, string, string, boolean][]; // name, separator, value, single-quoted
    empty: boolean;
    close: string;
    open: string;
    content: (
      | { kind: "element"; node: Node }
      | { kind: "text" | "cdata"; text: string }
      | { kind: "comment" | "pi" }
    )[];
  }

  const { node } = fc.letrec<{ node: Node; content: Node["content"][number] }>((tie) => ({
    node: fc.record({
      name: names,
      attributes: fc.uniqueArray(fc.tuple(names, fc.constantFrom("=", " = ", "=\n"), texts, fc.boolean()), {
        maxLength: 3,
        selector: ([n]) => n,
      }),
      empty: fc.boolean(),
      open: tagEnd,
      close: tagEnd,
      content: fc.array(tie("content"), { maxLength: 5 }),
    }),
    content: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      {
        weight: 3,
        arbitrary: fc.record({ kind: fc.constantFrom("text" as const, "cdata" as const), text: texts }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("comment" as const, "pi" as const) }) },
      { weight: 2, arbitrary: tie("node").map((n) => ({ kind: "element" as const, node: n as Node })) },
    ),
  }));

  function render(n: Node, separators: string[]): string {
    let s = `<${n.name}`;
    n.attributes.forEach(([name, eq, value, single], i) => {
      s += `${separators[i % separators.length] ?? " "}${name}${eq}`;
      s += single ? `'${value.replaceAll("'", "&apos;")}'` : `"${value.replaceAll('"', "&quot;")}"`;
    });
    if (n.empty && n.content.length === 0) return `${s}${n.open === ">" ? "/>" : " />"}`;
    s += n.open;
    for (const item of n.content) {
      if (item.kind === "element") s += render(item.node, separators);
      else if (item.kind === "text") s += item.text;
      else if (item.kind === "cdata") s += `<![CDATA[${item.text}]]>`;
      else if (item.kind === "comment") s += "<!-- c -->";
      else s += "<?pi x?>";
    }
    return `${s}</${n.name}${n.close}`;
  }

  const document = fc
    .record({
      root: node,
      separators: fc.array(space, { minLength: 1, maxLength: 3 }),
      prolog: fc.constantFrom(
        "",
        "\n",
        "<!-- h -->",
        '<?xml version="1.0"?>',
        "<?xml version='1.0' encoding='UTF-8'?>\r\n",
      ),
      epilog: fc.constantFrom("", "\n", "\r\n", "<!-- t -->", "<?p?>"),
    })
    .map(({ root, separators, prolog, epilog }) => `${prolog}${render(root, separators)}${epilog}`);

  /** Damage: up to 3 insertions, deletions or replacements of markup-significant fragments. */
  const fragment = fc.constantFrom(
    "<",
    ">",
    "/",
    "=",
    '"',
    "'",
    "&",
    ";",
    "!",
    "?",
    "-",
    "]]>",
    "<![CDATA[",
    "<!--",
    "-->",
    "<?",
    "?>",
    " ",
    "\n",
    "\r",
    "\t",
    "a",
    "b",
    ":",
    "&#",
    "x",
    "\u00a0",
    "😀",
    "\uD800",
    "\u0001",
    "<a>",
    "</a>",
    "<b/>",
    "&amp;",
    "<c x='1'>",
    "</c>",
    "\u00B7",
    "\u0300",
    "\u{F0000}",
    "1",
    ".",
    "\u3000",
    "&#xD800;",
    "&foo;",
    "<!DOCTYPE",
    "<!ENTITY",
    "\uFFFE",
    "\uDC00",
    "<a><a><a><a>",
    "𐄁",
    "\u{1D400}",
  );
  const edit = fc.tuple(
    fc.nat(),
    fc.constantFrom("insert", "delete", "replace"),
    fragment,
    fc.integer({ min: 1, max: 3 }),
  );
  const damaged = fc.tuple(document, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([text, edits]) => {
    let s = text;
    for (const [offset, op, piece, count] of edits) {
      const at = offset % (s.length + 1);
      if (op === "insert") s = s.slice(0, at) + piece + s.slice(at);
      else if (op === "delete") s = s.slice(0, at) + s.slice(at + count);
      else s = s.slice(0, at) + piece + s.slice(at + 1);
    }
    return s;
  });
  const maxDepth = fc.constantFrom(undefined, 64, 3, 2, 1);

  it("gives identical CBOR for generated well-formed documents", () => {
    let accepted = 0;
    fc.assert(
      fc.property(document, maxDepth, (xml, depth) => {
        expect(compare(xml, depth)).toBe("same");
        if ("cbor" in current(xml, depth)) accepted++;
      }),
      { numRuns: 1500, seed: SEED },
    );
    expect(accepted).toBeGreaterThan(800);
  });

  it("gives identical CBOR for the fidelity model's documents", () => {
    fc.assert(
      fc.property(xmlRecord, ({ text }) => {
        expect(compare(text)).toBe("same");
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it("gives the same verdict for damaged documents, apart from the documented differences", () => {
    const counts = { same: 0, stricter: 0, pi: 0, supplementary: 0 };
    fc.assert(
      fc.property(damaged, maxDepth, (xml, depth) => {
        counts[compare(xml, depth)]++;
      }),
      { numRuns: 3000, seed: SEED },
    );
    // The damage is mostly caught the same way; the documented differences are a small minority.
    if (process.env.XML_DIFF_SEED !== undefined) console.log(counts);
    expect(counts.same).toBeGreaterThan(2800);
  });

  // --- the documented differences, one by one ---

  it.each([
    ["U+00A0 before '>' in an end tag", "<a></a\u00a0>"],
    ["U+3000 before '>' in an end tag", "<a></a\u3000>"],
    ["U+00A0 after a PI target", "<a><?p\u00a0x?></a>"],
    ["a stray '=' after an attribute", '<a b="1"=/>'],
    ["a stray '=' with no name", "<a =></a>"],
    ["an XML declaration with no version", "<?xml?><a/>"],
    ["an XML declaration with an unknown pseudo-attribute", "<?xml version='1.0' foo?><a/>"],
    ["an upper-case XML declaration", "<?XML version='1.0'?><a/>"],
    ["an element name starting with a plane-15 character", "<r><\u{F0000}!--x--></r>"],
  ])("refuses %s, which the old code accepted", (_name, xml) => {
    expect("cbor" in previous(xml)).toBe(true);
    const result = current(xml);
    expect("code" in result && result.code).toBe("invalid_xml");
    expect(compare(xml)).toBe("stricter");
  });

  it("judges names by their real plane 1–14 characters, which the old validator did not", () => {
    expect(current("<a𐄀></a𐄁>")).toMatchObject({ code: "invalid_xml" });
    expect(compare("<a𐄀></a𐄁>")).toBe("supplementary");
    expect(decode(xmlRecordToCbor('<r a𐄀="1" a𐄁="2"/>'))).toEqual({ r: { "@a𐄀": "1", "@a𐄁": "2" } });
    expect(compare('<r a𐄀="1" a𐄁="2"/>')).toBe("supplementary");
  });

  it.each([
    ["a PI with an unbalanced quote", "<a>x<?pi 'y?>z</a>", { a: "xz" }],
    ["a PI with a double quote before a child", '<a><?pi "?><c/></a>', { a: { c: "" } }],
    ["a PI after the root with a quote", '<a/><?p "?>', { a: "" }],
  ])("accepts %s (well-formed; the old parser refused it)", (_name, xml, value) => {
    expect("code" in previous(xml)).toBe(true);
    expect(compare(xml)).toBe("pi");
    expect(decode(xmlRecordToCbor(xml))).toEqual(value);
  });
});

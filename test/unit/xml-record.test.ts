/** The XML → CBOR contract: what a well-formed document becomes, and every way a body is refused with a 400. */
import { Decoder, decode } from "cbor-x";
import fc from "fast-check";
import { InvalidRecordError } from "../../lambda/core/errors.js";
import { parseXmlRecord, type XmlValue, xmlRecordToCbor } from "../../lambda/core/xml-record.js";
import { thrownBy } from "../helpers/thrown.js";

/** Decodes with a fresh cbor-x decoder that returns Maps, so keys like `__proto__` survive as data. */
function decodeAsMaps(xml: string): unknown {
  return new Decoder({ mapsAsObjects: false }).decode(xmlRecordToCbor(xml));
}

/**
 * A deliberately minimal RFC 8949 decoder that knows only definite-length text strings, arrays and maps and
 * refuses everything else (tags, records, byte strings, numbers): output that passes it is plain CBOR any
 * decoder reads, made only of what the conversion rules allow.
 */
function decodeStrict(bytes: Uint8Array): XmlValue {
  // ignoreBOM: by default TextDecoder drops a leading U+FEFF, which is data here.
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let at = 0;
  const argument = (info: number): number => {
    if (info < 24) return info;
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
    if (size === 0) throw new Error(`unsupported length encoding ${info} at ${at}`);
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + (bytes[at++] ?? Number.NaN);
    return n;
  };
  const item = (): XmlValue => {
    const initial = bytes[at++];
    if (initial === undefined) throw new Error("truncated CBOR");
    const major = initial >> 5;
    const n = argument(initial & 0x1f);
    if (major === 3) {
      if (at + n > bytes.length) throw new Error("truncated text string");
      const text = utf8.decode(bytes.subarray(at, at + n));
      at += n;
      return text;
    }
    if (major === 4) return Array.from({ length: n }, item);
    if (major === 5) {
      const map = new Map<string, XmlValue>();
      for (let i = 0; i < n; i++) {
        const key = item();
        if (typeof key !== "string") throw new Error("map key is not a text string");
        if (map.has(key)) throw new Error(`duplicate map key ${key}`);
        map.set(key, item());
      }
      return map;
    }
    throw new Error(`unexpected CBOR major type ${major} at ${at - 1}`);
  };
  const value = item();
  if (at !== bytes.length) throw new Error("trailing bytes after the data item");
  return value;
}

const rejection = (xml: string, maxDepth?: number) =>
  thrownBy(() => parseXmlRecord(xml, maxDepth), InvalidRecordError);

const DOCUMENTATION_EXAMPLE = `<?xml version="1.0" encoding="UTF-8"?>
<records>
  <record>
    <customer_id>00501</customer_id>
    <email>justin@example.com</email>
    <opt_in>true</opt_in>
  </record>
  <record>
    <customer_id>00502</customer_id>
    <email>jane@example.com</email>
    <opt_in>false</opt_in>
  </record>
</records>
`;

describe("xmlRecordToCbor conversion", () => {
  it("converts the documentation example to {records: {record: [...]}} with values kept as strings", () => {
    expect(decode(xmlRecordToCbor(DOCUMENTATION_EXAMPLE))).toEqual({
      records: {
        record: [
          { customer_id: "00501", email: "justin@example.com", opt_in: "true" },
          { customer_id: "00502", email: "jane@example.com", opt_in: "false" },
        ],
      },
    });
  });

  it("emits one plain CBOR map (major type 5) with no tags or cbor-x extensions", () => {
    const bytes = xmlRecordToCbor(DOCUMENTATION_EXAMPLE);
    expect((bytes[0] ?? 0) >> 5).toBe(5);
    expect(decodeStrict(bytes)).toEqual(parseXmlRecord(DOCUMENTATION_EXAMPLE));
    // A fresh cbor-x Decoder with default options (which returns Maps) reads it too.
    expect(new Decoder().decode(bytes)).toEqual(parseXmlRecord(DOCUMENTATION_EXAMPLE));
  });

  it("turns repeated siblings into an array in document order and keeps a single occurrence as the value", () => {
    const xml = "<r><a>1</a><b>x</b><a>2</a><c><d/></c><a>3</a></r>";
    expect(decode(xmlRecordToCbor(xml))).toEqual({ r: { a: ["1", "2", "3"], b: "x", c: { d: "" } } });
  });

  it("keeps leaf text verbatim: no trimming, no number or boolean coercion, empty elements as ''", () => {
    const xml = "<r><zip>00501</zip><t>true</t><e>1e3</e><h>0x10</h><s>  padded\n</s><x/><y></y></r>";
    expect(decode(xmlRecordToCbor(xml))).toEqual({
      r: { zip: "00501", t: "true", e: "1e3", h: "0x10", s: "  padded\n", x: "", y: "" },
    });
  });

  it("stores attributes under @name as strings, with #text when the element also has text", () => {
    const xml = '<r id="007" xml:lang="en"><item sku="00042" qty=\'2\'>Widget</item><flag on="true"/></r>';
    expect(decode(xmlRecordToCbor(xml))).toEqual({
      r: {
        "@id": "007",
        "@xml:lang": "en",
        item: { "@sku": "00042", "@qty": "2", "#text": "Widget" },
        flag: { "@on": "true" },
      },
    });
  });

  it("normalises literal whitespace in attribute values to spaces but keeps whitespace written as references", () => {
    expect(decode(xmlRecordToCbor('<a v="x\ty\nz&#10;&#9;w"/>'))).toEqual({ a: { "@v": "x y z\n\tw" } });
  });

  it("keeps namespace prefixes in names and xmlns declarations as attributes", () => {
    const xml =
      '<ns:root xmlns:ns="urn:example:ns" xmlns="urn:example:default"><ns:item ns:id="1">a</ns:item></ns:root>';
    expect(decode(xmlRecordToCbor(xml))).toEqual({
      "ns:root": {
        "@xmlns:ns": "urn:example:ns",
        "@xmlns": "urn:example:default",
        "ns:item": { "@ns:id": "1", "#text": "a" },
      },
    });
  });

  it("keeps mixed-content text pieces under #text and drops indentation between child elements", () => {
    expect(decode(xmlRecordToCbor("<p>Hello <b>world</b> and <i>you</i>!</p>"))).toEqual({
      p: { b: "world", i: "you", "#text": ["Hello ", " and ", "!"] },
    });
    expect(decode(xmlRecordToCbor("<p>\n  <b>x</b>\n  tail\n</p>"))).toEqual({
      p: { b: "x", "#text": "\n  tail\n" },
    });
  });

  it("keeps CDATA content verbatim (no entity decoding) and joins it with adjacent text", () => {
    expect(decode(xmlRecordToCbor("<a><![CDATA[<b>&amp; ]]></a>"))).toEqual({ a: "<b>&amp; " });
    expect(decode(xmlRecordToCbor("<a>x &lt; <![CDATA[&lt;]]> y</a>"))).toEqual({ a: "x < &lt; y" });
    expect(decode(xmlRecordToCbor("<a><b/><![CDATA[ ]]></a>"))).toEqual({ a: { b: "", "#text": " " } });
    expect(decode(xmlRecordToCbor("<a><b/><![CDATA[]]>\n</a>"))).toEqual({ a: { b: "" } });
  });

  it("drops comments, processing instructions and the XML declaration", () => {
    const xml =
      '<?xml version="1.0"?>\n<!-- head --><?app x?>\n<a>x<!-- c -->y<?pi data?>z</a>\n<!-- tail -->\n';
    expect(decode(xmlRecordToCbor(xml))).toEqual({ a: "xyz" });
  });

  it("decodes the five XML entities and decimal/hex character references in text and attributes", () => {
    const xml =
      '<a t="&lt;&gt;&amp;&quot;&apos;&#65;&#x42;">&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1D11E;&#0000128512;</a>';
    expect(decode(xmlRecordToCbor(xml))).toEqual({ a: { "@t": "<>&\"'AB", "#text": "<>&\"'AB𝄞😀" } });
  });

  it("keeps characters from every plane in names, attribute values and text", () => {
    const xml =
      '<r><clef>𝄞</clef><emoji a="😀">😀 ok</emoji><cjk>漢字かな한글</cjk><名前 属性="値">テキスト</名前>' +
      "<zw>\uFEFF\u200B\u{10FFFD}</zw></r>";
    expect(decode(xmlRecordToCbor(xml))).toEqual({
      r: {
        clef: "𝄞",
        emoji: { "@a": "😀", "#text": "😀 ok" },
        cjk: "漢字かな한글",
        名前: { "@属性": "値", "#text": "テキスト" },
        zw: "\uFEFF\u200B\u{10FFFD}",
      },
    });
  });

  it("stores __proto__, constructor, prototype and Object.prototype method names as plain data", () => {
    const xml =
      '<__proto__ __proto__="p" constructor="c"><constructor>1</constructor><prototype/>' +
      "<toString>s</toString><hasOwnProperty/><__proto__><polluted>yes</polluted></__proto__></__proto__>";
    const expected = new Map([
      [
        "__proto__",
        new Map<string, unknown>([
          ["@__proto__", "p"],
          ["@constructor", "c"],
          ["constructor", "1"],
          ["prototype", ""],
          ["toString", "s"],
          ["hasOwnProperty", ""],
          ["__proto__", new Map([["polluted", "yes"]])],
        ]),
      ],
    ]);
    expect(decodeAsMaps(xml)).toEqual(expected);
    expect(parseXmlRecord(xml)).toEqual(expected);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("accepts elements nested exactly maxDepth deep, and a custom maxDepth", () => {
    const nested = (depth: number) => `${"<a>".repeat(depth)}x${"</a>".repeat(depth)}`;
    let value: unknown = parseXmlRecord(nested(64)).get("a");
    for (let depth = 2; depth <= 64; depth++) value = (value as Map<string, unknown>).get("a");
    expect(value).toBe("x");
    expect(parseXmlRecord(nested(3), 3).size).toBe(1);
    expect(rejection(nested(4), 3).code).toBe("too_deep");
  });

  it("converts an element with 1,000 attributes", () => {
    const attributes = Array.from({ length: 1000 }, (_, i) => ` a${i}="${i}"`).join("");
    const root = parseXmlRecord(`<e${attributes}/>`).get("e") as Map<string, XmlValue>;
    expect(root.size).toBe(1000);
    expect(root.get("@a999")).toBe("999");
  });
});

describe("xmlRecordToCbor refusals", () => {
  const nested = (depth: number) => `${"<a>".repeat(depth)}${"</a>".repeat(depth)}`;
  const billionLaughs =
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' +
    Array.from(
      { length: 9 },
      (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i === 0 ? "" : i};`.repeat(10)}">\n`,
    ).join("") +
    "]>\n<lolz>&lol9;</lolz>";
  const quadraticBlowup = `<!DOCTYPE a [<!ENTITY x "${"x".repeat(50_000)}">]><a>${"&x;".repeat(10_000)}</a>`;
  const manyAttributes = (n: number) => `<e${Array.from({ length: n }, (_, i) => ` a${i}=""`).join("")}/>`;

  it.each([
    ["an unclosed element", "<a><b></a>", "invalid_xml"],
    ["mismatched tags", "<a></b>", "invalid_xml"],
    ["an unclosed root", "<a><b/>", "invalid_xml"],
    ["two root elements", "<a/><b/>", "invalid_xml"],
    ["two root elements with content", "<a>1</a><a>2</a>", "invalid_xml"],
    ["text after the root", "<a/>trailing", "invalid_xml"],
    ["text before the root", "leading<a/>", "invalid_xml"],
    ["CDATA outside the root", "<![CDATA[x]]><a/>", "invalid_xml"],
    ["an empty body", "", "empty_body"],
    ["a whitespace-only body", " \r\n\t ", "empty_body"],
    ["a body with no element", '<?xml version="1.0"?><!-- nothing -->', "invalid_xml"],
    ["plain text", "hello", "invalid_xml"],
    ["a JSON body", '{"a": 1}', "invalid_xml"],
    ["an invalid tag name", "<1a/>", "invalid_xml"],
    ["an attribute without quotes", "<a b=1/>", "invalid_xml"],
    ["a duplicate attribute", '<a b="1" b="2"/>', "invalid_xml"],
    ["'<' in an attribute value", '<a b="<"/>', "invalid_xml"],
    ["']]>' in text", "<a>]]></a>", "invalid_xml"],
    ["an unknown <! declaration", "<a><!foo></a>", "invalid_xml"],
    ["an unclosed comment", "<a/><!-- no end", "invalid_xml"],
    ["an unclosed CDATA section", "<a><![CDATA[x</a>", "invalid_xml"],
    ["a control character", "<a>\u0001</a>", "invalid_xml"],
    ["a lone surrogate", "<a>\uD800</a>", "invalid_xml"],
    ["a DOCTYPE with an internal subset", '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "doctype_not_allowed"],
    [
      "a DOCTYPE naming an external DTD",
      '<!DOCTYPE a SYSTEM "http://example.com/a.dtd"><a/>',
      "doctype_not_allowed",
    ],
    ["a lower-case doctype", "<!doctype a><a/>", "doctype_not_allowed"],
    ["billion laughs", billionLaughs, "doctype_not_allowed"],
    ["quadratic blow-up", quadraticBlowup, "doctype_not_allowed"],
    [
      "an external SYSTEM entity",
      '<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>',
      "doctype_not_allowed",
    ],
    ["an <!ENTITY declaration alone", '<a><!ENTITY x "y"></a>', "doctype_not_allowed"],
    ["an undefined entity", "<a>&nbsp;</a>", "invalid_xml"],
    ["an undefined entity in an attribute", '<a b="&foo;"/>', "invalid_xml"],
    ["a bare '&'", "<a>fish & chips</a>", "invalid_xml"],
    ["a bare '&' in an attribute", '<a b="fish & chips"/>', "invalid_xml"],
    ["a reference to U+0000", "<a>&#0;</a>", "invalid_xml"],
    ["a reference to a surrogate", "<a>&#xD800;</a>", "invalid_xml"],
    ["a reference past U+10FFFF", "<a>&#x110000;</a>", "invalid_xml"],
    ["a reference with no digits", "<a>&#x;</a>", "invalid_xml"],
    ["elements nested 65 deep", nested(65), "too_deep"],
    ["100,000 nested elements", nested(100_000), "too_deep"],
    ["an element with 1,001 attributes", manyAttributes(1001), "too_many_attributes"],
    ["an element with 100,000 attributes", manyAttributes(100_000), "too_many_attributes"],
  ])("answers 400 for %s (%#)", (_name, xml, code) => {
    const error = rejection(xml);
    expect(error.status).toBe(400);
    expect(error.code).toBe(code);
  });

  it("refuses DOCTYPEs with the rule's own message before reading the rest of the document", () => {
    expect(rejection(`${billionLaughs}<unclosed`).message).toBe(
      "DOCTYPE and entity declarations are not allowed (no external entities, no entity expansion)",
    );
  });

  it("refuses 100,000 nested elements and 100,000 attributes quickly, without overflowing the stack", () => {
    const started = performance.now();
    expect(rejection(nested(100_000)).code).toBe("too_deep");
    expect(rejection(manyAttributes(100_000)).code).toBe("too_many_attributes");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("locates a well-formedness error by line and column", () => {
    expect(rejection("<a>\n  <b></c>\n</a>").message).toMatch(
      /^XML is not well-formed at line 2, column 6: Expected closing tag 'b'/,
    );
    expect(rejection("<a/>\n\n  tail").message).toBe(
      "XML is not well-formed at line 3, column 3: text outside the root element",
    );
  });

  it("names the undefined entity", () => {
    expect(rejection("<a>&nbsp;</a>").message).toMatch(/^undefined entity &nbsp; /);
  });

  it("never quotes more than ~20 characters of the document in a message", () => {
    const secret = "s".repeat(5000);
    for (const xml of [
      `<a><${secret}!/></a>`,
      `<a ${secret}="1" ${secret}="2"/>`,
      `<a>&${secret};</a>`,
      `<a>&#${secret};</a>`,
      `<a b="&${secret}"/>`,
      `<a><${secret}></a>`,
      `<a><!${secret}></a>`,
      `${"<x>".repeat(50)}<${secret}>`,
    ]) {
      const { message } = rejection(xml);
      expect(message).not.toContain("s".repeat(21));
      expect(message.length).toBeLessThan(260);
    }
  });
});

// --- property-based: random element trees survive serialise → convert → CBOR → decode ---

interface Element {
  name: string;
  attributes: [string, string][];
  content: Content[];
}
type Content =
  | { kind: "element"; element: Element }
  | { kind: "text"; text: string; cdata: boolean }
  | { kind: "comment" }
  | { kind: "pi" };

/** Characters XML 1.0 allows, weighted towards the ones that need escaping and towards other planes. */
const xmlCharacter = fc.oneof(
  fc.constantFrom("&", "<", ">", '"', "'", " ", "\t", "\n", "\r", "]", "]]>", ";", "#"),
  fc.integer({ min: 0x20, max: 0xd7ff }).map((cp) => String.fromCodePoint(cp)),
  fc.integer({ min: 0xe000, max: 0xfffd }).map((cp) => String.fromCodePoint(cp)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp)),
);
const xmlText = fc.string({ unit: xmlCharacter, maxLength: 8 });
const whitespace = fc.string({ unit: fc.constantFrom(" ", "\t", "\n"), minLength: 1, maxLength: 4 });

const localName = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,5}$/) },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype", "toString", "valueOf") },
);
const name = fc.oneof(
  { weight: 4, arbitrary: localName },
  { weight: 1, arbitrary: localName.map((n) => `ns:${n}`) },
);

const { element } = fc.letrec<{ element: Element; content: Content }>((tie) => ({
  element: fc.record({
    name,
    attributes: fc.uniqueArray(fc.tuple(name, xmlText), { maxLength: 3, selector: ([n]) => n }),
    content: fc.array(tie("content"), { maxLength: 5 }),
  }),
  content: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant("text" as const), text: xmlText, cdata: fc.boolean() }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("text" as const),
        text: whitespace,
        cdata: fc.constant(false),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("comment" as const, "pi" as const) }) },
    {
      weight: 2,
      arbitrary: tie("element").map((child) => ({ kind: "element" as const, element: child as Element })),
    },
  ),
}));

/**
 * How text is escaped: only what must be (`minimal`), all five XML entities (`entities`), or additionally every
 * non-ASCII character as a decimal or hex character reference (`references`). A CR is always written as
 * `&#13;` (a literal one would be read as a line feed), and so are tab/LF in attribute values (they would be
 * normalised to spaces).
 */
type Escaping = "minimal" | "entities" | "references";
const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

function escapeAs(text: string, escaping: Escaping, inAttribute: boolean): string {
  const mustEscape = inAttribute ? '&<"' : "&<>"; // '>' in text so that ']]>' never appears
  let out = "";
  for (const c of text) {
    const cp = c.codePointAt(0) ?? 0;
    const entity = ENTITIES[c];
    if (c === "\r" || (inAttribute && (c === "\t" || c === "\n"))) out += `&#${cp};`;
    else if (entity !== undefined && (escaping !== "minimal" || mustEscape.includes(c))) out += entity;
    else if (escaping === "references" && cp > 0x7e) out += cp % 2 ? `&#${cp};` : `&#x${cp.toString(16)};`;
    else out += c;
  }
  return out;
}

function serialise(el: Element, escaping: Escaping): string {
  const attributes = el.attributes.map(([n, v]) => ` ${n}="${escapeAs(v, escaping, true)}"`).join("");
  if (el.content.length === 0) return `<${el.name}${attributes}/>`;
  const inner = el.content
    .map((item) => {
      if (item.kind === "element") return serialise(item.element, escaping);
      if (item.kind === "comment") return "<!-- a comment -->";
      if (item.kind === "pi") return "<?app some data?>";
      // CDATA only where it can hold the text verbatim (no ']]>', and a CR would be read as a line feed).
      return item.cdata && !/]]>|\r/.test(item.text)
        ? `<![CDATA[${item.text}]]>`
        : escapeAs(item.text, escaping, false);
    })
    .join("");
  return `<${el.name}${attributes}>${inner}</${el.name}>`;
}

/** The value the rules give an element, computed from the tree rather than from any XML. */
function expectedValue(el: Element): XmlValue {
  const map = new Map<string, XmlValue>(el.attributes.map(([n, v]) => [`@${n}`, v]));
  const children = el.content.filter((item) => item.kind === "element");
  const texts = el.content.filter((item) => item.kind === "text");
  if (children.length === 0) {
    const text = texts.map((item) => item.text).join("");
    if (map.size === 0) return text;
    if (text !== "") map.set("#text", text);
    return map;
  }
  const pieces: string[] = [];
  let run = "";
  let significant = false;
  for (const item of el.content) {
    if (item.kind === "text") {
      run += item.text;
      // A CR is serialised as &#13;, and non-empty CDATA is explicit: both count as data, not indentation.
      significant ||=
        (item.cdata && item.text !== "" && !/]]>|\r/.test(item.text)) || /[^ \t\n]/.test(item.text);
    } else if (item.kind === "element") {
      if (significant) pieces.push(run);
      run = "";
      significant = false;
      const value = expectedValue(item.element);
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

describe("xmlRecordToCbor properties", () => {
  const escaping = fc.constantFrom<Escaping>("minimal", "entities", "references");

  it("converts any generated element tree to exactly the value the rules give it", () => {
    fc.assert(
      fc.property(element, escaping, fc.boolean(), (root, how, declaration) => {
        const xml = `${declaration ? '<?xml version="1.0" encoding="UTF-8"?>\n' : ""}${serialise(root, how)}\n`;
        expect(decodeStrict(xmlRecordToCbor(xml))).toEqual(new Map([[root.name, expectedValue(root)]]));
      }),
      { numRuns: 300 },
    );
  });

  it("either converts or throws InvalidRecordError for any mix of XML fragments, never another error", () => {
    const fragment = fc.constantFrom(
      "<a>",
      "</a>",
      "<b x='1'>",
      "</b>",
      "<c/>",
      "<__proto__>",
      "</__proto__>",
      "text",
      " ",
      "\n",
      "&amp;",
      "&",
      "&#65;",
      "&#0;",
      "&nbsp;",
      ";",
      "<!--",
      "-->",
      "<![CDATA[",
      "]]>",
      "<?p",
      "?>",
      "<!DOCTYPE",
      "<!ENTITY",
      '"',
      "'",
      "=",
      "/>",
      "<",
      ">",
      "<?xml version='1.0'?>",
      "\u0000",
      "😀",
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 30 }), (parts) => {
        try {
          expect(decodeStrict(xmlRecordToCbor(parts.join(""))).constructor).toBe(Map);
        } catch (error) {
          if (!(error instanceof InvalidRecordError)) throw error;
          expect(error.status).toBe(400);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

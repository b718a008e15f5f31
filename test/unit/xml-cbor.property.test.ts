/**
 * XML → CBOR round trip, property-based, against an independent decode: generated documents (a small name pool
 * so siblings repeat, namespace prefixes and declarations, attributes, text from all 17 Unicode planes, CDATA,
 * comments, PIs, entity and character references) are converted, the CBOR is decoded with cbor-x, and the
 * result must equal — key order included — the value computed from the generator's model of the document
 * (test/helpers/record-models.ts), not from fast-xml-parser.
 */
import { Decoder } from "cbor-x";
import fc from "fast-check";
import { encodeRecord } from "../../lambda/core/record-encoding.js";
import { xmlRecordToCbor } from "../../lambda/core/xml-record.js";
import {
  expectedXmlValue,
  orderedForm,
  serialiseXml,
  type XmlElementModel,
  type XmlModelValue,
  xmlRecord,
} from "../helpers/record-models.js";
import { unthrottledHandler } from "../helpers/unthrottled-handler.js";

/** cbor-x, told to give Maps (so `__proto__` keys are data) and no cbor-x extensions. */
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });

/** Which features a value exercises, so the run can prove its generator reached them. */
function features(value: XmlModelValue, seen: Set<string>): void {
  if (Array.isArray(value)) {
    seen.add("repeated elements");
    for (const v of value) features(v, seen);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      if (k.startsWith("@xmlns")) seen.add("namespace declarations");
      else if (k.startsWith("@")) seen.add("attributes");
      else if (k === "#text") seen.add("mixed content");
      else if (k.includes(":")) seen.add("prefixed names");
      if (k === "__proto__" || k === "constructor") seen.add("prototype-named elements");
      if (/[\u{10000}-\u{10FFFF}]/u.test(k)) seen.add("supplementary-plane names");
      features(v, seen);
    }
  } else if (/[\u{10000}-\u{10FFFF}]/u.test(value)) {
    seen.add("supplementary-plane text");
  }
}

describe("XML → CBOR round trip (property-based, independent decode)", () => {
  it("decodes, for any generated document, to exactly the model's value, key order included", () => {
    const seen = new Set<string>();
    let cdata = 0;
    fc.assert(
      fc.property(xmlRecord, ({ text, expected }) => {
        const decoded = decoder.decode(xmlRecordToCbor(text)) as unknown;
        expect(decoded).toBeInstanceOf(Map);
        expect(orderedForm(decoded)).toEqual(orderedForm(expected));
        features(expected, seen);
        if (text.includes("<![CDATA[")) cdata++;
      }),
      { numRuns: 300 },
    );
    expect([...seen].sort()).toEqual([
      "attributes",
      "mixed content",
      "namespace declarations",
      "prefixed names",
      "prototype-named elements",
      "repeated elements",
      "supplementary-plane names",
      "supplementary-plane text",
    ]);
    expect(cdata).toBeGreaterThan(0);
  });

  it("stores accepted documents as a CBOR sequence that decodes back to the documents in order", () => {
    fc.assert(
      fc.property(fc.array(xmlRecord, { minLength: 1, maxLength: 5 }), (records) => {
        const sequence = Buffer.concat(
          records.map((r) => Buffer.from(encodeRecord("xml", Buffer.from(r.text, "utf8")))),
        );
        const items: unknown[] = [];
        decoder.decodeMultiple(sequence, (item: unknown) => {
          items.push(orderedForm(item));
        });
        expect(items).toEqual(records.map((r) => orderedForm(r.expected)));
      }),
      { numRuns: 50 },
    );
  });

  it("hands the sink exactly the model's value for any document, plain or gzip, through the whole handler", async () => {
    const { post } = await unthrottledHandler("xml");
    await fc.assert(
      fc.asyncProperty(xmlRecord, fc.boolean(), async ({ text, expected }, gzip) => {
        const { status, received } = await post(text, "text/xml; charset=utf-8", gzip);
        expect(status).toBe(202);
        const stored = received.map((r) => orderedForm(decoder.decode(r.data)));
        expect(stored).toEqual([orderedForm(expected)]);
      }),
      { numRuns: 100 },
    );
  });

  it("keeps a character from every one of the 17 planes in names, attributes, text and CDATA", () => {
    const planes = Array.from({ length: 17 }, (_, plane) =>
      String.fromCodePoint(plane === 0 ? 0x00e9 : plane * 0x10000 + 0x4242),
    );
    // XML names may use planes 1–14 (U+10000–U+EFFFF); values and text any plane.
    const root: XmlElementModel = {
      name: `r${planes.slice(1, 15).join("")}`,
      attributes: planes.map((c, plane) => [`p${plane}`, `${c}<&>"`] as const),
      content: [
        ...planes.map((c, plane) => ({
          kind: "element" as const,
          element: {
            name: "t",
            attributes: [["plane", String(plane)] as const],
            content: [{ kind: "text" as const, text: c }],
          },
        })),
        { kind: "cdata", text: planes.join("") },
        { kind: "text", text: planes.join("") },
      ],
    };
    const expected = new Map([[root.name, expectedXmlValue(root)]]);
    for (const escaping of ["minimal", "entities", "references"] as const) {
      const decoded = decoder.decode(xmlRecordToCbor(serialiseXml(root, escaping, true))) as unknown;
      expect(orderedForm(decoded)).toEqual(orderedForm(expected));
    }
    const value = (expected.get(root.name) as Map<string, XmlModelValue>).get("t");
    expect(Array.isArray(value) && value.length).toBe(17);
  });

  // Regression: the fast-xml-parser validator knows only BMP name characters and refused these as invalid names.
  it("accepts names from planes 1–14 (XML 1.0 NameStartChar) and still refuses planes 15–16 in names", () => {
    expect(orderedForm(decoder.decode(xmlRecordToCbor('<𐄀 𝒜="v"><p:𝒜>x</p:𝒜></𐄀>')))).toEqual([
      [
        "𐄀",
        [
          ["@𝒜", "v"],
          ["p:𝒜", "x"],
        ],
      ],
    ]);
    expect(() => xmlRecordToCbor("<a\u{F0000}/>")).toThrow(/not well-formed/);
    // Regression (found by the soak): distinct plane-1 names must stay distinct, and tags must still match.
    expect(orderedForm(decoder.decode(xmlRecordToCbor('<r a𐄀="1" a𐄁="2" 丁="3"/>')))).toEqual([
      [
        "r",
        [
          ["@a𐄀", "1"],
          ["@a𐄁", "2"],
          ["@丁", "3"],
        ],
      ],
    ]);
    expect(() => xmlRecordToCbor("<a𐄀></a𐄁>")).toThrow(/not well-formed/);
    expect(() => xmlRecordToCbor("<a \u{100000}='1'/>")).toThrow(/invalid_xml|not well-formed/);
  });
});

// Regressions found by test/integration/xml-attacks.test.ts: both were accepted (202) before.
describe("processing instructions", () => {
  it.each([
    ["an XML declaration inside the root", '<a><?xml version="1.0"?></a>'],
    ["an XML declaration after the root", "<a/><?XML version='1.0'?>"],
    ["a PI without a target", "<a><? ?></a>"],
    ["a PI whose target does not start right after '<?'", "<a><? php ?></a>"],
  ])("refuses %s as not well-formed", (_name, xml) => {
    expect(() => xmlRecordToCbor(xml)).toThrow(/not well-formed/);
  });

  it("accepts and drops well-formed PIs, including a leading XML declaration", () => {
    const cbor = xmlRecordToCbor('<?xml version="1.0"?><?xml-stylesheet href="x"?><a><?php echo 1; ?>t</a>');
    expect(orderedForm(decoder.decode(cbor))).toEqual([["a", "t"]]);
  });
});

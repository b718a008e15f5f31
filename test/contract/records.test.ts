/**
 * HTTP contract, accepted records: the README's curl examples, what a 202 looks like, gzip bodies, Idempotency-Key,
 * GET /health and /openapi.json, and what lands in the bucket (layout, NDJSON and CBOR, gzip streams). Runs
 * unchanged against every runtime of targets.ts; a difference between runtimes is a runtime bug.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { StreamRecord } from "../../lambda/core/types.js";
import { send } from "../helpers/http.js";
import {
  canonical,
  DOC_JSON_BODY,
  DOC_JSON_LINE,
  DOC_XML_BODY,
  DOC_XML_RECORD,
  DOC_XML_SENTENCE_BODY,
  DOC_XML_SENTENCE_RECORD,
  delivered,
  deliveredFiles,
  expectAccepted,
  expectError,
  expectJsonWithRequestId,
  Ledger,
  type PostOptions,
  post,
} from "./support.js";
import type { ContractTarget } from "./target.js";
import { contractTargets } from "./targets.js";

describe.each(contractTargets())("HTTP contract, accepted records: $name runtime", (runtime) => {
  let target: ContractTarget;
  let since: number;
  let token: string;
  let json: StreamRecord;
  let jsonGzip: StreamRecord;
  let xml: StreamRecord;
  let xmlGzip: StreamRecord;
  const ledger = new Ledger();

  beforeAll(async () => {
    since = Date.now();
    target = await runtime.start();
    [json, jsonGzip, xml, xmlGzip] = await Promise.all([
      target.createStream({ payload: "json" }),
      target.createStream({ payload: "json", compression: "gzip" }),
      target.createStream({ payload: "xml" }),
      target.createStream({ payload: "xml", compression: "gzip" }),
    ]);
    token = await target.tokenFor(await target.createKey());
  }, 180_000);
  afterAll(async () => {
    await target?.close();
  }, 60_000);

  const postData = (stream: StreamRecord, options: Omit<PostOptions, "token">) =>
    post(target, "data", stream, { token, ...options });

  /** Every record accepted so far for the stream is delivered, and nothing else. */
  async function expectDelivered(stream: StreamRecord): Promise<void> {
    expect(ledger.of(stream.id).length).toBeGreaterThan(0);
    expect(await delivered(target, stream, since)).toEqual(ledger.of(stream.id));
  }

  it("accepts the README's JSON curl example with the documented 202 and stores it minified, numbers as sent", async () => {
    const res = await postData(json, { body: DOC_JSON_BODY });
    expectAccepted(res, json.id);
    ledger.add(json.id, DOC_JSON_LINE);
    await expectDelivered(json);
  });

  it("accepts the README's XML examples as application/xml and text/xml; charset=utf-8, one CBOR map per document", async () => {
    expectAccepted(await postData(xml, { contentType: "application/xml", body: DOC_XML_BODY }), xml.id);
    ledger.add(xml.id, canonical(DOC_XML_RECORD));
    expectAccepted(
      await postData(xml, { contentType: "text/xml; charset=utf-8", body: DOC_XML_SENTENCE_BODY }),
      xml.id,
    );
    ledger.add(xml.id, canonical(DOC_XML_SENTENCE_RECORD));
    await expectDelivered(xml);
  });

  it("stores a JSON object exactly as sent minus whitespace: numbers, escapes, key order, duplicate keys, __proto__", async () => {
    const body =
      '{ "big": 12345678901234567890, "f": 1.0, "e": 1e400, "s": "caf\\u00e9\\n\\/", "k": 1, "k": 2,\n' +
      '  "__proto__": { "x": [1, 2.50, null, true] }, "u": "\u00fc\u{1F600}" }';
    expectAccepted(await postData(json, { contentType: "application/json; charset=utf-8", body }), json.id);
    ledger.add(
      json.id,
      '{"big":12345678901234567890,"f":1.0,"e":1e400,"s":"caf\\u00e9\\n\\/","k":1,"k":2,"__proto__":{"x":[1,2.50,null,true]},"u":"\u00fc\u{1F600}"}',
    );
    await expectDelivered(json);
  });

  it("converts XML as the README says: attributes, #text, CDATA, prefixes, entities, no coercion, empty elements", async () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<!-- a comment -->\n<order id="o-1" channel="web">\n' +
      '  <ns:item sku="A">widget</ns:item>\n  <ns:item sku="B">gadget</ns:item>\n' +
      "  <note><![CDATA[<b>5 > 3</b>]]></note>\n  <zip>00501</zip>\n  <flag>true</flag>\n  <empty/>\n" +
      "  <text> x &amp; y &#65;&lt; </text>\n  <?pi ignored?>\n</order>";
    expectAccepted(await postData(xml, { contentType: "application/xml", body }), xml.id);
    ledger.add(
      xml.id,
      canonical({
        order: {
          "@id": "o-1",
          "@channel": "web",
          "ns:item": [
            { "@sku": "A", "#text": "widget" },
            { "@sku": "B", "#text": "gadget" },
          ],
          note: "<b>5 > 3</b>",
          zip: "00501",
          flag: "true",
          empty: "",
          text: " x & y A< ",
        },
      }),
    );
    await expectDelivered(xml);
  });

  it("accepts gzip-encoded bodies and stores the decoded records", async () => {
    expectAccepted(
      await postData(json, {
        headers: { "content-encoding": "gzip" },
        body: gzipSync('{"a": 12345678901234567890}'),
      }),
      json.id,
    );
    ledger.add(json.id, '{"a":12345678901234567890}');
    expectAccepted(
      await postData(xml, {
        contentType: "application/xml",
        headers: { "content-encoding": "gzip" },
        body: gzipSync("<record><zip>00777</zip></record>"),
      }),
      xml.id,
    );
    ledger.add(xml.id, canonical({ record: { zip: "00777" } }));
    await expectDelivered(json);
    await expectDelivered(xml);
  });

  it("delivers gzip streams as .ndjson.gz and .cbor.gz files", async () => {
    for (let n = 0; n < 3; n++) {
      expectAccepted(await postData(jsonGzip, { body: `{"n": ${n}, "zip": "0050${n}"}` }), jsonGzip.id);
      ledger.add(jsonGzip.id, `{"n":${n},"zip":"0050${n}"}`);
      expectAccepted(
        await postData(xmlGzip, { contentType: "text/xml", body: `<r n="${n}"><zip>0050${n}</zip></r>` }),
        xmlGzip.id,
      );
      ledger.add(xmlGzip.id, canonical({ r: { "@n": String(n), zip: `0050${n}` } }));
    }
    await expectDelivered(jsonGzip);
    await expectDelivered(xmlGzip);
  });

  it("answers a repeated Idempotency-Key 202 duplicate with the original request id, and stores the record once", async () => {
    const key = `order-${runtime.name}-1001`;
    const body = '{"order_id":"o-1001","total":125.50}';
    const first = await postData(json, { headers: { "idempotency-key": key }, body });
    const firstId = expectJsonWithRequestId(first);
    expect({ status: first.status, text: first.text }).toEqual({
      status: 202,
      text: JSON.stringify({ status: "accepted", stream: json.id, request_id: firstId, duplicate: false }),
    });
    ledger.add(json.id, '{"order_id":"o-1001","total":125.50}');
    // Insignificant whitespace and gzip do not make it another request.
    const repeat = await postData(json, {
      headers: { "idempotency-key": key, "content-encoding": "gzip" },
      body: gzipSync(` ${body}\n`),
    });
    const repeatId = expectJsonWithRequestId(repeat);
    expect(repeatId).not.toBe(firstId);
    expect({ status: repeat.status, text: repeat.text }).toEqual({
      status: 202,
      text: JSON.stringify({
        status: "accepted",
        stream: json.id,
        request_id: repeatId,
        duplicate: true,
        original_request_id: firstId,
      }),
    });
    const reused = await postData(json, {
      headers: { "idempotency-key": key },
      body: '{"order_id":"o-1002"}',
    });
    expectError(reused, 400, "idempotency_key_reused");
    const invalid = await postData(json, { headers: { "idempotency-key": "has space" }, body: "{}" });
    expectError(invalid, 400, "invalid_idempotency_key");
    await expectDelivered(json);
  });

  it("lays every stream's files out under streams/<tenant>/<stream-id>/YYYY/MM/DD/HH/ with its format's extension", async () => {
    await target.flush();
    const extensions = [json, jsonGzip, xml, xmlGzip].map((stream) => {
      const files = deliveredFiles(target, stream, since);
      expect(files.length).toBeGreaterThan(0);
      return [...new Set(files.map((file) => /\.(ndjson|cbor)(\.gz)?$/.exec(file.path)?.[0]))];
    });
    expect(extensions).toEqual([[".ndjson"], [".ndjson.gz"], [".cbor"], [".cbor.gz"]]);
  });

  it("answers GET /health 200 {status: ok}", async () => {
    const res = await send(`${target.url}/health`, { method: "GET" });
    expect(res.status).toBe(200);
    expectJsonWithRequestId(res);
    expect(res.text).toBe('{"status":"ok"}');
  });

  it("serves the contract, docs/openapi.json, at GET /openapi.json", async () => {
    const res = await send(`${target.url}/openapi.json`, { method: "GET" });
    expect(res.status).toBe(200);
    expectJsonWithRequestId(res);
    const documented: unknown = JSON.parse(readFileSync(join(__dirname, "../../docs/openapi.json"), "utf8"));
    expect(res.json).toEqual(documented);
  });
});

/**
 * Hostile XML over real HTTP against the local runtime: external entities (file and URL, with a loopback
 * listener that must never be contacted), billion laughs, quadratic blow-up, DOCTYPE in every form, deep
 * nesting, huge attribute counts and hostile processing instructions. Each is answered with its 4xx quickly,
 * repeatedly, in bounded memory, nothing is stored and nothing is fetched.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

const LIMIT = 260_096;
const ROUNDS = 8;

describe("hostile XML over HTTP", () => {
  let t: TestRuntime;
  let url: string;
  let headers: Record<string, string>;
  /** A loopback server standing in for an attacker's host: any request to it is a finding. */
  let bait: Server;
  let baitUrl: string;
  const baitHits: string[] = [];

  beforeAll(async () => {
    t = await startTestRuntime();
    const { stream, token } = await t.ready({
      payload: "xml",
      rateLimitPerSecond: 1_000_000,
      rateLimitBurst: 10_000_000,
    });
    url = t.dataUrl(stream.id);
    headers = {
      authorization: `Bearer ${token}`,
      "x-amperity-tenant": "acme",
      "content-type": "application/xml",
    };
    bait = createServer((req, res) => {
      baitHits.push(`${req.method} ${req.url}`);
      res.end('<!ENTITY x "pwned">');
    });
    await new Promise<void>((resolve) => bait.listen(0, "127.0.0.1", resolve));
    baitUrl = `http://127.0.0.1:${(bait.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => bait.close(resolve));
    await t.stop();
  });

  const laughs =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
    Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ""};`.repeat(10)}">`).join("") +
    "]><lolz>&lol9;</lolz>";
  // ~120 KB entity referenced 10,000 times: 1.2 GB if expanded.
  const quadratic = `<!DOCTYPE a [<!ENTITY x "${"x".repeat(120_000)}">]><a>${"&x;".repeat(10_000)}</a>`;
  const attributes = (n: number) =>
    `<e${Array.from({ length: n }, (_, i) => ` a${i.toString(36)}=""`).join("")}/>`;

  /** [name, body, status, code]; bodies that mention the bait URL get it substituted at run time. */
  const attacks: [string, () => string | Buffer, number, string][] = [
    [
      "external entity (file)",
      () => '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
      400,
      "doctype_not_allowed",
    ],
    [
      "external entity (URL)",
      () => `<!DOCTYPE a [<!ENTITY x SYSTEM "${baitUrl}/e">]><a>&x;</a>`,
      400,
      "doctype_not_allowed",
    ],
    ["external DTD (URL)", () => `<!DOCTYPE a SYSTEM "${baitUrl}/dtd"><a/>`, 400, "doctype_not_allowed"],
    [
      "public DTD",
      () => `<!DOCTYPE a PUBLIC "-//X//DTD X//EN" "${baitUrl}/pub"><a/>`,
      400,
      "doctype_not_allowed",
    ],
    [
      "parameter entity",
      () => `<!DOCTYPE a [<!ENTITY % p SYSTEM "${baitUrl}/p"> %p;]><a>&x;</a>`,
      400,
      "doctype_not_allowed",
    ],
    ["billion laughs", () => laughs, 400, "doctype_not_allowed"],
    ["billion laughs, gzip", () => gzipSync(laughs), 400, "doctype_not_allowed"],
    ["quadratic blow-up", () => quadratic, 400, "doctype_not_allowed"],
    ["lower-case doctype", () => "<!doctype a><a/>", 400, "doctype_not_allowed"],
    ["mixed-case doctype", () => "<!DocType a><a/>", 400, "doctype_not_allowed"],
    [
      "doctype after a comment and a PI",
      () => "<!-- c --><?p x?>\n<!DOCTYPE a><a/>",
      400,
      "doctype_not_allowed",
    ],
    ["doctype inside the root", () => "<a><!DOCTYPE b></a>", 400, "doctype_not_allowed"],
    ["doctype after the root", () => "<a/><!DOCTYPE b>", 400, "doctype_not_allowed"],
    ["entity declaration without doctype", () => '<a><!ENTITY x "y"></a>', 400, "doctype_not_allowed"],
    [
      "doctype with a BOM and declaration",
      () => '\uFEFF<?xml version="1.0"?><!DOCTYPE a><a/>',
      400,
      "doctype_not_allowed",
    ],
    ["undeclared entity", () => "<a>&xxe;</a>", 400, "invalid_xml"],
    ["35,000 nested elements", () => `${"<a>".repeat(35_000)}${"</a>".repeat(35_000)}`, 400, "too_deep"],
    ["80,000 unclosed elements", () => "<a>".repeat(80_000), 400, "too_deep"],
    ["20,000 attributes on one element", () => attributes(20_000), 400, "too_many_attributes"],
    // 100,000 distinct attributes cannot fit in 254 KiB: refused by size, before any parsing.
    ["100,000 attributes", () => attributes(100_000), 413, "payload_too_large"],
    ["100,000 attributes, gzip", () => gzipSync(attributes(100_000)), 413, "payload_too_large"],
    ["unclosed processing instruction", () => "<a><?p never closed</a>", 400, "invalid_xml"],
    ["XML declaration inside the root", () => '<a><?xml version="1.0"?></a>', 400, "invalid_xml"],
    ["processing instruction with no target", () => "<a><? ?></a>", 400, "invalid_xml"],
    ["oversized document", () => `<a>${"x".repeat(LIMIT)}</a>`, 413, "payload_too_large"],
  ];

  it.each(attacks)(
    "answers %s with %i quickly, storing and fetching nothing",
    async (_name, body, status, code) => {
      const payload = body();
      const gzip = Buffer.isBuffer(payload) && payload[0] === 0x1f;
      const started = performance.now();
      const res = await send(url, {
        headers: gzip ? { ...headers, "content-encoding": "gzip" } : headers,
        body: payload,
      });
      const ms = performance.now() - started;
      expect(res.status).toBe(status);
      expect((res.json.error as { code: string }).code).toBe(code);
      expect(ms).toBeLessThan(1_000);
    },
  );

  it("accepts well-formed PIs and DOCTYPE look-alikes in comments and CDATA as data, fetching nothing", async () => {
    const res = await send(url, {
      headers,
      body:
        `<?xml-stylesheet type="text/xsl" href="${baitUrl}/style.xsl"?>` +
        `<!-- <!DOCTYPE x SYSTEM "${baitUrl}/c"> --><a><?php system("id"); ?><![CDATA[<!DOCTYPE y>&x;]]></a>`,
    });
    expect(res.status).toBe(202);
    await t.runtime.flush();
    expect(baitHits).toEqual([]);
  });

  it("refuses every attack 8 times over in bounded memory and time, with nothing fetched or stored", async () => {
    const before = process.memoryUsage().rss;
    let peak = before;
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(
        attacks.map(async ([, body, status]) => {
          const payload = body();
          const gzip = Buffer.isBuffer(payload) && payload[0] === 0x1f;
          const res = await send(url, {
            headers: gzip ? { ...headers, "content-encoding": "gzip" } : headers,
            body: payload,
          });
          expect(res.status).toBe(status);
        }),
      );
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const perRequest = (performance.now() - started) / (ROUNDS * attacks.length);
    // A billion-laughs expansion alone would be ~3 GB; a quadratic one 1.2 GB.
    expect(peak - before).toBeLessThan(128 * 1024 * 1024);
    expect(perRequest).toBeLessThan(100);
    expect(baitHits).toEqual([]);
    // Only the one accepted document of the test above was ever stored.
    expect(t.logger.lines.filter((l) => l.includes('"level":"error"'))).toEqual([]);
    expect((await send(`${t.runtime.url}/health`, { method: "GET" })).status).toBe(200);
  });
});

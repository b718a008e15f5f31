/**
 * The local runtime over real HTTP on loopback: real embedded registry, real files, real tokens. Covers the
 * documentation's examples end to end, auth, revocation, throttling, limits, gzip and sealing by size and age.
 */
import { readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { decodeMultiple } from "cbor-x";
import fc from "fast-check";
import { filesUnder } from "../helpers/files.js";
import { send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

const DOC_JSON_BODY = ` {
    "email": "justin.case@example.com",
    "first_name": "Justin",
    "last_name": "Case",
    "loyalty_id": "00501",
    "order_total": 125.50
  }`;

const DOC_XML_BODY = `<?xml version="1.0" encoding="UTF-8"?>
<records>
  <record>
    <email>justin.case@example.com</email>
    <first_name>Justin</first_name>
    <loyalty_id>00501</loyalty_id>
  </record>
  <record>
    <email>jane.doe@example.com</email>
    <first_name>Jane</first_name>
    <loyalty_id>00502</loyalty_id>
  </record>
</records>`;

function sealedFiles(t: TestRuntime, streamId: string): string[] {
  return filesUnder(join(t.runtime.layout.objects, "streams")).filter((f) => f.includes(`/${streamId}/`));
}

function headersFor(token: string, tenant: string, contentType = "application/json"): Record<string, string> {
  return { authorization: `Bearer ${token}`, "x-amperity-tenant": tenant, "content-type": contentType };
}

describe("local runtime over HTTP", () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ accessLog: true });
  });
  afterAll(async () => {
    await t.stop();
  });

  it("accepts the documentation's JSON example with 202 and stores it minified, numbers as sent, after flush", async () => {
    const { stream, token } = await t.ready();
    const res = await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: DOC_JSON_BODY });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({
      status: "accepted",
      stream: stream.id,
      request_id: res.headers["x-request-id"],
    });
    expect(sealedFiles(t, stream.id)).toEqual([]);
    await t.runtime.flush();
    const files = sealedFiles(t, stream.id);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(
      new RegExp(
        `^acme/${stream.id}/\\d{4}/\\d{2}/\\d{2}/\\d{2}/${stream.id}-000001-\\d{4}(-\\d{2}){5}-[a-z0-9]+\\.ndjson$`,
      ),
    );
    const content = readFileSync(join(t.runtime.layout.objects, "streams", files[0] ?? ""), "utf8");
    expect(content).toBe(
      '{"email":"justin.case@example.com","first_name":"Justin","last_name":"Case","loyalty_id":"00501","order_total":125.50}\n',
    );
  });

  it("accepts the documentation's XML example and stores one CBOR map per document", async () => {
    const { stream, token } = await t.ready({ payload: "xml" });
    const res = await send(t.dataUrl(stream.id), {
      headers: headersFor(token, "acme", "application/xml"),
      body: DOC_XML_BODY,
    });
    expect(res.status).toBe(202);
    const res2 = await send(t.dataUrl(stream.id), {
      headers: headersFor(token, "acme", "text/xml; charset=utf-8"),
      body: "<record><zip>00501</zip></record>",
    });
    expect(res2.status).toBe(202);
    await t.runtime.flush();
    const [file] = sealedFiles(t, stream.id);
    expect(file).toMatch(/\.cbor$/);
    const items: unknown[] = [];
    decodeMultiple(readFileSync(join(t.runtime.layout.objects, "streams", file ?? "")), (v: unknown) => {
      items.push(v);
    });
    expect(items).toEqual([
      {
        records: {
          record: [
            { email: "justin.case@example.com", first_name: "Justin", loyalty_id: "00501" },
            { email: "jane.doe@example.com", first_name: "Jane", loyalty_id: "00502" },
          ],
        },
      },
      { record: { zip: "00501" } },
    ]);
  });

  it("accepts a gzip-encoded body and stores the decoded record", async () => {
    const { stream, token } = await t.ready();
    const res = await send(t.dataUrl(stream.id), {
      headers: { ...headersFor(token, "acme"), "content-encoding": "gzip" },
      body: gzipSync('{"a": 12345678901234567890}'),
    });
    expect(res.status).toBe(202);
    await t.runtime.flush();
    const [file] = sealedFiles(t, stream.id);
    expect(readFileSync(join(t.runtime.layout.objects, "streams", file ?? ""), "utf8")).toBe(
      '{"a":12345678901234567890}\n',
    );
  });

  it.each([
    ["no Authorization header", {}, 401, "missing_token"],
    ["a malformed token", { authorization: "Bearer not-a-jwt" }, 401, "malformed_token"],
    ["Basic auth", { authorization: "Basic dXNlcjpwYXNz" }, 401, "malformed_token"],
  ])("answers %s with 401", async (_name, auth, status, code) => {
    const { stream } = await t.ready();
    const res = await send(t.dataUrl(stream.id), {
      headers: { "x-amperity-tenant": "acme", "content-type": "application/json", ...auth },
      body: "{}",
    });
    expect(res.status).toBe(status);
    expect(res.json).toEqual({ error: { code, message: expect.any(String), retryable: false } });
  });

  it("answers 401 for a token whose signature was tampered with", async () => {
    const { stream, token } = await t.ready();
    const [h, p, s = ""] = token.split(".");
    const tampered = `${h}.${p}.${s.startsWith("A") ? `B${s.slice(1)}` : `A${s.slice(1)}`}`;
    const res = await send(t.dataUrl(stream.id), { headers: headersFor(tampered, "acme"), body: "{}" });
    expect(res.status).toBe(401);
  });

  it("answers 403 when X-Amperity-Tenant names another tenant, and 404 for another tenant's stream", async () => {
    const { stream, token } = await t.ready();
    const other = await t.ready({ tenant: "globex" });
    expect(
      (await send(t.dataUrl(stream.id), { headers: headersFor(token, "globex"), body: "{}" })).status,
    ).toBe(403);
    const foreign = await send(t.dataUrl(other.stream.id), {
      headers: headersFor(token, "acme"),
      body: "{}",
    });
    const missing = await send(t.dataUrl("is-Missing1"), { headers: headersFor(token, "acme"), body: "{}" });
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(foreign.json.error).toEqual({
      code: "stream_not_found",
      message: `no stream ${other.stream.id} for tenant acme`,
      retryable: false,
    });
  });

  it("refuses a deleted key's tokens and a revoked token within the cache TTL", async () => {
    const { stream, key, token } = await t.ready();
    expect(
      (await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: "{}" })).status,
    ).toBe(202);
    await t.runtime.admin.saveApiKey({ ...key, revokedBefore: new Date(Date.now() + 1000).toISOString() });
    t.clock.advance(2001);
    const revoked = await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: "{}" });
    expect(revoked.status).toBe(401);
    expect((revoked.json.error as { code: string }).code).toBe("token_revoked");
    await t.runtime.admin.saveApiKey({ ...key, status: "deleted" });
    t.clock.advance(2001);
    const deleted = await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: "{}" });
    expect((deleted.json.error as { code: string }).code).toBe("key_deleted");
  });

  it("stops accepting for a disabled, then deleted, stream within the cache TTL", async () => {
    const { stream, token } = await t.ready();
    expect(
      (await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: "{}" })).status,
    ).toBe(202);
    await t.runtime.admin.saveStream({ ...stream, status: "disabled" });
    t.clock.advance(2001);
    const res = await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: "{}" });
    expect(res.status).toBe(404);
    expect((res.json.error as { code: string }).code).toBe("stream_disabled");
    await t.runtime.admin.deleteStream(stream.id);
    t.clock.advance(2001);
    const deleted = await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: "{}" });
    expect(deleted.status).toBe(404);
    expect((deleted.json.error as { code: string }).code).toBe("stream_not_found");
  });

  it("answers 429 with Retry-After once a stream passes its rate limit, and accepts again after it refills", async () => {
    const { stream, token } = await t.ready({ rateLimitPerSecond: 1, rateLimitBurst: 2 });
    const post = () => send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: "{}" });
    expect((await post()).status).toBe(202);
    expect((await post()).status).toBe(202);
    const throttled = await post();
    expect(throttled.status).toBe(429);
    expect(throttled.headers["retry-after"]).toBe("1");
    expect(throttled.json.error).toMatchObject({ code: "throttled", retryable: true });
    t.clock.advance(1000);
    expect((await post()).status).toBe(202);
  });

  it("answers 413 for a body over 260,096 bytes, declared or chunked, and for a gzip bomb", async () => {
    const { stream, token } = await t.ready();
    const big = `{"a":"${"x".repeat(260_096)}"}`;
    const declared = await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: big });
    expect(declared.status).toBe(413);
    expect(declared.json.error).toMatchObject({ code: "payload_too_large", retryable: false });
    expect((declared.json.error as { message: string }).message).toContain("260,096");
    const chunked = await send(t.dataUrl(stream.id), {
      headers: headersFor(token, "acme"),
      body: [big.slice(0, 100_000), big.slice(100_000, 200_000), big.slice(200_000)],
    });
    expect(chunked.status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
    const bombed = await send(t.dataUrl(stream.id), {
      headers: { ...headersFor(token, "acme"), "content-encoding": "gzip" },
      body: bomb,
    });
    expect(bomb.length).toBeLessThan(100_000);
    expect(bombed.status).toBe(413);
    const exact = `{"a":"${"x".repeat(260_096 - 8)}"}`;
    expect(Buffer.byteLength(exact)).toBe(260_096);
    expect(
      (await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: exact })).status,
    ).toBe(202);
  });

  it("answers 400, 405, 404 and 415 with the documented bodies", async () => {
    const { stream, token } = await t.ready();
    const ndjson = await send(t.dataUrl(stream.id), {
      headers: headersFor(token, "acme"),
      body: '{"a":1}\n{"a":2}\n',
    });
    expect(ndjson.status).toBe(400);
    expect((ndjson.json.error as { code: string }).code).toBe("multiple_values");
    const get = await send(t.dataUrl(stream.id), { method: "GET" });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    expect((await send(`${t.runtime.url}/nope`, { method: "GET" })).status).toBe(404);
    const xmlOnJson = await send(t.dataUrl(stream.id), {
      headers: headersFor(token, "acme", "application/xml"),
      body: "<a/>",
    });
    expect(xmlOnJson.status).toBe(415);
    const health = await send(`${t.runtime.url}/health`, { method: "GET" });
    expect(health.status).toBe(200);
  });

  it("seals a batch by size without a flush, and never appends to a sealed file", async () => {
    const { stream, token } = await t.ready({
      delivery: { bufferMiB: 1, bufferSeconds: 900, compression: "none", shards: 1 },
    });
    const record = `{"pad":"${"y".repeat(200_000)}"}`;
    for (let i = 0; i < 6; i++) {
      expect(
        (await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: record })).status,
      ).toBe(202);
    }
    // Size-sealing runs in the background; sealDue() joins running seals (the clock has not moved).
    await t.runtime.sink.sealDue();
    const sealed = sealedFiles(t, stream.id);
    expect(sealed).toHaveLength(1);
    const firstSize = statSync(join(t.runtime.layout.objects, "streams", sealed[0] ?? "")).size;
    expect(firstSize).toBeGreaterThanOrEqual(1024 * 1024);
    await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: record });
    await t.runtime.flush();
    const after = sealedFiles(t, stream.id);
    expect(after).toHaveLength(2);
    expect(statSync(join(t.runtime.layout.objects, "streams", sealed[0] ?? "")).size).toBe(firstSize);
    const lines = after.flatMap((f) =>
      readFileSync(join(t.runtime.layout.objects, "streams", f), "utf8")
        .split("\n")
        .filter(Boolean),
    );
    expect(lines).toHaveLength(7);
  });

  it("seals a batch by age once its stream's buffer interval has passed on the clock", async () => {
    const { stream, token } = await t.ready({
      delivery: { bufferMiB: 5, bufferSeconds: 60, compression: "gzip", shards: 1 },
    });
    expect(
      (await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: '{"n":1}' })).status,
    ).toBe(202);
    t.clock.advance(59_000);
    await t.runtime.sink.sealDue();
    expect(sealedFiles(t, stream.id)).toEqual([]);
    t.clock.advance(1_000);
    await t.runtime.sink.sealDue();
    const sealed = sealedFiles(t, stream.id);
    expect(sealed).toHaveLength(1);
    expect(sealed[0]).toMatch(/\.ndjson\.gz$/);
  });

  it("answers Expect: 100-continue with the final status before the body when a check fails, else 100 then 202", async () => {
    const { stream, token } = await t.ready();
    const { port } = new URL(t.runtime.url);
    /** Sends the head, waits for the first response bytes, sends the body if told 100, returns all it read. */
    const exchange = (auth: string, body: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), "127.0.0.1");
        let received = "";
        socket.on("data", (chunk) => {
          received += chunk.toString("utf8");
          if (
            received.startsWith("HTTP/1.1 100") &&
            !received.includes("HTTP/1.1 2") &&
            received.endsWith("\r\n\r\n")
          ) {
            socket.write(body);
          }
          if (/HTTP\/1\.1 [2-5]\d\d[\s\S]*\r\n\r\n\{[\s\S]*\}$/.test(received)) {
            socket.end();
            resolve(received);
          }
        });
        socket.on("error", reject);
        socket.write(
          `POST /stream/v0/data/${stream.id} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${auth}\r\n` +
            `x-amperity-tenant: acme\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
            "expect: 100-continue\r\n\r\n",
        );
      });
    const refused = await exchange("not-a-token", '{"a":1}');
    expect(refused).toMatch(/^HTTP\/1\.1 401 /);
    const accepted = await exchange(token, '{"a":1}');
    expect(accepted).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 /);
  });

  it("answers arbitrary bodies and encodings with 202 or a documented 4xx, never a 5xx", async () => {
    const json = await t.ready({ rateLimitPerSecond: 1_000_000, rateLimitBurst: 10_000_000 });
    const xml = await t.ready({ payload: "xml", rateLimitPerSecond: 1_000_000, rateLimitBurst: 10_000_000 });
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 2000 }),
      fc.json().map((text) => Buffer.from(text)),
      fc.string({ unit: "grapheme", maxLength: 300 }).map((text) => Buffer.from(`<a x="1">${text}</a>`)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        body,
        fc.constantFrom(undefined, "gzip", "identity", "br", "gzip, gzip"),
        fc.boolean(),
        async (useXml, raw, encoding, compress) => {
          const target = useXml ? xml : json;
          const payload = compress && encoding === "gzip" ? gzipSync(raw) : raw;
          const headers: Record<string, string> = headersFor(
            target.token,
            "acme",
            useXml ? "application/xml" : "application/json",
          );
          if (encoding !== undefined) headers["content-encoding"] = encoding;
          const res = await send(t.dataUrl(target.stream.id), { headers, body: payload });
          expect([202, 400, 413, 415]).toContain(res.status);
          expect(
            res.json.error === undefined ? res.json.status : (res.json.error as { code: string }).code,
          ).toEqual(expect.any(String));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never logs a token or record content", async () => {
    const { stream, token } = await t.ready();
    const secret = "very-secret-record-content-4711";
    await send(t.dataUrl(stream.id), { headers: headersFor(token, "acme"), body: `{"s":"${secret}"` });
    await send(t.dataUrl(stream.id), { headers: headersFor(`${token}x`, "acme"), body: `{"s":"${secret}"}` });
    const log = t.logger.lines.join("\n");
    const access = t.logger.lines.map((l) => JSON.parse(l)).filter((l) => l.message === "request");
    expect(access.slice(-2)).toEqual([
      expect.objectContaining({ method: "POST", stream: stream.id, status: 400, ms: expect.any(Number) }),
      expect.objectContaining({ method: "POST", stream: stream.id, status: 401 }),
    ]);
    expect(log).not.toContain(secret);
    expect(log).not.toContain(token.split(".")[2]);
  });
});

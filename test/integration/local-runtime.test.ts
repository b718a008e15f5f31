/**
 * The local runtime over real HTTP on loopback: what only the local runtime has, or what needs its manual clock.
 * Registry and key changes seen within the cache TTL, the rate limit refilling, sealing by size and age (and the
 * local file names), Expect: 100-continue, fuzzing and log hygiene. The HTTP contract both runtimes share (the
 * documentation's examples, every status of the table, auth, gzip, limits, throttling, delivery layout and
 * formats) is test/contract/, run against the local runtime and `--emulate-aws` alike.
 */
import { readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { filesUnder } from "../helpers/files.js";
import { send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

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

  it("refills a stream's rate limit on the clock: 429 with Retry-After: 1 until a second has passed, then 202", async () => {
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
    // The local sink's file names (README "Output layout and formats"); the contract suite checks only folders.
    expect(sealed[0]).toMatch(
      new RegExp(
        `^acme/${stream.id}/\\d{4}/\\d{2}/\\d{2}/\\d{2}/${stream.id}-000001-\\d{4}(-\\d{2}){5}-[a-z0-9]+\\.ndjson$`,
      ),
    );
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

/**
 * The batch endpoint on the real local runtime over HTTP on loopback: real registry, tokens and files. A 202
 * means every line is in the stream's NDJSON file, in order; any refusal means none is.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { filesUnder } from "../helpers/files.js";
import { send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

const MIB = 1024 * 1024;

function headersFor(token: string, contentType = "application/x-ndjson"): Record<string, string> {
  return { authorization: `Bearer ${token}`, "x-amperity-tenant": "acme", "content-type": contentType };
}

const ndjson = (count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => `{"n": ${from + i}, "total": 1.50}`).join("\n");

describe("batch endpoint over HTTP (local runtime)", () => {
  let t: TestRuntime;
  const batchUrl = (streamId: string) => `${t.runtime.url}/stream/v0/batch/${streamId}`;

  /** Every NDJSON line stored for the stream (sealed objects, after a flush), in file order. */
  async function storedLines(streamId: string): Promise<string[]> {
    await t.runtime.flush();
    const root = join(t.runtime.layout.objects, "streams");
    return filesUnder(root)
      .filter((file) => file.includes(`/${streamId}/`))
      .sort()
      .flatMap((file) => readFileSync(join(root, file), "utf8").split("\n").slice(0, -1));
  }

  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => {
    await t.stop();
  });

  it("answers 202 with the count, and the lines land minified in the NDJSON file, in order", async () => {
    const { stream, token } = await t.ready();
    const res = await send(batchUrl(stream.id), {
      headers: headersFor(token),
      body: '{"email": "a@example.com", "zip": "00501"}\r\n\n{"total": 125.50}\n{ "k":1,"k":2 }\n',
    });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({
      status: "accepted",
      stream: stream.id,
      request_id: res.headers["x-request-id"],
      records: 3,
    });
    expect(await storedLines(stream.id)).toEqual([
      '{"email":"a@example.com","zip":"00501"}',
      '{"total":125.50}',
      '{"k":1,"k":2}',
    ]);
  });

  it("keeps each batch together and in order next to single records", async () => {
    const { stream, token } = await t.ready();
    const single = (n: number) =>
      send(t.dataUrl(stream.id), { headers: headersFor(token, "application/json"), body: `{"n":${n}}` });
    const results = await Promise.all([
      single(-1),
      send(batchUrl(stream.id), { headers: headersFor(token), body: ndjson(100) }),
      single(-2),
      send(batchUrl(stream.id), { headers: headersFor(token), body: ndjson(100, 100) }),
    ]);
    expect(results.map((res) => res.status)).toEqual([202, 202, 202, 202]);
    const ns = (await storedLines(stream.id)).map((line) => (JSON.parse(line) as { n: number }).n);
    expect(ns).toHaveLength(202);
    const first = ns.indexOf(0);
    const second = ns.indexOf(100);
    expect(ns.slice(first, first + 100)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(ns.slice(second, second + 100)).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i));
  });

  it("accepts a gzip body", async () => {
    const { stream, token } = await t.ready();
    const res = await send(batchUrl(stream.id), {
      headers: { ...headersFor(token), "content-encoding": "gzip" },
      body: gzipSync(ndjson(500)),
    });
    expect(res.status).toBe(202);
    expect(res.json.records).toBe(500);
    expect(await storedLines(stream.id)).toHaveLength(500);
  });

  it("answers 400 numbering every bad line, and stores nothing", async () => {
    const { stream, token } = await t.ready();
    const res = await send(batchUrl(stream.id), {
      headers: headersFor(token),
      body: '{"ok":1}\n{"ok":2,}\n\n[]\n{"ok":3}\n{"email": \'x\'}\n',
    });
    expect(res.status).toBe(400);
    const error = res.json.error as { code: string; lines: { line: number; code: string }[] };
    expect(error.code).toBe("invalid_batch");
    expect(error.lines.map((line) => [line.line, line.code])).toEqual([
      [2, "invalid_json"],
      [4, "not_an_object"],
      [6, "invalid_json"],
    ]);
    expect(await storedLines(stream.id)).toEqual([]);
  });

  it.each([
    ["a body over 4 MiB", () => Buffer.alloc(4 * MIB + 1, 0x20), /4,194,304 bytes/, "payload_too_large"],
    ["more than 500 records", () => ndjson(501), /501 records; the limit is 500 records/, "too_many_records"],
    [
      "a line over 260,096 bytes",
      () => `{"ok":1}\n{"s":"${"x".repeat(260_090)}"}\n`,
      /line 2 is 260,098 bytes; the limit for one record is 260,096 bytes/,
      "payload_too_large",
    ],
  ])("answers 413 for %s, saying which limit, and stores nothing", async (_, body, message, code) => {
    const { stream, token } = await t.ready();
    const res = await send(batchUrl(stream.id), { headers: headersFor(token), body: body() });
    expect(res.status).toBe(413);
    expect(res.json.error).toMatchObject({ code, message: expect.stringMatching(message) });
    expect(await storedLines(stream.id)).toEqual([]);
  });

  it("answers 413 for a gzip body that decodes past 4 MiB", async () => {
    const { stream, token } = await t.ready();
    const res = await send(batchUrl(stream.id), {
      headers: { ...headersFor(token), "content-encoding": "gzip" },
      body: gzipSync(Buffer.alloc(5 * MIB, 0x20)),
    });
    expect(res.status).toBe(413);
  });

  it("answers 415 on an XML stream and for a wrong Content-Type", async () => {
    const xml = await t.ready({ payload: "xml" });
    const onXml = await send(batchUrl(xml.stream.id), { headers: headersFor(xml.token), body: ndjson(1) });
    expect(onXml.status).toBe(415);
    expect((onXml.json.error as { code: string }).code).toBe("batch_not_supported");
    const json = await t.ready();
    const wrong = await send(batchUrl(json.stream.id), {
      headers: headersFor(json.token, "text/plain"),
      body: ndjson(1),
    });
    expect(wrong.status).toBe(415);
  });

  it("answers 401, 404 and 405 like the single endpoint", async () => {
    const { stream, token } = await t.ready();
    const noToken = await send(batchUrl(stream.id), {
      headers: { "x-amperity-tenant": "acme", "content-type": "application/x-ndjson" },
      body: ndjson(1),
    });
    expect(noToken.status).toBe(401);
    const unknown = await send(batchUrl("is-Nothere1"), { headers: headersFor(token), body: ndjson(1) });
    expect(unknown.status).toBe(404);
    const get = await send(batchUrl(stream.id), { method: "GET", headers: headersFor(token) });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    expect(await storedLines(stream.id)).toEqual([]);
  });
});

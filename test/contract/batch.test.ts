/**
 * HTTP contract, the batch endpoint (`POST /stream/v0/batch/<stream-id>`): the README's curl example and its
 * documented 400, the 202 with `records`, lines stored minified and in order with a batch kept together in one
 * file, gzip, the limits (413), media types (415) and the single endpoint's 401, 404 and 405; a refused batch
 * stores nothing. Runs unchanged against every runtime of targets.ts; a difference between runtimes is a
 * runtime bug.
 */
import { gzipSync } from "node:zlib";
import type { StreamRecord } from "../../lambda/core/types.js";
import { send } from "../helpers/http.js";
import {
  DOC_BAD_BATCH,
  DOC_BATCH_LINES,
  delivered,
  deliveredFiles,
  expectAccepted,
  expectError,
  header,
  Ledger,
  MIB,
  ndjson,
  ndjsonStored,
  type PostOptions,
  post,
  streamUrl,
} from "./support.js";
import type { ContractTarget } from "./target.js";
import { contractTargets } from "./targets.js";

describe.each(contractTargets())("HTTP contract, batch endpoint: $name runtime", (runtime) => {
  let target: ContractTarget;
  let since: number;
  let token: string;
  let json: StreamRecord;
  let refused: StreamRecord;
  let xml: StreamRecord;
  const ledger = new Ledger();

  beforeAll(async () => {
    since = Date.now();
    target = await runtime.start();
    [json, refused, xml] = await Promise.all([
      target.createStream({ payload: "json" }),
      target.createStream({ payload: "json" }),
      target.createStream({ payload: "xml" }),
    ]);
    token = await target.tokenFor(await target.createKey());
  }, 180_000);
  afterAll(async () => {
    await target?.close();
  }, 60_000);

  const postBatch = (stream: StreamRecord, options: Omit<PostOptions, "token">) =>
    post(target, "batch", stream, { token, ...options });

  async function expectDelivered(stream: StreamRecord): Promise<void> {
    expect(await delivered(target, stream, since)).toEqual(ledger.of(stream.id));
  }

  it("accepts the README's curl example (--data-binary @records.ndjson) with 202 and records: 2", async () => {
    const res = await postBatch(json, { body: `${DOC_BATCH_LINES.join("\n")}\n` });
    expectAccepted(res, json.id, 2);
    ledger.add(json.id, ...DOC_BATCH_LINES);
    await expectDelivered(json);
  });

  it("reads CRLF, blank lines, a missing final newline and a leading BOM, and stores each line minified as sent", async () => {
    const res = await postBatch(json, {
      body: '\uFEFF{"email": "a@example.com", "zip": "00501"}\r\n\n   \n{"total": 125.50}\n{ "k":1,"k":2, "big": 1e400 }',
    });
    expectAccepted(res, json.id, 3);
    ledger.add(
      json.id,
      '{"email":"a@example.com","zip":"00501"}',
      '{"total":125.50}',
      '{"k":1,"k":2,"big":1e400}',
    );
    await expectDelivered(json);
  });

  it.each([
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/json; charset=utf-8",
  ])("accepts Content-Type %s", async (contentType) => {
    const res = await postBatch(json, { contentType, body: '{"type": 1}\n{"type": 2}\n' });
    expectAccepted(res, json.id, 2);
    ledger.add(json.id, '{"type":1}', '{"type":2}');
  });

  it("accepts a gzip body of 500 records", async () => {
    const res = await postBatch(json, {
      headers: { "content-encoding": "gzip" },
      body: gzipSync(ndjson(500, 1000)),
    });
    expectAccepted(res, json.id, 500);
    ledger.add(json.id, ...ndjsonStored(500, 1000));
    await expectDelivered(json);
  });

  it("keeps each batch together, in order, in one file, next to concurrent single records", async () => {
    const single = (n: number) => post(target, "data", json, { token, body: `{"n": ${n}}` });
    const results = await Promise.all([
      single(-1),
      postBatch(json, { body: ndjson(100, 2000) }),
      single(-2),
      postBatch(json, { body: ndjson(100, 2100) }),
    ]);
    expect(results.map((res) => res.status)).toEqual([202, 202, 202, 202]);
    ledger.add(json.id, '{"n":-1}', '{"n":-2}', ...ndjsonStored(100, 2000), ...ndjsonStored(100, 2100));
    await expectDelivered(json);
    const files = deliveredFiles(target, json, since);
    for (const from of [2000, 2100]) {
      const expected = ndjsonStored(100, from);
      const file = files.find((f) => f.items.includes(expected[0] ?? ""));
      const start = file?.items.indexOf(expected[0] ?? "") ?? -1;
      expect(file?.items.slice(start, start + 100)).toEqual(expected);
    }
  });

  it("answers the README's bad batch with exactly the documented 400 invalid_batch, and stores nothing", async () => {
    const res = await postBatch(refused, { body: DOC_BAD_BATCH });
    expectError(res, 400, "invalid_batch", { lines: expect.any(Array) });
    expect(res.json).toEqual({
      error: {
        code: "invalid_batch",
        message:
          "2 of 5 records are not a valid JSON object (lines 2, 4); nothing was stored: fix them and send the whole batch again",
        retryable: false,
        lines: [
          {
            line: 2,
            code: "invalid_json",
            message:
              "invalid JSON at offset 25 (column 26): expected a double-quoted key (trailing commas are not allowed), but found '}'",
          },
          {
            line: 4,
            code: "not_an_object",
            message: "line is a JSON array; each line must hold exactly one JSON object",
          },
        ],
      },
    });
  });

  it("numbers bad lines as physical lines, blank ones counted", async () => {
    const res = await postBatch(refused, { body: '{"ok":1}\n{"ok":2,}\n\n[]\n{"ok":3}\n{"email": \'x\'}\n' });
    const error = res.json.error as { lines?: { line: number; code: string }[] };
    expectError(res, 400, "invalid_batch", { lines: expect.any(Array) });
    expect(error.lines?.map((line) => [line.line, line.code])).toEqual([
      [2, "invalid_json"],
      [4, "not_an_object"],
      [6, "invalid_json"],
    ]);
  });

  it("answers a body with no records 400 empty_batch", async () => {
    expectError(await postBatch(refused, { body: "\n  \r\n\n" }), 400, "empty_batch");
    expectError(await postBatch(refused, { body: "" }), 400, "empty_batch");
  });

  it.each([
    [
      "a body over 4 MiB",
      "payload_too_large",
      () => Buffer.alloc(4 * MIB + 1, 0x20),
      "batch body is larger than the limit of 4,194,304 bytes (4 MiB); send fewer records per request",
    ],
    [
      "more than 500 records",
      "too_many_records",
      () => ndjson(501),
      "batch holds 501 records; the limit is 500 records per request",
    ],
    [
      "a line over 260,096 bytes",
      "payload_too_large",
      () => `{"ok":1}\n{"s":"${"x".repeat(260_090)}"}\n`,
      "line 2 is 260,098 bytes; the limit for one record is 260,096 bytes",
    ],
  ])("answers %s with 413 %s, naming the limit", async (_name, code, body, message) => {
    const res = await postBatch(refused, { body: body() });
    expect(expectError(res, 413, code).message).toBe(message);
  });

  it("answers 413 for a gzip body that decodes past 4 MiB", async () => {
    const res = await postBatch(refused, {
      headers: { "content-encoding": "gzip" },
      body: gzipSync(Buffer.alloc(5 * MIB, 0x20)),
    });
    expect(expectError(res, 413, "payload_too_large").message).toContain("4,194,304");
  });

  it("answers 415 batch_not_supported on an XML stream, and wrong_content_type for text/plain", async () => {
    expectError(await postBatch(xml, { body: ndjson(1) }), 415, "batch_not_supported");
    expectError(
      await postBatch(refused, { contentType: "text/plain", body: ndjson(1) }),
      415,
      "wrong_content_type",
    );
    expectError(
      await postBatch(refused, { contentType: null, body: ndjson(1) }),
      415,
      "missing_content_type",
    );
  });

  it("answers 401, 403, 404 and 405 like the single endpoint", async () => {
    expectError(await post(target, "batch", refused, { body: ndjson(1) }), 401, "missing_token");
    expectError(await postBatch(refused, { tenant: "globex", body: ndjson(1) }), 403, "forbidden");
    expectError(
      await post(target, "batch", { id: "is-Nothere1", tenant: "acme" }, { token, body: ndjson(1) }),
      404,
      "stream_not_found",
    );
    const get = await send(streamUrl(target, "batch", refused.id), {
      method: "GET",
      headers: { authorization: `Bearer ${token}`, "x-amperity-tenant": "acme" },
    });
    expectError(get, 405, "method_not_allowed");
    expect(header(get, "allow")).toBe("POST");
  });

  it("stored nothing of any refused batch", async () => {
    expect(await delivered(target, refused, since)).toEqual([]);
    expect(await delivered(target, xml, since)).toEqual([]);
    await expectDelivered(json);
  });
});

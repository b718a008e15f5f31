/**
 * HTTP contract, refusals: every status of the README's table a client can cause over HTTP (400, 401, 403, 404,
 * 405, 413, 415, 429), each with the documented JSON error body, `error.code`, retry flag and headers (Allow on
 * 405, Retry-After on 429), and that nothing refused is stored. Runs unchanged against every runtime of
 * targets.ts; a difference between runtimes is a runtime bug.
 */
import { gzipSync } from "node:zlib";
import type { ApiKeyRecord, StreamRecord } from "../../lambda/core/types.js";
import { send } from "../helpers/http.js";
import {
  delivered,
  expectAccepted,
  expectError,
  expectRetryAfter,
  header,
  Ledger,
  MAX_RECORD_BYTES,
  type PostOptions,
  post,
  streamUrl,
} from "./support.js";
import type { ContractTarget } from "./target.js";
import { contractTargets } from "./targets.js";

const MISSING_STREAM = "is-Missing1";

describe.each(contractTargets())("HTTP contract, refusals: $name runtime", (runtime) => {
  let target: ContractTarget;
  let since: number;
  let key: ApiKeyRecord;
  let token: string;
  let json: StreamRecord;
  let xml: StreamRecord;
  let globex: StreamRecord;
  const ledger = new Ledger();

  beforeAll(async () => {
    since = Date.now();
    target = await runtime.start();
    [json, xml, globex] = await Promise.all([
      target.createStream({ payload: "json" }),
      target.createStream({ payload: "xml" }),
      target.createStream({ tenant: "globex", payload: "json" }),
    ]);
    key = await target.createKey();
    token = await target.tokenFor(key);
  }, 180_000);
  afterAll(async () => {
    await target?.close();
  }, 60_000);

  const postData = (stream: Pick<StreamRecord, "id" | "tenant">, options: Omit<PostOptions, "token">) =>
    post(target, "data", stream, { token, ...options });

  describe("401: who is calling", () => {
    it.each([
      ["no Authorization header", "missing_token", undefined],
      ["an empty Authorization header", "missing_token", ""],
      ["a Bearer without a token", "malformed_token", "Bearer"],
      ["a token that is no JWT", "malformed_token", "Bearer not-a-jwt"],
      ["Basic auth", "malformed_token", "Basic dXNlcjpwYXNz"],
    ])("answers %s with 401 %s", async (_name, code, authorization) => {
      const res = await post(target, "data", json, {
        headers: authorization === undefined ? {} : { authorization },
        body: "{}",
      });
      expectError(res, 401, code);
    });

    it("answers 401 invalid_signature for a token whose signature was tampered with", async () => {
      const [h, p, s = ""] = token.split(".");
      const tampered = `${h}.${p}.${s.startsWith("A") ? "B" : "A"}${s.slice(1)}`;
      expectError(
        await post(target, "data", json, { token: tampered, body: "{}" }),
        401,
        "invalid_signature",
      );
    });

    it("answers 401 invalid_signature for a token signed by a key the runtime does not know", async () => {
      const foreign = await target.foreignToken(key);
      expectError(await post(target, "data", json, { token: foreign, body: "{}" }), 401, "invalid_signature");
    });

    it("answers 401 key_deleted for a deleted key's token", async () => {
      const deleted = await target.createKey();
      const deletedToken = await target.tokenFor(deleted);
      await target.updateKey({ ...deleted, status: "deleted" });
      const res = await post(target, "data", json, { token: deletedToken, body: "{}" });
      expectError(res, 401, "key_deleted");
    });

    it("answers 401 token_revoked for a token issued before the key's revoked_before, and accepts one issued after", async () => {
      const revoked = await target.createKey();
      const revokedToken = await target.tokenFor(revoked);
      await target.updateKey({ ...revoked, revokedBefore: new Date(Date.now() + 3_600_000).toISOString() });
      expectError(
        await post(target, "data", json, { token: revokedToken, body: "{}" }),
        401,
        "token_revoked",
      );

      const rotated = await target.createKey();
      await target.updateKey({ ...rotated, revokedBefore: new Date(since - 86_400_000).toISOString() });
      const res = await post(target, "data", json, {
        token: await target.tokenFor(rotated),
        body: '{"k":"rotated"}',
      });
      expectAccepted(res, json.id);
      ledger.add(json.id, '{"k":"rotated"}');
    });
  });

  describe("403 and 404: which tenant, which stream", () => {
    it("answers 403 forbidden when X-Amperity-Tenant names another tenant or is missing", async () => {
      expectError(await postData(json, { tenant: "globex", body: "{}" }), 403, "forbidden");
      expectError(await postData(json, { tenant: null, body: "{}" }), 403, "forbidden");
    });

    it("answers another tenant's stream exactly like a missing one: 404 stream_not_found", async () => {
      const foreign = await postData({ id: globex.id, tenant: "acme" }, { body: "{}" });
      expectError(foreign, 404, "stream_not_found");
      expect((foreign.json.error as { message: string }).message).toBe(
        `no stream ${globex.id} for tenant acme`,
      );
      const missing = await postData({ id: MISSING_STREAM, tenant: "acme" }, { body: "{}" });
      expectError(missing, 404, "stream_not_found");
      expect((missing.json.error as { message: string }).message).toBe(
        `no stream ${MISSING_STREAM} for tenant acme`,
      );
    });

    it("answers 404 for a malformed stream id and for a path that is no route", async () => {
      expectError(await postData({ id: "is-bad", tenant: "acme" }, { body: "{}" }), 404, "stream_not_found");
      expectError(await send(`${target.url}/nope`, { method: "GET" }), 404, "not_found");
      expectError(await send(`${target.url}/stream/v1/data/${json.id}`, { body: "{}" }), 404, "not_found");
    });
  });

  describe("405: methods", () => {
    it.each(["GET", "PUT", "DELETE", "PATCH"])(
      "answers %s on the data path 405 with Allow: POST",
      async (method) => {
        const res = await send(streamUrl(target, "data", json.id), {
          method,
          headers: { authorization: `Bearer ${token}`, "x-amperity-tenant": "acme" },
        });
        expectError(res, 405, "method_not_allowed");
        expect(header(res, "allow")).toBe("POST");
      },
    );

    it("answers POST /health 405 with Allow: GET, HEAD", async () => {
      const res = await send(`${target.url}/health`, { method: "POST", body: "{}" });
      expectError(res, 405, "method_not_allowed");
      expect(header(res, "allow")).toBe("GET, HEAD");
    });
  });

  describe("400: the body is not one record", () => {
    it.each([
      ["an empty body", "empty_body", ""],
      ["a syntax error", "invalid_json", '{"email": "a@example.com",}'],
      ["NDJSON (two objects)", "multiple_values", '{"a":1}\n{"a":2}\n'],
      ["an array", "not_an_object", "[1,2]"],
      ["a scalar", "not_an_object", "42"],
      ["invalid UTF-8", "invalid_utf8", Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
      ["nesting deeper than 64", "too_deep", `${'{"a":'.repeat(65)}1${"}".repeat(65)}`],
    ])("answers a JSON stream %s with 400 %s", async (_name, code, body) => {
      expectError(await postData(json, { body }), 400, code);
    });

    it("names the offset, line and column of a JSON syntax error", async () => {
      const res = await postData(json, { body: '{\n  "a": 1,\n  "b": x\n}' });
      const error = expectError(res, 400, "invalid_json");
      expect(error.message).toBe(
        "invalid JSON at offset 19 (line 3, column 8): expected a value after ':', but found 'x'",
      );
    });

    it.each([
      ["an empty body", "empty_body", ""],
      ["a document that is not well-formed", "invalid_xml", "<records><record></records>"],
      ["two root elements", "invalid_xml", "<a/><b/>"],
      ["an undefined entity", "invalid_xml", "<a>&nbsp;</a>"],
      ["a malformed XML declaration", "invalid_xml", "<?xml?><a/>"],
      [
        "a DOCTYPE (billion laughs)",
        "doctype_not_allowed",
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>',
      ],
      ["elements nested deeper than 64", "too_deep", `${"<a>".repeat(65)}x${"</a>".repeat(65)}`],
    ])("answers an XML stream %s with 400 %s", async (_name, code, body) => {
      expectError(await postData(xml, { contentType: "application/xml", body }), 400, code);
    });

    it("answers a body that is not valid gzip 400 invalid_encoding", async () => {
      const res = await postData(json, { headers: { "content-encoding": "gzip" }, body: '{"not":"gzip"}' });
      expectError(res, 400, "invalid_encoding");
    });
  });

  describe("413: the size limit of 260,096 decoded bytes", () => {
    const atLimit = `{"a":"${"x".repeat(MAX_RECORD_BYTES - 8)}"}`;
    const overLimit = `{"a":"${"x".repeat(MAX_RECORD_BYTES)}"}`;

    it("accepts a record of exactly 260,096 bytes", async () => {
      expect(Buffer.byteLength(atLimit)).toBe(MAX_RECORD_BYTES);
      expectAccepted(await postData(json, { body: atLimit }), json.id);
      ledger.add(json.id, atLimit);
    });

    it("answers 413 payload_too_large naming the limit for a body over it, declared or chunked", async () => {
      const declared = expectError(await postData(json, { body: overLimit }), 413, "payload_too_large");
      expect(declared.message).toContain("260,096");
      const chunked = await postData(json, {
        body: [overLimit.slice(0, 100_000), overLimit.slice(100_000, 200_000), overLimit.slice(200_000)],
      });
      expectError(chunked, 413, "payload_too_large");
    });

    it("answers 413 for a small gzip body that inflates past the limit (a zip bomb), and for XML too", async () => {
      const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
      expect(bomb.length).toBeLessThan(100_000);
      const res = await postData(json, { headers: { "content-encoding": "gzip" }, body: bomb });
      expectError(res, 413, "payload_too_large");
      const xmlBomb = gzipSync(`<a>${"x".repeat(MAX_RECORD_BYTES)}</a>`);
      const xmlRes = await postData(xml, {
        contentType: "application/xml",
        headers: { "content-encoding": "gzip" },
        body: xmlBomb,
      });
      expectError(xmlRes, 413, "payload_too_large");
    });
  });

  describe("415: media type and encoding", () => {
    it.each([
      ["no Content-Type", "missing_content_type", null, {}],
      ["text/plain", "wrong_content_type", "text/plain", {}],
      ["XML", "wrong_content_type", "application/xml", {}],
      ["a charset other than UTF-8", "unsupported_charset", "application/json; charset=iso-8859-1", {}],
      [
        "Content-Encoding br",
        "unsupported_content_encoding",
        "application/json",
        { "content-encoding": "br" },
      ],
    ])("answers a JSON stream sent %s with 415 %s", async (_name, code, contentType, headers) => {
      expectError(await postData(json, { contentType, headers, body: "{}" }), 415, code);
    });

    it("answers JSON sent to an XML stream 415 wrong_content_type", async () => {
      expectError(
        await postData(xml, { contentType: "application/json", body: "{}" }),
        415,
        "wrong_content_type",
      );
    });
  });

  it("answers 429 with Retry-After once a stream is throttled, on both endpoints", async () => {
    const { stream, restore } = await target.throttledStream({ payload: "json" });
    try {
      // The first request may still be accepted (locally it takes the burst of 1); from the second on, 429.
      const first = await postData(stream, { body: '{"throttled":1}' });
      if (first.status === 202) ledger.add(stream.id, '{"throttled":1}');
      else expectError(first, 429, ["throttled", "delivery_throttled"]);
      const [second, batch] = await Promise.all([
        postData(stream, { body: '{"throttled":2}' }),
        post(target, "batch", stream, { token, body: '{"throttled":3}\n{"throttled":4}\n' }),
      ]);
      for (const res of [second, batch]) {
        expectError(res, 429, ["throttled", "delivery_throttled"]);
        expectRetryAfter(res);
      }
      expect(await delivered(target, stream, since)).toEqual(ledger.of(stream.id));
    } finally {
      await restore();
    }
  }, 90_000);

  it("stores only what it accepted: nothing of any refusal above reached the bucket", async () => {
    expect(ledger.of(json.id)).toHaveLength(2);
    expect(await delivered(target, json, since)).toEqual(ledger.of(json.id));
    expect(await delivered(target, xml, since)).toEqual([]);
    expect(await delivered(target, globex, since)).toEqual([]);
  });
});

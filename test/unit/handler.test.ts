/**
 * The HTTP contract of the handler core, status by status (DESIGN.md), run with in-memory ports and real ES256
 * tokens verified by the real JwksTokenVerifier.
 */
import { gzipSync } from "node:zlib";
import { decodeMultiple } from "cbor-x";
import fc from "fast-check";
import { ServiceUnavailableError, ThrottledError } from "../../lambda/core/errors.js";
import { IngestHandler } from "../../lambda/core/handler.js";
import { RateLimiter } from "../../lambda/core/rate-limiter.js";
import type { IngestResponse } from "../../lambda/core/types.js";
import {
  CollectingLogger,
  type FakeClock,
  type FakeRequest,
  InMemoryRegistry,
  InMemorySink,
  makeApiKey,
  makeRequest,
  makeStream,
  OTHER_TENANT,
  type RequestInit,
  STREAM_ID,
  TENANT,
} from "../helpers/in-memory-ports.js";
import {
  base64url,
  bearer,
  craftToken,
  decodeTokenPart,
  issueToken,
  makeVerifier,
  tokenClock,
} from "../helpers/tokens.js";

const XML_STREAM_ID = "is-XmLrec01";
const OTHER_TENANT_STREAM_ID = "is-Globex01";
const DISABLED_STREAM_ID = "is-Disabld1";
const UNKNOWN_STREAM_ID = "is-Unknown1";
const LIMITED_STREAM_ID = "is-Limited1";
const OTHER_KEY_ID = "key-globex-1";

const LIMIT = 260_096;
const GZIP_WIRE_LIMIT = 2 * LIMIT;

const RETRYABLE_STATUSES = new Set([429, 500, 503, 504]);
const DOCUMENTED_STATUSES = new Set([202, 400, 401, 403, 404, 405, 413, 415, 429, 500, 503, 504]);

function dataPath(streamId: string): string {
  return `/stream/v0/data/${streamId}`;
}

interface Harness {
  readonly clock: FakeClock;
  readonly registry: InMemoryRegistry;
  readonly sink: InMemorySink;
  readonly logger: CollectingLogger;
  readonly handler: IngestHandler;
  /** A valid token for KEY_ID (tenant acme), issued by issueAccessToken. */
  readonly token: string;
  /** Sends a request with valid defaults (token, tenant, JSON content type) that `init` overrides. */
  send(init?: RequestInit): Promise<Sent>;
}

interface Sent {
  readonly request: FakeRequest;
  readonly response: IngestResponse;
}

async function harness(options: { deliveryTimeoutMs?: number } = {}): Promise<Harness> {
  const clock = tokenClock();
  const registry = new InMemoryRegistry({
    streams: [
      makeStream(),
      makeStream({ id: XML_STREAM_ID, payload: "xml", name: "profiles" }),
      makeStream({ id: OTHER_TENANT_STREAM_ID, tenant: OTHER_TENANT }),
      makeStream({ id: DISABLED_STREAM_ID, status: "disabled" }),
      makeStream({ id: LIMITED_STREAM_ID, rateLimitPerSecond: 2, rateLimitBurst: 2 }),
    ],
    apiKeys: [makeApiKey(), makeApiKey({ id: OTHER_KEY_ID, tenant: OTHER_TENANT })],
  });
  const sink = new InMemorySink();
  const logger = new CollectingLogger();
  const handler = new IngestHandler({
    registry,
    sink,
    verifier: makeVerifier(clock),
    clock,
    logger,
    rateLimiter: new RateLimiter(clock),
    ...(options.deliveryTimeoutMs === undefined ? {} : { deliveryTimeoutMs: options.deliveryTimeoutMs }),
  });
  const token = await issueToken(makeApiKey(), clock);
  const send = async (init: RequestInit = {}): Promise<Sent> => {
    const request = makeRequest({
      body: '{"event":"order"}',
      ...init,
      headers: {
        authorization: bearer(token),
        "x-amperity-tenant": TENANT,
        "content-type": "application/json",
        ...init.headers,
      },
    });
    return { request, response: await handler.handle(request) };
  };
  return { clock, registry, sink, logger, handler, token, send };
}

interface ErrorDetail {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

function parseBody(response: IngestResponse): unknown {
  return JSON.parse(response.body);
}

/** Asserts the error contract (status, exact body shape, retryable, headers) and returns the error. */
function expectError(sent: Sent, status: number, code?: string): ErrorDetail {
  const { request, response } = sent;
  expect({ status: response.status, body: parseBody(response) }).toStrictEqual({
    status,
    body: {
      error: {
        code: code ?? expect.any(String),
        message: expect.any(String),
        retryable: RETRYABLE_STATUSES.has(status),
      },
    },
  });
  expect(response.headers["x-request-id"]).toBe(request.requestId);
  expect(response.headers["content-type"]).toBe("application/json; charset=utf-8");
  if (status === 429 || status === 503) expect(response.headers["retry-after"]).toMatch(/^[1-9][0-9]*$/);
  else expect(response.headers["retry-after"]).toBeUndefined();
  return (parseBody(response) as { error: ErrorDetail }).error;
}

function expectAccepted(sent: Sent, streamId: string): void {
  const { request, response } = sent;
  expect({ status: response.status, body: parseBody(response) }).toStrictEqual({
    status: 202,
    body: { status: "accepted", stream: streamId, request_id: request.requestId },
  });
  expect(response.headers["x-request-id"]).toBe(request.requestId);
}

/** A JSON object of exactly `bytes` bytes: `{"pad":"xxx…"}`. */
function jsonOfSize(bytes: number): string {
  return `{"pad":"${"x".repeat(bytes - 10)}"}`;
}

function nested(open: string, close: string, depth: number): string {
  return open.repeat(depth) + close.repeat(depth);
}

describe("IngestHandler", () => {
  describe("202 accepted", () => {
    it("answers 202 with status, stream and request_id once the sink has the minified NDJSON line", async () => {
      const h = await harness();
      const sent = await h.send({ body: '{ "b" : [1, 2.50, "x y"],\n  "a": {"n": null} }\n' });
      expectAccepted(sent, STREAM_ID);
      expect(h.sink.received).toHaveLength(1);
      expect(h.sink.received[0]?.stream.id).toBe(STREAM_ID);
      expect(h.sink.texts()).toEqual(['{"b":[1,2.50,"x y"],"a":{"n":null}}\n']);
    });

    it.each([
      ["application/json; charset=utf-8"],
      ["Application/JSON"],
      ['application/json;charset="UTF-8"'],
    ])("accepts JSON sent as Content-Type %j", async (contentType) => {
      const h = await harness();
      expectAccepted(await h.send({ headers: { "content-type": contentType } }), STREAM_ID);
    });

    it("strips a leading UTF-8 byte order mark and keeps non-ASCII text as sent", async () => {
      const h = await harness();
      const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"name":"Zoë 🌍"}')]);
      expectAccepted(await h.send({ body }), STREAM_ID);
      expect(h.sink.texts()).toEqual(['{"name":"Zoë 🌍"}\n']);
    });

    it("accepts a gzip body and stores the decoded record", async () => {
      const h = await harness();
      const sent = await h.send({
        body: gzipSync(Buffer.from('{"gz": true}')),
        headers: { "content-encoding": "gzip" },
      });
      expectAccepted(sent, STREAM_ID);
      expect(h.sink.texts()).toEqual(['{"gz":true}\n']);
      expect(sent.request.bodyReads).toEqual([GZIP_WIRE_LIMIT]);
    });

    it.each([["application/xml"], ["text/xml"], ["text/xml; charset=utf-8"]])(
      "accepts XML sent as Content-Type %j and gives the sink one CBOR data item with the document's values",
      async (contentType) => {
        const h = await harness();
        const sent = await h.send({
          path: dataPath(XML_STREAM_ID),
          headers: { "content-type": contentType },
          body: '<?xml version="1.0"?><order id="7"><zip>00501</zip><item>a</item><item>b</item></order>',
        });
        expectAccepted(sent, XML_STREAM_ID);
        expect(h.sink.received).toHaveLength(1);
        const data = h.sink.received[0]?.data ?? new Uint8Array();
        expect(decodeMultiple(Buffer.from(data))).toEqual([
          { order: { "@id": "7", zip: "00501", item: ["a", "b"] } },
        ]);
      },
    );

    it("reads the body once, bounded by the 260,096-byte limit", async () => {
      const h = await harness();
      const sent = await h.send();
      expectAccepted(sent, STREAM_ID);
      expect(sent.request.bodyReads).toEqual([LIMIT]);
    });

    it("accepts a token issued in the very second its key's revoked_before names", async () => {
      const h = await harness();
      const issuedAt = Number(decodeTokenPart(h.token, 1).iat);
      h.registry.putApiKey(makeApiKey({ revokedBefore: new Date(issuedAt * 1000).toISOString() }));
      expectAccepted(await h.send(), STREAM_ID);
    });
  });

  describe("400 bad record", () => {
    it.each<[string, string | Uint8Array, string]>([
      ["NDJSON (two objects on two lines)", '{"a":1}\n{"b":2}\n', "multiple_values"],
      ["an array", '[{"a":1}]', "not_an_object"],
      ["a number", "42", "not_an_object"],
      ["a string", '"hello"', "not_an_object"],
      ["null", "null", "not_an_object"],
      ["a boolean", "true", "not_an_object"],
      ["empty", "", "empty_body"],
      ["only whitespace", " \r\n\t ", "empty_body"],
      ["not JSON", "{'a': 1}", "invalid_json"],
      ["a truncated object", '{"a":', "invalid_json"],
      [
        "invalid UTF-8",
        Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
        "invalid_utf8",
      ],
      ["nested deeper than 64 levels", `{"a":${nested("[", "]", 64)}}`, "too_deep"],
    ])("answers 400 when a JSON body is %s", async (_name, body, code) => {
      const h = await harness();
      expectError(await h.send({ body }), 400, code);
      expect(h.sink.received).toEqual([]);
    });

    it("accepts JSON nested exactly 64 levels deep", async () => {
      const h = await harness();
      expectAccepted(await h.send({ body: `{"a":${nested("[", "]", 63)}}` }), STREAM_ID);
    });

    it.each<[string, string | Uint8Array, string]>([
      ["not well-formed", "<a><b></a>", "invalid_xml"],
      ["two root elements", "<a/><b/>", "invalid_xml"],
      ["text without an element", "hello", "invalid_xml"],
      ["a DOCTYPE", '<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>', "doctype_not_allowed"],
      ["empty", "", "empty_body"],
      ["invalid UTF-8", Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e]), "invalid_utf8"],
      ["nested deeper than 64 elements", nested("<a>", "</a>", 65), "too_deep"],
    ])("answers 400 when an XML body is %s", async (_name, body, code) => {
      const h = await harness();
      const sent = await h.send({
        path: dataPath(XML_STREAM_ID),
        headers: { "content-type": "application/xml" },
        body,
      });
      expectError(sent, 400, code);
      expect(h.sink.received).toEqual([]);
    });

    it("answers 400 when a Content-Encoding: gzip body is not gzip data", async () => {
      const h = await harness();
      const sent = await h.send({ body: '{"a":1}', headers: { "content-encoding": "gzip" } });
      expectError(sent, 400, "invalid_encoding");
    });
  });

  describe("401 unauthorized", () => {
    interface TokenCase {
      readonly authorization: (h: Harness) => string | undefined;
      readonly code: string;
    }
    const now = (h: Harness) => Math.floor(h.clock.now() / 1000);
    const crafted = (options: Parameters<typeof craftToken>[0]) => (h: Harness) =>
      bearer(craftToken({ nowSeconds: now(h), ...options }));
    const cases: Record<string, TokenCase> = {
      "the Authorization header is missing": { authorization: () => undefined, code: "missing_token" },
      "the Authorization header is blank": { authorization: () => "  ", code: "missing_token" },
      "the scheme is not Bearer": { authorization: (h) => `Basic ${h.token}`, code: "malformed_token" },
      "Bearer carries no token": { authorization: () => "Bearer", code: "malformed_token" },
      "the token is garbage": { authorization: () => "Bearer not-a-jwt", code: "malformed_token" },
      "the token header is not JSON": {
        authorization: (h) => bearer(`${base64url("nope")}.${h.token.split(".").slice(1).join(".")}`),
        code: "malformed_token",
      },
      "the signature is by a key outside the JWKS": {
        authorization: crafted({ signature: "stranger" }),
        code: "invalid_signature",
      },
      "the signature is not a signature": {
        authorization: crafted({ signature: "junk" }),
        code: "invalid_signature",
      },
      "the claims were changed after signing": {
        authorization: (h) => {
          const [header, , signature] = h.token.split(".");
          const claims = base64url(JSON.stringify({ ...decodeTokenPart(h.token, 1), tenant: OTHER_TENANT }));
          return bearer(`${header}.${claims}.${signature}`);
        },
        code: "invalid_signature",
      },
      "the issuer is another one": {
        authorization: crafted({ claims: { iss: "https://evil.test" } }),
        code: "wrong_issuer",
      },
      "the audience is another one": {
        authorization: crafted({ claims: { aud: "other-api" } }),
        code: "wrong_audience",
      },
      "the token has expired": {
        authorization: (h) =>
          bearer(craftToken({ nowSeconds: now(h) - 7200, claims: { exp: now(h) - 3600 } })),
        code: "token_expired",
      },
      "the token is not valid yet (nbf in the future)": {
        authorization: (h) => bearer(craftToken({ nowSeconds: now(h), claims: { nbf: now(h) + 3600 } })),
        code: "token_not_yet_valid",
      },
      "the kid is unknown": {
        authorization: crafted({ header: { kid: "k-retired" } }),
        code: "unknown_signing_key",
      },
      "the token has no kid": {
        authorization: crafted({ header: { kid: undefined } }),
        code: "invalid_token",
      },
      "alg is none, unsigned": {
        authorization: crafted({ header: { alg: "none" }, signature: "empty" }),
        code: "malformed_token",
      },
      "alg is none, with a signature": {
        authorization: crafted({ header: { alg: "none" }, signature: "junk" }),
        code: "wrong_algorithm",
      },
      "alg is HS256 keyed with the public key": {
        authorization: crafted({ header: { alg: "HS256" }, signature: "hs256" }),
        code: "wrong_algorithm",
      },
      "the tenant claim is missing": {
        authorization: crafted({ claims: { tenant: undefined } }),
        code: "invalid_token",
      },
      "the sub claim is missing": {
        authorization: crafted({ claims: { sub: undefined } }),
        code: "invalid_token",
      },
      "the exp claim is missing": {
        authorization: crafted({ claims: { exp: undefined } }),
        code: "invalid_token",
      },
      "the iat claim is missing": {
        authorization: crafted({ claims: { iat: undefined } }),
        code: "invalid_token",
      },
    };

    it.each(Object.entries(cases))("answers 401 when %s", async (_name, { authorization, code }) => {
      const h = await harness();
      const sent = await h.send({ headers: { authorization: authorization(h) } });
      expectError(sent, 401, code);
      expect(sent.request.bodyReads).toEqual([]);
      expect(h.sink.received).toEqual([]);
    });

    it.each<[string, (h: Harness) => void, string]>([
      [
        "its API key was deleted",
        (h) => h.registry.putApiKey(makeApiKey({ status: "deleted" })),
        "key_deleted",
      ],
      ["its API key is not in the registry", (h) => h.registry.apiKeys.clear(), "key_deleted"],
      [
        "its API key refuses tokens issued before a rotation after its iat",
        (h) =>
          h.registry.putApiKey(makeApiKey({ revokedBefore: new Date(h.clock.now() + 1000).toISOString() })),
        "token_revoked",
      ],
      [
        "its API key has an unparseable revoked_before (fails closed)",
        (h) => h.registry.putApiKey(makeApiKey({ revokedBefore: "yesterday" })),
        "token_revoked",
      ],
      [
        "its API key now belongs to another tenant",
        (h) => h.registry.putApiKey(makeApiKey({ tenant: OTHER_TENANT })),
        "invalid_token",
      ],
    ])("answers 401 to a token that verified before once %s", async (_name, change, code) => {
      const h = await harness();
      expectAccepted(await h.send(), STREAM_ID);
      change(h);
      const sent = await h.send();
      expectError(sent, 401, code);
      expect(sent.request.bodyReads).toEqual([]);
      expect(h.sink.received).toHaveLength(1);
    });

    it("answers 401 to a token the verifier cached once its exp has passed on the handler's clock", async () => {
      const h = await harness();
      expectAccepted(await h.send(), STREAM_ID);
      h.clock.advance(86_400_000);
      expectError(await h.send(), 401, "token_expired");
    });

    it("never quotes the token in a 401", async () => {
      const h = await harness();
      const token = craftToken({ signature: "stranger" });
      const sent = await h.send({ headers: { authorization: bearer(token) } });
      expectError(sent, 401);
      expect(sent.response.body).not.toContain(token.split(".")[2]);
    });
  });

  describe("403 forbidden", () => {
    it.each<[string, string | undefined]>([
      ["X-Amperity-Tenant is missing", undefined],
      ["X-Amperity-Tenant is blank", "  "],
      ["X-Amperity-Tenant names another tenant", OTHER_TENANT],
      ["X-Amperity-Tenant differs in case", "ACME"],
    ])("answers 403 when %s", async (_name, tenant) => {
      const h = await harness();
      const sent = await h.send({ headers: { "x-amperity-tenant": tenant } });
      expectError(sent, 403, "forbidden");
      expect(sent.request.bodyReads).toEqual([]);
    });

    it("answers 403 to another tenant's valid token naming this tenant", async () => {
      const h = await harness();
      const token = await issueToken(makeApiKey({ id: OTHER_KEY_ID, tenant: OTHER_TENANT }), h.clock);
      const sent = await h.send({ headers: { authorization: bearer(token) } });
      expectError(sent, 403, "forbidden");
    });
  });

  describe("404 not found", () => {
    it.each<[string, string, string]>([
      ["an unknown path", "/v1/events", "not_found"],
      ["the root path", "/", "not_found"],
      ["a data path with no stream id", "/stream/v0/data/", "stream_not_found"],
      ["a malformed stream id", "/stream/v0/data/is-short", "stream_not_found"],
      ["a stream id with a trailing path", `/stream/v0/data/${STREAM_ID}/more`, "stream_not_found"],
      ["an unknown stream", dataPath(UNKNOWN_STREAM_ID), "stream_not_found"],
      ["another tenant's stream", dataPath(OTHER_TENANT_STREAM_ID), "stream_not_found"],
      ["a disabled stream", dataPath(DISABLED_STREAM_ID), "stream_disabled"],
    ])("answers 404 to a POST on %s", async (_name, path, code) => {
      const h = await harness();
      const sent = await h.send({ path });
      expectError(sent, 404, code);
      expect(sent.request.bodyReads).toEqual([]);
      expect(h.sink.received).toEqual([]);
    });

    it("answers another tenant's stream exactly like a stream that does not exist", async () => {
      const h = await harness();
      const unknown = await h.send({ path: dataPath(UNKNOWN_STREAM_ID) });
      const foreign = await h.send({ path: dataPath(OTHER_TENANT_STREAM_ID) });
      expect(foreign.response.status).toBe(unknown.response.status);
      expect(foreign.response.body.replace(OTHER_TENANT_STREAM_ID, "<id>")).toBe(
        unknown.response.body.replace(UNKNOWN_STREAM_ID, "<id>"),
      );
      expect(foreign.response.body).not.toContain(OTHER_TENANT);
    });

    it("answers 404 to an unknown path before looking at the token", async () => {
      const h = await harness();
      expectError(
        await h.send({ path: "/v1/events", headers: { authorization: undefined } }),
        404,
        "not_found",
      );
      expect(h.registry.reads).toEqual([]);
    });
  });

  describe("405 method not allowed", () => {
    it.each([["GET"], ["PUT"], ["DELETE"], ["PATCH"], ["HEAD"]])(
      "answers 405 with Allow: POST to %s on the data path",
      async (method) => {
        const h = await harness();
        const sent = await h.send({ method });
        expectError(sent, 405, "method_not_allowed");
        expect(sent.response.headers.allow).toBe("POST");
        expect(sent.request.bodyReads).toEqual([]);
      },
    );
  });

  describe("413 payload too large", () => {
    it("answers 413 when the decoded body exceeds 260,096 bytes, naming the limit", async () => {
      const h = await harness();
      const error = expectError(await h.send({ body: jsonOfSize(LIMIT + 1) }), 413, "payload_too_large");
      expect(error.message).toContain("260,096");
      expect(error.message).toContain("260,097");
      expect(h.sink.received).toEqual([]);
    });

    it("accepts a body of exactly 260,096 bytes", async () => {
      const h = await harness();
      const body = jsonOfSize(LIMIT);
      expect(Buffer.byteLength(body)).toBe(LIMIT);
      expectAccepted(await h.send({ body }), STREAM_ID);
      expect(h.sink.texts()).toEqual([`${body}\n`]);
    });

    it("accepts a gzip body that decodes to exactly 260,096 bytes", async () => {
      const h = await harness();
      const sent = await h.send({
        body: gzipSync(Buffer.from(jsonOfSize(LIMIT))),
        headers: { "content-encoding": "gzip" },
      });
      expectAccepted(sent, STREAM_ID);
    });

    it("answers 413 when a gzip body decodes to 260,097 bytes, naming the decoded limit", async () => {
      const h = await harness();
      const sent = await h.send({
        body: gzipSync(Buffer.from(jsonOfSize(LIMIT + 1))),
        headers: { "content-encoding": "gzip" },
      });
      const error = expectError(sent, 413, "payload_too_large");
      expect(error.message).toContain("260,096");
    });

    it("answers 413 to a gzip bomb (10 MiB of zeros in ~10 KB)", async () => {
      const h = await harness();
      const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
      expect(bomb.byteLength).toBeLessThan(LIMIT);
      expectError(
        await h.send({ body: bomb, headers: { "content-encoding": "gzip" } }),
        413,
        "payload_too_large",
      );
    });

    it("answers 413 when the gzip body on the wire exceeds twice the limit", async () => {
      const h = await harness();
      const sent = await h.send({
        body: new Uint8Array(GZIP_WIRE_LIMIT + 1),
        headers: { "content-encoding": "gzip" },
      });
      expectError(sent, 413, "payload_too_large");
    });
  });

  describe("415 unsupported media type", () => {
    it.each<[string, string, Record<string, string | undefined>, string]>([
      ["Content-Type is missing", STREAM_ID, { "content-type": undefined }, "missing_content_type"],
      ["Content-Type is text/plain", STREAM_ID, { "content-type": "text/plain" }, "wrong_content_type"],
      [
        "XML is sent to a JSON stream",
        STREAM_ID,
        { "content-type": "application/xml" },
        "wrong_content_type",
      ],
      [
        "JSON is sent to an XML stream",
        XML_STREAM_ID,
        { "content-type": "application/json" },
        "wrong_content_type",
      ],
      [
        "the charset is latin1",
        STREAM_ID,
        { "content-type": "application/json; charset=latin1" },
        "unsupported_charset",
      ],
      ["Content-Encoding is br", STREAM_ID, { "content-encoding": "br" }, "unsupported_content_encoding"],
      [
        "Content-Encoding is a list",
        STREAM_ID,
        { "content-encoding": "gzip, gzip" },
        "unsupported_content_encoding",
      ],
    ])("answers 415 when %s", async (_name, streamId, headers, code) => {
      const h = await harness();
      const sent = await h.send({ path: dataPath(streamId), headers });
      expectError(sent, 415, code);
      expect(sent.request.bodyReads).toEqual([]);
    });
  });

  describe("429 throttled", () => {
    it("answers 429 with Retry-After to the third request within a second on a 2/s, burst 2 stream", async () => {
      const h = await harness();
      const path = dataPath(LIMITED_STREAM_ID);
      expectAccepted(await h.send({ path }), LIMITED_STREAM_ID);
      expectAccepted(await h.send({ path }), LIMITED_STREAM_ID);
      const third = await h.send({ path });
      expectError(third, 429, "throttled");
      expect(third.response.headers["retry-after"]).toBe("1");
      expect(third.request.bodyReads).toEqual([]);
      expect(h.sink.received).toHaveLength(2);

      h.clock.advance(1000);
      expectAccepted(await h.send({ path }), LIMITED_STREAM_ID);
    });

    it("limits each stream on its own", async () => {
      const h = await harness();
      for (let i = 0; i < 3; i++) await h.send({ path: dataPath(LIMITED_STREAM_ID) });
      expectAccepted(await h.send(), STREAM_ID);
    });

    it("answers 429 with the sink's Retry-After when delivery is throttling", async () => {
      const h = await harness();
      h.sink.rejectWith(new ThrottledError("delivery is throttling", 5));
      const sent = await h.send();
      expectError(sent, 429, "throttled");
      expect(sent.response.headers["retry-after"]).toBe("5");
    });
  });

  describe("500 internal error", () => {
    const secret = "zoe.private@example.com";
    it.each([
      ["with the record in one line", (text: string) => new Error(`could not append ${text}`)],
      ["with the record on a later line", (text: string) => new Error(`could not append:\n${text}\n(end)`)],
    ])(
      "answers 500 internal_error, retryable, to a sink failing with a plain Error %s, and logs neither record nor token",
      async (_name, failure) => {
        const h = await harness();
        const body = `{"email":"${secret}"}`;
        h.sink.rejectWith(failure(body));
        const sent = await h.send({ body });
        const error = expectError(sent, 500, "internal_error");
        expect(error.message).not.toContain(secret);
        expect(h.logger.entries.some((entry) => entry.level === "error")).toBe(true);
        expect(h.logger.text()).not.toContain(secret);
        expect(h.logger.text()).not.toContain(h.token);
        expect(h.logger.text()).not.toContain(h.token.split(".")[2]);
      },
    );

    it("answers 500 when the sink throws instead of rejecting", async () => {
      const h = await harness();
      const handler = new IngestHandler({
        registry: h.registry,
        sink: {
          put: () => {
            throw new TypeError("not a promise");
          },
        },
        verifier: makeVerifier(h.clock),
        clock: h.clock,
        logger: h.logger,
      });
      const request = makeRequest({
        body: "{}",
        headers: {
          authorization: bearer(h.token),
          "x-amperity-tenant": TENANT,
          "content-type": "application/json",
        },
      });
      expectError({ request, response: await handler.handle(request) }, 500, "internal_error");
    });
  });

  describe("503 service unavailable", () => {
    it("answers 503 with Retry-After when the registry is down", async () => {
      const h = await harness();
      h.registry.down = true;
      const sent = await h.send();
      expectError(sent, 503, "registry_unavailable");
      expect(sent.response.headers["retry-after"]).toBe("1");
      expect(sent.request.bodyReads).toEqual([]);
    });

    it("answers 503 before reading the body while the stream's delivery is not ready", async () => {
      const h = await harness();
      h.sink.notReady = new ServiceUnavailableError("delivery is being created", 30, "delivery_not_ready");
      const sent = await h.send();
      expectError(sent, 503, "delivery_not_ready");
      expect(sent.response.headers["retry-after"]).toBe("30");
      expect(sent.request.bodyReads).toEqual([]);
      expect(h.sink.received).toEqual([]);
    });

    it("answers a wrong media type with 415, not 503, while delivery is not ready (a retry cannot fix it)", async () => {
      const h = await harness();
      h.sink.notReady = new ServiceUnavailableError("delivery is being created", 30, "delivery_not_ready");
      const sent = await h.send({ headers: { "content-type": "text/plain" } });
      expectError(sent, 415, "wrong_content_type");
      expect(h.sink.readinessChecks).toEqual([]);
    });

    it("answers 503 with the sink's Retry-After when delivery is unavailable", async () => {
      const h = await harness();
      h.sink.rejectWith(new ServiceUnavailableError("delivery is unavailable", 2, "delivery_unavailable"));
      const sent = await h.send();
      expectError(sent, 503, "delivery_unavailable");
      expect(sent.response.headers["retry-after"]).toBe("2");
    });
  });

  describe("504 gateway timeout", () => {
    it("answers 504 when the sink does not confirm within deliveryTimeoutMs", async () => {
      const h = await harness({ deliveryTimeoutMs: 20 });
      h.sink.hang();
      const sent = await h.send();
      h.sink.release();
      const error = expectError(sent, 504, "timeout");
      expect(error.message).toContain("20 ms");
      expect(h.sink.received).toHaveLength(1);
    });
  });

  describe("never a 5xx for bad input (property-based)", () => {
    const headerValue = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.constantFrom("application/json", "gzip", "identity", "Bearer ", "x-gzip", "charset=utf-8"),
    );

    async function statusesFor(
      header: string,
      values: fc.Arbitrary<string>,
      allowed: readonly number[],
    ): Promise<void> {
      const h = await harness();
      await fc.assert(
        fc.asyncProperty(values, async (value) => {
          const { response } = await h.send({ headers: { [header]: value } });
          expect(DOCUMENTED_STATUSES.has(response.status)).toBe(true);
          expect(allowed).toContain(response.status);
          expect(response.headers["x-request-id"]).toEqual(expect.any(String));
        }),
        { numRuns: 150 },
      );
    }

    it("answers any Content-Type with 202 or 415", async () => {
      const mixed = fc.oneof(
        headerValue,
        fc.tuple(fc.constantFrom("application/json", "text/xml"), headerValue).map(([t, p]) => `${t};${p}`),
      );
      await statusesFor("content-type", mixed, [202, 415]);
    });

    it("answers any Content-Encoding with 202, 400 (not gzip data) or 415", async () => {
      await statusesFor("content-encoding", headerValue, [202, 400, 415]);
    });

    it("answers any Authorization header that holds no valid token with 401", async () => {
      const values = fc.oneof(
        headerValue,
        headerValue.map((v) => `Bearer ${v}`),
        fc
          .tuple(
            fc.string({ minLength: 1, maxLength: 20 }),
            fc.string({ maxLength: 20 }),
            fc.string({ maxLength: 20 }),
          )
          .map((parts) => `Bearer ${parts.map((p) => base64url(p)).join(".")}`),
      );
      await statusesFor("authorization", values, [401]);
    });

    it("answers any X-Amperity-Tenant with 202 or 403", async () => {
      await statusesFor("x-amperity-tenant", headerValue, [202, 403]);
    });

    it("answers any path and method with a documented status and never a 5xx", async () => {
      const h = await harness();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS", "post"),
          fc.oneof(
            fc.string({ maxLength: 60 }),
            fc.string({ maxLength: 20 }).map((s) => `/stream/v0/data/${s}`),
            fc.constantFrom("/stream/v0/data/%", "/stream/v0/data/%E0%A4%A", "/health"),
          ),
          async (method, path) => {
            const { response } = await h.send({ method, path });
            expect(response.status).toBeLessThan(500);
            expect([200, ...DOCUMENTED_STATUSES]).toContain(response.status);
          },
        ),
        { numRuns: 150 },
      );
    });
  });

  it("gives every response an x-request-id, even a 202 after errors", async () => {
    const h = await harness();
    const first = await h.send({ requestId: "abc-123", path: "/nope" });
    const second = await h.send({ requestId: "def-456" });
    expect(first.response.headers["x-request-id"]).toBe("abc-123");
    expect(second.response.headers["x-request-id"]).toBe("def-456");
  });
});

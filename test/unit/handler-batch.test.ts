/**
 * The batch endpoint of the handler core (POST /stream/v0/batch/<id>), run with in-memory ports and real ES256
 * tokens: the checks it shares with the single endpoint, its own limits, all-or-nothing, and the 202 count.
 */
import { gzipSync } from "node:zlib";
import { ServiceUnavailableError } from "../../lambda/core/errors.js";
import { IngestHandler } from "../../lambda/core/handler.js";
import { RateLimiter } from "../../lambda/core/rate-limiter.js";
import type { AcceptedBatch, IngestResponse } from "../../lambda/core/types.js";
import {
  CollectingLogger,
  deferred,
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
import { bearer, issueToken, makeVerifier, tokenClock } from "../helpers/tokens.js";

const XML_STREAM_ID = "is-XmLrec01";
const OTHER_TENANT_STREAM_ID = "is-Globex01";
const LIMITED_STREAM_ID = "is-Limited1";
const MIB = 1024 * 1024;

const batchPath = (streamId: string) => `/stream/v0/batch/${streamId}`;
const ndjson = (count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => `{"event": "order", "n": ${from + i}}`).join("\n");

/** An in-memory sink that also takes batches; `batchFailure`/`holdBatches` script putBatch. */
class BatchSink extends InMemorySink {
  readonly batches: AcceptedBatch[] = [];
  batchFailure: unknown;
  batchHold: ReturnType<typeof deferred<void>> | undefined;

  async putBatch(batch: AcceptedBatch): Promise<void> {
    this.batches.push(batch);
    if (this.batchFailure !== undefined) throw this.batchFailure;
    if (this.batchHold !== undefined) await this.batchHold.promise;
  }

  batchTexts(i = 0): string[] {
    return (this.batches[i]?.records ?? []).map((record) => Buffer.from(record).toString("utf8"));
  }
}

interface Sent {
  readonly request: FakeRequest;
  readonly response: IngestResponse;
  readonly body: Record<string, unknown> & { error?: Record<string, unknown> };
}

async function harness(options: { sink?: InMemorySink; deliveryTimeoutMs?: number } = {}) {
  const clock = tokenClock();
  const registry = new InMemoryRegistry({
    streams: [
      makeStream(),
      makeStream({ id: XML_STREAM_ID, payload: "xml" }),
      makeStream({ id: OTHER_TENANT_STREAM_ID, tenant: OTHER_TENANT }),
      makeStream({ id: LIMITED_STREAM_ID, rateLimitPerSecond: 2, rateLimitBurst: 2 }),
    ],
    apiKeys: [makeApiKey()],
  });
  const sink = options.sink ?? new BatchSink();
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
      path: batchPath(STREAM_ID),
      body: ndjson(2),
      ...init,
      headers: {
        authorization: bearer(token),
        "x-amperity-tenant": TENANT,
        "content-type": "application/x-ndjson",
        ...init.headers,
      },
    });
    const response = await handler.handle(request);
    return { request, response, body: JSON.parse(response.body) };
  };
  return { clock, registry, sink, logger, handler, send };
}

function expectStatus(sent: Sent, status: number, code?: string): void {
  expect({ status: sent.response.status, code: sent.body.error?.code }).toEqual({
    status,
    code: code ?? (status === 202 ? undefined : expect.any(String)),
  });
  expect(sent.response.headers["x-request-id"]).toBe(sent.request.requestId);
}

describe("batch endpoint: accepted", () => {
  it("answers 202 with the record count once the sink stored every record in one putBatch", async () => {
    const h = await harness();
    const sent = await h.send({ body: `${ndjson(3)}\n` });
    expectStatus(sent, 202);
    expect(sent.body).toStrictEqual({
      status: "accepted",
      stream: STREAM_ID,
      request_id: sent.request.requestId,
      records: 3,
    });
    const sink = h.sink as BatchSink;
    expect(sink.batches).toHaveLength(1);
    expect(sink.batches[0]?.stream.id).toBe(STREAM_ID);
    expect(sink.batchTexts()).toEqual([
      '{"event":"order","n":0}\n',
      '{"event":"order","n":1}\n',
      '{"event":"order","n":2}\n',
    ]);
    expect(sink.received).toEqual([]);
  });

  it.each([
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/json",
    "Application/X-NDJSON; charset=utf-8",
  ])("takes Content-Type %s", async (contentType) => {
    const h = await harness();
    expectStatus(await h.send({ headers: { "content-type": contentType } }), 202);
  });

  it("takes a gzip body and counts its records", async () => {
    const h = await harness();
    const sent = await h.send({ body: gzipSync(ndjson(100)), headers: { "content-encoding": "gzip" } });
    expectStatus(sent, 202);
    expect(sent.body.records).toBe(100);
    expect((h.sink as BatchSink).batches[0]?.records).toHaveLength(100);
  });

  it("reads at most 4 MiB off the wire (8 MiB with gzip)", async () => {
    const h = await harness();
    expect((await h.send()).request.bodyReads).toEqual([4 * MIB]);
    const gz = await h.send({ body: gzipSync(ndjson(2)), headers: { "content-encoding": "gzip" } });
    expect(gz.request.bodyReads).toEqual([8 * MIB]);
  });

  it("takes one rate-limit token per request, however many records it holds", async () => {
    const h = await harness();
    const path = batchPath(LIMITED_STREAM_ID);
    expectStatus(await h.send({ path, body: ndjson(50) }), 202);
    expectStatus(await h.send({ path, body: ndjson(50) }), 202);
    const third = await h.send({ path, body: ndjson(1) });
    expectStatus(third, 429, "throttled");
    expect(third.response.headers["retry-after"]).toBe("1");
  });
});

describe("batch endpoint: all-or-nothing validation", () => {
  it("answers 400 invalid_batch listing every bad line, and stores nothing", async () => {
    const h = await harness();
    const sent = await h.send({ body: '{"ok":1}\nnope\n\n{"ok":2}\n[1]\n' });
    expectStatus(sent, 400, "invalid_batch");
    expect(sent.body.error?.retryable).toBe(false);
    expect(sent.body.error?.lines).toEqual([
      { line: 2, code: "invalid_json", message: expect.any(String) },
      { line: 5, code: "not_an_object", message: expect.any(String) },
    ]);
    expect((h.sink as BatchSink).batches).toEqual([]);
  });

  it("answers 400 empty_batch for a body with no records", async () => {
    const h = await harness();
    expectStatus(await h.send({ body: "\n \n" }), 400, "empty_batch");
    expect((h.sink as BatchSink).batches).toEqual([]);
  });

  it("answers 413 too_many_records past 500 records", async () => {
    const h = await harness();
    const sent = await h.send({ body: ndjson(501) });
    expectStatus(sent, 413, "too_many_records");
    expect(sent.body.error?.message).toBe("batch holds 501 records; the limit is 500 records per request");
    expectStatus(await h.send({ body: ndjson(500) }), 202);
  });

  it("answers 413 for a line over 260,096 bytes, naming the line", async () => {
    const h = await harness();
    const big = `{"s":"${"x".repeat(260_090)}"}`;
    const sent = await h.send({ body: `{"a":1}\n${big}\n` });
    expectStatus(sent, 413, "payload_too_large");
    expect(sent.body.error?.message).toBe(
      "line 2 is 260,098 bytes; the limit for one record is 260,096 bytes",
    );
  });

  it("answers 413 for a body over 4 MiB, naming the batch limit", async () => {
    const h = await harness();
    const sent = await h.send({ body: Buffer.alloc(4 * MIB + 1, 0x20) });
    expectStatus(sent, 413, "payload_too_large");
    expect(sent.body.error?.message).toContain("4,194,304 bytes");
    expect(sent.body.error?.message).toContain("batch");
  });

  it("answers 413 for a gzip body that decodes past 4 MiB", async () => {
    const h = await harness();
    const bomb = gzipSync(Buffer.alloc(4 * MIB + 1, 0x20));
    const sent = await h.send({ body: bomb, headers: { "content-encoding": "gzip" } });
    expectStatus(sent, 413, "payload_too_large");
    expect(sent.body.error?.message).toBe(
      "batch body decodes to more than 4,194,304 bytes; the limit for a batch is 4,194,304 bytes decoded",
    );
  });
});

describe("batch endpoint: the checks it shares with the single endpoint", () => {
  it("answers 415 batch_not_supported on an XML stream, before reading the body", async () => {
    const h = await harness();
    const sent = await h.send({ path: batchPath(XML_STREAM_ID) });
    expectStatus(sent, 415, "batch_not_supported");
    expect(sent.request.bodyReads).toEqual([]);
  });

  it.each([
    ["text/plain", "wrong_content_type"],
    ["application/xml", "wrong_content_type"],
    [undefined, "missing_content_type"],
    ["application/x-ndjson; charset=latin1", "unsupported_charset"],
  ])("answers 415 for Content-Type %s", async (contentType, code) => {
    const h = await harness();
    expectStatus(await h.send({ headers: { "content-type": contentType } }), 415, code);
  });

  it("answers 415 for an unsupported Content-Encoding", async () => {
    const h = await harness();
    expectStatus(
      await h.send({ headers: { "content-encoding": "br" } }),
      415,
      "unsupported_content_encoding",
    );
  });

  it("answers 401 without a token, 404 for another tenant's or an unknown stream", async () => {
    const h = await harness();
    expectStatus(await h.send({ headers: { authorization: undefined } }), 401);
    expectStatus(await h.send({ path: batchPath(OTHER_TENANT_STREAM_ID) }), 404, "stream_not_found");
    expectStatus(await h.send({ path: batchPath("is-Unknown1") }), 404, "stream_not_found");
    expectStatus(await h.send({ path: batchPath("nope") }), 404, "stream_not_found");
  });

  it("answers 405 with Allow: POST for another method", async () => {
    const h = await harness();
    const sent = await h.send({ method: "GET" });
    expectStatus(sent, 405, "method_not_allowed");
    expect(sent.response.headers.allow).toBe("POST");
  });

  it("answers 503 with Retry-After while the sink is not ready, before reading the body", async () => {
    const sink = new BatchSink();
    sink.notReady = new ServiceUnavailableError("not yet", 30, "delivery_not_ready");
    const h = await harness({ sink });
    const sent = await h.send();
    expectStatus(sent, 503, "delivery_not_ready");
    expect(sent.response.headers["retry-after"]).toBe("30");
    expect(sent.request.bodyReads).toEqual([]);
  });
});

describe("batch endpoint: delivery", () => {
  it("passes the sink's 503 through with Retry-After", async () => {
    const sink = new BatchSink();
    sink.batchFailure = new ServiceUnavailableError("queue full", 1, "sink_busy");
    const h = await harness({ sink });
    const sent = await h.send();
    expectStatus(sent, 503, "sink_busy");
    expect(sent.response.headers["retry-after"]).toBe("1");
  });

  it("answers 504 when the sink does not confirm within the delivery timeout", async () => {
    const sink = new BatchSink();
    sink.batchHold = deferred<void>();
    const h = await harness({ sink, deliveryTimeoutMs: 20 });
    expectStatus(await h.send(), 504, "timeout");
    sink.batchHold.resolve();
  });

  it("answers 500 (logged, never 202) when the sink cannot store batches", async () => {
    const h = await harness({ sink: new InMemorySink() });
    const sent = await h.send();
    expectStatus(sent, 500, "internal_error");
    expect(h.logger.text()).toContain("unexpected error");
  });

  it("never logs record content", async () => {
    const sink = new BatchSink();
    sink.batchFailure = new Error("boom");
    const h = await harness({ sink });
    await h.send({ body: '{"secret":"zebra-7f3a"}\n{"bad' });
    await h.send({ body: '{"secret":"zebra-7f3a"}\n' });
    expect(h.logger.text()).not.toContain("zebra");
  });
});

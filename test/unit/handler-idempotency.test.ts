/**
 * The Idempotency-Key flow of the handler core, run with in-memory ports and real tokens: claim → store → confirm,
 * duplicates, reuse with another body, concurrent requests, sink failures and timeouts, the window, and that a
 * request without the header never touches the store.
 */
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { BadRequestError, ServiceUnavailableError } from "../../lambda/core/errors.js";
import { IngestHandler } from "../../lambda/core/handler.js";
import {
  MAX_IDEMPOTENCY_KEY_LENGTH,
  parseIdempotencyKey,
  requestFingerprint,
} from "../../lambda/core/idempotency.js";
import type { RecordSink } from "../../lambda/core/ports.js";
import { RateLimiter } from "../../lambda/core/rate-limiter.js";
import type { AcceptedBatch, AcceptedRecord, IngestResponse } from "../../lambda/core/types.js";
import { InMemoryIdempotencyStore } from "../helpers/in-memory-idempotency.js";
import {
  CollectingLogger,
  type Deferred,
  deferred,
  type FakeClock,
  type FakeRequest,
  InMemoryRegistry,
  makeApiKey,
  makeRequest,
  makeStream,
  type RequestInit,
  STREAM_ID,
  TENANT,
} from "../helpers/in-memory-ports.js";
import { bearer, issueToken, makeVerifier, tokenClock } from "../helpers/tokens.js";

const OTHER_STREAM_ID = "is-Other001";
const XML_STREAM_ID = "is-XmLrec01";
const DELIVERY_TIMEOUT_MS = 200;

/**
 * A sink that keeps what it is given, takes batches, and is scripted: `failure` makes puts reject, `hang()` holds
 * them until each held put is resolved or rejected by the test.
 */
class ScriptedSink implements RecordSink {
  readonly received: AcceptedRecord[] = [];
  readonly batches: AcceptedBatch[] = [];
  failure: unknown;
  held: Deferred<void>[] | undefined;

  hang(): void {
    this.held = [];
  }

  /** Settles every held put (resolving, or rejecting with `error`); later puts run at once. */
  release(error?: unknown): void {
    for (const put of this.held ?? []) error === undefined ? put.resolve() : put.reject(error);
    this.held = undefined;
  }

  texts(): string[] {
    return this.received.map((record) => Buffer.from(record.data).toString("utf8"));
  }

  async put(record: AcceptedRecord): Promise<void> {
    this.received.push(record);
    await this.settle();
  }

  async putBatch(batch: AcceptedBatch): Promise<void> {
    this.batches.push(batch);
    await this.settle();
  }

  private async settle(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.held !== undefined) {
      const wait = deferred<void>();
      this.held.push(wait);
      await wait.promise;
    }
  }
}

interface Sent {
  readonly request: FakeRequest;
  readonly response: IngestResponse;
  readonly body: Record<string, unknown> & { error?: { code: string; message: string; retryable: boolean } };
}

async function harness(options: { idempotency?: boolean; windowSeconds?: number } = {}) {
  const clock: FakeClock = tokenClock();
  const registry = new InMemoryRegistry({
    streams: [
      makeStream(),
      makeStream({ id: OTHER_STREAM_ID }),
      makeStream({ id: XML_STREAM_ID, payload: "xml" }),
    ],
    apiKeys: [makeApiKey()],
  });
  const sink = new ScriptedSink();
  const store = new InMemoryIdempotencyStore();
  const logger = new CollectingLogger();
  const handler = new IngestHandler({
    registry,
    sink,
    verifier: makeVerifier(clock),
    clock,
    logger,
    rateLimiter: new RateLimiter(clock),
    deliveryTimeoutMs: DELIVERY_TIMEOUT_MS,
    ...(options.idempotency === false
      ? {}
      : {
          idempotency: { store, ...(options.windowSeconds ? { windowSeconds: options.windowSeconds } : {}) },
        }),
  });
  // Valid for 3 days, so tests can move the clock past the 24 h window.
  const token = await issueToken(makeApiKey(), clock, 3);
  const send = async (init: RequestInit & { key?: string } = {}): Promise<Sent> => {
    const request = makeRequest({
      body: '{"event":"order","n":1}',
      ...init,
      headers: {
        authorization: bearer(token),
        "x-amperity-tenant": TENANT,
        "content-type": "application/json",
        "idempotency-key": init.key,
        ...init.headers,
      },
    });
    const response = await handler.handle(request);
    return { request, response, body: JSON.parse(response.body) };
  };
  const sendBatch = (init: RequestInit & { key?: string } = {}) =>
    send({
      path: `/stream/v0/batch/${STREAM_ID}`,
      body: '{"n":1}\n{"n":2}\n',
      ...init,
      headers: { "content-type": "application/x-ndjson", ...init.headers },
    });
  return { clock, registry, sink, store, logger, handler, send, sendBatch };
}

function expectKeyedAccepted(sent: Sent, duplicate: boolean, extra: Record<string, unknown> = {}): void {
  expect(sent.response.status).toBe(202);
  expect(sent.body).toStrictEqual({
    status: "accepted",
    stream: STREAM_ID,
    request_id: sent.request.requestId,
    ...extra,
    duplicate,
    ...(duplicate ? { original_request_id: expect.any(String) } : {}),
  });
}

function expectError(sent: Sent, status: number, code: string): void {
  expect({ status: sent.response.status, code: sent.body.error?.code }).toEqual({ status, code });
  if (status === 503) expect(sent.response.headers["retry-after"]).toBe("1");
}

/** Waits (bounded) until `condition` holds: for work the handler finishes after it answered. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

describe("Idempotency-Key: without the header", () => {
  it("never touches the store, and answers exactly as before (no duplicate field)", async () => {
    const h = await harness();
    const single = await h.send();
    expect(single.body).toStrictEqual({
      status: "accepted",
      stream: STREAM_ID,
      request_id: single.request.requestId,
    });
    const batch = await h.sendBatch();
    expect(batch.body).toStrictEqual({
      status: "accepted",
      stream: STREAM_ID,
      request_id: batch.request.requestId,
      records: 2,
    });
    // Refusals too: nothing without the header reaches the store.
    await h.send({ body: "not json" });
    expect(h.store.calls).toEqual([]);
    expect(h.sink.received).toHaveLength(1);
  });

  it("works with no store configured", async () => {
    const h = await harness({ idempotency: false });
    expect((await h.send()).response.status).toBe(202);
  });
});

describe("Idempotency-Key: stored once per key and stream", () => {
  it("stores the first request, answers a repeat 202 duplicate:true without storing it again", async () => {
    const h = await harness();
    const first = await h.send({ key: "order-1" });
    expectKeyedAccepted(first, false);
    expect(h.store.calls).toEqual(["claim", "confirm"]);
    const again = await h.send({ key: "order-1" });
    expectKeyedAccepted(again, true);
    expect(again.body.original_request_id).toBe(first.request.requestId);
    expect(h.sink.texts()).toEqual(['{"event":"order","n":1}\n']);
    expect(h.store.calls).toEqual(["claim", "confirm", "claim"]);
  });

  it("takes a retry that differs only in whitespace or gzip as the same request", async () => {
    const h = await harness();
    expectKeyedAccepted(await h.send({ key: "k", body: '{"a": 1,\n "b": [1, 2]}' }), false);
    expectKeyedAccepted(await h.send({ key: "k", body: '{"a":1,"b":[1,2]}\n' }), true);
    const gz = await h.send({
      key: "k",
      body: gzipSync('{"a":1,"b":[1,2]}'),
      headers: { "content-encoding": "gzip" },
    });
    expectKeyedAccepted(gz, true);
    expect(h.sink.received).toHaveLength(1);
  });

  it("refuses the key reused for another body with 400 idempotency_key_reused, storing nothing", async () => {
    const h = await harness();
    await h.send({ key: "k", body: '{"n":1}' });
    const reused = await h.send({ key: "k", body: '{"n":2}' });
    expectError(reused, 400, "idempotency_key_reused");
    expect(reused.body.error?.retryable).toBe(false);
    expect(h.sink.texts()).toEqual(['{"n":1}\n']);
  });

  it("refuses a key used on the data endpoint when it comes again on the batch endpoint", async () => {
    const h = await harness();
    await h.send({ key: "k", body: '{"n":1}' });
    expectError(await h.sendBatch({ key: "k", body: '{"n":1}\n' }), 400, "idempotency_key_reused");
    expect(h.sink.batches).toHaveLength(0);
  });

  it("keeps keys of different streams apart, and keys case-sensitive", async () => {
    const h = await harness();
    expectKeyedAccepted(await h.send({ key: "k" }), false);
    const other = await h.send({ key: "k", path: `/stream/v0/data/${OTHER_STREAM_ID}` });
    expect(other.response.status).toBe(202);
    expect(other.body.duplicate).toBe(false);
    expectKeyedAccepted(await h.send({ key: "K" }), false);
    expect(h.sink.received.map((r) => r.stream.id)).toEqual([STREAM_ID, OTHER_STREAM_ID, STREAM_ID]);
  });

  it("works for XML records (the CBOR item is fingerprinted)", async () => {
    const h = await harness();
    const path = `/stream/v0/data/${XML_STREAM_ID}`;
    const headers = { "content-type": "application/xml" };
    const first = await h.send({ key: "x", path, headers, body: "<a><b>1</b></a>" });
    const again = await h.send({ key: "x", path, headers, body: "<a>\n  <b>1</b>\n</a>" });
    expect([first.body.duplicate, again.body.duplicate]).toEqual([false, true]);
    expect(h.sink.received).toHaveLength(1);
  });

  it("treats a batch as one unit: a repeat answers duplicate with the record count, stored once", async () => {
    const h = await harness();
    expectKeyedAccepted(await h.sendBatch({ key: "load-7" }), false, { records: 2 });
    expectKeyedAccepted(await h.sendBatch({ key: "load-7" }), true, { records: 2 });
    expect(h.sink.batches).toHaveLength(1);
    expectError(await h.sendBatch({ key: "load-7", body: '{"n":1}\n' }), 400, "idempotency_key_reused");
  });

  it("remembers a key for the window (24 h by default), then stores a repeat again", async () => {
    const h = await harness();
    await h.send({ key: "k" });
    h.clock.advance(24 * 3600 * 1000 - 1);
    expectKeyedAccepted(await h.send({ key: "k" }), true);
    h.clock.advance(1);
    expectKeyedAccepted(await h.send({ key: "k" }), false);
    expect(h.sink.received).toHaveLength(2);
  });

  it("uses a configured window, counted from the acceptance", async () => {
    const h = await harness({ windowSeconds: 60 });
    await h.send({ key: "k" });
    h.clock.advance(59_999);
    expect((await h.send({ key: "k" })).body.duplicate).toBe(true);
    h.clock.advance(1);
    expect((await h.send({ key: "k" })).body.duplicate).toBe(false);
  });
});

describe("Idempotency-Key: nothing is spent on a request that is refused", () => {
  it("an invalid body never burns the key: the corrected retry is stored", async () => {
    const h = await harness();
    expectError(await h.send({ key: "k", body: '{"n":' }), 400, "invalid_json");
    expectError(await h.sendBatch({ key: "b", body: '{"n":1}\nnope\n' }), 400, "invalid_batch");
    expect(h.store.calls).toEqual([]);
    expectKeyedAccepted(await h.send({ key: "k" }), false);
    expect(h.sink.received).toHaveLength(1);
  });

  it.each([
    ["empty", ""],
    ["129 characters", "k".repeat(129)],
    ["an inner space", "order 1"],
    ["a tab", "order\t1"],
    ["non-ASCII", "bestellung-ü"],
    ["a control character", "a\u0001b"],
  ])("answers 400 invalid_idempotency_key for a key with %s, before reading the body", async (_, key) => {
    const h = await harness();
    const sent = await h.send({ key });
    expectError(sent, 400, "invalid_idempotency_key");
    expect(sent.body.error?.message).toContain("1–128 visible ASCII characters");
    expect(sent.request.bodyReads).toEqual([]);
    expect(h.store.calls).toEqual([]);
    expect(h.sink.received).toHaveLength(0);
  });

  it("answers 500 (never stores unchecked) when a key arrives but no store is configured", async () => {
    const h = await harness({ idempotency: false });
    expectError(await h.send({ key: "k" }), 500, "internal_error");
    expect(h.sink.received).toHaveLength(0);
  });

  it("answers 503 idempotency_unavailable with Retry-After when the store cannot claim, storing nothing", async () => {
    const h = await harness();
    h.store.down.add("claim");
    const sent = await h.send({ key: "k" });
    expectError(sent, 503, "idempotency_unavailable");
    expect(sent.body.error?.retryable).toBe(true);
    expect(h.sink.received).toHaveLength(0);
    h.store.down.clear();
    expectKeyedAccepted(await h.send({ key: "k" }), false);
  });
});

describe("Idempotency-Key: concurrency and failures", () => {
  it("a concurrent request with the key gets 503 idempotency_key_in_use; its retry gets the duplicate", async () => {
    const h = await harness();
    h.sink.hang();
    const first = h.send({ key: "k" });
    await until(() => h.sink.received.length === 1);
    const concurrent = await h.send({ key: "k" });
    expectError(concurrent, 503, "idempotency_key_in_use");
    expect(concurrent.body.error?.retryable).toBe(true);
    h.sink.release();
    expectKeyedAccepted(await first, false);
    expectKeyedAccepted(await h.send({ key: "k" }), true);
    expect(h.sink.received).toHaveLength(1);
  });

  it("a concurrent request with the key and another body is refused 400 at once", async () => {
    const h = await harness();
    h.sink.hang();
    const first = h.send({ key: "k" });
    await until(() => h.sink.received.length === 1);
    expectError(await h.send({ key: "k", body: '{"other":true}' }), 400, "idempotency_key_reused");
    h.sink.release();
    await first;
  });

  it("releases the key when the sink refuses, so the retry stores the record", async () => {
    const h = await harness();
    h.sink.failure = new ServiceUnavailableError("delivery unavailable", 1, "sink_unavailable");
    expectError(await h.send({ key: "k" }), 503, "sink_unavailable");
    expect(h.store.calls).toEqual(["claim", "release"]);
    expect(h.store.entry(STREAM_ID, "k")).toBeUndefined();
    h.sink.failure = undefined;
    expectKeyedAccepted(await h.send({ key: "k" }), false);
    expect(h.store.entry(STREAM_ID, "k")?.state).toBe("accepted");
  });

  it("answers the sink's error even when the release fails too (logged; the key frees itself later)", async () => {
    const h = await harness();
    h.sink.failure = new ServiceUnavailableError("delivery unavailable", 1, "sink_unavailable");
    h.store.down.add("release");
    expectError(await h.send({ key: "k" }), 503, "sink_unavailable");
    expect(h.logger.text()).toContain("idempotency key not released");
    expect(h.store.entry(STREAM_ID, "k")?.state).toBe("pending");
  });

  it("on a delivery timeout (504) keeps the claim; the sink's late success confirms it, so the retry is a duplicate", async () => {
    const h = await harness();
    h.sink.hang();
    const timedOut = await h.send({ key: "k" });
    expectError(timedOut, 504, "timeout");
    expect(h.store.entry(STREAM_ID, "k")?.state).toBe("pending");
    expectError(await h.send({ key: "k" }), 503, "idempotency_key_in_use");
    h.sink.release();
    await until(() => h.store.entry(STREAM_ID, "k")?.state === "accepted");
    expectKeyedAccepted(await h.send({ key: "k" }), true);
    expect(h.sink.received).toHaveLength(1);
  });

  it("on a delivery timeout whose sink later fails, the background release lets the retry store it", async () => {
    const h = await harness();
    h.sink.hang();
    expectError(await h.send({ key: "k" }), 504, "timeout");
    // The held put now fails (the disk gave up): the claim is released in the background.
    h.sink.release(new ServiceUnavailableError("disk", 1, "sink_unavailable"));
    await until(() => h.store.entry(STREAM_ID, "k") === undefined);
    expectKeyedAccepted(await h.send({ key: "k" }), false);
  });

  it("answers 202 when the record is durable but the confirm fails; the pending claim counts as abandoned later", async () => {
    const h = await harness();
    h.store.down.add("confirm");
    expectKeyedAccepted(await h.send({ key: "k" }), false);
    expect(h.logger.text()).toContain("idempotency key not confirmed");
    h.store.down.clear();
    expectError(await h.send({ key: "k" }), 503, "idempotency_key_in_use");
    // After twice the delivery timeout the claim is abandoned: the documented at-least-once case.
    h.clock.advance(2 * DELIVERY_TIMEOUT_MS);
    expectKeyedAccepted(await h.send({ key: "k" }), false);
    expect(h.sink.received).toHaveLength(2);
  });

  it("logs a warning, without the key or content, when a late confirm finds its claim taken over", async () => {
    const h = await harness();
    h.store.hold("confirm");
    const first = h.send({ key: "secret-key-123", body: '{"card":"4111"}' });
    await until(() => h.store.calls.includes("confirm"));
    h.clock.advance(2 * DELIVERY_TIMEOUT_MS);
    const second = h.send({ key: "secret-key-123", body: '{"card":"4111"}' });
    await until(() => h.store.calls.filter((c) => c === "confirm").length === 2);
    h.store.open("confirm");
    await Promise.all([first, second]);
    expect(h.logger.text()).toContain("taken over");
    expect(h.logger.text()).not.toContain("secret-key-123");
    expect(h.logger.text()).not.toContain("4111");
  });
});

describe("Idempotency-Key: the rule", () => {
  const visible = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));

  it("accepts every key of 1–128 visible ASCII characters, as sent", () => {
    fc.assert(
      fc.property(fc.array(visible, { minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH }), (chars) => {
        const key = chars.join("");
        expect(parseIdempotencyKey({ "idempotency-key": key })).toBe(key);
        expect(parseIdempotencyKey({ "idempotency-key": ` ${key}\t` })).toBe(key);
      }),
    );
  });

  it("refuses any key with a character outside 0x21–0x7E inside it, or longer than 128", () => {
    const outside = fc
      .oneof(fc.integer({ min: 0, max: 0x20 }), fc.integer({ min: 0x7f, max: 0xffff }))
      .map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), outside, visible, (prefix, bad, last) => {
        const key = `x${prefix.replace(/[^\x21-\x7e]/g, "")}${bad}${last}`;
        expect(() => parseIdempotencyKey({ "idempotency-key": key })).toThrow(BadRequestError);
      }),
    );
    fc.assert(
      fc.property(fc.array(visible, { minLength: 129, maxLength: 400 }), (chars) => {
        expect(() => parseIdempotencyKey({ "idempotency-key": chars.join("") })).toThrow(/characters long/);
      }),
    );
  });

  it("is absent only when the header is absent", () => {
    expect(parseIdempotencyKey({})).toBeUndefined();
    expect(() => parseIdempotencyKey({ "idempotency-key": " " })).toThrow(/empty/);
  });

  it("fingerprints the endpoint and each record's bytes, so no two different requests collide", () => {
    const bytes = (s: string) => Buffer.from(s);
    const a = requestFingerprint("batch", [bytes('{"a":1}\n'), bytes('{"b":2}\n')]);
    expect(requestFingerprint("batch", [bytes('{"a":1}\n'), bytes('{"b":2}\n')])).toBe(a);
    expect(requestFingerprint("batch", [bytes('{"a":1}\n{"b":2}\n')])).not.toBe(a);
    expect(requestFingerprint("data", [bytes('{"a":1}\n')])).not.toBe(
      requestFingerprint("batch", [bytes('{"a":1}\n')]),
    );
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
});

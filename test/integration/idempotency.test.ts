/**
 * Idempotency-Key end to end on the real local runtime over HTTP: the embedded store's `ingest-idempotency`
 * table, the real file sink (with injected disk faults) and a manual clock. Stored lines are counted in the sealed
 * files after a flush; then the DynamoDB adapter itself against the same embedded store.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { DynamoIdempotencyStore, partitionKey } from "../../lambda/adapters/dynamo-idempotency.js";
import { LOCAL_REGISTRY_TABLES } from "../../lambda/adapters/dynamo-registry.js";
import type { IdempotencyClaimRequest } from "../../lambda/core/ports.js";
import type { StreamRecord } from "../../lambda/core/types.js";
import { registryClient } from "../../lambda/local/embedded-registry.js";
import { localIdempotencyWindowSeconds } from "../../lambda/local/idempotency.js";
import { filesUnder } from "../helpers/files.js";
import { type HttpResult, send } from "../helpers/http.js";
import { CollectingLogger, startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";
import { FaultyFs, gate } from "../unit/file-sink-fixtures.js";

const TABLE = LOCAL_REGISTRY_TABLES.idempotency ?? "";
const DAY_MS = 24 * 3600 * 1000;

interface Client {
  post(body: string, key?: string, path?: "data" | "batch", streamId?: string): Promise<HttpResult>;
}

function clientFor(t: TestRuntime, stream: StreamRecord, token: string): Client {
  return {
    post: (body, key, path = "data", streamId = stream.id) =>
      send(`${t.runtime.url}/stream/v0/${path}/${streamId}`, {
        headers: {
          authorization: `Bearer ${token}`,
          "x-amperity-tenant": stream.tenant,
          "content-type": path === "batch" ? "application/x-ndjson" : "application/json",
          ...(key === undefined ? {} : { "idempotency-key": key }),
        },
        body,
      }),
  };
}

/** Every line stored for the stream (sealed after a flush), in file order. */
async function storedLines(t: TestRuntime, streamId: string): Promise<string[]> {
  await t.runtime.flush();
  const root = join(t.runtime.layout.objects, "streams");
  return filesUnder(root)
    .filter((file) => file.includes(`/${streamId}/`))
    .sort()
    .flatMap((file) => readFileSync(join(root, file), "utf8").split("\n").slice(0, -1));
}

const clients = new Map<TestRuntime, DynamoDBDocumentClient>();

/** A client of the runtime's embedded store (destroyed in `stopRuntime`). */
function storeClient(t: TestRuntime): DynamoDBDocumentClient {
  let client = clients.get(t);
  if (client === undefined) {
    client = registryClient(t.runtime.registryEndpoint);
    clients.set(t, client);
  }
  return client;
}

async function stopRuntime(t: TestRuntime): Promise<void> {
  clients.get(t)?.destroy();
  clients.delete(t);
  await t.stop();
}

async function itemCount(t: TestRuntime): Promise<number> {
  const { Items = [] } = await storeClient(t).send(new ScanCommand({ TableName: TABLE }));
  return Items.length;
}

/** Polls (bounded) until `probe` returns a value `done` accepts. */
async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("Idempotency-Key over HTTP (local runtime)", () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => {
    await stopRuntime(t);
  });

  it("stores the first request once; a repeat answers 202 duplicate:true and stores nothing", async () => {
    const { stream, token } = await t.ready();
    const c = clientFor(t, stream, token);
    const first = await c.post('{"order": 1}', "order-1");
    expect(first.status).toBe(202);
    expect(first.json).toEqual({
      status: "accepted",
      stream: stream.id,
      request_id: first.headers["x-request-id"],
      duplicate: false,
    });
    const again = await c.post('{"order": 1}', "order-1");
    expect(again.status).toBe(202);
    expect(again.json).toEqual({
      status: "accepted",
      stream: stream.id,
      request_id: again.headers["x-request-id"],
      duplicate: true,
      original_request_id: first.headers["x-request-id"],
    });
    expect(await storedLines(t, stream.id)).toEqual(['{"order":1}']);
  });

  it("keeps streams apart, refuses another body with 400, and stores unkeyed requests without the table", async () => {
    const { stream, token } = await t.ready();
    const other = await t.createStream();
    const c = clientFor(t, stream, token);
    const before = await itemCount(t);
    expect((await c.post('{"plain": 1}')).status).toBe(202);
    expect((await c.post('{"plain": 1}')).status).toBe(202);
    expect(await itemCount(t)).toBe(before);

    expect((await c.post('{"n": 1}', "k")).json.duplicate).toBe(false);
    expect((await c.post('{"n": 1}', "k", "data", other.id)).json.duplicate).toBe(false);
    const reused = await c.post('{"n": 2}', "k");
    expect(reused.status).toBe(400);
    expect(reused.json).toMatchObject({ error: { code: "idempotency_key_reused", retryable: false } });
    expect(await storedLines(t, stream.id)).toEqual(['{"plain":1}', '{"plain":1}', '{"n":1}']);
    expect(await storedLines(t, other.id)).toEqual(['{"n":1}']);
  });

  it("takes a keyed batch as one unit", async () => {
    const { stream, token } = await t.ready();
    const c = clientFor(t, stream, token);
    const first = await c.post('{"n":1}\n{"n":2}\n', "load-1", "batch");
    const again = await c.post('{"n":1}\n{"n":2}\n', "load-1", "batch");
    expect([first.status, first.json.records, first.json.duplicate]).toEqual([202, 2, false]);
    expect([again.status, again.json.records, again.json.duplicate]).toEqual([202, 2, true]);
    expect(await storedLines(t, stream.id)).toEqual(['{"n":1}', '{"n":2}']);
  });

  it("answers 400 invalid_idempotency_key for a bad key, storing nothing", async () => {
    const { stream, token } = await t.ready();
    const bad = await clientFor(t, stream, token).post("{}", "k".repeat(129));
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: { code: "invalid_idempotency_key" } });
    expect(await storedLines(t, stream.id)).toEqual([]);
  });

  it("stores exactly once when the same key arrives many times at once", async () => {
    const { stream, token } = await t.ready();
    const c = clientFor(t, stream, token);
    const results = await Promise.all(Array.from({ length: 8 }, () => c.post('{"race": true}', "race-1")));
    const stored = results.filter((r) => r.status === 202 && r.json.duplicate === false);
    expect(stored).toHaveLength(1);
    for (const r of results.filter((r) => !stored.includes(r))) {
      if (r.status === 202) expect(r.json.duplicate).toBe(true);
      else {
        expect(r.status).toBe(503);
        expect(r.json).toMatchObject({ error: { code: "idempotency_key_in_use", retryable: true } });
        expect(r.headers["retry-after"]).toBe("1");
      }
    }
    expect((await c.post('{"race": true}', "race-1")).json.duplicate).toBe(true);
    expect(await storedLines(t, stream.id)).toEqual(['{"race":true}']);
  });

  it("forgets a key after the 24 h window: the repeat is stored again", async () => {
    const { stream, key } = await t.ready();
    const token = await t.tokenFor(key, 3);
    const c = clientFor(t, stream, token);
    expect((await c.post('{"day": 1}', "daily")).json.duplicate).toBe(false);
    t.clock.advance(DAY_MS - 1000);
    expect((await c.post('{"day": 1}', "daily")).json.duplicate).toBe(true);
    t.clock.advance(1000);
    expect((await c.post('{"day": 1}', "daily")).json.duplicate).toBe(false);
    expect(await storedLines(t, stream.id)).toEqual(['{"day":1}', '{"day":1}']);
  });
});

describe("Idempotency-Key with disk faults (local runtime)", () => {
  let t: TestRuntime | undefined;
  afterEach(async () => {
    if (t !== undefined) await stopRuntime(t);
    t = undefined;
  });

  it("a refused write releases the key: the retry after the fault is stored, once", async () => {
    const fs = new FaultyFs();
    t = await startTestRuntime({ faults: { sinkFs: fs } });
    const { stream, token } = await t.ready();
    const c = clientFor(t, stream, token);
    fs.writeFault = "EIO";
    const refused = await c.post('{"id": "a"}', "key-a");
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ error: { code: "sink_unavailable" } });
    fs.writeFault = undefined;
    const retried = await c.post('{"id": "a"}', "key-a");
    expect([retried.status, retried.json.duplicate]).toEqual([202, false]);
    expect((await c.post('{"id": "a"}', "key-a")).json.duplicate).toBe(true);
    expect(await storedLines(t, stream.id)).toEqual(['{"id":"a"}']);
  });

  it("a write slower than the delivery timeout: 504, the retry waits (503) and then gets the duplicate", async () => {
    const fs = new FaultyFs();
    t = await startTestRuntime({ faults: { sinkFs: fs, deliveryTimeoutMs: 300 } });
    const { stream, token } = await t.ready();
    const c = clientFor(t, stream, token);
    const slow = gate();
    fs.datasyncGate = slow.promise;
    const timedOut = await c.post('{"id": "slow"}', "key-slow");
    expect(timedOut.status).toBe(504);
    const waiting = await c.post('{"id": "slow"}', "key-slow");
    expect(waiting.status).toBe(503);
    expect(waiting.json).toMatchObject({ error: { code: "idempotency_key_in_use" } });
    fs.datasyncGate = undefined;
    slow.open();
    const settled = await pollUntil(
      () => c.post('{"id": "slow"}', "key-slow"),
      (r) => r.status !== 503,
    );
    expect([settled.status, settled.json.duplicate]).toEqual([202, true]);
    expect(await storedLines(t, stream.id)).toEqual(['{"id":"slow"}']);
  });
});

describe("DynamoIdempotencyStore on the embedded store", () => {
  let t: TestRuntime;
  let store: DynamoIdempotencyStore;
  const logger = new CollectingLogger();
  const NOW = Date.UTC(2026, 0, 1);
  const claim = (overrides: Partial<IdempotencyClaimRequest> = {}): IdempotencyClaimRequest => ({
    streamId: "is-Adapter1",
    key: "k",
    token: "token-1",
    fingerprint: "f1",
    requestId: "req-1",
    now: NOW,
    expiresAt: NOW + DAY_MS,
    abandonedBefore: NOW - 20_000,
    ...overrides,
  });

  beforeAll(async () => {
    t = await startTestRuntime();
    store = new DynamoIdempotencyStore({ client: storeClient(t), table: TABLE, logger });
  });
  afterAll(async () => {
    await stopRuntime(t);
  });

  it("claims once; a second claim sees pending, then accepted after the confirm", async () => {
    const first = claim({ key: "a" });
    expect(await store.claim(first)).toEqual({ state: "claimed" });
    expect(await store.claim(claim({ key: "a", token: "token-2", now: NOW + 5 }))).toEqual({
      state: "pending",
      fingerprint: "f1",
      claimedAt: NOW,
    });
    expect(await store.confirm(first, NOW + 10, NOW + 10 + DAY_MS)).toBe(true);
    expect(await store.confirm(first, NOW + 10, NOW + 10 + DAY_MS)).toBe(true); // a retried confirm
    expect(
      await store.claim(claim({ key: "a", token: "token-3", fingerprint: "f2", now: NOW + 20 })),
    ).toEqual({
      state: "accepted",
      fingerprint: "f1",
      acceptedAt: NOW + 10,
      requestId: "req-1",
    });
  });

  it("a claim colliding with its own earlier write (an SDK retry) holds the key", async () => {
    expect(await store.claim(claim({ key: "own" }))).toEqual({ state: "claimed" });
    expect(await store.claim(claim({ key: "own", now: NOW + 1 }))).toEqual({ state: "claimed" });
  });

  it("takes over an abandoned pending claim; the old holder can neither confirm nor release it", async () => {
    const old = claim({ key: "b" });
    await store.claim(old);
    const takeover = claim({
      key: "b",
      token: "token-new",
      now: NOW + 30_000,
      abandonedBefore: NOW + 10_000,
    });
    expect(await store.claim(takeover)).toEqual({ state: "claimed" });
    expect(await store.confirm(old, NOW + 31_000, NOW + DAY_MS)).toBe(false);
    await store.release(old);
    expect(
      await store.claim(claim({ key: "b", token: "token-3", now: NOW + 31_000, abandonedBefore: NOW })),
    ).toMatchObject({ state: "pending", claimedAt: NOW + 30_000 });
  });

  it("release frees the key only for its holder", async () => {
    const held = claim({ key: "c" });
    await store.claim(held);
    await store.release({ ...held, token: "someone-else" });
    expect(await store.claim(claim({ key: "c", token: "t2", now: NOW + 1 }))).toMatchObject({
      state: "pending",
    });
    await store.release(held);
    expect(await store.claim(claim({ key: "c", token: "t2", now: NOW + 2 }))).toEqual({ state: "claimed" });
  });

  it("treats an expired item as absent, and the sweep deletes expired items only", async () => {
    const short = claim({ key: "d", expiresAt: NOW + 60_000 });
    await store.claim(short);
    await store.confirm(short, NOW, NOW + 60_000);
    await store.claim(claim({ key: "e", expiresAt: NOW + DAY_MS }));
    expect(await store.claim(claim({ key: "d", token: "x", now: NOW + 59_999 }))).toMatchObject({
      state: "accepted",
    });
    const deleted = await store.sweepExpired(NOW + 60_000);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const { Items = [] } = await storeClient(t).send(new ScanCommand({ TableName: TABLE }));
    const keys = Items.map((item) => item.pk);
    expect(keys).not.toContain(partitionKey("is-Adapter1", "d"));
    expect(keys).toContain(partitionKey("is-Adapter1", "e"));
    expect(await store.claim(claim({ key: "d", token: "y", now: NOW + 60_000 }))).toEqual({
      state: "claimed",
    });
  });

  it("sweeps lazily from claims once the interval has passed", async () => {
    let now = NOW;
    const swept = new DynamoIdempotencyStore({
      client: storeClient(t),
      table: TABLE,
      logger,
      sweepIntervalMs: 3_600_000,
      now: () => now,
    });
    await swept.claim(claim({ key: "f", expiresAt: NOW + 60_000 }));
    now = NOW + 3_600_000;
    await swept.claim(claim({ key: "g", now }));
    await swept.settled();
    const { Items = [] } = await storeClient(t).send(new ScanCommand({ TableName: TABLE }));
    expect(Items.map((item) => item.pk)).not.toContain(partitionKey("is-Adapter1", "f"));
  });

  it("answers 503 idempotency_unavailable when the store cannot be reached", async () => {
    const client = registryClient("http://127.0.0.1:9", { requestTimeoutMs: 200, connectionTimeoutMs: 200 });
    try {
      const down = new DynamoIdempotencyStore({ client, table: TABLE, logger });
      await expect(down.claim(claim({ key: "z" }))).rejects.toMatchObject({
        status: 503,
        code: "idempotency_unavailable",
        retryAfterSeconds: 1,
      });
      await expect(down.confirm(claim({ key: "z" }), NOW, NOW)).rejects.toMatchObject({ status: 503 });
      await expect(down.release(claim({ key: "z" }))).rejects.toMatchObject({ status: 503 });
    } finally {
      client.destroy();
    }
  });
});

describe("local idempotency window", () => {
  it("is 24 h by default, else the option, else the environment variable; out of bounds is refused", () => {
    expect(localIdempotencyWindowSeconds(undefined, {})).toBe(86_400);
    expect(localIdempotencyWindowSeconds(undefined, { INGEST_IDEMPOTENCY_WINDOW_SECONDS: " 3600 " })).toBe(
      3600,
    );
    expect(localIdempotencyWindowSeconds(600, { INGEST_IDEMPOTENCY_WINDOW_SECONDS: "3600" })).toBe(600);
    expect(() =>
      localIdempotencyWindowSeconds(undefined, { INGEST_IDEMPOTENCY_WINDOW_SECONDS: "1.5" }),
    ).toThrow(/INGEST_IDEMPOTENCY_WINDOW_SECONDS must be a whole number of seconds from 60 to 2592000/);
    expect(() => localIdempotencyWindowSeconds(59, {})).toThrow(/idempotencyWindowSeconds/);
  });
});

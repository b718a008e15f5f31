/**
 * `ingest serve --emulate-aws` end to end, over real HTTP with real tokens: the API Gateway front, the bundled
 * ingest Lambda (its real FirehoseClient, retry loop and 6 s delivery budget), the emulated Firehose with
 * injected faults, the bucket directory, the provisioner bundle fed by the table change feed, the deferred
 * deletion queue, and a restart on the same data directory.
 *
 * What the README promises and these tests hold it to: 202 only once Firehose acknowledged every record ("no 202
 * without an acknowledgement"); throttling for the whole budget is 429 `delivery_throttled`, any other failure
 * (errors, silence) 503 `delivery_unavailable`, both with Retry-After; a batch is only 202 when every entry was
 * acknowledged, and a batch answered otherwise "may be partly stored".
 *
 * Injected faults apply to every Firehose request of the emulation (the provisioner's too), so they are only set
 * while nothing is being provisioned; jest runs the tests of this file one after the other.
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { DescribeDeliveryStreamCommand, FirehoseClient } from "@aws-sdk/client-firehose";
import { THROTTLED_RETRY_AFTER_SECONDS } from "../../lambda/adapters/firehose-errors.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from "../../lambda/core/constants.js";
import type { ApiKeyRecord, StreamRecord } from "../../lambda/core/types.js";
import type { EmulatedAws } from "../../lambda/local/emulate-aws/emulated-aws.js";
import { startEmulation, streamRecord } from "../contract/emulated-target.js";
import { filesUnder } from "../helpers/files.js";
import { type HttpResult, send } from "../helpers/http.js";
import { CollectingLogger } from "../helpers/local-runtime.js";
import { CANARY_RECORD_CONTENT } from "../helpers/log-scan.js";

/** One line of a landed object, as the tests send them. */
interface Line {
  readonly case: string;
  readonly n: number;
  readonly pad?: string;
}

/** A fresh marker, so each test finds exactly its own records among everything the stream holds. */
const caseId = (name: string) => `${name}-${randomUUID()}`;

/** The error object of an error answer. */
function errorOf(res: HttpResult): { code?: string; retryable?: boolean } {
  return (res.json.error ?? {}) as { code?: string; retryable?: boolean };
}

/**
 * `work`, or a rejection with `explain()` once `ms` passed: a guard that turns a hang into a readable failure
 * (never a wait for something to happen).
 */
async function within<T>(ms: number, work: Promise<T>, explain: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(explain())), ms);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Emulated credentials for the SDK clients the tests use to look at the emulated services. */
const credentials = { accessKeyId: "AKIAEMULATEDTESTS001", secretAccessKey: "emulated-test-secret" };

describe("serve --emulate-aws over HTTP: faults through the real Firehose client, provisioning, restart", () => {
  let emulation: EmulatedAws;
  let dir: string;
  let logger: CollectingLogger;
  let key: ApiKeyRecord;
  /** Issued by the first emulation; used across the restart. */
  let token: string;
  /** The stream the fault tests post to. */
  let faulted: StreamRecord;
  /** The stream whose shards are raised, and which is then deleted. */
  let lifecycle: StreamRecord;

  const dataUrl = (id: string) => `${emulation.url}/stream/v0/data/${id}`;
  const batchUrl = (id: string) => `${emulation.url}/stream/v0/batch/${id}`;
  const headers = (contentType = "application/json") => ({
    authorization: `Bearer ${token}`,
    "x-amperity-tenant": "acme",
    "content-type": contentType,
  });

  /** Posts one JSON record `{case, n}` (with canary content the log scan checks never reaches a log). */
  const postRecord = (streamId: string, id: string, n = 0) =>
    send(dataUrl(streamId), {
      headers: headers(),
      body: JSON.stringify({ case: id, n, note: CANARY_RECORD_CONTENT }),
    });

  const postBatch = (streamId: string, lines: readonly string[]) =>
    send(batchUrl(streamId), { headers: headers("application/x-ndjson"), body: `${lines.join("\n")}\n` });

  /** Every object of the stream in the bucket, with its lines (NDJSON: the streams are uncompressed JSON). */
  function objectsOf(streamId: string): { key: string; lines: Line[] }[] {
    const root = join(emulation.bucketDir, "streams", "acme", streamId);
    return filesUnder(root).map((key) => ({
      key,
      lines: readFileSync(join(root, key), "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Line),
    }));
  }

  /** The `n` of every landed line of case `id`, object by object (objects holding none left out). */
  function landed(streamId: string, id: string): number[][] {
    return objectsOf(streamId)
      .map((object) => object.lines.filter((line) => line.case === id).map((line) => line.n))
      .filter((ns) => ns.length > 0);
  }

  /** Clears the faults and delivers every buffered record, so "not in the bucket" means "not acknowledged". */
  async function resetAndFlush(): Promise<void> {
    emulation.firehose.faults.reset();
    await emulation.flush();
  }

  async function describeDeliveryStream(name: string): Promise<string | undefined> {
    const client = new FirehoseClient({
      endpoint: emulation.firehose.endpoint,
      region: emulation.assembly.region,
      credentials,
      maxAttempts: 1,
    });
    try {
      const out = await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }));
      return out.DeliveryStreamDescription?.DeliveryStreamStatus;
    } finally {
      client.destroy();
    }
  }

  /** The stream's raw registry item's `delivery_updated_at`: it changes whenever the provisioner writes it. */
  async function deliveryUpdatedAt(id: string): Promise<string | undefined> {
    const client = new DynamoDBClient({
      endpoint: emulation.registryEndpoint,
      region: emulation.assembly.region,
      credentials,
    });
    try {
      const out = await client.send(
        new GetItemCommand({ TableName: emulation.tables.streams, Key: { id: { S: id } } }),
      );
      return out.Item?.delivery_updated_at?.S;
    } finally {
      client.destroy();
    }
  }

  /** The provisioner: the stack's function with DELIVERY_STREAM_PREFIX in its environment. */
  function provisioner() {
    const found = [...emulation.assembly.functions.values()].filter(
      (fn) => fn.environment.DELIVERY_STREAM_PREFIX !== undefined,
    );
    expect(found).toHaveLength(1);
    const [fn] = found;
    if (fn === undefined) throw new Error("the stack has no provisioner function");
    return fn;
  }

  /** The prefix of the stack's delivery stream names, from the provisioner's environment. */
  const deliveryPrefix = () => provisioner().environment.DELIVERY_STREAM_PREFIX ?? "";

  /** The provisioner's own log (its JSON lines: stream ids, actions, outcomes; never record content). */
  const provisionerLog = () => join(emulation.layout.lambda, provisioner().name, "function.log");

  beforeAll(async () => {
    logger = new CollectingLogger();
    ({ emulation, dir } = await startEmulation(logger));
    key = {
      id: "ik-emuawstest00001",
      tenant: "acme",
      name: "emulate-aws test",
      status: "active",
      createdAt: new Date().toISOString(),
    };
    await emulation.admin.createApiKey(key);
    token = (
      await issueAccessToken({
        issuer: emulation.tokens.issuer,
        audience: emulation.tokens.audience,
        signer: emulation.tokens.signer,
        key,
        days: 1,
        clock: { now: () => Date.now() },
      })
    ).token;
    faulted = streamRecord({ payload: "json" });
    lifecycle = streamRecord({ payload: "json" });
    await Promise.all([faulted, lifecycle].map((s) => emulation.admin.createStream(s)));
    [faulted, lifecycle] = await Promise.all([
      emulation.waitForDelivery(faulted.id),
      emulation.waitForDelivery(lifecycle.id),
    ]);
  }, 90_000);

  afterAll(async () => {
    await emulation?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  afterEach(() => {
    emulation?.firehose.faults.reset();
  });

  it("provisions a new stream through the provisioner bundle: ACTIVE, with delivery stream <prefix>-<id>-0", async () => {
    const prefix = deliveryPrefix();
    expect(prefix).toBe(emulation.assembly.stackName);
    for (const stream of [faulted, lifecycle]) {
      expect(stream.deliveryStatus).toBe("ACTIVE");
      expect(stream.deliveryStreams).toEqual([`${prefix}-${stream.id}-0`]);
      expect(await describeDeliveryStream(`${prefix}-${stream.id}-0`)).toBe("ACTIVE");
    }
    const id = caseId("baseline");
    const res = await postRecord(faulted.id, id);
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ status: "accepted", stream: faulted.id });
    await emulation.flush();
    expect(landed(faulted.id, id)).toEqual([[0]]);
    for (const object of objectsOf(faulted.id)) {
      expect(object.key).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\d{2}\/[^/]+\.ndjson$/);
    }
  });

  describe("a single record", () => {
    it.each([
      ["throttles", "throttleNext", 429, "delivery_throttled", THROTTLED_RETRY_AFTER_SECONDS],
      ["fails", "unavailableNext", 503, "delivery_unavailable", UNAVAILABLE_RETRY_AFTER_SECONDS],
    ] as const)(
      "when Firehose %s for the whole budget (%s): %i %s with Retry-After, and nothing is stored",
      async (_, fault, status, code, retryAfter) => {
        emulation.firehose.faults[fault](Number.MAX_SAFE_INTEGER);
        const id = caseId(code);
        const res = await postRecord(faulted.id, id);
        expect(res.status).toBe(status);
        expect(errorOf(res)).toMatchObject({ code, retryable: true });
        expect(res.headers["retry-after"]).toBe(String(retryAfter));
        await resetAndFlush();
        expect(landed(faulted.id, id)).toEqual([]);
      },
      30_000,
    );

    it.each(["throttleNext", "unavailableNext"] as const)(
      "is 202 after one failed attempt (%s(1): the Lambda retried) and lands exactly once",
      async (fault) => {
        emulation.firehose.faults[fault](1);
        const id = caseId(`${fault}-once`);
        const res = await postRecord(faulted.id, id);
        expect(res.status).toBe(202);
        await resetAndFlush();
        expect(landed(faulted.id, id)).toEqual([[0]]);
      },
      30_000,
    );
  });

  describe("a batch", () => {
    /** `count` NDJSON lines of case `id`; with `bytes`, each line is padded to exactly that many bytes. */
    function lines(id: string, count: number, bytes?: number): string[] {
      return Array.from({ length: count }, (_, n) => {
        const bare = JSON.stringify({ case: id, n, pad: "" });
        return bytes === undefined
          ? bare
          : JSON.stringify({ case: id, n, pad: "x".repeat(bytes - bare.length) });
      });
    }
    /**
     * Lines of 250,000 bytes: the Lambda packs a batch's lines (each with its "\n") into Firehose records of at
     * most 1,024,000 bytes, so 8 of them are two PutRecordBatch entries of 4 lines each (lines 0–3, 4–7).
     */
    const BIG_LINE = 250_000;

    it("is 202 after its entry failed twice, and every line lands exactly once, in order", async () => {
      emulation.firehose.faults.failBatchEntries(2);
      const id = caseId("batch-retried");
      const res = await postBatch(faulted.id, lines(id, 5));
      expect(res.status).toBe(202);
      expect(res.json).toMatchObject({ status: "accepted", records: 5 });
      await resetAndFlush();
      expect(landed(faulted.id, id)).toEqual([[0, 1, 2, 3, 4]]);
    }, 30_000);

    it("of two Firehose entries is 202 after one entry failed, and every line lands exactly once", async () => {
      emulation.firehose.faults.failBatchEntries(1);
      const id = caseId("batch-two-entries");
      const body = lines(id, 8, BIG_LINE);
      expect(body.every((line) => Buffer.byteLength(line) === BIG_LINE)).toBe(true);
      const res = await postBatch(faulted.id, body);
      expect(res.status).toBe(202);
      expect(res.json).toMatchObject({ status: "accepted", records: 8 });
      await resetAndFlush();
      const objects = landed(faulted.id, id);
      expect([...objects.flat()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      // Each Firehose entry's lines stay together and in order. Across entries the order is not kept: the first
      // entry (lines 0–3) failed and was resent after the second (4–7) was acknowledged, which is what "retries
      // only the entries that failed" does (README "Sending batches", On AWS). Note that the README's general
      // "Records of a batch are stored in order, next to each other" is therefore not true of this case.
      expect(objects).toHaveLength(1);
      expect([
        [0, 1, 2, 3, 4, 5, 6, 7],
        [4, 5, 6, 7, 0, 1, 2, 3],
      ]).toContainEqual(objects[0]);
    }, 30_000);

    it("is 503 delivery_unavailable with Retry-After when every entry keeps failing, and nothing of it is stored", async () => {
      emulation.firehose.faults.failBatchEntries(() => true, "InternalFailure");
      const id = caseId("batch-failing");
      const res = await postBatch(faulted.id, lines(id, 8, BIG_LINE));
      expect(res.status).toBe(503);
      expect(errorOf(res)).toMatchObject({ code: "delivery_unavailable", retryable: true });
      expect(res.headers["retry-after"]).toBe(String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      await resetAndFlush();
      expect(landed(faulted.id, id)).toEqual([]);
    }, 30_000);

    it("is 429 delivery_throttled when one entry keeps being throttled: never 202, and only the acknowledged entry may be stored", async () => {
      // Only the entry holding lines 4–7 is failed ("Slow down."), on every attempt; lines 0–3 are acknowledged
      // by the first PutRecordBatch. README: a batch answered otherwise than 202 "may be partly stored", because
      // Firehose took some of its records before the budget ran out; the Lambda retries only the failed entries.
      const id = caseId("batch-partial");
      const failing = Buffer.from(`"case":"${id}","n":4,`);
      emulation.firehose.faults.failBatchEntries((data) => data.includes(failing));
      const res = await postBatch(faulted.id, lines(id, 8, BIG_LINE));
      // README: "429 delivery_throttled if Firehose was throttling". (Known issue: when the budget ends while a
      // retry of the throttled entry is in flight, the Lambda answers 503 "no acknowledgement within the budget"
      // instead, though every answered attempt was "Slow down."; this assertion fails on those runs.)
      expect(res.status).toBe(429);
      expect(errorOf(res)).toMatchObject({ code: "delivery_throttled", retryable: true });
      expect(res.headers["retry-after"]).toBe(String(THROTTLED_RETRY_AFTER_SECONDS));
      await resetAndFlush();
      // What may land: lines of acknowledged entries only, each once (acknowledged entries are never resent),
      // never a line of the entry that was never acknowledged. Here that is exactly the first entry.
      const stored = landed(faulted.id, id).flat();
      expect(new Set(stored).size).toBe(stored.length);
      expect(stored.filter((n) => n >= 4)).toEqual([]);
      expect(stored).toEqual([0, 1, 2, 3]);
    }, 30_000);
  });

  it("is 503 delivery_unavailable with Retry-After when Firehose answers nothing within the Lambda's delivery budget", async () => {
    const budgetMs = Number(emulation.assembly.apiFunction.environment.DELIVERY_BUDGET_MS);
    expect(budgetMs).toBe(6000);
    emulation.firehose.faults.delayMs = budgetMs + 1000;
    const started = Date.now();
    const res = await postRecord(faulted.id, caseId("silent"));
    emulation.firehose.faults.reset();
    expect(res.status).toBe(503);
    expect(errorOf(res)).toMatchObject({ code: "delivery_unavailable", retryable: true });
    expect(res.headers["retry-after"]).toBe(String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    // Answered when the budget ran out, not after the integration's 30 s timeout.
    expect(Date.now() - started).toBeLessThan(budgetMs + 5000);
    // Nothing is asserted about the record landing: the emulator still answers the abandoned PutRecords once
    // their delay has passed, so the record "may or may not be stored" (README: 503 on budget exhaustion).
  }, 30_000);

  it("keeps streams, tokens and accepted records across a restart on the same data directory", async () => {
    const before = await emulation.admin.getStream(faulted.id);
    const updatedAt = await deliveryUpdatedAt(faulted.id);
    expect(before?.deliveryStatus).toBe("ACTIVE");
    expect(updatedAt).toBeDefined();

    // Accepted, still buffered in the emulated Firehose: close() delivers it.
    const kept = caseId("before-restart");
    expect((await postRecord(faulted.id, kept)).status).toBe(202);
    expect(landed(faulted.id, kept)).toEqual([]);
    await emulation.close();
    expect(landed(faulted.id, kept)).toEqual([[0]]);

    ({ emulation } = await startEmulation(logger, dir));
    // ACTIVE at once, with the same delivery streams, and nothing re-provisioned once the feed has caught up.
    const after = await emulation.admin.getStream(faulted.id);
    expect(after?.deliveryStatus).toBe("ACTIVE");
    expect(after?.deliveryStreams).toEqual(before?.deliveryStreams);
    await emulation.syncRegistry();
    expect(await deliveryUpdatedAt(faulted.id)).toBe(updatedAt);
    expect(await describeDeliveryStream(faulted.deliveryStreams[0] ?? "")).toBe("ACTIVE");

    // The token issued before the restart (same KMS key, kept under aws/kms) is still good.
    const id = caseId("after-restart");
    const res = await postRecord(faulted.id, id);
    expect(res.status).toBe(202);
    await emulation.flush();
    expect(landed(faulted.id, id)).toEqual([[0]]);
    expect(landed(faulted.id, kept)).toEqual([[0]]);
  }, 60_000);

  describe("provisioning lifecycle", () => {
    it("adds delivery stream -1 when shards go from 1 to 2, keeping the stream ACTIVE", async () => {
      const prefix = deliveryPrefix();
      const current = await emulation.admin.getStream(lifecycle.id);
      if (current === undefined) throw new Error(`stream ${lifecycle.id} is gone`);
      expect(current.delivery.shards).toBe(1);
      await emulation.admin.saveStream({
        ...current,
        delivery: { ...current.delivery, shards: 2 },
        updatedAt: new Date().toISOString(),
      });
      await emulation.syncRegistry();
      const updated = await emulation.waitForDelivery(lifecycle.id);
      expect(updated.deliveryStatus).toBe("ACTIVE");
      expect(updated.delivery.shards).toBe(2);
      expect(updated.deliveryStreams).toEqual([`${prefix}-${lifecycle.id}-0`, `${prefix}-${lifecycle.id}-1`]);
      expect(await describeDeliveryStream(`${prefix}-${lifecycle.id}-1`)).toBe("ACTIVE");
      lifecycle = updated;
    }, 30_000);

    it("schedules the deletion of a deleted stream's delivery streams in the queue instead of deleting them at once", async () => {
      const prefix = deliveryPrefix();
      const names = [`${prefix}-${lifecycle.id}-0`, `${prefix}-${lifecycle.id}-1`];
      const deletedAt = Date.now();
      expect(await emulation.admin.deleteStream(lifecycle.id)).toBe(true);
      // Bounded: a provisioner that keeps failing is retried by the feed for minutes; say why instead.
      await within(20_000, emulation.syncRegistry(), () => {
        const failures = readFileSync(provisionerLog(), "utf8")
          .split("\n")
          .filter((line) => line.includes("stream change failed"));
        return `the provisioner did not handle the deletion of ${lifecycle.id} within 20 s; its last failure: ${failures.at(-1) ?? "none logged"}`;
      });
      expect(await emulation.admin.getStream(lifecycle.id)).toBeUndefined();

      const messages = readdirSync(emulation.layout.sqs)
        .filter((file) => file.endsWith(".json"))
        .flatMap((file) => {
          const state = JSON.parse(readFileSync(join(emulation.layout.sqs, file), "utf8")) as {
            messages: { body: string; visibleAt: number }[];
          };
          return state.messages.map((message) => ({ file, ...message }));
        })
        .filter((message) => message.body.includes(lifecycle.id));
      expect(messages).toHaveLength(1);
      const [message] = messages;
      if (message === undefined) throw new Error("no deletion message");
      const body = JSON.parse(message.body) as {
        kind: string;
        streamId: string;
        deliveryStreams: string[];
        notBefore: number;
      };
      expect(body).toMatchObject({ kind: "delete-delivery-streams", streamId: lifecycle.id });
      expect([...body.deliveryStreams].sort()).toEqual(names);
      // The ingest Lambda's cache TTL (30 s) + the buffer interval (300 s) + a 2 min margin: not due for a while.
      const ttl = Number(emulation.assembly.apiFunction.environment.REGISTRY_CACHE_TTL_SECONDS);
      expect(ttl).toBe(30);
      const waitSeconds = ttl + lifecycle.delivery.bufferSeconds + 120;
      expect(body.notBefore).toBeGreaterThanOrEqual(deletedAt + waitSeconds * 1000);
      expect(message.visibleAt).toBeGreaterThan(Date.now() + 60_000);
      // Not deleted at once: both still take records for whatever was accepted before.
      for (const name of names) expect(await describeDeliveryStream(name)).toBe("ACTIVE");
    }, 30_000);
  });
});

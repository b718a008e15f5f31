/**
 * TableChangeFeed over the real embedded DynamoDB (dynalite): each test writes to its own table and drives the
 * feed with sync() only (never the timer). The subscribed Lambda is a recorder that keeps every event it gets
 * and answers as the test tells it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AttributeValue, CreateTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type EmbeddedRegistry, startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";
import {
  TableChangeFeed,
  type TableChangeFeedOptions,
} from "../../lambda/local/emulate-aws/table-change-feed.js";
import { CollectingLogger } from "../helpers/local-runtime.js";

const REGION = "eu-west-1";

type Image = Record<string, AttributeValue>;

interface StreamRecord {
  eventID: string;
  eventName: "INSERT" | "MODIFY" | "REMOVE";
  eventVersion: string;
  eventSource: string;
  awsRegion: string;
  eventSourceARN: string;
  dynamodb: {
    ApproximateCreationDateTime: number;
    Keys: Image;
    NewImage?: Image;
    OldImage?: Image;
    SequenceNumber: string;
    SizeBytes: number;
    StreamViewType: string;
  };
}

interface StreamEvent {
  Records: StreamRecord[];
}

/** What the recorder answers one invocation: a value (e.g. batch item failures) or a thrown error. */
type Answer = (event: StreamEvent) => unknown;

/** The subscribed function: records every event; answers with the queued answers, then with `otherwise`. */
class Recorder {
  readonly events: StreamEvent[] = [];
  readonly answers: Answer[] = [];
  otherwise: Answer = () => ({ batchItemFailures: [] });

  readonly invoke = async (event: unknown): Promise<unknown> => {
    const copy = structuredClone(event) as StreamEvent;
    this.events.push(copy);
    return (this.answers.shift() ?? this.otherwise)(copy);
  };

  get records(): StreamRecord[] {
    return this.events.flatMap((e) => e.Records);
  }

  /** Forgets what was recorded so far. */
  clear(): void {
    this.events.length = 0;
  }
}

let dir: string;
let registry: EmbeddedRegistry;
let tableCounter = 0;
const feeds: TableChangeFeed[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "table-change-feed-"));
  registry = await startEmbeddedRegistry(join(dir, "dynamodb"), {
    streams: "feed-streams",
    apiKeys: "feed-api-keys",
  });
});

afterEach(async () => {
  await Promise.all(feeds.splice(0).map((feed) => feed.close()));
});

afterAll(async () => {
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh table (key `id`, like the registry's), so tests do not see each other's items. */
async function freshTable(): Promise<string> {
  tableCounter++;
  const name = `feed-test-${tableCounter}`;
  await registry.client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  // dynalite makes a new table ACTIVE on its next tick; ask until it is (no timer: each ask is a round trip).
  for (let asked = 0; asked < 100; asked++) {
    const { Table } = await registry.client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === "ACTIVE") return name;
  }
  throw new Error(`table ${name} did not become ACTIVE`);
}

interface Setup {
  readonly table: string;
  readonly recorder: Recorder;
  readonly logger: CollectingLogger;
  readonly checkpointFile: string;
  readonly feed: (overrides?: Partial<TableChangeFeedOptions>) => TableChangeFeed;
}

async function setUp(): Promise<Setup> {
  const table = await freshTable();
  const recorder = new Recorder();
  const logger = new CollectingLogger();
  const checkpointFile = join(dir, `${table}.checkpoint.json`);
  return {
    table,
    recorder,
    logger,
    checkpointFile,
    feed: (overrides = {}) => {
      const feed = new TableChangeFeed({
        client: registry.client,
        table,
        keyAttribute: "id",
        streamArn: `arn:aws:dynamodb:${REGION}:123456789012:table/${table}/stream/emulated`,
        region: REGION,
        invoke: recorder.invoke,
        checkpointFile,
        backoffMs: () => 0,
        logger,
        ...overrides,
      });
      feeds.push(feed);
      return feed;
    },
  };
}

const put = (table: string, item: Record<string, unknown>) =>
  registry.client.send(new PutCommand({ TableName: table, Item: item }));
const remove = (table: string, id: string) =>
  registry.client.send(new DeleteCommand({ TableName: table, Key: { id } }));

function sequenceOf(record: StreamRecord | undefined): string {
  if (record === undefined) throw new Error("no record");
  return record.dynamodb.SequenceNumber;
}

function keyOf(record: StreamRecord): string | undefined {
  return record.dynamodb.Keys.id?.S;
}

/** The item keys the checkpoint file holds images of. */
function checkpointedKeys(file: string): string[] {
  if (!existsSync(file)) return [];
  const checkpoint = JSON.parse(readFileSync(file, "utf8")) as { images: Record<string, unknown> };
  return Object.keys(checkpoint.images).sort();
}

describe("TableChangeFeed", () => {
  it("delivers an INSERT, a MODIFY and a REMOVE as DynamoDB stream records with the images", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    const feed = makeFeed();
    await put(table, { id: "item-1", n: 1, flag: true, nothing: null, nested: { a: "b" }, list: [1, "x"] });
    await feed.sync();
    await registry.client.send(
      new UpdateCommand({
        TableName: table,
        Key: { id: "item-1" },
        UpdateExpression: "SET #n = :n REMOVE #nested",
        ExpressionAttributeNames: { "#n": "n", "#nested": "nested" },
        ExpressionAttributeValues: { ":n": 2 },
      }),
    );
    await feed.sync();
    await remove(table, "item-1");
    await feed.sync();

    expect(recorder.events.map((e) => e.Records.length)).toEqual([1, 1, 1]);
    const [insert, modify, removal] = recorder.records;
    const common = {
      eventID: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventVersion: "1.1",
      eventSource: "aws:dynamodb",
      awsRegion: REGION,
      eventSourceARN: `arn:aws:dynamodb:${REGION}:123456789012:table/${table}/stream/emulated`,
    };
    const firstImage = {
      id: { S: "item-1" },
      n: { N: "1" },
      flag: { BOOL: true },
      nothing: { NULL: true },
      nested: { M: { a: { S: "b" } } },
      list: { L: [{ N: "1" }, { S: "x" }] },
    };
    const secondImage = {
      id: { S: "item-1" },
      n: { N: "2" },
      flag: { BOOL: true },
      nothing: { NULL: true },
      list: { L: [{ N: "1" }, { S: "x" }] },
    };
    const streamFields = {
      ApproximateCreationDateTime: expect.any(Number),
      Keys: { id: { S: "item-1" } },
      SequenceNumber: expect.stringMatching(/^\d{21}$/),
      SizeBytes: expect.any(Number),
      StreamViewType: "NEW_AND_OLD_IMAGES",
    };
    expect(insert).toEqual({
      ...common,
      eventName: "INSERT",
      dynamodb: { ...streamFields, NewImage: firstImage },
    });
    expect(modify).toEqual({
      ...common,
      eventName: "MODIFY",
      dynamodb: { ...streamFields, OldImage: firstImage, NewImage: secondImage },
    });
    expect(removal).toEqual({
      ...common,
      eventName: "REMOVE",
      dynamodb: { ...streamFields, OldImage: secondImage },
    });
    const sequences = recorder.records.map((r) => BigInt(r.dynamodb.SequenceNumber));
    expect(sequences[0]).toBeGreaterThan(0n);
    expect(sequences[1]).toBeGreaterThan(sequences[0] ?? 0n);
    expect(sequences[2]).toBeGreaterThan(sequences[1] ?? 0n);
    expect(new Set(recorder.records.map((r) => r.eventID)).size).toBe(3);
    const now = Date.now() / 1000;
    expect(insert?.dynamodb.ApproximateCreationDateTime).toBeGreaterThan(now - 60);
    expect(insert?.dynamodb.ApproximateCreationDateTime).toBeLessThanOrEqual(now);
    expect(insert?.dynamodb.SizeBytes).toBeGreaterThan(0);
  });

  it("delivers nothing when nothing changed, also when an item is rewritten with its attributes reordered", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    const feed = makeFeed();
    await put(table, { id: "same", a: 1, b: { x: "1", y: "2" }, c: "three" });
    await feed.sync();
    expect(recorder.records).toHaveLength(1);
    await feed.sync();
    await put(table, { c: "three", b: { y: "2", x: "1" }, a: 1, id: "same" });
    await feed.sync();
    expect(recorder.records).toHaveLength(1);
  });

  it("compares images regardless of attribute order (a checkpoint with reversed attributes)", async () => {
    const { table, recorder, checkpointFile, feed: makeFeed } = await setUp();
    await put(table, { id: "ordered", alpha: "1", beta: { gamma: "2", delta: "3" } });
    writeFileSync(
      checkpointFile,
      JSON.stringify({
        sequence: 7,
        images: {
          ordered: {
            beta: { M: { delta: { S: "3" }, gamma: { S: "2" } } },
            alpha: { S: "1" },
            id: { S: "ordered" },
          },
        },
      }),
    );
    await makeFeed().sync();
    expect(recorder.events).toEqual([]);
    await put(table, { id: "ordered", alpha: "changed", beta: { gamma: "2", delta: "3" } });
    await makeFeed().sync();
    expect(recorder.records.map((r) => [r.eventName, sequenceOf(r)])).toEqual([
      ["MODIFY", "000000000000000000008"],
    ]);
  });

  it("delivers the items that exist on the first start as INSERTs", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    for (const id of ["pre-1", "pre-2", "pre-3"]) await put(table, { id, v: id });
    await makeFeed().sync();
    expect(recorder.records.map((r) => r.eventName)).toEqual(["INSERT", "INSERT", "INSERT"]);
    expect(recorder.records.map(keyOf).sort()).toEqual(["pre-1", "pre-2", "pre-3"]);
    expect(recorder.records.every((r) => r.dynamodb.OldImage === undefined)).toBe(true);
  });

  it("respects the batch size", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    for (let i = 0; i < 5; i++) await put(table, { id: `batch-${i}` });
    await makeFeed({ batchSize: 2, shards: 1 }).sync();
    expect(recorder.events.map((e) => e.Records.length)).toEqual([2, 2, 1]);
    expect(recorder.records.map(keyOf).sort()).toEqual([
      "batch-0",
      "batch-1",
      "batch-2",
      "batch-3",
      "batch-4",
    ]);
  });

  it("delivers each shard's records in sequence order and a key's changes in the order they happened", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    const feed = makeFeed({ batchSize: 3, shards: 4 });
    for (let i = 0; i < 12; i++) await put(table, { id: `key-${i}`, v: 0 });
    await feed.sync();
    for (let i = 0; i < 12; i += 2) await put(table, { id: `key-${i}`, v: 1 });
    await feed.sync();
    for (let i = 0; i < 12; i += 4) await remove(table, `key-${i}`);
    await feed.sync();
    for (const event of recorder.events) {
      const sequences = event.Records.map((r) => BigInt(r.dynamodb.SequenceNumber));
      expect([...sequences].sort((a, b) => (a < b ? -1 : 1))).toEqual(sequences);
    }
    const byKey = new Map<string, string[]>();
    for (const record of recorder.records) {
      const key = keyOf(record) ?? "";
      byKey.set(key, [...(byKey.get(key) ?? []), record.eventName]);
    }
    expect(byKey.get("key-0")).toEqual(["INSERT", "MODIFY", "REMOVE"]);
    expect(byKey.get("key-2")).toEqual(["INSERT", "MODIFY"]);
    expect(byKey.get("key-1")).toEqual(["INSERT"]);
    expect(recorder.records).toHaveLength(12 + 6 + 3);
  });

  it("reads again when sync() is called during a delivery, and delivers a change made meanwhile after it", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    const feed = makeFeed();
    await put(table, { id: "busy", v: 1 });
    let second: Promise<void> | undefined;
    recorder.answers.push(async () => {
      // While the function handles the INSERT, the item changes and someone asks for a sync.
      await put(table, { id: "busy", v: 2 });
      second = feed.sync();
      return {};
    });
    await feed.sync();
    await second;
    expect(recorder.records.map((r) => [r.eventName, r.dynamodb.NewImage?.v?.N])).toEqual([
      ["INSERT", "1"],
      ["MODIFY", "2"],
    ]);
  });

  it("on a batch item failure commits the records before it and retries from the failed record", async () => {
    const { table, recorder, checkpointFile, feed: makeFeed } = await setUp();
    for (let i = 0; i < 5; i++) await put(table, { id: `partial-${i}` });
    let committedAtRetry: string[] = [];
    recorder.answers.push(
      (event) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf(event.Records[2]) }] }),
      () => {
        committedAtRetry = checkpointedKeys(checkpointFile);
        return { batchItemFailures: [] };
      },
    );
    await makeFeed({ shards: 1, batchSize: 10 }).sync();
    const [first, retry] = recorder.events;
    expect(recorder.events).toHaveLength(2);
    expect(first?.Records).toHaveLength(5);
    // The retry is the same records from the failed one on: same sequence numbers, same event ids.
    expect(retry?.Records).toEqual(first?.Records.slice(2));
    expect(committedAtRetry).toEqual(first?.Records.slice(0, 2).map(keyOf).sort());
    expect(checkpointedKeys(checkpointFile)).toEqual(first?.Records.map(keyOf).sort());
  });

  // With several batch item failures, Lambda checkpoints at the lowest sequence number reported.
  it("with several batch item failures, retries from the lowest sequence number", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    for (let i = 0; i < 5; i++) await put(table, { id: `several-${i}` });
    recorder.answers.push((event) => ({
      batchItemFailures: [
        { itemIdentifier: sequenceOf(event.Records[3]) },
        { itemIdentifier: sequenceOf(event.Records[1]) },
      ],
    }));
    await makeFeed({ shards: 1, batchSize: 10 }).sync();
    const [first, retry] = recorder.events;
    expect(retry?.Records).toEqual(first?.Records.slice(1));
  });

  it("retries the whole batch when the function throws", async () => {
    const { table, recorder, checkpointFile, feed: makeFeed } = await setUp();
    for (let i = 0; i < 3; i++) await put(table, { id: `throw-${i}` });
    recorder.answers.push(() => {
      throw new Error("function error");
    });
    let committedAtRetry: string[] | undefined;
    recorder.answers.push(() => {
      committedAtRetry = checkpointedKeys(checkpointFile);
      return {};
    });
    await makeFeed({ shards: 1 }).sync();
    expect(recorder.events).toHaveLength(2);
    expect(recorder.events[1]).toEqual(recorder.events[0]);
    expect(committedAtRetry).toEqual([]);
    expect(checkpointedKeys(checkpointFile)).toEqual(["throw-0", "throw-1", "throw-2"]);
  });

  it("treats a failure naming an unknown record as a failure of the whole batch", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    for (let i = 0; i < 2; i++) await put(table, { id: `unknown-${i}` });
    recorder.answers.push(() => ({ batchItemFailures: [{ itemIdentifier: "999999999999999999999" }] }));
    await makeFeed({ shards: 1 }).sync();
    expect(recorder.events).toHaveLength(2);
    expect(recorder.events[1]).toEqual(recorder.events[0]);
  });

  it("waits the backoff between retries, by attempt", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    await put(table, { id: "backoff" });
    const attempts: number[] = [];
    recorder.answers.push(
      () => Promise.reject(new Error("first")),
      () => Promise.reject(new Error("second")),
    );
    await makeFeed({
      backoffMs: (attempt) => {
        attempts.push(attempt);
        return 0;
      },
    }).sync();
    expect(attempts).toEqual([1, 2]);
    expect(recorder.events).toHaveLength(3);
  });

  it("drops a record after MaximumRetryAttempts retries, logs it, and delivers the later records", async () => {
    const { table, recorder, logger, feed: makeFeed } = await setUp();
    for (const id of ["before", "poison", "after-1", "after-2"]) await put(table, { id });
    recorder.otherwise = (event) => {
      const poison = event.Records.find((r) => keyOf(r) === "poison");
      return { batchItemFailures: poison === undefined ? [] : [{ itemIdentifier: sequenceOf(poison) }] };
    };
    const failures: Record<string, unknown>[] = [];
    const feed = makeFeed({
      shards: 1,
      batchSize: 10,
      maximumRetryAttempts: 2,
      onDropped: (failure: Record<string, unknown>) => {
        failures.push(failure);
      },
    });
    await feed.sync();
    // The on-failure destination gets where the record was (not the record), as AWS sends it.
    const poisonRecord = recorder.records.find((r) => keyOf(r) === "poison");
    expect(failures).toEqual([
      expect.objectContaining({
        requestContext: { condition: "RetryAttemptsExhausted", approximateInvokeCount: 3 },
        DDBStreamBatchInfo: expect.objectContaining({
          startSequenceNumber: poisonRecord === undefined ? "" : sequenceOf(poisonRecord),
          batchSize: 1,
          streamArn: `arn:aws:dynamodb:${REGION}:123456789012:table/${table}/stream/emulated`,
        }),
      }),
    ]);
    const poisonDeliveries = recorder.events.filter((e) => e.Records.some((r) => keyOf(r) === "poison"));
    expect(poisonDeliveries).toHaveLength(1 + 2);
    // Every other record was delivered and handled.
    const delivered = new Set(recorder.records.map(keyOf));
    expect(delivered).toEqual(new Set(["before", "poison", "after-1", "after-2"]));
    const last = recorder.events.at(-1);
    const order = recorder.events[0]?.Records.map(keyOf) ?? [];
    expect(last?.Records.map(keyOf)).toEqual(
      order.indexOf("poison") === order.length - 1 ? ["poison"] : order.slice(order.indexOf("poison") + 1),
    );
    expect(logger.lines.map((l) => JSON.parse(l))).toContainEqual({
      level: "error",
      message: "table change dropped after the event source mapping's retries",
      table,
      key: "poison",
      attempts: 3,
    });
    // Dropped is final: the next read does not deliver it again.
    recorder.clear();
    await feed.sync();
    expect(recorder.events).toEqual([]);
  });

  it("close() ends a retry's backoff at once; the change is delivered after a restart", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    await put(table, { id: "slow" });
    let failedOnce: () => void = () => undefined;
    const failed = new Promise<void>((resolve) => {
      failedOnce = resolve;
    });
    recorder.otherwise = () => {
      failedOnce();
      throw new Error("the function failed");
    };
    // An hour of backoff: close() must not wait for it (the test's timeout would end it first).
    const feed = makeFeed({ backoffMs: () => 3_600_000 });
    const syncing = feed.sync();
    await failed;
    await feed.close();
    await syncing;
    recorder.clear();
    recorder.otherwise = () => ({ batchItemFailures: [] });
    await makeFeed().sync();
    expect(recorder.records.map(keyOf)).toEqual(["slow"]);
  });

  // Retries are counted per record: each failed record gets its own attempts.
  it("gives each failed record its own retries (the count restarts when the batch moves on)", async () => {
    const { table, recorder, feed: makeFeed } = await setUp();
    for (let i = 0; i < 3; i++) await put(table, { id: `retries-${i}` });
    recorder.answers.push(
      (event) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf(event.Records[0]) }] }),
      (event) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf(event.Records[1]) }] }),
    );
    await makeFeed({ shards: 1, maximumRetryAttempts: 1 }).sync();
    const order = recorder.events[0]?.Records.map(keyOf) ?? [];
    expect(recorder.events.map((e) => e.Records.map(keyOf))).toEqual([order, order, order.slice(1)]);
  });

  it("keeps its checkpoint across a restart: nothing is repeated, a change made while down is delivered once", async () => {
    const { table, recorder, checkpointFile, feed: makeFeed } = await setUp();
    for (const id of ["kept-1", "kept-2"]) await put(table, { id, v: 1 });
    const before = makeFeed();
    await before.sync();
    expect(recorder.records).toHaveLength(2);
    const lastSequence = BigInt(sequenceOf(recorder.records.at(-1)));
    await before.close();

    // While the emulation is down, an item changes.
    await put(table, { id: "kept-2", v: 2 });
    await put(table, { id: "kept-3", v: 1 });
    recorder.clear();
    const after = makeFeed();
    await after.sync();
    expect(recorder.records.map((r) => [r.eventName, keyOf(r)]).sort()).toEqual([
      ["INSERT", "kept-3"],
      ["MODIFY", "kept-2"],
    ]);
    for (const record of recorder.records) expect(BigInt(sequenceOf(record))).toBeGreaterThan(lastSequence);

    recorder.clear();
    await after.sync();
    await makeFeed().sync();
    expect(recorder.events).toEqual([]);
    expect(checkpointedKeys(checkpointFile)).toEqual(["kept-1", "kept-2", "kept-3"]);
  });

  it("logs and delivers nothing when the table cannot be read", async () => {
    const { recorder, logger, feed: makeFeed } = await setUp();
    await makeFeed({ table: "no-such-table" }).sync();
    expect(recorder.events).toEqual([]);
    expect(logger.lines.map((l) => JSON.parse(l))).toContainEqual({
      level: "warn",
      message: "table change feed could not read the table",
      table: "no-such-table",
      errorName: "ResourceNotFoundException",
    });
  });
});

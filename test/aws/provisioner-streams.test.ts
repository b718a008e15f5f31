/**
 * The provisioner driven with DynamoDB stream events of the streams table: creating, updating, resharding and
 * retiring delivery streams, and the delivery status it writes back on the (real, embedded) stream item.
 */
import { CreateDeliveryStreamCommand, UpdateDestinationCommand } from "@aws-sdk/client-firehose";
import { createDeliveryStreamInput } from "../../lambda/adapters/delivery-stream-config.js";
import { streamFromItem } from "../../lambda/adapters/registry-items.js";
import { insertRecord, modifyRecord, removeRecord, streamEvent } from "../helpers/aws-events.js";
import { DESTINATION_ID } from "./provisioner-firehose.js";
import {
  CONFIG,
  harness,
  ID,
  names,
  START,
  startRegistry,
  stopRegistry,
  streamItem,
} from "./provisioner-fixture.js";

beforeAll(startRegistry);
afterAll(stopRegistry);

/** Seeds ACTIVE delivery streams for `item` and stores it as the provisioner would have left it. */
async function provisioned(h: Awaited<ReturnType<typeof harness>>, item: Record<string, unknown>) {
  await h.put(item);
  expect(await h.invoke(streamEvent(insertRecord(item)))).toEqual({ batchItemFailures: [] });
  const stored = await h.get();
  if (stored === undefined) throw new Error("item vanished");
  h.firehose.stub.resetHistory();
  h.sqs.resetHistory();
  h.sleeps.length = 0;
  return stored;
}

describe("a new stream (INSERT)", () => {
  it("creates its delivery streams with the exact input, waits for ACTIVE and records them", async () => {
    const h = await harness();
    const item = streamItem({ shards: 2, compression: "gzip", buffer_mib: 8, buffer_seconds: 60 });
    await h.put(item);

    const result = await h.invoke(streamEvent(insertRecord(item)));

    expect(result).toEqual({ batchItemFailures: [] });
    const stream = streamFromItem(item);
    expect(
      h.firehose.stub.commandCalls(CreateDeliveryStreamCommand).map((call) => call.args[0].input),
    ).toEqual(names(0, 1).map((name) => createDeliveryStreamInput(stream, CONFIG.target, name)));
    expect(h.sleeps).toEqual([2_000, 4_000, 8_000]);
    expect(await h.get()).toEqual({
      ...item,
      delivery_streams: names(0, 1),
      delivery_status: "ACTIVE",
      delivery_applied: "json|acme|8|60|gzip|2",
      delivery_updated_at: new Date(START + 14_000).toISOString(),
    });
    expect(h.metrics()).toEqual({ DeliveryStreamsCreated: 2 });
  });

  it("marks the stream CREATING before the first delivery stream is created", async () => {
    const h = await harness();
    const item = streamItem();
    await h.put(item);
    const seen: unknown[] = [];
    h.firehose.stub.on(CreateDeliveryStreamCommand).callsFake(async (input) => {
      seen.push((await h.get())?.delivery_status);
      h.firehose.seed(input, "CREATING");
      return {};
    });

    await h.invoke(streamEvent(insertRecord(item)));

    expect(seen).toEqual(["CREATING"]);
    expect((await h.get())?.delivery_status).toBe("ACTIVE");
  });

  it("logs the stream id, action, delivery streams and outcome, never the item's content", async () => {
    const h = await harness();
    const item = streamItem({ description: "secret-description-4111" });
    await h.put(item);

    await h.invoke(streamEvent(insertRecord(item)));

    expect(h.logs()).toContainEqual(
      expect.objectContaining({
        message: "delivery streams active",
        streamId: ID,
        action: "apply",
        deliveryStreams: names(0),
        outcome: "ACTIVE",
        service: "streaming-ingest-provisioner",
      }),
    );
    expect(h.stdout()).not.toContain("secret-description-4111");
  });
});

describe("the provisioner's own write-back (MODIFY)", () => {
  it("needs no Firehose call and writes nothing", async () => {
    const h = await harness();
    const item = streamItem();
    await h.put(item);
    const creating = {
      ...item,
      delivery_status: "CREATING",
      delivery_updated_at: new Date(START).toISOString(),
    };
    await h.invoke(streamEvent(insertRecord(item)));
    const active = await h.get();
    if (active === undefined) throw new Error("item vanished");
    h.firehose.stub.resetHistory();

    const result = await h.invoke(streamEvent(modifyRecord(item, creating), modifyRecord(creating, active)));

    expect(result).toEqual({ batchItemFailures: [] });
    expect(h.firehose.stub.calls()).toHaveLength(0);
    expect(await h.get()).toEqual(active);
  });
});

describe("an edit of the delivery settings (MODIFY)", () => {
  it("updates the destination with the described version id and records the new fingerprint", async () => {
    const h = await harness();
    const before = await provisioned(h, streamItem());
    const after = { ...before, buffer_mib: 32, compression: "gzip", updated_at: "2026-11-29T11:00:00.000Z" };
    await h.put(after);
    const deliveryStream = h.firehose.streams.get(names(0)[0] ?? "");
    if (deliveryStream !== undefined) deliveryStream.version = 7;

    expect(await h.invoke(streamEvent(modifyRecord(before, after)))).toEqual({ batchItemFailures: [] });

    const updates = h.firehose.stub.commandCalls(UpdateDestinationCommand).map((call) => call.args[0].input);
    expect(updates).toEqual([
      expect.objectContaining({
        DeliveryStreamName: names(0)[0],
        CurrentDeliveryStreamVersionId: "7",
        DestinationId: DESTINATION_ID,
        ExtendedS3DestinationUpdate: expect.objectContaining({
          BufferingHints: { SizeInMBs: 32, IntervalInSeconds: 300 },
          CompressionFormat: "GZIP",
          FileExtension: ".ndjson.gz",
        }),
      }),
    ]);
    expect(h.firehose.stub.commandCalls(CreateDeliveryStreamCommand)).toHaveLength(0);
    expect(h.sleeps).toEqual([]);
    expect(await h.get()).toMatchObject({
      delivery_status: "ACTIVE",
      delivery_applied: "json|acme|32|300|gzip|1",
    });
    expect(h.metrics()).toMatchObject({ DeliveryStreamsUpdated: 1 });
  });

  it("keeps a disabled stream's delivery streams (status is not a delivery setting)", async () => {
    const h = await harness();
    const before = await provisioned(h, streamItem());
    const after = { ...before, status: "disabled" };
    await h.put(after);

    await h.invoke(streamEvent(modifyRecord(before, after)));

    expect(h.firehose.stub.calls()).toHaveLength(0);
    expect(h.sent()).toEqual([]);
    expect(h.firehose.streams.has(names(0)[0] ?? "")).toBe(true);
  });
});

describe("a change of shards (MODIFY)", () => {
  it("1 → 3 creates two more delivery streams and keeps the stream ACTIVE throughout", async () => {
    const h = await harness();
    const before = await provisioned(h, streamItem());
    const after = { ...before, shards: 3 };
    await h.put(after);
    const statuses: unknown[] = [];
    h.firehose.stub.on(CreateDeliveryStreamCommand).callsFake(async (input) => {
      statuses.push((await h.get())?.delivery_status);
      h.firehose.seed(input, "CREATING");
      return {};
    });

    await h.invoke(streamEvent(modifyRecord(before, after)));

    expect(h.firehose.calls("create")).toEqual(names(1, 2));
    expect(statuses).toEqual(["ACTIVE", "ACTIVE"]);
    expect(await h.get()).toMatchObject({
      delivery_streams: names(0, 1, 2),
      delivery_status: "ACTIVE",
      delivery_applied: "json|acme|5|300|none|3",
    });
  });

  it("3 → 1 schedules the deletion of the other two after TTL + buffer + 120 s", async () => {
    const h = await harness();
    const before = await provisioned(h, streamItem({ shards: 3, buffer_seconds: 600 }));
    const after = { ...before, shards: 1 };
    await h.put(after);

    await h.invoke(streamEvent(modifyRecord(before, after)));

    const now = h.clock.now();
    expect(h.sent()).toEqual([
      {
        message: {
          kind: "delete-delivery-streams",
          streamId: ID,
          deliveryStreams: names(1, 2),
          notBefore: now + (30 + 600 + 120) * 1000,
        },
        delaySeconds: 750,
      },
    ]);
    expect(h.firehose.calls("delete")).toEqual([]);
    expect(await h.get()).toMatchObject({
      delivery_streams: names(0),
      delivery_applied: "json|acme|5|600|none|1",
    });
  });
});

describe("a removed stream (REMOVE)", () => {
  it("schedules the deletion of its listed and computed delivery streams, capped at SQS's 900 s delay", async () => {
    const h = await harness();
    const before = await provisioned(h, streamItem({ shards: 2, buffer_seconds: 900 }));
    await h.remove();

    expect(await h.invoke(streamEvent(removeRecord(before)))).toEqual({ batchItemFailures: [] });

    expect(h.sent()).toEqual([
      {
        message: {
          kind: "delete-delivery-streams",
          streamId: ID,
          deliveryStreams: names(0, 1),
          notBefore: h.clock.now() + (30 + 900 + 120) * 1000,
        },
        delaySeconds: 900,
      },
    ]);
    expect(h.firehose.stub.calls()).toHaveLength(0);
  });

  it("lets a stream deleted during provisioning stay deleted (the write-back finds no item)", async () => {
    const h = await harness();
    const item = streamItem();
    await h.put(item);
    h.firehose.stub.on(CreateDeliveryStreamCommand).callsFake(async (input) => {
      await h.remove();
      h.firehose.seed(input, "CREATING");
      return {};
    });

    expect(await h.invoke(streamEvent(insertRecord(item)))).toEqual({ batchItemFailures: [] });
    expect(await h.get()).toBeUndefined();
  });
});

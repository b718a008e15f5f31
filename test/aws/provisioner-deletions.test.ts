/**
 * The provisioner driven with SQS events of the deletion queue: messages not yet due are sent again with the
 * remaining delay; due ones delete only the delivery streams the stream item (read consistently) does not list.
 */
import { DeleteDeliveryStreamCommand } from "@aws-sdk/client-firehose";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { createDeliveryStreamInput } from "../../lambda/adapters/delivery-stream-config.js";
import { streamFromItem } from "../../lambda/adapters/registry-items.js";
import { sqsEvent, sqsRecord } from "../helpers/aws-events.js";
import { serviceError } from "./provisioner-firehose.js";
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

/** The body the provisioner sends for `deliveryStreams`, due at `notBefore`. */
const body = (deliveryStreams: string[], notBefore: number) =>
  JSON.stringify({ kind: "delete-delivery-streams", streamId: ID, deliveryStreams, notBefore });

/** ACTIVE delivery streams for shards 0..count-1 of the test stream. */
function seedDeliveryStreams(h: Awaited<ReturnType<typeof harness>>, count: number): void {
  const stream = streamFromItem(streamItem());
  for (const name of names(...Array.from({ length: count }, (_, i) => i))) {
    h.firehose.seed(createDeliveryStreamInput(stream, CONFIG.target, name));
  }
}

describe("a deletion message not yet due", () => {
  it.each([
    [450_000, 450],
    [1_001, 2],
    [1_050_000, 900],
  ])("with %d ms to go is sent again with DelaySeconds %d and acknowledged", async (remainingMs, delay) => {
    const h = await harness();
    seedDeliveryStreams(h, 2);
    const message = sqsRecord(body(names(1), START + remainingMs));

    expect(await h.invoke(sqsEvent(message))).toEqual({ batchItemFailures: [] });

    expect(h.sent()).toEqual([
      {
        message: {
          kind: "delete-delivery-streams",
          streamId: ID,
          deliveryStreams: names(1),
          notBefore: START + remainingMs,
        },
        delaySeconds: delay,
      },
    ]);
    expect(h.firehose.calls("delete")).toEqual([]);
  });

  it("is received again when it cannot be sent again", async () => {
    const h = await harness();
    h.sqs
      .on(SendMessageCommand)
      .rejects(serviceError("InternalError", "We encountered an internal error", "server"));
    const message = sqsRecord(body(names(1), START + 60_000));

    expect(await h.invoke(sqsEvent(message))).toEqual({
      batchItemFailures: [{ itemIdentifier: message.messageId }],
    });
  });
});

describe("a due deletion message", () => {
  it("deletes only the delivery streams the current item does not list (a re-created stream keeps its own)", async () => {
    const h = await harness();
    seedDeliveryStreams(h, 3);
    await h.put({ ...streamItem(), delivery_streams: names(0), delivery_status: "ACTIVE" });

    const result = await h.invoke(sqsEvent(sqsRecord(body(names(0, 1, 2), START))));

    expect(result).toEqual({ batchItemFailures: [] });
    expect(h.firehose.calls("delete")).toEqual(names(1, 2));
    expect([...h.firehose.streams.keys()]).toEqual(names(0));
    expect(h.sent()).toEqual([]);
    expect(h.metrics()).toEqual({ DeliveryStreamsDeleted: 2 });
    expect(h.firehose.stub.commandCalls(DeleteDeliveryStreamCommand)[0]?.args[0].input).toEqual({
      DeliveryStreamName: names(1)[0],
      AllowForceDelete: false,
    });
  });

  it("deletes them all when the stream item is gone", async () => {
    const h = await harness();
    seedDeliveryStreams(h, 2);

    await h.invoke(sqsEvent(sqsRecord(body(names(0, 1), START - 1))));

    expect(h.firehose.calls("delete")).toEqual(names(0, 1));
    expect(h.firehose.streams.size).toBe(0);
  });

  it("keeps the delivery streams a stream re-created with more shards will use, even before it lists them", async () => {
    const h = await harness();
    seedDeliveryStreams(h, 2);
    await h.put(streamItem({ shards: 2 }));

    await h.invoke(sqsEvent(sqsRecord(body(names(0, 1), START))));

    expect(h.firehose.calls("delete")).toEqual([]);
  });

  it("counts a delivery stream that no longer exists as deleted (ResourceNotFound)", async () => {
    const h = await harness();

    expect(await h.invoke(sqsEvent(sqsRecord(body(names(1), START))))).toEqual({ batchItemFailures: [] });
    expect(h.firehose.calls("delete")).toEqual(names(1));
    expect(h.metrics()).toEqual({});
  });

  it("is received again while a delivery stream is still being created (ResourceInUse), others go on", async () => {
    const h = await harness();
    h.firehose.seed({ DeliveryStreamName: names(1)[0] }, "CREATING");
    seedDeliveryStreams(h, 1);
    const creating = sqsRecord(body(names(1), START));
    const other = sqsRecord(body(names(0), START));

    const result = await h.invoke(sqsEvent(creating, other));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: creating.messageId }] });
    expect([...h.firehose.streams.keys()]).toEqual(names(1));
    expect(h.metrics()).toEqual({ DeliveryStreamsDeleted: 1, ProvisioningFailures: 1 });
  });

  it("keeps the delivery streams when the item's delivery_streams is not a list (a hand edit)", async () => {
    const h = await harness();
    seedDeliveryStreams(h, 2);
    await h.put({ ...streamItem(), delivery_streams: "StreamingIngest-is-AbCDefGH-1" });

    expect(await h.invoke(sqsEvent(sqsRecord(body(names(1), START))))).toEqual({ batchItemFailures: [] });
    expect(h.firehose.calls("delete")).toEqual([]);
    expect(h.metrics()).toEqual({ ProvisioningFailures: 1 });
  });
});

describe("a malformed deletion message", () => {
  it.each([
    ["not JSON", "{"],
    ["another kind", JSON.stringify({ kind: "something-else" })],
    [
      "another stream's delivery streams",
      JSON.stringify({
        kind: "delete-delivery-streams",
        streamId: ID,
        deliveryStreams: ["StreamingIngest-is-Other001-0"],
        notBefore: START,
      }),
    ],
  ])("(%s) is logged and acknowledged, never retried", async (_what, text) => {
    const h = await harness();
    seedDeliveryStreams(h, 1);
    const message = sqsRecord(text, 3);

    expect(await h.invoke(sqsEvent(message))).toEqual({ batchItemFailures: [] });

    expect(h.firehose.stub.calls()).toHaveLength(0);
    expect(h.sent()).toEqual([]);
    expect(h.metrics()).toEqual({ ProvisioningFailures: 1 });
    expect(h.logs()).toContainEqual(
      expect.objectContaining({
        message: "malformed deletion message dropped",
        messageId: message.messageId,
      }),
    );
  });
});

/**
 * The provisioner's failures: what is recorded as FAILED and acknowledged (only an admin can fix it), what
 * fails the record so the event source retries from it, and that a retry resumes and completes.
 */
import {
  InvalidArgumentException,
  LimitExceededException,
  ResourceInUseException,
} from "@aws-sdk/client-firehose";
import { insertRecord, modifyRecord, streamEvent, streamRecord } from "../helpers/aws-events.js";
import { serviceError } from "./provisioner-firehose.js";
import { harness, ID, names, startRegistry, stopRegistry, streamItem } from "./provisioner-fixture.js";

beforeAll(startRegistry);
afterAll(stopRegistry);

const OTHER = "is-Other001";

describe("an invalid stream item", () => {
  it("is recorded as FAILED with the problem and acknowledged, without touching Firehose", async () => {
    const h = await harness();
    const item = streamItem({ compression: "zstd" });
    await h.put(item);

    expect(await h.invoke(streamEvent(insertRecord(item)))).toEqual({ batchItemFailures: [] });

    expect(await h.get()).toMatchObject({
      delivery_status: "FAILED",
      delivery_error: `stream ${ID}: compression must be "none" or "gzip"`,
    });
    expect(h.firehose.stub.calls()).toHaveLength(0);
    expect(h.metrics()).toEqual({ ProvisioningFailures: 1 });
    expect(h.logs()).toContainEqual(
      expect.objectContaining({ level: "ERROR", streamId: ID, action: "reject", outcome: "FAILED" }),
    );
  });

  it("is provisioned once an admin fixes it, and the FAILED write-back's own event is a no-op", async () => {
    const h = await harness();
    const broken = streamItem({ shards: 0 });
    await h.put(broken);
    await h.invoke(streamEvent(insertRecord(broken)));
    const failed = await h.get();
    if (failed === undefined) throw new Error("item vanished");
    const fixed = { ...failed, shards: 1 };
    await h.put(fixed);

    const result = await h.invoke(streamEvent(modifyRecord(broken, failed), modifyRecord(failed, fixed)));

    expect(result).toEqual({ batchItemFailures: [] });
    expect(h.firehose.calls("create")).toEqual(names(0));
    const stored = await h.get();
    expect(stored).toMatchObject({ delivery_status: "ACTIVE", delivery_streams: names(0) });
    expect(stored).not.toHaveProperty("delivery_error");
  });
});

describe("Firehose errors only an admin can fix", () => {
  it.each([
    [
      "the account's delivery stream quota (LimitExceeded)",
      new LimitExceededException({ message: "You have already consumed your firehose quota", $metadata: {} }),
      /quota of Firehose delivery streams in this region is reached.*Service Quotas.*edit the stream record to retry/,
    ],
    [
      "refused settings (InvalidArgument)",
      new InvalidArgumentException({ message: "BufferingHints.IntervalInSeconds is invalid", $metadata: {} }),
      /Firehose refused to create delivery stream .*IntervalInSeconds is invalid; fix the stream's delivery settings/,
    ],
    [
      "missing permissions (AccessDenied)",
      serviceError(
        "AccessDeniedException",
        "User is not authorized to perform: firehose:CreateDeliveryStream",
      ),
      /may not create delivery stream .*iam:PassRole on the delivery role/,
    ],
  ])("records %s as FAILED with the problem and its fix, and acknowledges", async (_what, error, message) => {
    const h = await harness();
    const item = streamItem();
    await h.put(item);
    h.firehose.failNext("create", error);

    expect(await h.invoke(streamEvent(insertRecord(item)))).toEqual({ batchItemFailures: [] });

    const stored = await h.get();
    expect(stored?.delivery_status).toBe("FAILED");
    expect(stored?.delivery_error).toMatch(message);
    expect(stored).not.toHaveProperty("delivery_streams");
    expect(h.metrics()).toEqual({ ProvisioningFailures: 1 });
  });

  it("records a delivery stream that failed to create with Firehose's reason", async () => {
    const h = await harness();
    const item = streamItem();
    await h.put(item);
    const broken = h.firehose.seed({ DeliveryStreamName: names(0)[0] }, "CREATING_FAILED");
    broken.failure = { Type: "KMS_ACCESS_DENIED", Details: "Access was denied to the KMS key" };

    await h.invoke(streamEvent(insertRecord(item)));

    expect((await h.get())?.delivery_error).toBe(
      `delivery stream ${names(0)[0]} is CREATING_FAILED (KMS_ACCESS_DENIED: Access was denied to the KMS key); delete it in the Firehose console, then edit the stream record to retry`,
    );
  });
});

describe("transient failures", () => {
  it("return the failing record's sequence number and leave later records unprocessed", async () => {
    const h = await harness();
    const first = streamItem({ id: OTHER });
    const item = streamItem();
    const later = streamItem({ id: "is-Later001" });
    for (const each of [first, item, later]) await h.put(each);
    const records = [insertRecord(first), insertRecord(item), insertRecord(later)];
    h.firehose.failNext("describe", serviceError("ThrottlingException", "Rate exceeded"), names(0)[0]);

    const result = await h.invoke(streamEvent(...records));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[1]?.dynamodb?.SequenceNumber }] });
    expect(h.firehose.calls("describe")).not.toContain(`StreamingIngest-is-Later001-0`);
    expect(await h.get("is-Later001")).not.toHaveProperty("delivery_status");
    expect((await h.get(OTHER))?.delivery_status).toBe("ACTIVE");
    expect((await h.get())?.delivery_status).toBe("CREATING");
    expect(h.metrics()).toMatchObject({ ProvisioningFailures: 1 });
  });

  it.each([
    ["a 5xx", serviceError("ServiceUnavailableException", "Service unavailable", "server")],
    [
      "a network error",
      Object.assign(new Error("socket hang up"), { name: "TimeoutError", code: "ECONNRESET" }),
    ],
  ])("fail the record for retry on %s", async (_what, error) => {
    const h = await harness();
    const item = streamItem();
    await h.put(item);
    h.firehose.failNext("create", error);
    const record = insertRecord(item);

    expect(await h.invoke(streamEvent(record))).toEqual({
      batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber }],
    });
    expect((await h.get())?.delivery_status).toBe("CREATING");
  });

  it("fail the record when the delivery streams are not ACTIVE within the time left minus 15 s", async () => {
    const h = await harness();
    const item = streamItem();
    await h.put(item);
    h.firehose.creatingDescribes = 100;
    const record = insertRecord(item);

    const result = await h.invoke(streamEvent(record), 60_000);

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber }] });
    // 2 + 4 + 8 + 10 + 10 + 10 = 44 s waited; another 10 s would leave less than 15 s of the 60.
    expect(h.sleeps).toEqual([2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
    expect((await h.get())?.delivery_status).toBe("CREATING");
    expect(h.logs()).toContainEqual(
      expect.objectContaining({
        message: "stream change failed; it will be retried",
        outcome: expect.stringMatching(/not ACTIVE in time/),
      }),
    );
  });

  it("are resumed by the retry, which completes with the delivery streams that already exist", async () => {
    const h = await harness();
    const item = streamItem({ shards: 3 });
    await h.put(item);
    const record = insertRecord(item);
    h.firehose.failNext("create", serviceError("ThrottlingException", "Rate exceeded"), names(1)[0]);
    expect((await h.invoke(streamEvent(record))).batchItemFailures).toHaveLength(1);
    expect([...h.firehose.streams.keys()]).toEqual(names(0));

    // Lambda retries the same record (same image). Meanwhile another attempt creates shard 2 first.
    h.firehose.failNext(
      "create",
      () => {
        h.firehose.seed({ DeliveryStreamName: names(2)[0] }, "CREATING");
        return new ResourceInUseException({ message: `${names(2)[0]} already exists`, $metadata: {} });
      },
      names(2)[0],
    );
    expect(await h.invoke(streamEvent(record))).toEqual({ batchItemFailures: [] });

    expect(await h.get()).toMatchObject({ delivery_status: "ACTIVE", delivery_streams: names(0, 1, 2) });
    expect([...h.firehose.streams.keys()].sort()).toEqual(names(0, 1, 2));
  });
});

describe("records nobody can act on", () => {
  it("are logged and acknowledged (a stream without images: wrong stream view type)", async () => {
    const h = await harness();
    const record = streamRecord("MODIFY", { oldItem: streamItem() });
    if (record.dynamodb !== undefined) record.dynamodb.StreamViewType = "KEYS_ONLY";
    delete record.dynamodb?.OldImage;

    expect(await h.invoke(streamEvent(record))).toEqual({ batchItemFailures: [] });
    expect(h.firehose.stub.calls()).toHaveLength(0);
    expect(h.metrics()).toEqual({ ProvisioningFailures: 1 });
  });
});

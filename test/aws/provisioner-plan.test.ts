/**
 * The provisioner's pure decisions, without mocks: the plan for each stream change, the deletion messages and
 * what is deletable when one is due, and the translation of real DynamoDB stream records.
 */
import {
  DELETION_MESSAGE_KIND,
  delaySecondsUntil,
  deletableNow,
  deletionMessage,
  parseDeletionMessage,
} from "../../lambda/adapters/deferred-deletions.js";
import {
  changedAttributes,
  planStreamChange,
  type StreamChange,
} from "../../lambda/adapters/delivery-plan.js";
import { toStreamChange } from "../../lambda/aws/provisioner-events.js";
import { insertRecord, modifyRecord, removeRecord, streamRecord } from "../helpers/aws-events.js";

const PREFIX = "StreamingIngest";
const ID = "is-AbCDefGH";
const names = (...shards: number[]) => shards.map((shard) => `${PREFIX}-${ID}-${shard}`);

/** A stream item as an admin writes it (settings at their defaults unless given). */
const item = (overrides: Record<string, unknown> = {}) => ({
  id: ID,
  tenant: "acme",
  name: "orders",
  payload: "json",
  status: "active",
  buffer_mib: 5,
  buffer_seconds: 300,
  compression: "none",
  shards: 1,
  ...overrides,
});

/** The item once the provisioner recorded its delivery as ACTIVE. */
const active = (overrides: Record<string, unknown> = {}) => {
  const base = item(overrides);
  return {
    ...base,
    delivery_streams: names(...Array.from({ length: base.shards as number }, (_, i) => i)),
    delivery_status: "ACTIVE",
    delivery_applied: `json|acme|${base.buffer_mib}|${base.buffer_seconds}|${base.compression}|${base.shards}`,
    delivery_updated_at: "2026-11-29T10:00:00.000Z",
  };
};

const plan = (change: Omit<StreamChange, "streamId">) =>
  planStreamChange({ streamId: ID, ...change }, PREFIX);

describe("the plan for a stream change", () => {
  it("creates the delivery streams of a new stream, marking it CREATING first", () => {
    expect(plan({ eventName: "INSERT", newItem: item({ shards: 2 }) })).toMatchObject({
      kind: "apply",
      deliveryStreams: names(0, 1),
      fingerprint: "json|acme|5|300|none|2",
      markCreating: true,
      retirement: undefined,
    });
  });

  it("does nothing for the provisioner's own ACTIVE write-back", () => {
    const result = plan({ eventName: "MODIFY", oldItem: item(), newItem: active() });
    expect(result).toEqual({ kind: "skip", streamId: ID, reason: "the delivery settings are applied" });
  });

  it.each(["CREATING", "FAILED"])("does nothing for the provisioner's own %s write-back", (status) => {
    const newItem = { ...item(), delivery_status: status, delivery_updated_at: "2026-11-29T10:00:00.000Z" };
    expect(plan({ eventName: "MODIFY", oldItem: item(), newItem }).kind).toBe("skip");
  });

  it("provisions again when an admin removes delivery_status from a FAILED stream", () => {
    const failed = { ...item(), delivery_status: "FAILED", delivery_error: "quota" };
    const { delivery_status: _, ...cleared } = failed;
    expect(plan({ eventName: "MODIFY", oldItem: failed, newItem: cleared }).kind).toBe("apply");
  });

  it("keeps an ACTIVE stream ACTIVE while its settings change", () => {
    const newItem = active({ buffer_seconds: 60 });
    expect(
      plan({ eventName: "MODIFY", oldItem: active(), newItem: { ...newItem, delivery_applied: "old" } }),
    ).toMatchObject({ kind: "apply", markCreating: false, fingerprint: "json|acme|5|60|none|1" });
  });

  it("does not re-provision for edits outside the delivery settings (name, status, rate limits)", () => {
    const newItem = { ...active(), name: "renamed", status: "disabled", rate_limit_per_second: 7 };
    expect(plan({ eventName: "MODIFY", oldItem: active(), newItem }).kind).toBe("skip");
  });

  it("retires the delivery streams of shards no longer wanted, after the longest buffer interval", () => {
    const oldItem = active({ shards: 3, buffer_seconds: 600 });
    const newItem = { ...oldItem, shards: 1, buffer_seconds: 60 };
    expect(plan({ eventName: "MODIFY", oldItem, newItem })).toMatchObject({
      kind: "apply",
      deliveryStreams: names(0),
      markCreating: false,
      retirement: { streamId: ID, deliveryStreams: names(1, 2), bufferSeconds: 600 },
    });
  });

  it("retires shards the old settings may have created even if they were never recorded", () => {
    const oldItem = { ...item({ shards: 3 }), delivery_status: "CREATING" };
    const result = plan({ eventName: "MODIFY", oldItem, newItem: { ...oldItem, shards: 2 } });
    expect(result).toMatchObject({ kind: "apply", retirement: { deliveryStreams: names(2) } });
  });

  it("on removal retires the listed delivery streams and those of every old shard", () => {
    const oldItem = { ...active({ shards: 2, buffer_seconds: 900 }), delivery_streams: names(0, 11) };
    expect(plan({ eventName: "REMOVE", oldItem })).toEqual({
      kind: "retire",
      retirement: { streamId: ID, deliveryStreams: names(0, 1, 11), bufferSeconds: 900 },
    });
  });

  it("never retires names of other streams or prefixes that a hand edit listed", () => {
    const oldItem = {
      ...active(),
      delivery_streams: [`${PREFIX}-is-Other001-0`, "foreign-stream", ...names(0)],
    };
    expect(plan({ eventName: "REMOVE", oldItem })).toMatchObject({
      retirement: { deliveryStreams: names(0) },
    });
  });

  it("rejects an invalid item with the problem, and writes FAILED only once", () => {
    const newItem = item({ compression: "zstd" });
    const first = plan({ eventName: "INSERT", newItem });
    expect(first).toEqual({
      kind: "reject",
      streamId: ID,
      problem: `stream ${ID}: compression must be "none" or "gzip"`,
      recordFailure: true,
    });
    const recorded = {
      ...newItem,
      delivery_status: "FAILED",
      delivery_error: first.kind === "reject" && first.problem,
    };
    expect(plan({ eventName: "INSERT", newItem: recorded })).toMatchObject({ recordFailure: false });
  });

  it("rejects a stream id that cannot name delivery streams", () => {
    const result = planStreamChange(
      { eventName: "INSERT", streamId: "bad/id", newItem: item({ id: "bad/id" }) },
      PREFIX,
    );
    expect(result).toMatchObject({ kind: "reject", recordFailure: true });
    expect(result.kind === "reject" && result.problem).toMatch(/must be is- followed by 8 letters or digits/);
  });

  it("only reports a change without a new image (writing FAILED would produce another such event)", () => {
    expect(plan({ eventName: "MODIFY", oldItem: item() })).toMatchObject({
      kind: "reject",
      recordFailure: false,
    });
  });
});

describe("changed attributes", () => {
  it("compares string sets and maps by content", () => {
    const before = { id: ID, tags: new Set(["a", "b"]), meta: { x: 1, y: 2 } };
    const after = { id: ID, tags: new Set(["b", "a"]), meta: { y: 2, x: 1 }, delivery_status: "ACTIVE" };
    expect(changedAttributes(before, after)).toEqual(["delivery_status"]);
  });
});

describe("deletion messages", () => {
  const now = Date.UTC(2026, 10, 29, 10, 0, 0);

  it("are due after the cache TTL, the buffer interval and two minutes", () => {
    const message = deletionMessage({ streamId: ID, deliveryStreams: names(1), bufferSeconds: 300 }, now, 30);
    expect(message).toEqual({
      kind: DELETION_MESSAGE_KIND,
      streamId: ID,
      deliveryStreams: names(1),
      notBefore: now + 450_000,
    });
  });

  it.each([
    [450_000, 450],
    [1_001, 2],
    [1_080_000, 900],
    [0, 0],
    [-5_000, 0],
  ])("wait %d ms as a delay of %d s (SQS allows 900 at most)", (remaining, seconds) => {
    expect(delaySecondsUntil(now + remaining, now)).toBe(seconds);
  });

  it("parse back from their JSON", () => {
    const message = deletionMessage(
      { streamId: ID, deliveryStreams: names(1, 2), bufferSeconds: 0 },
      now,
      30,
    );
    expect(parseDeletionMessage(JSON.stringify(message), PREFIX)).toEqual(message);
  });

  it.each([
    ["not json", "the body is not JSON"],
    ["[1]", "kind must be"],
    [JSON.stringify({ kind: "other" }), "kind must be"],
    [
      JSON.stringify({ kind: DELETION_MESSAGE_KIND, streamId: "x", deliveryStreams: [], notBefore: 1 }),
      "streamId",
    ],
    [
      JSON.stringify({
        kind: DELETION_MESSAGE_KIND,
        streamId: ID,
        deliveryStreams: names(0),
        notBefore: "1",
      }),
      "notBefore",
    ],
    [
      JSON.stringify({ kind: DELETION_MESSAGE_KIND, streamId: ID, deliveryStreams: [], notBefore: 1 }),
      "deliveryStreams",
    ],
    [
      JSON.stringify({
        kind: DELETION_MESSAGE_KIND,
        streamId: ID,
        deliveryStreams: ["Other-x-0"],
        notBefore: 1,
      }),
      "deliveryStreams",
    ],
  ])("refuse the malformed body %s", (body, problem) => {
    expect(parseDeletionMessage(body, PREFIX)).toEqual(expect.stringContaining(problem));
  });

  it("delete, when due, only what the current item neither lists nor would use", () => {
    const message = deletionMessage(
      { streamId: ID, deliveryStreams: names(0, 1, 2), bufferSeconds: 0 },
      now,
      0,
    );
    expect(deletableNow(message, PREFIX, undefined)).toEqual(names(0, 1, 2));
    expect(deletableNow(message, PREFIX, { deliveryStreams: names(0), shards: 1 })).toEqual(names(1, 2));
    expect(deletableNow(message, PREFIX, { deliveryStreams: [], shards: 2 })).toEqual(names(2));
    expect(deletableNow(message, PREFIX, { deliveryStreams: [], shards: undefined })).toEqual(names(1, 2));
  });
});

describe("DynamoDB stream records", () => {
  it("become changes with plain items (numbers as numbers, string sets as sets)", () => {
    const newItem = { ...item({ shards: 2 }), labels: new Set(["x"]) };
    expect(toStreamChange(insertRecord(newItem))).toEqual({ eventName: "INSERT", streamId: ID, newItem });
  });

  it("carry both images on MODIFY and the old one on REMOVE", () => {
    expect(toStreamChange(modifyRecord(item(), active()))).toEqual({
      eventName: "MODIFY",
      streamId: ID,
      oldItem: item(),
      newItem: active(),
    });
    expect(toStreamChange(removeRecord(active()))).toEqual({
      eventName: "REMOVE",
      streamId: ID,
      oldItem: active(),
    });
  });

  it("keep an out-of-range number as a number, so validation reports it", () => {
    const record = insertRecord(item());
    const newImage = record.dynamodb?.NewImage;
    if (newImage === undefined) throw new Error("no image");
    newImage.shards = { N: "123456789012345678901234567890" };
    const change = toStreamChange(record);
    expect(typeof change !== "string" && change.newItem?.shards).toBe(1.2345678901234568e29);
  });

  it("report a record without a key", () => {
    const record = streamRecord("INSERT", { newItem: item() });
    if (record.dynamodb) record.dynamodb.Keys = {};
    expect(toStreamChange(record)).toBe("the record has no string key id");
  });
});

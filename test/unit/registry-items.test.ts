/** DynamoDB items of streams and API keys: round trips, defaults for absent attributes, invalid items reported. */
import {
  apiKeyFromItem,
  apiKeyToItem,
  InvalidItemError,
  type Item,
  streamFromItem,
  streamToItem,
} from "../../lambda/adapters/registry-items.js";
import { STREAM_DEFAULTS } from "../../lambda/core/stream-settings.js";
import { makeApiKey, makeStream, STREAM_ID, TENANT } from "../helpers/in-memory-ports.js";
import { thrownBy } from "../helpers/thrown.js";

const invalidItemOf = (fn: () => unknown) => thrownBy(fn, InvalidItemError);

/** The smallest stream item an admin may write by hand. */
const MINIMAL_STREAM: Item = { id: STREAM_ID, tenant: TENANT, payload: "json" };

describe("stream items", () => {
  it("round-trips a stream with every attribute set", () => {
    const stream = makeStream({
      payload: "xml",
      status: "disabled",
      delivery: { bufferMiB: 64, bufferSeconds: 60, compression: "gzip", shards: 4 },
      rateLimitPerSecond: 2000,
      rateLimitBurst: 4000,
      deliveryStreams: ["ingest-is-AbCDefGH-0", "ingest-is-AbCDefGH-1"],
      deliveryStatus: "ACTIVE",
    });
    expect(streamFromItem(streamToItem(stream))).toStrictEqual(stream);
  });

  it("round-trips a local stream (no delivery streams, no delivery status)", () => {
    const stream = makeStream();
    const item = streamToItem(stream);
    expect(item).not.toHaveProperty("delivery_streams");
    expect(item).not.toHaveProperty("delivery_status");
    expect(streamFromItem(item)).toEqual(stream);
  });

  it("writes snake_case attributes", () => {
    expect(streamToItem(makeStream())).toStrictEqual({
      id: STREAM_ID,
      tenant: TENANT,
      name: "orders",
      description: "web shop orders",
      payload: "json",
      status: "active",
      buffer_mib: 5,
      buffer_seconds: 300,
      compression: "none",
      shards: 1,
      rate_limit_per_second: 1000,
      rate_limit_burst: 1000,
      created_at: "2024-01-01T00:00:00.000Z",
      updated_at: "2024-01-01T00:00:00.000Z",
    });
  });

  it("gives absent optional attributes their defaults", () => {
    expect(streamFromItem(MINIMAL_STREAM)).toEqual({
      id: STREAM_ID,
      tenant: TENANT,
      name: STREAM_ID,
      description: "",
      payload: "json",
      status: "active",
      delivery: {
        bufferMiB: STREAM_DEFAULTS.bufferMiB,
        bufferSeconds: STREAM_DEFAULTS.bufferSeconds,
        compression: "none",
        shards: 1,
      },
      rateLimitPerSecond: STREAM_DEFAULTS.rateLimitPerSecond,
      rateLimitBurst: STREAM_DEFAULTS.rateLimitBurst,
      createdAt: "",
      updatedAt: "",
      deliveryStreams: [],
      deliveryStatus: undefined,
    });
  });

  it.each<[string, Item]>([
    [
      "the lower bound of every numeric setting",
      { buffer_mib: 1, buffer_seconds: 0, shards: 1, rate_limit_per_second: 1, rate_limit_burst: 1 },
    ],
    [
      "the upper bound of every numeric setting",
      {
        buffer_mib: 128,
        buffer_seconds: 900,
        shards: 50,
        rate_limit_per_second: 1_000_000,
        rate_limit_burst: 10_000_000,
      },
    ],
    ["a fractional buffer size", { buffer_mib: 1.5 }],
  ])("accepts %s", (_name, attributes) => {
    expect(() => streamFromItem({ ...MINIMAL_STREAM, ...attributes })).not.toThrow();
  });

  it.each<[string, Item]>([
    ["id", { id: undefined }],
    ["id", { id: "" }],
    ["id", { id: 7 }],
    ["tenant", { tenant: undefined }],
    ["tenant", { tenant: "" }],
    ["tenant", { tenant: "../../etc" }],
    ["tenant", { tenant: "Acme" }],
    ["payload", { payload: undefined }],
    ["payload", { payload: "csv" }],
    ["status", { status: "paused" }],
    ["compression", { compression: "zstd" }],
    ["buffer_mib", { buffer_mib: 0 }],
    ["buffer_mib", { buffer_mib: 129 }],
    ["buffer_mib", { buffer_mib: "5" }],
    ["buffer_seconds", { buffer_seconds: -1 }],
    ["buffer_seconds", { buffer_seconds: 901 }],
    ["buffer_seconds", { buffer_seconds: 1.5 }],
    ["shards", { shards: 0 }],
    ["shards", { shards: 51 }],
    ["shards", { shards: 2.5 }],
    ["rate_limit_per_second", { rate_limit_per_second: 0 }],
    ["rate_limit_per_second", { rate_limit_per_second: Number.NaN }],
    ["rate_limit_burst", { rate_limit_burst: 10_000_001 }],
    ["rate_limit_burst", { rate_limit_burst: Number.POSITIVE_INFINITY }],
  ])("refuses an invalid %s (%j), naming the attribute", (attribute, change) => {
    const error = invalidItemOf(() => streamFromItem({ ...MINIMAL_STREAM, ...change }));
    expect(error.message).toContain(attribute);
    expect(error.name).toBe("InvalidItemError");
  });

  it("names the stream whose item is invalid", () => {
    const error = invalidItemOf(() => streamFromItem({ ...MINIMAL_STREAM, shards: 0 }));
    expect(error.itemId).toBe(STREAM_ID);
    expect(error.message).toContain(STREAM_ID);
    expect(error.message).toContain("from 1 to 50");
  });

  it.each<[string, Item]>([
    ["delivery_streams", { delivery_streams: "ingest-is-AbCDefGH-0" }],
    ["delivery_streams", { delivery_streams: ["ingest-is-AbCDefGH-0", 7] }],
    ["delivery_streams", { delivery_streams: new Set([7]) }],
  ])(
    "refuses a %s that is not a list of strings (%p) instead of guessing it is empty",
    (attribute, change) => {
      const error = invalidItemOf(() => streamFromItem({ ...MINIMAL_STREAM, ...change }));
      expect(error.message).toContain(attribute);
    },
  );
});

describe("API key items", () => {
  it.each([
    ["an active key", makeApiKey()],
    ["a deleted key", makeApiKey({ status: "deleted" })],
    ["a rotated key", makeApiKey({ revokedBefore: "2024-06-01T00:00:00.000Z" })],
  ])("round-trips %s", (_name, key) => {
    expect(apiKeyFromItem(apiKeyToItem(key))).toStrictEqual(key);
  });

  it("writes revoked_before only when set", () => {
    expect(apiKeyToItem(makeApiKey())).not.toHaveProperty("revoked_before");
    expect(apiKeyToItem(makeApiKey({ revokedBefore: "2024-06-01T00:00:00.000Z" }))).toMatchObject({
      revoked_before: "2024-06-01T00:00:00.000Z",
    });
  });

  it("gives absent optional attributes their defaults", () => {
    expect(apiKeyFromItem({ id: "key-1", tenant: TENANT })).toStrictEqual({
      id: "key-1",
      tenant: TENANT,
      name: "key-1",
      status: "active",
      createdAt: "",
    });
  });

  it.each<[string, Item]>([
    ["id", { id: undefined }],
    ["id", { id: "" }],
    ["tenant", { tenant: undefined }],
    ["tenant", { tenant: 3 }],
    ["tenant", { tenant: "a/b" }],
    ["status", { status: "revoked" }],
  ])("refuses an invalid %s (%j), naming the attribute", (attribute, change) => {
    const error = invalidItemOf(() => apiKeyFromItem({ id: "key-1", tenant: TENANT, ...change }));
    expect(error.message).toContain(attribute);
  });

  it.each<[string, unknown]>([
    ["epoch seconds (a DynamoDB number)", 1_717_200_000],
    ["a boolean", true],
  ])(
    "refuses a revoked_before written as %s instead of dropping it (which would un-revoke the key)",
    (_name, value) => {
      const error = invalidItemOf(() =>
        apiKeyFromItem({ id: "key-1", tenant: TENANT, revoked_before: value }),
      );
      expect(error.message).toContain("revoked_before");
    },
  );

  it("accepts delivery_streams written as a DynamoDB string set", () => {
    const stream = streamFromItem({ ...MINIMAL_STREAM, delivery_streams: new Set(["a-0", "a-1"]) });
    expect(stream.deliveryStreams).toEqual(["a-0", "a-1"]);
  });
});

/**
 * The DynamoDB item shapes of streams and API keys, and their mapping to the core's records. Admins may edit
 * items by hand: absent optional attributes take their defaults, and an invalid item is reported, not guessed.
 */
import {
  checkStreamSetting,
  isCompression,
  isPayloadType,
  type NumericStreamSetting,
  STREAM_DEFAULTS,
  TENANT_PATTERN,
} from "../core/stream-settings.js";
import type { ApiKeyRecord, StreamRecord } from "../core/types.js";

/** An item as the DynamoDB document client returns it. */
export type Item = Record<string, unknown>;

/** A registry item that cannot be used as it is; the message names the attribute and the fix. */
export class InvalidItemError extends Error {
  constructor(
    readonly itemId: string,
    message: string,
  ) {
    super(message);
    this.name = "InvalidItemError";
  }
}

/** Stream item attribute for each numeric setting. */
const NUMERIC_ATTRIBUTES: Readonly<Record<NumericStreamSetting, string>> = {
  bufferMiB: "buffer_mib",
  bufferSeconds: "buffer_seconds",
  shards: "shards",
  rateLimitPerSecond: "rate_limit_per_second",
  rateLimitBurst: "rate_limit_burst",
};

export function streamFromItem(item: Item): StreamRecord {
  const id = requiredString(item, "id", "?");
  const payload = item.payload;
  if (!isPayloadType(payload))
    throw new InvalidItemError(id, `stream ${id}: payload must be "json" or "xml"`);
  const status = item.status ?? "active";
  if (status !== "active" && status !== "disabled") {
    throw new InvalidItemError(id, `stream ${id}: status must be "active" or "disabled"`);
  }
  const compression = item.compression ?? STREAM_DEFAULTS.compression;
  if (!isCompression(compression))
    throw new InvalidItemError(id, `stream ${id}: compression must be "none" or "gzip"`);
  const numbers = {} as Record<NumericStreamSetting, number>;
  for (const [setting, attribute] of Object.entries(NUMERIC_ATTRIBUTES) as [NumericStreamSetting, string][]) {
    const value = item[attribute] ?? STREAM_DEFAULTS[setting];
    const problem =
      typeof value === "number" ? checkStreamSetting(setting, value) : `${attribute} must be a number`;
    if (problem !== undefined)
      throw new InvalidItemError(id, `stream ${id}: ${problem.replace(setting, attribute)}`);
    numbers[setting] = value as number;
  }
  return {
    id,
    tenant: tenantOf(item, id),
    name: optionalString(item, "name", id) ?? id,
    description: optionalString(item, "description", id) ?? "",
    payload,
    status,
    delivery: {
      bufferMiB: numbers.bufferMiB,
      bufferSeconds: numbers.bufferSeconds,
      compression,
      shards: numbers.shards,
    },
    rateLimitPerSecond: numbers.rateLimitPerSecond,
    rateLimitBurst: numbers.rateLimitBurst,
    createdAt: optionalString(item, "created_at", id) ?? "",
    updatedAt: optionalString(item, "updated_at", id) ?? "",
    deliveryStreams: optionalStringList(item, "delivery_streams", id),
    deliveryStatus: optionalString(item, "delivery_status", id),
  };
}

export function streamToItem(stream: StreamRecord): Item {
  const item: Item = {
    id: stream.id,
    tenant: stream.tenant,
    name: stream.name,
    description: stream.description,
    payload: stream.payload,
    status: stream.status,
    buffer_mib: stream.delivery.bufferMiB,
    buffer_seconds: stream.delivery.bufferSeconds,
    compression: stream.delivery.compression,
    shards: stream.delivery.shards,
    rate_limit_per_second: stream.rateLimitPerSecond,
    rate_limit_burst: stream.rateLimitBurst,
    created_at: stream.createdAt,
    updated_at: stream.updatedAt,
  };
  if (stream.deliveryStreams.length > 0) item.delivery_streams = [...stream.deliveryStreams];
  if (stream.deliveryStatus !== undefined) item.delivery_status = stream.deliveryStatus;
  return item;
}

export function apiKeyFromItem(item: Item): ApiKeyRecord {
  const id = requiredString(item, "id", "?");
  const status = item.status ?? "active";
  if (status !== "active" && status !== "deleted") {
    throw new InvalidItemError(id, `API key ${id}: status must be "active" or "deleted"`);
  }
  const revokedBefore = optionalString(item, "revoked_before", id);
  return {
    id,
    tenant: tenantOf(item, id),
    name: optionalString(item, "name", id) ?? id,
    status,
    createdAt: optionalString(item, "created_at", id) ?? "",
    ...(revokedBefore === undefined ? {} : { revokedBefore }),
  };
}

export function apiKeyToItem(key: ApiKeyRecord): Item {
  const item: Item = {
    id: key.id,
    tenant: key.tenant,
    name: key.name,
    status: key.status,
    created_at: key.createdAt,
  };
  if (key.revokedBefore !== undefined) item.revoked_before = key.revokedBefore;
  return item;
}

/** The tenant names a folder of the output layout, so it must be a safe name, never a path. */
function tenantOf(item: Item, id: string): string {
  const tenant = requiredString(item, "tenant", id);
  if (!TENANT_PATTERN.test(tenant)) {
    throw new InvalidItemError(id, `item ${id}: tenant must be 2–63 lower-case letters, digits or dashes`);
  }
  return tenant;
}

function requiredString(item: Item, attribute: string, id: string): string {
  const value = item[attribute];
  if (typeof value !== "string" || value === "") {
    throw new InvalidItemError(id, `item ${id}: ${attribute} must be a non-empty string`);
  }
  return value;
}

/** An absent attribute is undefined; a present one of another type is reported, never guessed at. */
function optionalString(item: Item, attribute: string, id: string): string | undefined {
  const value = item[attribute];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new InvalidItemError(id, `item ${id}: ${attribute} must be a string`);
  return value;
}

/** A list (L) or string set (SS) of strings; anything else is reported. */
function optionalStringList(item: Item, attribute: string, id: string): string[] {
  const value = item[attribute];
  if (value === undefined || value === null) return [];
  const list = value instanceof Set ? [...value] : value;
  if (!Array.isArray(list) || !list.every((v) => typeof v === "string")) {
    throw new InvalidItemError(id, `item ${id}: ${attribute} must be a list of strings`);
  }
  return list;
}

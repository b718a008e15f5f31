/** Defaults and bounds of a stream's settings (Firehose-like), shared by the registry items and the CLI. */
import type { Compression, PayloadType, StreamRecord } from "./types.js";

export const STREAM_DEFAULTS = {
  bufferMiB: 5,
  bufferSeconds: 300,
  compression: "none" as Compression,
  shards: 1,
  rateLimitPerSecond: 10_000,
  rateLimitBurst: 20_000,
} as const;

/** Inclusive bounds of each numeric setting, with its unit, for validation messages. */
export const STREAM_SETTING_BOUNDS = {
  bufferMiB: { min: 1, max: 128, unit: "MiB" },
  bufferSeconds: { min: 0, max: 900, unit: "s" },
  shards: { min: 1, max: 50, unit: "delivery streams" },
  rateLimitPerSecond: { min: 1, max: 1_000_000, unit: "requests/s" },
  rateLimitBurst: { min: 1, max: 10_000_000, unit: "requests" },
} as const;

export type NumericStreamSetting = keyof typeof STREAM_SETTING_BOUNDS;

/** Tenants: lower-case letters, digits and dashes, 2–63 characters, starting with a letter or digit. */
export const TENANT_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** Returns an error message when `value` is out of the setting's bounds, else undefined. */
export function checkStreamSetting(setting: NumericStreamSetting, value: number): string | undefined {
  const { min, max, unit } = STREAM_SETTING_BOUNDS[setting];
  const wholeOnly = setting !== "bufferMiB";
  if (!Number.isFinite(value) || value < min || value > max || (wholeOnly && !Number.isInteger(value))) {
    return `${setting} must be ${wholeOnly ? "a whole number " : ""}from ${min} to ${max} ${unit}; got ${String(value)}`;
  }
  return undefined;
}

export function isPayloadType(value: unknown): value is PayloadType {
  return value === "json" || value === "xml";
}

export function isCompression(value: unknown): value is Compression {
  return value === "none" || value === "gzip";
}

/** A new, active stream record with every setting at its default. */
export function newStreamRecord(input: {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly payload: PayloadType;
  readonly description?: string;
  /** ISO-8601 creation time. */
  readonly now: string;
}): StreamRecord {
  return {
    id: input.id,
    tenant: input.tenant,
    name: input.name,
    description: input.description ?? "",
    payload: input.payload,
    status: "active",
    delivery: {
      bufferMiB: STREAM_DEFAULTS.bufferMiB,
      bufferSeconds: STREAM_DEFAULTS.bufferSeconds,
      compression: STREAM_DEFAULTS.compression,
      shards: STREAM_DEFAULTS.shards,
    },
    rateLimitPerSecond: STREAM_DEFAULTS.rateLimitPerSecond,
    rateLimitBurst: STREAM_DEFAULTS.rateLimitBurst,
    createdAt: input.now,
    updatedAt: input.now,
    deliveryStreams: [],
  };
}

/**
 * What the provisioner does about one change of a stream item (a DynamoDB stream record): a pure decision
 * over the old and new images, so every rule is unit-tested without AWS.
 */
import { STREAM_ID_PATTERN } from "../core/constants.js";
import { STREAM_DEFAULTS, STREAM_SETTING_BOUNDS } from "../core/stream-settings.js";
import type { StreamRecord } from "../core/types.js";
import { deliveryFingerprint, deliveryStreamNames, isDeliveryStreamOf } from "./delivery-stream-config.js";
import { InvalidItemError, type Item, streamFromItem } from "./registry-items.js";

/** Attributes only the provisioner writes; a change confined to them is not an admin's edit. */
export const PROVISIONER_ATTRIBUTES: readonly string[] = [
  "delivery_streams",
  "delivery_status",
  "delivery_applied",
  "delivery_error",
  "delivery_updated_at",
];

/** One change of a stream item, as the table's stream reports it (images already unmarshalled). */
export interface StreamChange {
  readonly eventName: "INSERT" | "MODIFY" | "REMOVE";
  /** From the record's key, so it is known even when an image is missing or broken. */
  readonly streamId: string;
  readonly newItem?: Item;
  readonly oldItem?: Item;
}

/** Delivery streams to delete once nothing can write to them any more. */
export interface Retirement {
  readonly streamId: string;
  readonly deliveryStreams: readonly string[];
  /** The largest buffer interval the delivery streams may still hold records for. */
  readonly bufferSeconds: number;
}

/** What to do about one stream change; {@link planStreamChange} decides it. */
export type StreamChangePlan =
  /** Nothing to do: the reason says why (already applied, the provisioner's own write-back, …). */
  | { readonly kind: "skip"; readonly streamId: string; readonly reason: string }
  /** The item cannot be provisioned; `recordFailure` says whether FAILED must still be written on it. */
  | {
      readonly kind: "reject";
      readonly streamId: string;
      readonly problem: string;
      readonly recordFailure: boolean;
    }
  /** Create/update the delivery streams, then retire those no longer wanted, then record ACTIVE. */
  | {
      readonly kind: "apply";
      readonly stream: StreamRecord;
      readonly deliveryStreams: readonly string[];
      readonly fingerprint: string;
      /** Write CREATING first: the record does not serve yet (an ACTIVE one keeps serving while it changes). */
      readonly markCreating: boolean;
      readonly retirement: Retirement | undefined;
    }
  /** The stream item was removed: retire its delivery streams. */
  | { readonly kind: "retire"; readonly retirement: Retirement };

/** Decides what to do about `change`, for the delivery streams under `prefix`. */
export function planStreamChange(change: StreamChange, prefix: string): StreamChangePlan {
  const { streamId, newItem, oldItem } = change;
  if (change.eventName === "REMOVE") {
    const retirement = retirementOf(prefix, streamId, [oldItem], [], bufferSecondsOf(oldItem));
    return retirement === undefined
      ? { kind: "skip", streamId, reason: "the removed stream had no delivery streams" }
      : { kind: "retire", retirement };
  }
  if (newItem === undefined) {
    // Writing FAILED would produce another image-less event, so the misconfiguration is only reported.
    const problem = `stream ${streamId}: the event has no new image; the table's stream must be NEW_AND_OLD_IMAGES`;
    return { kind: "reject", streamId, problem, recordFailure: false };
  }
  if (oldItem !== undefined && isOwnWriteBack(oldItem, newItem)) {
    return {
      kind: "skip",
      streamId,
      reason: "only the delivery status changed (the provisioner's write-back)",
    };
  }
  let stream: StreamRecord;
  try {
    stream = streamFromItem(newItem);
    if (!STREAM_ID_PATTERN.test(stream.id)) {
      throw new InvalidItemError(
        stream.id,
        `stream ${stream.id}: the id names its Firehose delivery streams, so it must be is- followed by 8 letters or digits; create the stream again with such an id`,
      );
    }
  } catch (error) {
    if (!(error instanceof InvalidItemError)) throw error;
    const alreadyRecorded = newItem.delivery_status === "FAILED" && newItem.delivery_error === error.message;
    return { kind: "reject", streamId, problem: error.message, recordFailure: !alreadyRecorded };
  }
  const deliveryStreams = deliveryStreamNames(prefix, stream.id, stream.delivery.shards);
  const fingerprint = deliveryFingerprint(stream);
  if (
    newItem.delivery_status === "ACTIVE" &&
    newItem.delivery_applied === fingerprint &&
    sameNames(stream.deliveryStreams, deliveryStreams)
  ) {
    return { kind: "skip", streamId, reason: "the delivery settings are applied" };
  }
  const bufferSeconds = Math.max(bufferSecondsOf(oldItem), stream.delivery.bufferSeconds);
  return {
    kind: "apply",
    stream,
    deliveryStreams,
    fingerprint,
    markCreating: newItem.delivery_status !== "ACTIVE",
    retirement: retirementOf(prefix, streamId, [oldItem, newItem], deliveryStreams, bufferSeconds),
  };
}

/**
 * The attributes whose values differ between two images. Values are compared in a canonical JSON form, so
 * string sets and maps compare by content, not by order.
 */
export function changedAttributes(oldItem: Item, newItem: Item): string[] {
  const names = new Set([...Object.keys(oldItem), ...Object.keys(newItem)]);
  return [...names].filter((name) => canonical(oldItem[name]) !== canonical(newItem[name]));
}

/**
 * The provisioner's own CREATING/FAILED write-back changes only its attributes; handling its event again would
 * loop. (Its ACTIVE write-back is recognised by the fingerprint.) An admin re-triggers a failed stream by any
 * other edit, or by removing `delivery_status`.
 */
function isOwnWriteBack(oldItem: Item, newItem: Item): boolean {
  const status = newItem.delivery_status;
  if (status !== "CREATING" && status !== "FAILED") return false;
  return changedAttributes(oldItem, newItem).every((name) => PROVISIONER_ATTRIBUTES.includes(name));
}

/**
 * The delivery streams that `items` list or (by their shard count) may have created, other than those still
 * `wanted`. Only names of this stream under this prefix: a hand-edited list never retires another's streams.
 */
function retirementOf(
  prefix: string,
  streamId: string,
  items: readonly (Item | undefined)[],
  wanted: readonly string[],
  bufferSeconds: number,
): Retirement | undefined {
  const names = new Set<string>();
  for (const item of items) {
    if (item === undefined) continue;
    for (const name of listedNames(item)) names.add(name);
    // A delivery stream may have been created by an attempt that never got to record it.
    if (STREAM_ID_PATTERN.test(streamId)) {
      for (const name of deliveryStreamNames(prefix, streamId, shardsOf(item))) names.add(name);
    }
  }
  const deliveryStreams = [...names]
    .filter((name) => !wanted.includes(name) && isDeliveryStreamOf(prefix, streamId, name))
    .sort(byShard);
  return deliveryStreams.length === 0 ? undefined : { streamId, deliveryStreams, bufferSeconds };
}

/** `delivery_streams` as written (list or string set); other values list nothing. */
function listedNames(item: Item): string[] {
  const value = item.delivery_streams;
  const list = value instanceof Set ? [...value] : value;
  return Array.isArray(list) ? list.filter((name): name is string => typeof name === "string") : [];
}

/** The item's shard count when valid, else the default (an invalid count never created delivery streams). */
function shardsOf(item: Item): number {
  const { shards } = item;
  const { max } = STREAM_SETTING_BOUNDS.shards;
  return typeof shards === "number" && Number.isInteger(shards) && shards >= 1 && shards <= max
    ? shards
    : STREAM_DEFAULTS.shards;
}

/** The item's buffer interval; an unreadable one counts as the longest, so deletion never comes too early. */
function bufferSecondsOf(item: Item | undefined): number {
  const value = item?.buffer_seconds ?? STREAM_DEFAULTS.bufferSeconds;
  const { min, max } = STREAM_SETTING_BOUNDS.bufferSeconds;
  return typeof value === "number" && value >= min && value <= max ? value : max;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

/** Orders `<prefix>-<id>-<shard>` names by shard number (names here share their prefix and id). */
function byShard(a: string, b: string): number {
  return a.length - b.length || a.localeCompare(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Set) return { $set: [...v].map((e) => canonical(e)).sort() };
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)));
    }
    return v;
  });
}

/**
 * Deferred deletion of retired delivery streams: scheduled as a delayed queue message, and carried out once
 * nothing can write to them any more (cache TTL + Firehose buffer + margin), unless the stream lists them again.
 */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { STREAM_ID_PATTERN } from "../core/constants.js";
import type { Clock, Logger } from "../core/ports.js";
import { STREAM_DEFAULTS, STREAM_SETTING_BOUNDS } from "../core/stream-settings.js";
import type { Retirement } from "./delivery-plan.js";
import type { DeliveryStatusStore } from "./delivery-status-store.js";
import { deliveryStreamNames, isDeliveryStreamOf } from "./delivery-stream-config.js";
import type { DeliveryStreams } from "./delivery-streams.js";
import type { ProvisioningMetrics } from "./provisioning-ports.js";

/** The `kind` of a deletion message, so the queue could carry other kinds later. */
export const DELETION_MESSAGE_KIND = "delete-delivery-streams";

/** Seconds added to the cache TTL and buffer interval: in-flight requests and Firehose's last flush. */
export const DELETION_MARGIN_SECONDS = 120;

/** SQS's longest message delay. */
export const MAX_DELAY_SECONDS = 900;

/** The queue message (its JSON is the contract with the queue's consumer, this same Lambda). */
export interface DeletionMessage {
  readonly kind: typeof DELETION_MESSAGE_KIND;
  readonly streamId: string;
  readonly deliveryStreams: readonly string[];
  /** Epoch milliseconds before which the delivery streams must not be deleted. */
  readonly notBefore: number;
}

/**
 * The message retiring `retirement` at `now`: due once the ingest caches (TTL) can no longer hold the old
 * names and Firehose has flushed its buffer.
 */
export function deletionMessage(
  retirement: Retirement,
  now: number,
  cacheTtlSeconds: number,
): DeletionMessage {
  const waitSeconds = cacheTtlSeconds + retirement.bufferSeconds + DELETION_MARGIN_SECONDS;
  return {
    kind: DELETION_MESSAGE_KIND,
    streamId: retirement.streamId,
    deliveryStreams: [...retirement.deliveryStreams],
    notBefore: now + waitSeconds * 1000,
  };
}

/** The SQS delay until `notBefore`, in whole seconds rounded up, at most SQS's 900. */
export function delaySecondsUntil(notBefore: number, now: number): number {
  return Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((notBefore - now) / 1000)));
}

/**
 * The message in `body`, or the problem with it. Only delivery streams of the named stream under `prefix` are
 * accepted, so a forged or corrupted message can never delete another stream's delivery.
 */
export function parseDeletionMessage(body: string, prefix: string): DeletionMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return "the body is not JSON";
  }
  if (typeof value !== "object" || value === null) return "the body is not a JSON object";
  const { kind, streamId, deliveryStreams, notBefore } = value as Record<string, unknown>;
  if (kind !== DELETION_MESSAGE_KIND) return `kind must be "${DELETION_MESSAGE_KIND}"`;
  if (typeof streamId !== "string" || !STREAM_ID_PATTERN.test(streamId)) return "streamId is not a stream id";
  if (typeof notBefore !== "number" || !Number.isFinite(notBefore)) return "notBefore is not a number";
  if (
    !Array.isArray(deliveryStreams) ||
    deliveryStreams.length === 0 ||
    !deliveryStreams.every((name) => typeof name === "string" && isDeliveryStreamOf(prefix, streamId, name))
  ) {
    return `deliveryStreams must list delivery streams of ${streamId} named ${prefix}-${streamId}-<shard>`;
  }
  return { kind, streamId, deliveryStreams, notBefore };
}

/**
 * The delivery streams of `message` to delete now: those the stream's current item neither lists nor would
 * use with its shard count (a stream re-created with the same id keeps its delivery streams).
 */
export function deletableNow(
  message: DeletionMessage,
  prefix: string,
  current: { readonly deliveryStreams: readonly string[]; readonly shards: number | undefined } | undefined,
): string[] {
  if (current === undefined) return [...message.deliveryStreams];
  const shards = Math.min(current.shards ?? STREAM_DEFAULTS.shards, STREAM_SETTING_BOUNDS.shards.max);
  const kept = new Set([
    ...current.deliveryStreams,
    ...deliveryStreamNames(prefix, message.streamId, shards),
  ]);
  return message.deliveryStreams.filter((name) => !kept.has(name));
}

/** The deletion queue (SQS): messages become visible to the provisioner after their delay. */
export class DeletionQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  /** Enqueues `message`, invisible for `delaySeconds` (0–900). */
  async send(message: DeletionMessage, delaySeconds: number): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: delaySeconds,
      }),
    );
  }
}

/** Sends the deletion messages of retired delivery streams. */
export class DeletionScheduler {
  constructor(
    private readonly queue: DeletionQueue,
    private readonly clock: Clock,
    private readonly cacheTtlSeconds: number,
    private readonly logger: Logger,
  ) {}

  async schedule(retirement: Retirement): Promise<void> {
    const now = this.clock.now();
    const message = deletionMessage(retirement, now, this.cacheTtlSeconds);
    await this.queue.send(message, delaySecondsUntil(message.notBefore, now));
    this.logger.info("delivery streams retired", {
      streamId: retirement.streamId,
      action: "schedule-deletion",
      deliveryStreams: message.deliveryStreams,
      outcome: `deletion after ${new Date(message.notBefore).toISOString()}`,
    });
  }
}

/** Handles the deletion queue's messages. */
export class DueDeletions {
  constructor(
    private readonly deps: {
      readonly queue: DeletionQueue;
      readonly streams: DeliveryStreams;
      readonly store: DeliveryStatusStore;
      readonly prefix: string;
      readonly clock: Clock;
      readonly logger: Logger;
      readonly metrics: ProvisioningMetrics;
    },
  ) {}

  /**
   * Handles one message. Resolves when it is done with (deleted, sent again to wait longer, or malformed and
   * dropped); rejects when it must be received again (a delivery stream in use, a service error).
   */
  async handle(body: string, messageId: string): Promise<void> {
    try {
      await this.process(body, messageId);
    } catch (error) {
      this.deps.metrics.failed();
      this.deps.logger.error("deletion message failed; it will be received again", {
        messageId,
        action: "delete",
        outcome: error instanceof Error ? `${error.name}: ${error.message}` : "error",
      });
      throw error;
    }
  }

  private async process(body: string, messageId: string): Promise<void> {
    const { prefix, clock, logger, metrics, queue } = this.deps;
    const message = parseDeletionMessage(body, prefix);
    if (typeof message === "string") {
      // It can never succeed; receiving it again would only delay the queue.
      metrics.failed();
      logger.error("malformed deletion message dropped", { messageId, action: "delete", problem: message });
      return;
    }
    const fields = { messageId, streamId: message.streamId, action: "delete" };
    const now = clock.now();
    if (now < message.notBefore) {
      const delaySeconds = delaySecondsUntil(message.notBefore, now);
      await queue.send(message, delaySeconds);
      logger.info("deletion not due yet", { ...fields, outcome: `waiting ${delaySeconds} s more` });
      return;
    }
    const current = await this.deps.store.listed(message.streamId);
    if (current.kind === "unreadable") {
      metrics.failed();
      logger.error("deletion skipped: the stream item's delivery_streams is not a list of names", {
        ...fields,
        deliveryStreams: message.deliveryStreams,
        outcome: "kept",
      });
      return;
    }
    await this.deleteAll(
      message,
      deletableNow(message, prefix, current.kind === "absent" ? undefined : current),
    );
  }

  /** Deletes each name, then rejects with the first failure, so one stream in use does not hold back others. */
  private async deleteAll(message: DeletionMessage, names: readonly string[]): Promise<void> {
    const { streams, logger, metrics } = this.deps;
    const kept = message.deliveryStreams.filter((name) => !names.includes(name));
    let failure: unknown;
    for (const name of names) {
      const fields = { streamId: message.streamId, action: "delete", deliveryStreams: [name] };
      try {
        const outcome = await streams.delete(name);
        if (outcome === "deleted") metrics.deleted(1);
        logger.info("delivery stream deleted", { ...fields, outcome });
      } catch (error) {
        failure ??= error;
        logger.warn("delivery stream not deleted; the message is retried", {
          ...fields,
          outcome: error instanceof Error ? error.name : "error",
        });
      }
    }
    if (kept.length > 0) {
      logger.info("delivery streams kept: the stream uses them again", {
        streamId: message.streamId,
        action: "delete",
        deliveryStreams: kept,
        outcome: "kept",
      });
    }
    if (failure !== undefined) throw failure;
  }
}

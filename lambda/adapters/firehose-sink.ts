/**
 * The RecordSink on AWS: one Kinesis Data Firehose PutRecord per accepted record, retried with full-jitter
 * backoff inside a bounded time budget. A put resolves only once Firehose answered with a RecordId. Batches go
 * out packed, with PutRecordBatch (firehose-batch.ts).
 */
import { FirehoseClient, PutRecordCommand } from "@aws-sdk/client-firehose";
import { InternalError } from "../core/errors.js";
import { type Clock, type Logger, type RecordSink, systemClock } from "../core/ports.js";
import type { AcceptedBatch, AcceptedRecord, StreamRecord } from "../core/types.js";
import { deliverBatch, retryWindowMs } from "./firehose-batch.js";
import {
  classifyFailure,
  DeliveryBudgetExceededError,
  type DeliverySummary,
  errorName,
  exhaustedError,
  MissingRecordIdError,
  misconfiguredError,
  notFoundError,
  notReadyError,
} from "./firehose-errors.js";
import { boundedRequests } from "./request-bounds.js";

/** Why an attempt failed in a way worth another attempt. */
export type DeliveryFailureReason = "throttled" | "unavailable" | "timeout";

/** A failed attempt that is retried after `delayMs` (one per retry; feeds the `DeliveryRetries` metric). */
export interface DeliveryAttempt {
  readonly deliveryStream: string;
  /** 1-based number of the attempt that failed. */
  readonly attempt: number;
  readonly reason: DeliveryFailureReason;
  readonly delayMs: number;
}

/** A record Firehose acknowledged (once per successful put; feeds `DeliveryLatency`). */
export interface DeliveryConfirmed {
  readonly deliveryStream: string;
  /** Attempts made, the successful one included. */
  readonly attempts: number;
  /** From the first attempt to the acknowledgement. */
  readonly latencyMs: number;
  readonly bytes: number;
}

/** Options of {@link FirehoseSink}. */
export interface FirehoseSinkOptions {
  /** Created once per container, with {@link createFirehoseClient} (the SDK's own retries off). */
  readonly client: FirehoseClient;
  /** Never given record content. */
  readonly logger: Logger;
  /** Total time for all attempts of one record, measured from the first. @default 6000 ms */
  readonly budgetMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Backoff jitter and the choice among a stream's delivery streams; values in [0, 1). @default Math.random */
  readonly random?: () => number;
  /**
   * Waits `ms`: backoff delays, and the timer that ends an attempt when the budget runs out. Tests inject one
   * that advances a fake clock and resolves at once. @default a real timer (cancelled once an attempt settles)
   */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each backoff, e.g. to count retries. */
  readonly onRetry?: (attempt: DeliveryAttempt) => void;
  /** Called once per acknowledged record, e.g. to record the delivery latency. */
  readonly onConfirmed?: (confirmed: DeliveryConfirmed) => void;
}

const DEFAULT_BUDGET_MS = 6000;
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 1000;
/** Bounds the attempts even when `random` keeps returning 0 (no backoff at all), which would hammer Firehose. */
const MAX_ATTEMPTS = 50;
const CONNECTION_TIMEOUT_MS = 1000;
const DEFAULT_ATTEMPT_TIMEOUT_MS = 3000;

type AttemptOutcome = { readonly kind: "confirmed" } | { readonly kind: "failed"; readonly error: unknown };
const CONFIRMED: AttemptOutcome = { kind: "confirmed" };
const EXPIRED = { kind: "expired" } as const;

/** A timer that can be cleared once the race it is part of is decided. */
interface BudgetTimer {
  readonly elapsed: Promise<void>;
  cancel(): void;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const nextTurn = (): Promise<undefined> => new Promise((resolve) => setImmediate(resolve, undefined));

/** Delivers records to the Firehose delivery stream(s) of their stream. Create once per container. */
export class FirehoseSink implements RecordSink {
  private readonly client: FirehoseClient;
  private readonly logger: Logger;
  private readonly budgetMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly injectedSleep: ((ms: number) => Promise<void>) | undefined;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onRetry: ((attempt: DeliveryAttempt) => void) | undefined;
  private readonly onConfirmed: ((confirmed: DeliveryConfirmed) => void) | undefined;

  constructor(options: FirehoseSinkOptions) {
    const budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
    if (!Number.isFinite(budgetMs) || budgetMs <= 0) {
      throw new TypeError(
        `FirehoseSinkOptions.budgetMs must be a positive number of milliseconds; got ${String(budgetMs)}`,
      );
    }
    this.client = options.client;
    this.logger = options.logger;
    this.budgetMs = budgetMs;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.injectedSleep = options.sleep;
    this.sleep = options.sleep ?? realSleep;
    this.onRetry = options.onRetry;
    this.onConfirmed = options.onConfirmed;
  }

  /**
   * Throws 503 `delivery_not_ready` unless the stream's delivery streams are ACTIVE and listed: Retry-After 30
   * while they are being set up, 60 when provisioning FAILED (an admin must look at `delivery_error`).
   */
  assertReady(stream: StreamRecord): void {
    const error = notReadyError(stream);
    if (error !== undefined) throw error;
  }

  /**
   * Resolves once Firehose acknowledged the record (`data` is sent unchanged). Rejects with 429
   * `delivery_throttled`, 503 `delivery_unavailable` / `delivery_not_ready` / `delivery_misconfigured`, or 500.
   */
  async put(record: AcceptedRecord): Promise<void> {
    const { stream, data } = record;
    this.assertReady(stream);
    const started = this.clock.now();
    const deadline = started + this.budgetMs;
    const candidates = [...stream.deliveryStreams];
    let deliveryStream = this.pick(candidates);
    let retries = 0;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(deliveryStream, data, deadline);
      const now = this.clock.now();
      const summary: DeliverySummary = {
        deliveryStream,
        attempts: attempt,
        elapsedMs: now - started,
        budgetMs: this.budgetMs,
      };
      if (outcome.kind === "expired") {
        throw exhaustedError("timeout", summary, new DeliveryBudgetExceededError(this.budgetMs));
      }
      if (outcome.kind === "confirmed") {
        const confirmed = {
          deliveryStream,
          attempts: attempt,
          latencyMs: now - started,
          bytes: data.byteLength,
        };
        this.notify(this.onConfirmed, confirmed);
        return;
      }
      const { error } = outcome;
      const kind = classifyFailure(error);
      const context = { streamId: stream.id, deliveryStream, attempt, errorName: errorName(error) };
      if (kind === "not_found") {
        // Never retried against the same name: it was deleted, or not created yet. Another shard may work.
        candidates.splice(candidates.indexOf(deliveryStream), 1);
        this.logger.warn("firehose sink: delivery stream not found", { ...context, left: candidates.length });
        if (candidates.length === 0) throw notFoundError(stream, error);
        if (now >= deadline) throw exhaustedError("unavailable", summary, error);
        deliveryStream = this.pick(candidates);
        continue;
      }
      if (kind === "misconfigured") {
        this.logger.error("firehose sink: delivery stream refuses records; an operator must fix it", context);
        throw misconfiguredError(deliveryStream, error);
      }
      if (kind === "rejected") {
        this.logger.error("firehose sink: PutRecord failed and is not retried", context);
        throw new InternalError({ cause: error });
      }
      const delayMs = this.backoff(retries++);
      // Never start a sleep that would end at or past the budget: fail now, with the last failure's status.
      if (attempt >= MAX_ATTEMPTS || now + delayMs + retryWindowMs(this.budgetMs) >= deadline) {
        throw exhaustedError(kind, summary, error);
      }
      const retry: DeliveryAttempt = { deliveryStream, attempt, reason: kind, delayMs };
      this.logger.warn("firehose sink: PutRecord failed; retrying", { ...context, reason: kind, delayMs });
      this.notify(this.onRetry, retry);
      await this.sleep(delayMs);
      const woke = this.clock.now();
      if (woke >= deadline) throw exhaustedError(kind, { ...summary, elapsedMs: woke - started }, error);
    }
  }

  /**
   * Resolves once Firehose acknowledged every line of the batch: lines packed into as few records as possible
   * (≤ 1,000 KiB each, lines never split), sent with PutRecordBatch, only failed entries retried, within the
   * same budget and backoff as put. Rejects like put; `onConfirmed` is called once, with the batch's bytes.
   */
  async putBatch(batch: AcceptedBatch): Promise<void> {
    this.assertReady(batch.stream);
    await deliverBatch(
      {
        client: this.client,
        logger: this.logger,
        clock: this.clock,
        budgetMs: this.budgetMs,
        maxAttempts: MAX_ATTEMPTS,
        backoff: (retry) => this.backoff(retry),
        pick: (candidates) => this.pick(candidates),
        sleep: (ms) => this.sleep(ms),
        budgetTimer: (ms) => this.budgetTimer(ms),
        onRetry: (attempt) => this.notify(this.onRetry, attempt),
        onConfirmed: (confirmed) => this.notify(this.onConfirmed, confirmed),
      },
      batch,
    );
  }

  /** One PutRecord, aborted when the budget ends first. */
  private async attempt(
    deliveryStream: string,
    data: Uint8Array,
    deadline: number,
  ): Promise<AttemptOutcome | typeof EXPIRED> {
    const controller = new AbortController();
    const sent = this.send(deliveryStream, data, controller.signal);
    // The budget timer starts one event-loop turn later, with the time then left. A real PutRecord takes far
    // longer than a turn; a send already answered by then (a mocked client) never races a timer, so a test
    // sleep that advances a fake clock and resolves at once cannot beat it.
    const early = await Promise.race([sent, nextTurn()]);
    if (early !== undefined) return early;
    const timer = this.budgetTimer(Math.max(0, deadline - this.clock.now()));
    const outcome = await Promise.race([sent, timer.elapsed.then(() => EXPIRED)]);
    timer.cancel();
    if (outcome.kind === "expired") controller.abort();
    return outcome;
  }

  /** Never rejects: a failure is an outcome (so an attempt abandoned at the budget leaves no unhandled rejection). */
  private async send(
    deliveryStream: string,
    data: Uint8Array,
    abortSignal: AbortSignal,
  ): Promise<AttemptOutcome> {
    try {
      const command = new PutRecordCommand({ DeliveryStreamName: deliveryStream, Record: { Data: data } });
      const output = await this.client.send(command, { abortSignal });
      return output.RecordId ? CONFIRMED : { kind: "failed", error: new MissingRecordIdError() };
    } catch (error) {
      return { kind: "failed", error };
    }
  }

  private budgetTimer(ms: number): BudgetTimer {
    if (this.injectedSleep !== undefined) return { elapsed: this.injectedSleep(ms), cancel: () => undefined };
    let handle: ReturnType<typeof setTimeout> | undefined;
    const elapsed = new Promise<void>((resolve) => {
      handle = setTimeout(resolve, ms);
    });
    return { elapsed, cancel: () => clearTimeout(handle) };
  }

  /** Full jitter: a uniform delay in [0, min(cap, base·2^n)). */
  private backoff(retry: number): number {
    return Math.floor(this.unit() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** retry));
  }

  /** One delivery stream, uniformly; `random` is only consulted when there is a choice. */
  private pick(candidates: readonly string[]): string {
    const index = candidates.length > 1 ? Math.floor(this.unit() * candidates.length) : 0;
    const chosen = candidates[index];
    if (chosen === undefined) throw new TypeError("FirehoseSink: no delivery stream to choose from");
    return chosen;
  }

  /** `random()` kept inside [0, 1), so a misbehaving source cannot pick past the end or stretch a delay. */
  private unit(): number {
    const value = this.random();
    return Number.isFinite(value) ? Math.min(Math.max(value, 0), 1 - Number.EPSILON) : 0;
  }

  /** Runs a metrics callback; its failure must not turn a stored record into an error the client retries. */
  private notify<T>(callback: ((value: T) => void) | undefined, value: T): void {
    try {
      callback?.(value);
    } catch (error) {
      this.logger.error("firehose sink: delivery callback failed", { errorName: errorName(error) });
    }
  }
}

/**
 * The FirehoseClient for {@link FirehoseSink}: the SDK's own retries off (the sink owns them, inside its
 * budget), connections given ~1 s, each request `attemptTimeoutMs` (default 3000). Region from the option or
 * the environment (`AWS_REGION`). Create once per container.
 */
export function createFirehoseClient(
  options: { region?: string; attemptTimeoutMs?: number } = {},
): FirehoseClient {
  const requestTimeout = options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
  if (!Number.isFinite(requestTimeout) || requestTimeout <= 0) {
    throw new TypeError(
      `createFirehoseClient: attemptTimeoutMs must be a positive number of milliseconds; got ${String(requestTimeout)}`,
    );
  }
  return new FirehoseClient({
    ...(options.region === undefined ? {} : { region: options.region }),
    maxAttempts: 1,
    // Without throwOnRequestTimeout the SDK's handler only logs a warning when requestTimeout passes.
    requestHandler: boundedRequests(requestTimeout, CONNECTION_TIMEOUT_MS),
  });
}

/**
 * Batch delivery to Firehose: a batch request's NDJSON lines packed into as few Firehose records as possible
 * (each ≤ 1,000 KiB, lines never split; Firehose bills each record rounded up to 5 KB), sent with
 * PutRecordBatch (≤ 500 records and ≤ 4 MiB per call), retrying only the entries Firehose failed, with the
 * same full-jitter backoff and time budget as a single put. Resolves only once every entry was acknowledged.
 */
import { type FirehoseClient, PutRecordBatchCommand } from "@aws-sdk/client-firehose";
import { InternalError } from "../core/errors.js";
import type { Clock, Logger } from "../core/ports.js";
import type { AcceptedBatch } from "../core/types.js";
import {
  classifyFailure,
  DeliveryBudgetExceededError,
  type DeliverySummary,
  errorName,
  exhaustedError,
  type FailureKind,
  MissingRecordIdError,
  misconfiguredError,
  notFoundError,
} from "./firehose-errors.js";
import type { DeliveryAttempt, DeliveryConfirmed } from "./firehose-sink.js";

/** Largest Firehose record: 1,000 KiB (before base64). */
export const MAX_FIREHOSE_RECORD_BYTES = 1_024_000;
/** Most records in one PutRecordBatch call. */
export const MAX_PUT_BATCH_RECORDS = 500;
/** Most bytes (sum of record data) in one PutRecordBatch call: 4 MiB. */
export const MAX_PUT_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Packs lines, in order, into records of at most `maxBytes` each (a line is never split). Filling each record
 * before starting the next gives the fewest records any order-keeping packing can. A line longer than
 * `maxBytes` (never one the core accepted) becomes a record of its own.
 */
export function packLines(
  lines: readonly Uint8Array[],
  maxBytes: number = MAX_FIREHOSE_RECORD_BYTES,
): Uint8Array[] {
  const packed: Uint8Array[] = [];
  let group: Uint8Array[] = [];
  let size = 0;
  const close = (): void => {
    if (group.length === 0) return;
    packed.push(group.length === 1 ? (group[0] as Uint8Array) : Buffer.concat(group, size));
    group = [];
    size = 0;
  };
  for (const line of lines) {
    if (size > 0 && size + line.byteLength > maxBytes) close();
    group.push(line);
    size += line.byteLength;
  }
  close();
  return packed;
}

/** Splits records, in order, into PutRecordBatch calls of ≤ `maxRecords` records and ≤ `maxBytes` bytes. */
export function splitCalls(
  records: readonly Uint8Array[],
  maxRecords: number = MAX_PUT_BATCH_RECORDS,
  maxBytes: number = MAX_PUT_BATCH_BYTES,
): Uint8Array[][] {
  const calls: Uint8Array[][] = [];
  let call: Uint8Array[] = [];
  let size = 0;
  for (const record of records) {
    if (call.length > 0 && (call.length >= maxRecords || size + record.byteLength > maxBytes)) {
      calls.push(call);
      call = [];
      size = 0;
    }
    call.push(record);
    size += record.byteLength;
  }
  if (call.length > 0) calls.push(call);
  return calls;
}

/** A timer that can be cleared once the race it is part of is decided. */
export interface BatchBudgetTimer {
  readonly elapsed: Promise<void>;
  cancel(): void;
}

/**
 * A retry starts only when this much of the budget is left after its backoff: an attempt cut off by the end of
 * the budget leaves the record's fate unknown (503, "may or may not be stored"), where stopping before it
 * answers with the last failure's own status (429 when Firehose was throttling). A tenth of the budget, at most
 * 200 ms.
 */
export function retryWindowMs(budgetMs: number): number {
  return Math.min(200, budgetMs / 10);
}

/** What batch delivery borrows from its FirehoseSink: client, timing policy and callbacks. */
export interface BatchDeliveryContext {
  readonly client: FirehoseClient;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly budgetMs: number;
  readonly maxAttempts: number;
  backoff(retry: number): number;
  pick(candidates: readonly string[]): string;
  sleep(ms: number): Promise<void>;
  budgetTimer(ms: number): BatchBudgetTimer;
  onRetry(attempt: DeliveryAttempt): void;
  onConfirmed(confirmed: DeliveryConfirmed): void;
}

/** One packed record that is not acknowledged yet, and why its last attempt failed. */
interface Failed {
  readonly data: Uint8Array;
  readonly error: unknown;
  readonly kind: FailureKind;
}

type RoundOutcome =
  | { readonly kind: "done"; readonly failed: readonly Failed[] }
  | { readonly kind: "expired" };

const EXPIRED = { kind: "expired" } as const;
const nextTurn = (): Promise<undefined> => new Promise((resolve) => setImmediate(resolve, undefined));

/** An entry Firehose answered with an ErrorCode, as an error the classifier (and logs) understand. */
export class FailedEntryError extends Error {
  constructor(readonly errorCode: string) {
    // The ErrorMessage is left out: it is Firehose's text, and logs never quote what a request carried.
    super(`PutRecordBatch entry failed with ${errorCode}`);
    this.name = errorCode;
  }
}

/** What a failed entry (or call) means; KMS problems of the delivery stream's encryption need an operator. */
export function classifyEntryFailure(error: unknown): FailureKind {
  if (error instanceof FailedEntryError && error.errorCode.startsWith("KMS.")) return "misconfigured";
  return classifyFailure(error);
}

/**
 * Delivers every line of the batch, or rejects: 429 `delivery_throttled` / 503 `delivery_unavailable` once
 * the budget is spent (Retry-After set), 503 `delivery_not_ready` / `delivery_misconfigured`, 500 for an entry
 * Firehose refuses for good. A rejection after a partial success means some lines may be stored already.
 */
export async function deliverBatch(context: BatchDeliveryContext, batch: AcceptedBatch): Promise<void> {
  const { stream } = batch;
  const { clock, logger } = context;
  let pending: readonly Uint8Array[] = packLines(batch.records);
  const bytes = pending.reduce((sum, record) => sum + record.byteLength, 0);
  const started = clock.now();
  const deadline = started + context.budgetMs;
  const candidates = [...stream.deliveryStreams];
  let deliveryStream = context.pick(candidates);
  let retries = 0;
  for (let attempt = 1; ; attempt++) {
    const outcome = await sendRound(context, deliveryStream, pending, deadline);
    const now = clock.now();
    const summary: DeliverySummary = {
      deliveryStream,
      attempts: attempt,
      elapsedMs: now - started,
      budgetMs: context.budgetMs,
    };
    if (outcome.kind === "expired") {
      throw exhaustedError("timeout", summary, new DeliveryBudgetExceededError(context.budgetMs));
    }
    const { failed } = outcome;
    if (failed.length === 0) {
      context.onConfirmed({ deliveryStream, attempts: attempt, latencyMs: now - started, bytes });
      return;
    }
    pending = failed.map((entry) => entry.data);
    const worst = worstFailure(failed);
    const log = {
      streamId: stream.id,
      deliveryStream,
      attempt,
      failedRecords: failed.length,
      errorName: errorName(worst.error),
    };
    if (worst.kind === "misconfigured") {
      logger.error("firehose sink: delivery stream refuses records; an operator must fix it", log);
      throw misconfiguredError(deliveryStream, worst.error);
    }
    if (worst.kind === "rejected") {
      logger.error("firehose sink: PutRecordBatch failed and is not retried", log);
      throw new InternalError({ cause: worst.error });
    }
    if (worst.kind === "not_found") {
      candidates.splice(candidates.indexOf(deliveryStream), 1);
      logger.warn("firehose sink: delivery stream not found", { ...log, left: candidates.length });
      if (candidates.length === 0) throw notFoundError(stream, worst.error);
      if (now >= deadline) throw exhaustedError("unavailable", summary, worst.error);
      deliveryStream = context.pick(candidates);
      continue;
    }
    const reason = worst.kind;
    const delayMs = context.backoff(retries++);
    if (attempt >= context.maxAttempts || now + delayMs + retryWindowMs(context.budgetMs) >= deadline) {
      throw exhaustedError(reason, summary, worst.error);
    }
    logger.warn("firehose sink: PutRecordBatch entries failed; retrying only those", {
      ...log,
      reason,
      delayMs,
    });
    context.onRetry({ deliveryStream, attempt, reason, delayMs });
    await context.sleep(delayMs);
    const woke = clock.now();
    if (woke >= deadline)
      throw exhaustedError(reason, { ...summary, elapsedMs: woke - started }, worst.error);
  }
}

/**
 * The failure that decides what happens next: one needing an operator or refused for good ends the batch;
 * then a missing delivery stream (try another); then unavailable/timeout (503) over throttling (429).
 */
function worstFailure(failed: readonly Failed[]): Failed {
  const rank: Record<FailureKind, number> = {
    misconfigured: 6,
    rejected: 5,
    not_found: 4,
    unavailable: 3,
    timeout: 2,
    throttled: 1,
  };
  let worst = failed[0] as Failed;
  for (const entry of failed) if (rank[entry.kind] > rank[worst.kind]) worst = entry;
  return worst;
}

/** One attempt: every pending record, in as few calls as the limits allow (sent together), within the budget. */
async function sendRound(
  context: BatchDeliveryContext,
  deliveryStream: string,
  records: readonly Uint8Array[],
  deadline: number,
): Promise<RoundOutcome> {
  const controller = new AbortController();
  const sent = Promise.all(
    splitCalls(records).map((call) => sendCall(context.client, deliveryStream, call, controller.signal)),
  ).then((results): RoundOutcome => ({ kind: "done", failed: results.flat() }));
  // As in FirehoseSink.attempt: a send already answered within a turn (a mocked client) never races a timer.
  const early = await Promise.race([sent, nextTurn()]);
  if (early !== undefined) return early;
  const timer = context.budgetTimer(Math.max(0, deadline - context.clock.now()));
  const outcome = await Promise.race([sent, timer.elapsed.then(() => EXPIRED)]);
  timer.cancel();
  if (outcome.kind === "expired") controller.abort();
  return outcome;
}

/** One PutRecordBatch; never rejects. Returns the records not acknowledged (all of them if the call failed). */
async function sendCall(
  client: FirehoseClient,
  deliveryStream: string,
  records: readonly Uint8Array[],
  abortSignal: AbortSignal,
): Promise<Failed[]> {
  const failAll = (error: unknown): Failed[] =>
    records.map((data) => ({ data, error, kind: classifyEntryFailure(error) }));
  let responses: readonly { RecordId?: string; ErrorCode?: string }[];
  try {
    const command = new PutRecordBatchCommand({
      DeliveryStreamName: deliveryStream,
      Records: records.map((data) => ({ Data: data })),
    });
    const output = await client.send(command, { abortSignal });
    responses = output.RequestResponses ?? [];
  } catch (error) {
    return failAll(error);
  }
  // One response per record, in order; anything else cannot be matched up, so nothing is trusted as stored.
  if (responses.length !== records.length) return failAll(new MissingRecordIdError());
  const failed: Failed[] = [];
  records.forEach((data, i) => {
    const response = responses[i];
    if (response?.RecordId !== undefined && response.RecordId !== "" && response.ErrorCode === undefined)
      return;
    const error =
      response?.ErrorCode !== undefined
        ? new FailedEntryError(response.ErrorCode)
        : new MissingRecordIdError();
    failed.push({ data, error, kind: classifyEntryFailure(error) });
  });
  return failed;
}

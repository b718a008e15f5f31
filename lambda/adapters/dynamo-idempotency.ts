/**
 * The IdempotencyStore port on DynamoDB: the embedded store's `ingest-idempotency` table locally, a table with TTL
 * on AWS. One item per (stream, key); a claim is one conditional PutItem, a confirm one conditional UpdateItem, a
 * release one conditional DeleteItem, so concurrent requests (other Lambdas, other workers) agree on one winner.
 *
 * DynamoDB's TTL deletes expired items lazily (typically within days), and dynalite not at all, so every
 * condition and read treats an item whose `expires_at` has passed as absent; locally `sweepExpired` removes them.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { ServiceUnavailableError } from "../core/errors.js";
import type {
  IdempotencyClaim,
  IdempotencyClaimRef,
  IdempotencyClaimRequest,
  IdempotencyStore,
  Logger,
} from "../core/ports.js";
import { awsErrorName } from "./aws-errors.js";

/** Partition key attribute (S): `<stream-id>#<key>` (stream ids have a fixed length, so this is unambiguous). */
export const IDEMPOTENCY_PARTITION_KEY = "pk";

/** The TTL attribute: epoch seconds after which the item counts as absent (and DynamoDB may delete it). */
export const IDEMPOTENCY_TTL_ATTRIBUTE = "expires_at";

/** How often a claim may re-try after the item it collided with vanished before it could be read. */
const CLAIM_ATTEMPTS = 3;

const NAMES = { "#pk": IDEMPOTENCY_PARTITION_KEY, "#state": "state", "#expires": IDEMPOTENCY_TTL_ATTRIBUTE };

export interface DynamoIdempotencyStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly table: string;
  readonly logger: Logger;
  /**
   * Sweep expired items in the background at most this often (triggered by claims; a Scan plus one conditional
   * delete per expired item). For stores without TTL (dynalite). @default never (AWS: the table's TTL does it)
   */
  readonly sweepIntervalMs?: number;
  /** The clock for the sweep schedule (claims carry their own `now`). @default Date.now */
  readonly now?: () => number;
}

export class DynamoIdempotencyStore implements IdempotencyStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly logger: Logger;
  private lastSweep: number;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly options: DynamoIdempotencyStoreOptions) {
    this.client = options.client;
    this.table = options.table;
    this.logger = options.logger;
    this.lastSweep = this.nowMs();
  }

  async claim(request: IdempotencyClaimRequest): Promise<IdempotencyClaim> {
    this.maybeSweep();
    const pk = partitionKey(request.streamId, request.key);
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.table,
            Item: {
              [IDEMPOTENCY_PARTITION_KEY]: pk,
              state: "pending",
              claim_token: request.token,
              fingerprint: request.fingerprint,
              request_id: request.requestId,
              claimed_at: request.now,
              [IDEMPOTENCY_TTL_ATTRIBUTE]: epochSecondsCeil(request.expiresAt),
            },
            ConditionExpression:
              "attribute_not_exists(#pk) OR #expires <= :now OR (#state = :pending AND claimed_at <= :abandoned)",
            ExpressionAttributeNames: NAMES,
            ExpressionAttributeValues: {
              ":now": epochSecondsFloor(request.now),
              ":pending": "pending",
              ":abandoned": request.abandonedBefore,
            },
          }),
        );
        return { state: "claimed" };
      } catch (error) {
        if (!isConditionFailure(error)) throw unavailable(error);
      }
      const found = await this.read(pk);
      // A retried PutItem whose first attempt did succeed collides with its own claim.
      if (found?.claim_token === request.token) return { state: "claimed" };
      const live = found === undefined ? undefined : liveEntry(found, request);
      if (live !== undefined) return live;
      // The item was released or expired between the put and the read: claim again.
    }
    throw new ServiceUnavailableError(
      "the Idempotency-Key is contended; retry shortly",
      1,
      "idempotency_unavailable",
    );
  }

  async confirm(claim: IdempotencyClaimRef, acceptedAt: number, expiresAt: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { [IDEMPOTENCY_PARTITION_KEY]: partitionKey(claim.streamId, claim.key) },
          UpdateExpression: "SET #state = :accepted, accepted_at = :at, #expires = :expires",
          // Only the claim's holder confirms; a repeat of our own confirm (an SDK retry) is harmless.
          ConditionExpression: "claim_token = :token",
          ExpressionAttributeNames: { "#state": "state", "#expires": IDEMPOTENCY_TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ":accepted": "accepted",
            ":at": acceptedAt,
            ":expires": epochSecondsCeil(expiresAt),
            ":token": claim.token,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw unavailable(error);
    }
  }

  async release(claim: IdempotencyClaimRef): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { [IDEMPOTENCY_PARTITION_KEY]: partitionKey(claim.streamId, claim.key) },
          ConditionExpression: "claim_token = :token AND #state = :pending",
          ExpressionAttributeNames: { "#state": "state" },
          ExpressionAttributeValues: { ":token": claim.token, ":pending": "pending" },
        }),
      );
    } catch (error) {
      // Not ours any more (taken over, or already gone): nothing to release.
      if (!isConditionFailure(error)) throw unavailable(error);
    }
  }

  /**
   * Deletes every item expired at `now` (epoch ms); each delete is conditional, so an item claimed again in the
   * meantime stays. Returns how many were deleted.
   */
  async sweepExpired(now: number): Promise<number> {
    const nowSeconds = epochSecondsFloor(now);
    let deleted = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.table,
          ProjectionExpression: "#pk",
          FilterExpression: "#expires <= :now",
          ExpressionAttributeNames: {
            "#pk": IDEMPOTENCY_PARTITION_KEY,
            "#expires": IDEMPOTENCY_TTL_ATTRIBUTE,
          },
          ExpressionAttributeValues: { ":now": nowSeconds },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        try {
          await this.client.send(
            new DeleteCommand({
              TableName: this.table,
              Key: { [IDEMPOTENCY_PARTITION_KEY]: item[IDEMPOTENCY_PARTITION_KEY] },
              ConditionExpression: "#expires <= :now",
              ExpressionAttributeNames: { "#expires": IDEMPOTENCY_TTL_ATTRIBUTE },
              ExpressionAttributeValues: { ":now": nowSeconds },
            }),
          );
          deleted++;
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return deleted;
  }

  /** Waits for a background sweep, if one runs (tests and shutdown). */
  async settled(): Promise<void> {
    await this.sweeping;
  }

  private maybeSweep(): void {
    const interval = this.options.sweepIntervalMs;
    if (interval === undefined || this.sweeping !== undefined) return;
    const now = this.nowMs();
    if (now - this.lastSweep < interval) return;
    this.lastSweep = now;
    this.sweeping = this.sweepExpired(now)
      .then((deleted) => {
        if (deleted > 0) this.logger.info("idempotency keys swept", { table: this.table, deleted });
      })
      .catch((error: unknown) => {
        this.logger.warn("idempotency sweep failed; it runs again later", { cause: awsErrorName(error) });
      })
      .finally(() => {
        this.sweeping = undefined;
      });
  }

  private nowMs(): number {
    return this.options.now?.() ?? Date.now();
  }

  private async read(pk: string): Promise<Record<string, unknown> | undefined> {
    try {
      const output = await this.client.send(
        new GetCommand({
          TableName: this.table,
          Key: { [IDEMPOTENCY_PARTITION_KEY]: pk },
          ConsistentRead: true,
        }),
      );
      return output.Item;
    } catch (error) {
      throw unavailable(error);
    }
  }
}

/** The item as the core sees it, or undefined when it no longer holds the key (expired or abandoned). */
function liveEntry(
  item: Record<string, unknown>,
  request: IdempotencyClaimRequest,
): IdempotencyClaim | undefined {
  const expires = numberOf(item[IDEMPOTENCY_TTL_ATTRIBUTE]);
  if (expires <= epochSecondsFloor(request.now)) return undefined;
  const fingerprint = String(item.fingerprint ?? "");
  const claimedAt = numberOf(item.claimed_at);
  if (item.state === "accepted") {
    return {
      state: "accepted",
      fingerprint,
      acceptedAt: numberOf(item.accepted_at),
      requestId: String(item.request_id ?? ""),
    };
  }
  if (claimedAt <= request.abandonedBefore) return undefined;
  return { state: "pending", fingerprint, claimedAt };
}

function numberOf(value: unknown): number {
  return typeof value === "number" ? value : Number(value ?? 0);
}

export function partitionKey(streamId: string, key: string): string {
  return `${streamId}#${key}`;
}

function epochSecondsCeil(ms: number): number {
  return Math.ceil(ms / 1000);
}

function epochSecondsFloor(ms: number): number {
  return Math.floor(ms / 1000);
}

function isConditionFailure(error: unknown): boolean {
  return awsErrorName(error) === "ConditionalCheckFailedException";
}

function unavailable(error: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError(
    "the idempotency store is unavailable; retry shortly",
    1,
    "idempotency_unavailable",
    { cause: error },
  );
}

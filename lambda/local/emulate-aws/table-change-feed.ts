/**
 * A DynamoDB stream for a table of the embedded store, which has none: the table is read (Scan) on a timer and
 * compared with the image last delivered; each difference becomes a stream record (INSERT, MODIFY or REMOVE
 * with NEW_AND_OLD_IMAGES) and reaches the subscribed function as a DynamoDB stream event, exactly as the
 * stack's event source mapping would deliver it. So every write is seen, whoever makes it: the CLI, a script,
 * or an admin editing the table by hand with any DynamoDB tool.
 *
 * Like a real stream: records of one item are delivered in order (items are spread over a few shards by key,
 * shards run side by side); a batch item failure retries from the failed record, with backoff, up to the
 * mapping's MaximumRetryAttempts, after which the record is dropped, logged, and described to `onDropped` (the
 * mapping's on-failure destination, a dead-letter queue). Unlike a real stream: changes between two reads of the table merge into one record.
 * Delivered images are checkpointed in `checkpointFile`, so a restart neither loses nor repeats a change;
 * on the first start every item is new and is delivered as an INSERT.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { type AttributeValue, ScanCommand, type ScanCommandOutput } from "@aws-sdk/client-dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { StateFile } from "../../adapters/sink-fs.js";
import type { Logger } from "../../core/ports.js";
import type { InvokeFunction } from "./kms-sqs-endpoint.js";

type Image = Record<string, AttributeValue>;

interface Checkpoint {
  /** The last sequence number handed out. */
  sequence: number;
  /** Item key → its image as last delivered. */
  images: Record<string, Image>;
}

export interface TableChangeFeedOptions {
  readonly client: DynamoDBDocumentClient;
  readonly table: string;
  /** The table's partition key attribute (a string key). */
  readonly keyAttribute: string;
  readonly streamArn: string;
  readonly region: string;
  readonly invoke: InvokeFunction;
  readonly checkpointFile: string;
  /** @default 100 (DynamoDB's default) */
  readonly batchSize?: number;
  /** @default 10 */
  readonly maximumRetryAttempts?: number;
  /** Shards items are spread over by key. @default 4 */
  readonly shards?: number;
  /** Waits between retries of a failed record (ms, by attempt); tests pass a short one. @default 1 s, 2 s, 4 s … 30 s */
  readonly backoffMs?: (attempt: number) => number;
  /** Receives the failure record of a change dropped after the retries (the mapping's on-failure queue). */
  readonly onDropped?: (failure: Record<string, unknown>) => void | Promise<void>;
  readonly logger: Logger;
}

/** A pending change of one item. */
interface Change {
  readonly key: string;
  readonly record: Record<string, unknown>;
  readonly newImage: Image | undefined;
}

export class TableChangeFeed {
  private readonly checkpoint: Checkpoint;
  private readonly checkpointFile: StateFile;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly options: TableChangeFeedOptions) {
    this.checkpoint = { sequence: 0, images: {} };
    try {
      Object.assign(this.checkpoint, JSON.parse(readFileSync(options.checkpointFile, "utf8")) as Checkpoint);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    this.checkpointFile = new StateFile(options.checkpointFile, () => JSON.stringify(this.checkpoint), 0o600);
  }

  /** Reads the table every `everyMs` (real time). */
  start(everyMs = 1000): void {
    this.timer = setInterval(() => void this.sync().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  /**
   * Reads the table now and delivers every change; resolves when the function has handled them (or they were
   * dropped after the retries). A call during a read runs one more read after it.
   */
  sync(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.readAndDeliver();
        } while (this.again && !this.closed);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Stops reading; a retry waiting for its backoff gives up at once (the change is read again next start). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const wake of this.sleepers) wake();
    await this.running?.catch(() => undefined);
  }

  private readonly sleepers = new Set<() => void>();

  /** Waits `ms` between retries, or until close(). */
  private pause(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.sleepers.add(wake);
    });
  }

  private async readAndDeliver(): Promise<void> {
    let current: Map<string, Image>;
    try {
      current = await this.scan();
    } catch (error) {
      this.options.logger.warn("table change feed could not read the table", {
        table: this.options.table,
        errorName: error instanceof Error ? error.name : typeof error,
      });
      return;
    }
    const changes = this.diff(current);
    if (changes.length === 0) return;
    const shardCount = this.options.shards ?? 4;
    const shards: Change[][] = Array.from({ length: shardCount }, () => []);
    for (const change of changes) {
      const shard = createHash("md5").update(change.key).digest().readUInt32BE(0) % shardCount;
      shards[shard]?.push(change);
    }
    await Promise.all(shards.filter((s) => s.length > 0).map((shard) => this.deliverShard(shard)));
  }

  private async scan(): Promise<Map<string, Image>> {
    const items = new Map<string, Image>();
    let start: Image | undefined;
    do {
      const page: ScanCommandOutput = await this.options.client.send(
        new ScanCommand({ TableName: this.options.table, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      for (const item of page.Items ?? []) {
        const key = item[this.options.keyAttribute]?.S;
        if (key !== undefined) items.set(key, item);
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  private diff(current: Map<string, Image>): Change[] {
    const { images } = this.checkpoint;
    const changes: Change[] = [];
    for (const [key, image] of current) {
      const old = images[key];
      if (old !== undefined && canonical(old) === canonical(image)) continue;
      changes.push(this.change(old === undefined ? "INSERT" : "MODIFY", key, image, old));
    }
    for (const [key, old] of Object.entries(images)) {
      if (!current.has(key)) changes.push(this.change("REMOVE", key, undefined, old));
    }
    return changes;
  }

  private change(
    eventName: string,
    key: string,
    newImage: Image | undefined,
    oldImage: Image | undefined,
  ): Change {
    const sequence = ++this.checkpoint.sequence;
    const keys = { [this.options.keyAttribute]: { S: key } };
    const size = Buffer.byteLength(JSON.stringify([keys, newImage ?? {}, oldImage ?? {}]));
    return {
      key,
      newImage,
      record: {
        eventID: randomBytes(16).toString("hex"),
        eventName,
        eventVersion: "1.1",
        eventSource: "aws:dynamodb",
        awsRegion: this.options.region,
        eventSourceARN: this.options.streamArn,
        dynamodb: {
          ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
          Keys: keys,
          ...(newImage === undefined ? {} : { NewImage: newImage }),
          ...(oldImage === undefined ? {} : { OldImage: oldImage }),
          SequenceNumber: String(sequence).padStart(21, "0"),
          SizeBytes: size,
          StreamViewType: "NEW_AND_OLD_IMAGES",
        },
      },
    };
  }

  /** Delivers one shard's changes in order, in batches; retries from a failed record. */
  private async deliverShard(changes: Change[]): Promise<void> {
    const batchSize = this.options.batchSize ?? 100;
    const maxRetries = this.options.maximumRetryAttempts ?? 10;
    const backoff =
      this.options.backoffMs ?? ((attempt: number) => Math.min(30_000, 1000 * 2 ** (attempt - 1)));
    let next = 0;
    let attempt = 0;
    while (next < changes.length && !this.closed) {
      const batch = changes.slice(next, next + batchSize);
      let failedAt: number;
      try {
        const result = (await this.options.invoke({ Records: batch.map((c) => c.record) })) as {
          batchItemFailures?: { itemIdentifier: string }[];
        };
        failedAt = firstFailure(batch, result?.batchItemFailures ?? []);
      } catch {
        failedAt = 0;
      }
      if (failedAt > 0) await this.commit(batch.slice(0, failedAt));
      next += failedAt;
      // Retries are counted per record: progress starts the count again for the next record.
      if (failedAt > 0) attempt = 0;
      if (failedAt === batch.length) continue;
      attempt++;
      if (attempt > maxRetries) {
        const dropped = changes[next];
        if (dropped !== undefined) {
          this.options.logger.error("table change dropped after the event source mapping's retries", {
            table: this.options.table,
            key: dropped.key,
            attempts: attempt,
          });
          await this.options.onDropped?.(this.failureRecord(dropped, attempt));
          await this.commit([dropped]);
        }
        next++;
        attempt = 0;
        continue;
      }
      await this.pause(backoff(attempt));
    }
    await this.checkpointFile.save();
  }

  /** What the event source mapping sends to its on-failure destination: where the record is, not the record. */
  private failureRecord(change: Change, attempts: number): Record<string, unknown> {
    const dynamodb = change.record.dynamodb as {
      SequenceNumber: string;
      ApproximateCreationDateTime: number;
    };
    const arrival = new Date(dynamodb.ApproximateCreationDateTime * 1000).toISOString();
    return {
      requestContext: { condition: "RetryAttemptsExhausted", approximateInvokeCount: attempts },
      version: "1.0",
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: "shardId-emulated",
        startSequenceNumber: dynamodb.SequenceNumber,
        endSequenceNumber: dynamodb.SequenceNumber,
        approximateArrivalOfFirstRecord: arrival,
        approximateArrivalOfLastRecord: arrival,
        batchSize: 1,
        streamArn: this.options.streamArn,
      },
    };
  }

  /** Records `changes` as delivered: their images become the checkpoint's, saved once for them all. */
  private async commit(changes: readonly Change[]): Promise<void> {
    for (const change of changes) {
      if (change.newImage === undefined) delete this.checkpoint.images[change.key];
      else this.checkpoint.images[change.key] = change.newImage;
    }
    await this.checkpointFile.save();
  }
}

/**
 * Where a batch must be retried from, as the event source mapping decides with ReportBatchItemFailures: at the
 * lowest sequence number reported; from the start when a reported identifier is empty or not in the batch.
 */
function firstFailure(batch: readonly Change[], failures: readonly { itemIdentifier?: string }[]): number {
  if (failures.length === 0) return batch.length;
  const sequences = batch.map((c) => (c.record.dynamodb as { SequenceNumber: string }).SequenceNumber);
  let first = batch.length;
  for (const failure of failures) {
    const index = sequences.indexOf(failure.itemIdentifier ?? "");
    if (index === -1) return 0;
    first = Math.min(first, index);
  }
  return first;
}

/** A JSON text of an image that does not depend on attribute order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The provisioner Lambda under test: the streams table REAL on the embedded DynamoDB (dynalite), Firehose an
 * in-memory account of delivery streams behind aws-sdk-client-mock, SQS mocked, time a fake clock that the
 * injected sleep advances. Logs and metrics are read from what Powertools writes to stdout and stderr.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { FirehoseClient } from "@aws-sdk/client-firehose";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DeleteCommand, GetCommand, PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { DynamoDBBatchResponse, SQSBatchResponse } from "aws-lambda";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import type { DeletionMessage } from "../../lambda/adapters/deferred-deletions.js";
import { METRICS_NAMESPACE, PROVISIONER_SERVICE } from "../../lambda/aws/metric-names.js";
import type { ProvisionerConfig } from "../../lambda/aws/provisioner-config.js";
import type { ProvisionerEvent } from "../../lambda/aws/provisioner-events.js";
import { createProvisionerLambda } from "../../lambda/aws/provisioner-lambda.js";
import { type EmbeddedRegistry, startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";
import { DELETION_QUEUE_URL, provisionerContext, REGION, STREAMS_TABLE } from "../helpers/aws-events.js";
import { FakeClock } from "../helpers/in-memory-ports.js";
import { FakeFirehose } from "./provisioner-firehose.js";

export const PREFIX = "StreamingIngest";
export const ID = "is-AbCDefGH";
export const START = Date.UTC(2026, 10, 29, 10, 0, 0);
/** The provisioner's Lambda timeout. */
export const TIMEOUT_MS = 300_000;

export const CONFIG: ProvisionerConfig = {
  streamsTable: STREAMS_TABLE,
  target: {
    prefix: PREFIX,
    bucketArn: "arn:aws:s3:::streamingingest-delivery-1a2b3c",
    roleArn: "arn:aws:iam::123456789012:role/StreamingIngest-DeliveryRole",
    logGroup: "/aws/kinesisfirehose/StreamingIngest",
  },
  deletionQueueUrl: DELETION_QUEUE_URL,
  registryCacheTtlSeconds: 30,
};

/** The delivery stream names of shards of stream `id`. */
export const names = (...shards: number[]) => shards.map((shard) => `${PREFIX}-${ID}-${shard}`);

/** A stream item as an admin writes it (settings at their defaults unless given). */
export function streamItem(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: ID,
    tenant: "acme",
    name: "orders",
    description: "web shop orders",
    payload: "json",
    status: "active",
    buffer_mib: 5,
    buffer_seconds: 300,
    compression: "none",
    shards: 1,
    rate_limit_per_second: 1000,
    rate_limit_burst: 2000,
    created_at: "2026-11-29T09:00:00.000Z",
    updated_at: "2026-11-29T09:00:00.000Z",
    ...overrides,
  };
}

const firehoseStub = mockClient(FirehoseClient);
const sqsStub: AwsClientStub<SQSClient> = mockClient(SQSClient);

let dir: string | undefined;
let registry: EmbeddedRegistry | undefined;
let outputSpies: jest.SpyInstance[] = [];

/** Starts the embedded registry once per test file (call from beforeAll). */
export async function startRegistry(): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), "provisioner-"));
  registry = await startEmbeddedRegistry(join(dir, "registry"), {
    streams: STREAMS_TABLE,
    apiKeys: "StreamingIngest-ApiKeys-4D5E6F",
  });
}

/** Stops it (call from afterAll). */
export async function stopRegistry(): Promise<void> {
  restoreOutput();
  await registry?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}

export interface Harness {
  readonly clock: FakeClock;
  readonly firehose: FakeFirehose;
  readonly sqs: AwsClientStub<SQSClient>;
  /** Every wait of the provisioner, in ms. */
  readonly sleeps: number[];
  /** Runs the Lambda with `remainingMs` left in the invocation (the fake clock counts it down). */
  invoke(event: ProvisionerEvent, remainingMs?: number): Promise<DynamoDBBatchResponse | SQSBatchResponse>;
  put(item: Record<string, unknown>): Promise<void>;
  /** The stream item as stored now. */
  get(id?: string): Promise<Record<string, unknown> | undefined>;
  remove(id?: string): Promise<void>;
  /** Messages sent to the deletion queue, with their delay. */
  sent(): { readonly message: DeletionMessage; readonly delaySeconds: number | undefined }[];
  /** Powertools log lines so far (JSON objects with `message`). */
  logs(): Record<string, unknown>[];
  /** Metric totals over every EMF document published so far. */
  metrics(): Record<string, number>;
  /** Everything written to stdout and stderr (to check what is never logged). */
  stdout(): string;
}

/** A fresh provisioner, an empty table, an empty Firehose account and clean mocks (call per test). */
export async function harness(): Promise<Harness> {
  const store = registry;
  if (store === undefined) throw new Error("call startRegistry() in beforeAll");
  const { Items = [] } = await store.client.send(new ScanCommand({ TableName: STREAMS_TABLE }));
  for (const { id } of Items)
    await store.client.send(new DeleteCommand({ TableName: STREAMS_TABLE, Key: { id } }));
  firehoseStub.reset();
  sqsStub.reset();
  sqsStub.on(SendMessageCommand).resolves({ MessageId: "5fea7756-0ea4-451a-a703-a558b933e274" });
  const firehose = new FakeFirehose(firehoseStub);
  const clock = new FakeClock(START);
  const sleeps: number[] = [];
  const output: string[] = [];
  restoreOutput();
  // Powertools writes INFO lines and EMF to stdout, WARN and ERROR lines to stderr.
  outputSpies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    }),
  );
  const lambda = createProvisionerLambda({
    config: CONFIG,
    dynamo: store.client,
    firehose: new FirehoseClient({ region: REGION }),
    sqs: new SQSClient({ region: REGION }),
    logger: new Logger({ serviceName: PROVISIONER_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: PROVISIONER_SERVICE }),
    clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
  });
  const jsonLines = () =>
    output
      .flatMap((chunk) => chunk.split("\n"))
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    clock,
    firehose,
    sqs: sqsStub,
    sleeps,
    invoke: (event, remainingMs = TIMEOUT_MS) => {
      const deadline = clock.now() + remainingMs;
      return lambda(
        event,
        provisionerContext(() => deadline - clock.now()),
      );
    },
    put: async (item) => {
      await store.client.send(new PutCommand({ TableName: STREAMS_TABLE, Item: item }));
    },
    get: async (id = ID) =>
      (
        await store.client.send(
          new GetCommand({ TableName: STREAMS_TABLE, Key: { id }, ConsistentRead: true }),
        )
      ).Item,
    remove: async (id = ID) => {
      await store.client.send(new DeleteCommand({ TableName: STREAMS_TABLE, Key: { id } }));
    },
    sent: () =>
      sqsStub.commandCalls(SendMessageCommand).map((call) => {
        const input = call.args[0].input;
        expect(input.QueueUrl).toBe(DELETION_QUEUE_URL);
        return {
          message: JSON.parse(input.MessageBody ?? "") as DeletionMessage,
          delaySeconds: input.DelaySeconds,
        };
      }),
    logs: () => jsonLines().filter((line) => typeof line.message === "string"),
    metrics: () => {
      const totals: Record<string, number> = {};
      for (const doc of jsonLines().filter((line) => "_aws" in line)) {
        const aws = doc._aws as { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string }[] }[] };
        for (const directive of aws.CloudWatchMetrics) {
          expect(directive.Namespace).toBe(METRICS_NAMESPACE);
          for (const { Name } of directive.Metrics) {
            // A metric added several times in one invocation is published as a list of values.
            const values = ([] as unknown[]).concat(doc[Name]).map(Number);
            totals[Name] = values.reduce((sum, value) => sum + value, totals[Name] ?? 0);
          }
        }
      }
      return totals;
    },
    stdout: () => output.join(""),
  };
}

function restoreOutput(): void {
  for (const spy of outputSpies) spy.mockRestore();
  outputSpies = [];
}

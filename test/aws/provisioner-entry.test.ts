/**
 * The provisioner's configuration (read once, validated, frozen, failing naming the variable) and its real
 * Lambda entry: clients from the environment, the streams table on the embedded DynamoDB (through
 * AWS_ENDPOINT_URL_DYNAMODB), Firehose and SQS mocked, EMF metrics on stdout. The entry keeps what it built
 * for the container's life, so its tests run in order: the broken environment first.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FirehoseClient, UpdateDestinationCommand } from "@aws-sdk/client-firehose";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { createDeliveryStreamInput } from "../../lambda/adapters/delivery-stream-config.js";
import { streamFromItem } from "../../lambda/adapters/registry-items.js";
import { ConfigError } from "../../lambda/aws/environment.js";
import { readProvisionerConfig } from "../../lambda/aws/provisioner-config.js";
import { handler } from "../../lambda/aws/provisioner-entry.js";
import { type EmbeddedRegistry, startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";
import {
  DELETION_QUEUE_URL,
  insertRecord,
  provisionerContext,
  STREAMS_TABLE,
  sqsEvent,
  sqsRecord,
  streamEvent,
} from "../helpers/aws-events.js";
import { thrownBy } from "../helpers/thrown.js";
import { FakeFirehose } from "./provisioner-firehose.js";
import { CONFIG, ID, names, streamItem } from "./provisioner-fixture.js";

const ENV = {
  STREAMS_TABLE,
  DELIVERY_STREAM_PREFIX: CONFIG.target.prefix,
  DELIVERY_BUCKET_ARN: CONFIG.target.bucketArn,
  DELIVERY_ROLE_ARN: CONFIG.target.roleArn,
  DELIVERY_LOG_GROUP: CONFIG.target.logGroup,
  DELETION_QUEUE_URL,
  REGISTRY_CACHE_TTL_SECONDS: "30",
};

describe("provisioner configuration", () => {
  it("is read from the environment, typed and frozen", () => {
    const config = readProvisionerConfig(ENV);
    expect(config).toEqual(CONFIG);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.target)).toBe(true);
  });

  it("defaults the registry cache TTL to the ingest Lambda's 30 s", () => {
    const { REGISTRY_CACHE_TTL_SECONDS: _, ...env } = ENV;
    expect(readProvisionerConfig(env).registryCacheTtlSeconds).toBe(30);
  });

  it.each(Object.keys(ENV).filter((name) => name !== "REGISTRY_CACHE_TTL_SECONDS"))(
    "fails naming %s when it is missing",
    (name) => {
      const error = thrownBy(() => readProvisionerConfig({ ...ENV, [name]: "" }), ConfigError);
      expect(error.message).toBe(`environment variable ${name} must be set`);
    },
  );

  it.each([
    ["DELIVERY_STREAM_PREFIX", "A".repeat(41)],
    ["DELIVERY_STREAM_PREFIX", "has space"],
    ["DELIVERY_BUCKET_ARN", "my-bucket"],
    ["DELIVERY_ROLE_ARN", "arn:aws:iam::123456789012:user/someone"],
    ["DELETION_QUEUE_URL", "sqs://queue"],
    ["REGISTRY_CACHE_TTL_SECONDS", "61"],
    ["REGISTRY_CACHE_TTL_SECONDS", "ten"],
  ])("fails naming %s when it is %s", (name, value) => {
    const error = thrownBy(() => readProvisionerConfig({ ...ENV, [name]: value }), ConfigError);
    expect(error.message).toMatch(new RegExp(`^environment variable ${name} must be .*got "${value}"$`));
  });
});

describe("provisioner Lambda entry", () => {
  const firehose = new FakeFirehose(mockClient(FirehoseClient));
  const sqs = mockClient(SQSClient);
  const saved = { ...process.env };
  let dir: string;
  let registry: EmbeddedRegistry;
  let stdout: string[];
  let spies: jest.SpyInstance[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "provisioner-entry-"));
    registry = await startEmbeddedRegistry(join(dir, "registry"), {
      streams: STREAMS_TABLE,
      apiKeys: "keys-table",
    });
    Object.assign(process.env, ENV, {
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      AWS_ENDPOINT_URL_DYNAMODB: registry.endpoint,
      POWERTOOLS_METRICS_NAMESPACE: "StreamingIngest",
    });
  });

  afterAll(async () => {
    process.env = saved;
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    stdout = [];
    spies = [process.stdout, process.stderr].map((stream) =>
      jest.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
        stdout.push(String(chunk));
        return true;
      }),
    );
  });

  afterEach(() => {
    for (const spy of spies) spy.mockRestore();
  });

  const context = provisionerContext(() => 240_000);

  it("fails, naming the variable, while the environment is wrong (and reads it again on the next invocation)", async () => {
    delete process.env.DELIVERY_ROLE_ARN;
    try {
      await expect(async () => handler(streamEvent(), context)).rejects.toThrow(
        "environment variable DELIVERY_ROLE_ARN must be set",
      );
    } finally {
      process.env.DELIVERY_ROLE_ARN = ENV.DELIVERY_ROLE_ARN;
    }
  });

  it("applies an edit end to end and publishes the invocation's metrics as EMF", async () => {
    const item = streamItem({ buffer_seconds: 60 });
    firehose.seed(createDeliveryStreamInput(streamFromItem(streamItem()), CONFIG.target, names(0)[0] ?? ""));
    await registry.client.send(new PutCommand({ TableName: STREAMS_TABLE, Item: item }));

    expect(await handler(streamEvent(insertRecord(item)), context)).toEqual({ batchItemFailures: [] });

    expect(firehose.stub.commandCalls(UpdateDestinationCommand)).toHaveLength(1);
    const { Item: stored } = await registry.client.send(
      new GetCommand({ TableName: STREAMS_TABLE, Key: { id: ID }, ConsistentRead: true }),
    );
    expect(stored).toMatchObject({ delivery_status: "ACTIVE", delivery_applied: "json|acme|5|60|none|1" });
    const emf = stdout
      .flatMap((chunk) => chunk.split("\n"))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(emf).toEqual([
      expect.objectContaining({ service: "streaming-ingest-provisioner", DeliveryStreamsUpdated: 1 }),
    ]);
  });

  it("takes the deletion queue's events too, and sends a message not yet due back to that queue", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "0c1d2e3f-0000-4000-8000-000000000001" });
    const notBefore = Date.now() + 60_000;
    const body = JSON.stringify({
      kind: "delete-delivery-streams",
      streamId: ID,
      deliveryStreams: names(1),
      notBefore,
    });

    expect(await handler(sqsEvent(sqsRecord(body)), context)).toEqual({ batchItemFailures: [] });

    const [sent] = sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
    expect(sent).toMatchObject({ QueueUrl: DELETION_QUEUE_URL, MessageBody: body });
    // The real clock moved on a little since `notBefore` was computed: 60 s rounded up, or 59.
    expect(sent?.DelaySeconds).toBeGreaterThanOrEqual(59);
    expect(sent?.DelaySeconds).toBeLessThanOrEqual(60);
  });

  it("refuses an event from another source", async () => {
    const event = { Records: [{ ...sqsRecord("{}"), eventSource: "aws:kinesis" }] };
    await expect(handler(event, context)).rejects.toThrow('unexpected event source "aws:kinesis"');
  });
});

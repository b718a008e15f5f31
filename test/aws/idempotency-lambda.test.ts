/**
 * Idempotency-Key on AWS: the ingest Lambda driven with real HTTP API events against the embedded DynamoDB
 * (dynalite: the registry and the idempotency table, real conditional writes), Firehose and KMS mocked; then the
 * DynamoDB adapter with aws-sdk-client-mock for the answers dynalite cannot give (conditional failures racing a
 * delete, throttling, timeouts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { FirehoseClient, PutRecordCommand } from "@aws-sdk/client-firehose";
import { KMSClient } from "@aws-sdk/client-kms";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoIdempotencyStore } from "../../lambda/adapters/dynamo-idempotency.js";
import type { RegistryTables } from "../../lambda/adapters/dynamo-registry.js";
import { KmsTokenSigner } from "../../lambda/adapters/kms-signer.js";
import { RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import type { IngestConfig } from "../../lambda/aws/ingest-config.js";
import { createIngestLambda } from "../../lambda/aws/ingest-lambda.js";
import { INGEST_SERVICE, METRICS_NAMESPACE } from "../../lambda/aws/metric-names.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import type { IdempotencyClaimRequest } from "../../lambda/core/ports.js";
import { type EmbeddedRegistry, startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";
import { FakeKmsKeys } from "../helpers/fake-kms.js";
import { httpApiEvent, lambdaContext } from "../helpers/http-api-events.js";
import { CollectingLogger, makeApiKey, makeStream } from "../helpers/in-memory-ports.js";
import { tokenClock } from "../helpers/tokens.js";

const TABLES = {
  streams: "StreamingIngest-Streams-IDEM01",
  apiKeys: "StreamingIngest-ApiKeys-IDEM02",
  idempotency: "StreamingIngest-Idempotency-IDEM03",
} satisfies RegistryTables;
const KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ISSUER = "urn:streaming-ingest:eu-west-1:123456789012:StreamingIngest";
const AUDIENCE = "streaming-ingest";
const STREAM = "is-IdemAws1";

const kmsKeys = new FakeKmsKeys();
kmsKeys.add(KEY_ARN);
const firehose = mockClient(FirehoseClient);
const kms = mockClient(KMSClient);

let dir: string;
let store: EmbeddedRegistry;
const key = makeApiKey({ id: "key-idem-acme" });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "idempotency-lambda-"));
  store = await startEmbeddedRegistry(join(dir, "registry"), TABLES);
  const admin = new RegistryAdmin(store.client, TABLES);
  await admin.createApiKey(key);
  await admin.createStream(
    makeStream({ id: STREAM, deliveryStreams: [`StreamingIngest-${STREAM}-0`], deliveryStatus: "ACTIVE" }),
  );
});

afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

let spies: jest.SpyInstance[] = [];
afterEach(() => {
  for (const spy of spies) spy.mockRestore();
  spies = [];
});

async function harness(config: Partial<IngestConfig> = {}) {
  firehose.reset();
  firehose.on(PutRecordCommand).resolves({ RecordId: "r-1", Encrypted: true });
  kmsKeys.install(kms);
  const output: string[] = [];
  spies = [process.stdout, process.stderr].map((s) =>
    jest.spyOn(s, "write").mockImplementation((chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    }),
  );
  const clock = tokenClock();
  const lambda = createIngestLambda({
    config: {
      streamsTable: TABLES.streams,
      apiKeysTable: TABLES.apiKeys,
      tokenIssuer: ISSUER,
      tokenAudience: AUDIENCE,
      tokenKeyArns: [KEY_ARN],
      registryCacheTtlSeconds: 30,
      deliveryBudgetMs: 2_000,
      idempotencyTable: TABLES.idempotency,
      idempotencyWindowSeconds: 86_400,
      ...config,
    },
    dynamo: store.client,
    firehose: new FirehoseClient({ region: "eu-west-1" }),
    kms: new KMSClient({ region: "eu-west-1" }),
    logger: new Logger({ serviceName: INGEST_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: INGEST_SERVICE }),
    clock,
    sleep: async (ms) => clock.advance(ms),
  });
  const { token } = await issueAccessToken({
    issuer: ISSUER,
    audience: AUDIENCE,
    signer: new KmsTokenSigner({ client: new KMSClient({ region: "eu-west-1" }), keyArn: KEY_ARN }),
    key,
    days: 3,
    clock,
  });
  const post = async (body: string, headers: Record<string, string> = {}) => {
    const result = await lambda(
      httpApiEvent({
        path: `/stream/v0/data/${STREAM}`,
        headers: {
          authorization: `Bearer ${token}`,
          "x-amperity-tenant": "acme",
          "content-type": "application/json",
          ...headers,
        },
        body,
      }),
      lambdaContext(),
    );
    return { status: result.statusCode, body: JSON.parse(String(result.body)) as Record<string, unknown> };
  };
  return { clock, post, output };
}

const puts = () => firehose.commandCalls(PutRecordCommand).length;

async function idempotencyItems(): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await store.client.send(new ScanCommand({ TableName: TABLES.idempotency }));
  return Items;
}

describe("ingest Lambda with Idempotency-Key", () => {
  it("puts the record to Firehose once; the repeat answers 202 duplicate:true without a PutRecord", async () => {
    const h = await harness();
    const first = await h.post('{"card": "4111111111111111"}', { "idempotency-key": "aws-order-1" });
    expect(first).toMatchObject({ status: 202, body: { duplicate: false } });
    const again = await h.post('{"card":"4111111111111111"}', { "idempotency-key": "aws-order-1" });
    expect(again).toMatchObject({
      status: 202,
      body: { duplicate: true, original_request_id: first.body.request_id },
    });
    expect(puts()).toBe(1);
    const item = (await idempotencyItems()).find((i) => i.pk === `${STREAM}#aws-order-1`);
    // The TTL attribute is epoch seconds, 24 h after the acceptance.
    expect(item).toMatchObject({ state: "accepted", expires_at: Math.ceil(h.clock.now() / 1000) + 86_400 });
    // Only a hash of the record is kept, never its content.
    expect(JSON.stringify(item)).not.toContain("4111");
  });

  it("refuses the key reused for another body with 400", async () => {
    const h = await harness();
    await h.post('{"n": 1}', { "idempotency-key": "aws-reuse" });
    const reused = await h.post('{"n": 2}', { "idempotency-key": "aws-reuse" });
    expect(reused).toMatchObject({ status: 400, body: { error: { code: "idempotency_key_reused" } } });
    expect(puts()).toBe(1);
  });

  it("releases the key when Firehose keeps failing, so the retry is put and stored once", async () => {
    const h = await harness();
    const failure = Object.assign(new Error("internal"), {
      name: "InternalFailure",
      $fault: "server",
      $metadata: { httpStatusCode: 500 },
    });
    firehose.on(PutRecordCommand).rejects(failure);
    const refused = await h.post('{"n": 1}', { "idempotency-key": "aws-retry" });
    expect(refused.status).toBe(503);
    expect((await idempotencyItems()).some((i) => i.pk === `${STREAM}#aws-retry`)).toBe(false);
    firehose.reset();
    firehose.on(PutRecordCommand).resolves({ RecordId: "r-2" });
    expect(await h.post('{"n": 1}', { "idempotency-key": "aws-retry" })).toMatchObject({
      status: 202,
      body: { duplicate: false },
    });
    expect(puts()).toBe(1);
  });

  it("never touches the table for requests without the header", async () => {
    const h = await harness();
    const before = (await idempotencyItems()).length;
    expect((await h.post("{}")).status).toBe(202);
    expect((await idempotencyItems()).length).toBe(before);
  });

  it("answers 500 (not stored) for a keyed request when no table is configured", async () => {
    const h = await harness({ idempotencyTable: undefined });
    const result = await h.post("{}", { "idempotency-key": "no-table" });
    expect(result).toMatchObject({ status: 500, body: { error: { code: "internal_error" } } });
    expect(puts()).toBe(0);
  });
});

describe("DynamoIdempotencyStore against DynamoDB answers (mocked)", () => {
  // This instance only: the embedded store's client above stays real.
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "eu-west-1" }));
  const dynamo = mockClient(client);
  const logger = new CollectingLogger();
  const adapter = new DynamoIdempotencyStore({ client, table: "T", logger });
  const NOW = Date.UTC(2026, 10, 29, 10);
  const request: IdempotencyClaimRequest = {
    streamId: STREAM,
    key: "k",
    token: "mine",
    fingerprint: "f",
    requestId: "r",
    now: NOW,
    expiresAt: NOW + 86_400_000,
    abandonedBefore: NOW - 20_000,
  };
  const conditionFailed = () =>
    Object.assign(new Error("The conditional request failed"), { name: "ConditionalCheckFailedException" });

  beforeEach(() => dynamo.reset());
  afterAll(() => dynamo.restore());

  it("claims with one conditional PutItem that lets expired and abandoned items be replaced", async () => {
    dynamo.on(PutCommand).resolves({});
    expect(await adapter.claim(request)).toEqual({ state: "claimed" });
    const [put] = dynamo.commandCalls(PutCommand);
    expect(put?.args[0].input).toMatchObject({
      TableName: "T",
      Item: { pk: `${STREAM}#k`, state: "pending", claim_token: "mine", expires_at: NOW / 1000 + 86_400 },
      ConditionExpression:
        "attribute_not_exists(#pk) OR #expires <= :now OR (#state = :pending AND claimed_at <= :abandoned)",
      ExpressionAttributeValues: { ":now": NOW / 1000, ":pending": "pending", ":abandoned": NOW - 20_000 },
    });
    expect(dynamo.commandCalls(GetCommand)).toHaveLength(0);
  });

  it("on a failed condition reads the item (consistently) and reports it", async () => {
    dynamo.on(PutCommand).rejects(conditionFailed());
    dynamo.on(GetCommand).resolves({
      Item: {
        pk: `${STREAM}#k`,
        state: "accepted",
        claim_token: "theirs",
        fingerprint: "f",
        request_id: "first",
        claimed_at: NOW - 5000,
        accepted_at: NOW - 4000,
        expires_at: NOW / 1000 + 100,
      },
    });
    expect(await adapter.claim(request)).toEqual({
      state: "accepted",
      fingerprint: "f",
      acceptedAt: NOW - 4000,
      requestId: "first",
    });
    expect(dynamo.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({ ConsistentRead: true });
  });

  it("claims again when the colliding item was deleted (released) before it could be read", async () => {
    dynamo.on(PutCommand).rejectsOnce(conditionFailed()).resolves({});
    dynamo.on(GetCommand).resolves({});
    expect(await adapter.claim(request)).toEqual({ state: "claimed" });
    expect(dynamo.commandCalls(PutCommand)).toHaveLength(2);
  });

  it("gives up with 503 when the key stays contended", async () => {
    dynamo.on(PutCommand).rejects(conditionFailed());
    dynamo.on(GetCommand).resolves({});
    await expect(adapter.claim(request)).rejects.toMatchObject({
      status: 503,
      code: "idempotency_unavailable",
    });
    expect(dynamo.commandCalls(PutCommand)).toHaveLength(3);
  });

  it.each([
    ["throttling", { name: "ProvisionedThroughputExceededException" }],
    ["a timeout", { name: "TimeoutError" }],
    ["a refused connection", { name: "Error", code: "ECONNREFUSED" }],
    ["refused credentials", { name: "UnrecognizedClientException" }],
  ])("answers 503 idempotency_unavailable with Retry-After on %s, for every operation", async (_, fields) => {
    const failure = Object.assign(new Error("failure"), fields);
    dynamo.on(PutCommand).rejects(failure);
    dynamo.on(UpdateCommand).rejects(failure);
    dynamo.on(DeleteCommand).rejects(failure);
    const expected = { status: 503, code: "idempotency_unavailable", retryAfterSeconds: 1 };
    await expect(adapter.claim(request)).rejects.toMatchObject(expected);
    await expect(adapter.confirm(request, NOW, NOW + 1000)).rejects.toMatchObject(expected);
    await expect(adapter.release(request)).rejects.toMatchObject(expected);
  });

  it("confirms with a conditional UpdateItem on the claim token; a failed condition means taken over", async () => {
    dynamo.on(UpdateCommand).resolves({});
    expect(await adapter.confirm(request, NOW + 10, NOW + 10 + 86_400_000)).toBe(true);
    expect(dynamo.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk: `${STREAM}#k` },
      ConditionExpression: "claim_token = :token",
      ExpressionAttributeValues: { ":token": "mine", ":accepted": "accepted", ":at": NOW + 10 },
    });
    dynamo.on(UpdateCommand).rejects(conditionFailed());
    expect(await adapter.confirm(request, NOW + 10, NOW + 10 + 86_400_000)).toBe(false);
  });

  it("releases with a DeleteItem conditional on the token and the pending state; not ours is a no-op", async () => {
    dynamo.on(DeleteCommand).resolves({});
    await adapter.release(request);
    expect(dynamo.commandCalls(DeleteCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: "claim_token = :token AND #state = :pending",
      ExpressionAttributeValues: { ":token": "mine", ":pending": "pending" },
    });
    dynamo.on(DeleteCommand).rejects(conditionFailed());
    await expect(adapter.release(request)).resolves.toBeUndefined();
  });
});

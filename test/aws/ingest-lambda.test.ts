/**
 * The ingest Lambda driven with real API Gateway HTTP API v2 events: the registry is the embedded DynamoDB
 * (dynalite, real items), tokens are real ES256 JWTs verified against the public key KMS hands out (KMS mocked
 * with a real P-256 key), Firehose is mocked with aws-sdk-client-mock for success, throttling, service errors
 * and timeouts. Metrics and logs are read from what Powertools writes to stdout.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { FirehoseClient, PutRecordBatchCommand, PutRecordCommand } from "@aws-sdk/client-firehose";
import { GetPublicKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { mockClient } from "aws-sdk-client-mock";
import { Decoder } from "cbor-x";
import type { RegistryTables } from "../../lambda/adapters/dynamo-registry.js";
import { createFirehoseClient } from "../../lambda/adapters/firehose-sink.js";
import { KmsTokenSigner } from "../../lambda/adapters/kms-signer.js";
import { KEY_LOAD_RETRY_INTERVAL_MS } from "../../lambda/adapters/kms-token-verifier.js";
import { KeyObjectSigner } from "../../lambda/adapters/local-signer.js";
import { RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import type { IngestConfig } from "../../lambda/aws/ingest-config.js";
import { createIngestLambda, type IngestLambda } from "../../lambda/aws/ingest-lambda.js";
import { INGEST_SERVICE, METRICS_NAMESPACE } from "../../lambda/aws/metric-names.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import type { ApiKeyRecord, StreamRecord } from "../../lambda/core/types.js";
import {
  type EmbeddedRegistry,
  registryClient,
  startEmbeddedRegistry,
} from "../../lambda/local/embedded-registry.js";
import { FakeKmsKeys } from "../helpers/fake-kms.js";
import { httpApiEvent, lambdaContext } from "../helpers/http-api-events.js";
import { type FakeClock, makeApiKey, makeStream } from "../helpers/in-memory-ports.js";
import { tokenClock } from "../helpers/tokens.js";

const TABLES: RegistryTables = {
  streams: "StreamingIngest-Streams-1A2B3C",
  apiKeys: "StreamingIngest-ApiKeys-4D5E6F",
};
const KEY_UUID = "1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_ARN = `arn:aws:kms:eu-west-1:123456789012:key/${KEY_UUID}`;
const ISSUER = "urn:streaming-ingest:eu-west-1:123456789012:StreamingIngest";
const AUDIENCE = "streaming-ingest";
const TTL_SECONDS = 30;
const JSON_STREAM = "is-JsonAws1";
const XML_STREAM = "is-XmlAws01";
const SHARDED_STREAM = "is-Shards03";
const CREATING_STREAM = "is-Creating";
const FAILED_STREAM = "is-Failed01";
const GLOBEX_STREAM = "is-Globex01";
const PREFIX = "StreamingIngest";
const SECRET_FIELD = "card-4111111111111111";

/** The stack's signing key: tokens are issued through KMS Sign, verified with its GetPublicKey answer. */
const kmsKeys = new FakeKmsKeys();
kmsKeys.add(KEY_ARN);
/** A key of the same shape that KMS does not hold: its signatures must be refused. */
const strangerKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const PUBLIC_KEY = kmsKeys.publicKeyOutput(KEY_ARN);

const firehose = mockClient(FirehoseClient);
const kms = mockClient(KMSClient);

let dir: string;
let store: EmbeddedRegistry;
let admin: RegistryAdmin;
let key: ApiKeyRecord;
let globexKey: ApiKeyRecord;

function deliveryNames(id: string, shards: number): string[] {
  return Array.from({ length: shards }, (_, i) => `${PREFIX}-${id}-${i}`);
}

function awsStream(id: string, overrides: Partial<StreamRecord> = {}): StreamRecord {
  return makeStream({ id, deliveryStreams: deliveryNames(id, 1), deliveryStatus: "ACTIVE", ...overrides });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ingest-lambda-"));
  store = await startEmbeddedRegistry(join(dir, "registry"), TABLES);
  admin = new RegistryAdmin(store.client, TABLES);
  key = makeApiKey({ id: "key-aws-acme" });
  globexKey = makeApiKey({ id: "key-aws-globex", tenant: "globex" });
  await admin.createApiKey(key);
  await admin.createApiKey(globexKey);
  await admin.createStream(awsStream(JSON_STREAM));
  await admin.createStream(awsStream(XML_STREAM, { payload: "xml" }));
  await admin.createStream(
    awsStream(SHARDED_STREAM, {
      deliveryStreams: deliveryNames(SHARDED_STREAM, 3),
      delivery: { bufferMiB: 5, bufferSeconds: 300, compression: "gzip", shards: 3 },
    }),
  );
  await admin.createStream(awsStream(CREATING_STREAM, { deliveryStreams: [], deliveryStatus: "CREATING" }));
  await admin.createStream(awsStream(FAILED_STREAM, { deliveryStreams: [], deliveryStatus: "FAILED" }));
  await admin.createStream(awsStream(GLOBEX_STREAM, { tenant: "globex" }));
});

afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

interface Harness {
  readonly lambda: IngestLambda;
  readonly clock: FakeClock;
  /** Everything written to stdout and stderr (logs and EMF). */
  readonly stdout: string[];
  /** A valid token for the acme key. */
  readonly token: string;
  post(
    streamId: string,
    body: string | Uint8Array,
    headers?: Record<string, string>,
  ): ReturnType<IngestLambda>;
  /** Every EMF document written so far. */
  emf(): Record<string, unknown>[];
}

let outputSpies: jest.SpyInstance[] = [];

afterEach(() => {
  for (const spy of outputSpies) spy.mockRestore();
  outputSpies = [];
});

async function harness(
  options: { randoms?: number[]; config?: Partial<IngestConfig>; registry?: string } = {},
): Promise<Harness> {
  firehose.reset();
  firehose
    .on(PutRecordCommand)
    .resolves({ RecordId: "49546986683135544286507457936321625675700192471156785154", Encrypted: true });
  kmsKeys.install(kms);
  const clock = tokenClock();
  const stdout: string[] = [];
  // Powertools writes info lines and EMF to stdout, warnings and errors to stderr: keep both, in order.
  outputSpies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    }),
  );
  const randoms = [...(options.randoms ?? [])];
  const config: IngestConfig = {
    streamsTable: TABLES.streams,
    apiKeysTable: TABLES.apiKeys,
    tokenIssuer: ISSUER,
    tokenAudience: AUDIENCE,
    tokenKeyArns: [KEY_ARN],
    registryCacheTtlSeconds: TTL_SECONDS,
    deliveryBudgetMs: 2_000,
    ...options.config,
  };
  const lambda = createIngestLambda({
    config,
    dynamo: options.registry === undefined ? store.client : registryClient(options.registry),
    firehose: new FirehoseClient({ region: "eu-west-1" }),
    kms: new KMSClient({ region: "eu-west-1" }),
    logger: new Logger({ serviceName: INGEST_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: INGEST_SERVICE }),
    clock,
    sleep: async (ms) => clock.advance(ms),
    random: () => randoms.shift() ?? 0.5,
  });
  const issued = await issueAccessToken({
    issuer: ISSUER,
    audience: AUDIENCE,
    signer: new KmsTokenSigner({ client: new KMSClient({ region: "eu-west-1" }), keyArn: KEY_ARN }),
    key,
    days: 3,
    clock,
  });
  return {
    lambda,
    clock,
    stdout,
    token: issued.token,
    post: (streamId: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
      lambda(
        httpApiEvent({
          path: `/stream/v0/data/${streamId}`,
          headers: {
            authorization: `Bearer ${issued.token}`,
            "x-amperity-tenant": "acme",
            "content-type": "application/json",
            ...headers,
          },
          body,
        }),
        lambdaContext(),
      ),
    emf: () =>
      stdout
        .flatMap((chunk) => chunk.split("\n"))
        .filter((line) => line.includes('"_aws"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

function errorCode(result: Awaited<ReturnType<IngestLambda>>): string {
  return (JSON.parse(String(result.body)) as { error: { code: string } }).error.code;
}

function putInputs() {
  return firehose.commandCalls(PutRecordCommand).map((call) => call.args[0].input);
}

describe("ingest Lambda: 202 accepted", () => {
  it("puts the minified JSON with its newline to the stream's delivery stream, then answers 202", async () => {
    const h = await harness();
    const result = await h.post(JSON_STREAM, '{ "order": 1, "zip": "00501" }');
    expect(result.statusCode).toBe(202);
    expect(JSON.parse(String(result.body))).toEqual({
      status: "accepted",
      stream: JSON_STREAM,
      request_id: expect.any(String),
    });
    expect(result.headers?.["x-request-id"]).toBe(JSON.parse(String(result.body)).request_id);
    expect(result.isBase64Encoded).toBe(false);
    const [input] = putInputs();
    expect(input?.DeliveryStreamName).toBe(`${PREFIX}-${JSON_STREAM}-0`);
    expect(Buffer.from(input?.Record?.Data ?? []).toString("utf8")).toBe('{"order":1,"zip":"00501"}\n');
  });

  it("uses the HTTP API request id as x-request-id", async () => {
    const h = await harness();
    const event = httpApiEvent({
      path: `/stream/v0/data/${JSON_STREAM}`,
      headers: {
        authorization: `Bearer ${h.token}`,
        "x-amperity-tenant": "acme",
        "content-type": "application/json",
      },
      body: "{}",
      requestId: "Zq3NkgDfIAMEb3w=",
    });
    const result = await h.lambda(event, lambdaContext());
    expect(result.headers?.["x-request-id"]).toBe("Zq3NkgDfIAMEb3w=");
  });

  it("converts XML to one CBOR item with no delimiter", async () => {
    const h = await harness();
    const result = await h.post(XML_STREAM, "<order><id>7</id><zip>00501</zip></order>", {
      "content-type": "application/xml",
    });
    expect(result.statusCode).toBe(202);
    const data = putInputs()[0]?.Record?.Data ?? new Uint8Array();
    const decoded = new Decoder({ mapsAsObjects: true, useRecords: false }).decode(Buffer.from(data));
    expect(decoded).toEqual({ order: { id: "7", zip: "00501" } });
  });

  it("decodes a base64 gzip body (as API Gateway passes binary bodies)", async () => {
    const h = await harness();
    const result = await h.post(JSON_STREAM, gzipSync('{"gz":true}'), { "content-encoding": "gzip" });
    expect(result.statusCode).toBe(202);
    expect(Buffer.from(putInputs()[0]?.Record?.Data ?? []).toString()).toBe('{"gz":true}\n');
  });

  it("decodes a base64 body that is not compressed", async () => {
    const h = await harness();
    const result = await h.lambda(
      httpApiEvent({
        path: `/stream/v0/data/${JSON_STREAM}`,
        headers: {
          authorization: `Bearer ${h.token}`,
          "x-amperity-tenant": "acme",
          "content-type": "application/json",
        },
        body: '{"b64":"é"}',
        base64: true,
      }),
    );
    expect(result.statusCode).toBe(202);
    expect(Buffer.from(putInputs()[0]?.Record?.Data ?? []).toString()).toBe('{"b64":"é"}\n');
  });

  it("reads headers whatever their case", async () => {
    const h = await harness();
    const result = await h.lambda(
      httpApiEvent({
        path: `/stream/v0/data/${JSON_STREAM}`,
        headers: {
          Authorization: `Bearer ${h.token}`,
          "X-Amperity-Tenant": "acme",
          "Content-Type": "application/json; charset=utf-8",
        },
        body: "{}",
      }),
    );
    expect(result.statusCode).toBe(202);
  });

  it("spreads records over a stream's shards, one delivery stream per request", async () => {
    const h = await harness({ randoms: [0.1, 0.5, 0.9] });
    for (let i = 0; i < 3; i += 1) expect((await h.post(SHARDED_STREAM, `{"i":${i}}`)).statusCode).toBe(202);
    expect(putInputs().map((input) => input.DeliveryStreamName)).toEqual(deliveryNames(SHARDED_STREAM, 3));
  });

  it("retries Firehose throttling with backoff and answers 202 once a put is acknowledged", async () => {
    const h = await harness();
    const slowDown = Object.assign(new Error("Slow down."), {
      name: "ServiceUnavailableException",
      $fault: "server",
    });
    firehose.on(PutRecordCommand).rejectsOnce(slowDown).resolves({ RecordId: "r-2" });
    const result = await h.post(JSON_STREAM, '{"retry":1}');
    expect(result.statusCode).toBe(202);
    expect(putInputs()).toHaveLength(2);
    const names = h.emf().flatMap((doc) => Object.keys(doc));
    expect(names).toContain("DeliveryRetries");
  });

  it("fetches the KMS public key once per container, not per request", async () => {
    const h = await harness();
    for (let i = 0; i < 5; i += 1) expect((await h.post(JSON_STREAM, "{}")).statusCode).toBe(202);
    expect(kms.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
  });

  it("answers GET /health with 200 and no token", async () => {
    const h = await harness();
    const result = await h.lambda(httpApiEvent({ method: "GET", path: "/health" }));
    expect(result.statusCode).toBe(200);
  });
});

describe("ingest Lambda: every rejection of the contract", () => {
  it.each([
    ["400 for a body that is not one JSON object", JSON_STREAM, "[1,2]", {}, 400, "not_an_object"],
    ["400 for JSON that does not parse", JSON_STREAM, '{"a":', {}, 400, "invalid_json"],
    ["401 without a token", JSON_STREAM, "{}", { authorization: "" }, 401, undefined],
    ["403 for another tenant's header", JSON_STREAM, "{}", { "x-amperity-tenant": "globex" }, 403, undefined],
    ["404 for an unknown stream", "is-Unknown1", "{}", {}, 404, "stream_not_found"],
    ["404 for another tenant's stream", GLOBEX_STREAM, "{}", {}, 404, "stream_not_found"],
    [
      "415 for XML on a JSON stream",
      JSON_STREAM,
      "<a/>",
      { "content-type": "application/xml" },
      415,
      undefined,
    ],
  ])("answers %s", async (_name, streamId, body, headers, status, code) => {
    const h = await harness();
    const result = await h.post(streamId, body, headers as Record<string, string>);
    expect(result.statusCode).toBe(status);
    if (code !== undefined) expect(errorCode(result)).toBe(code);
    expect(putInputs()).toEqual([]);
  });

  it("answers 401 for a token signed by a key KMS does not hold", async () => {
    const h = await harness();
    const forged = await issueAccessToken({
      issuer: ISSUER,
      audience: AUDIENCE,
      signer: new KeyObjectSigner(KEY_UUID, strangerKeys.privateKey),
      key,
      days: 1,
      clock: h.clock,
    });
    const result = await h.post(JSON_STREAM, "{}", { authorization: `Bearer ${forged.token}` });
    expect(result.statusCode).toBe(401);
  });

  it("answers 405 with Allow for another method on the data path", async () => {
    const h = await harness();
    const result = await h.lambda(httpApiEvent({ method: "GET", path: `/stream/v0/data/${JSON_STREAM}` }));
    expect(result.statusCode).toBe(405);
    expect(result.headers?.allow).toBe("POST");
  });

  it("answers 413 for a decoded body over 260,096 bytes, naming both sizes", async () => {
    const h = await harness();
    const body = `{"pad":"${"x".repeat(260_100)}"}`;
    const result = await h.post(JSON_STREAM, body);
    expect(result.statusCode).toBe(413);
    expect(String(result.body)).toContain("260,096");
    expect(putInputs()).toEqual([]);
  });

  it("answers 413 for a gzip body that decodes past the limit", async () => {
    const h = await harness();
    const result = await h.post(JSON_STREAM, gzipSync(`{"pad":"${"x".repeat(300_000)}"}`), {
      "content-encoding": "gzip",
    });
    expect(result.statusCode).toBe(413);
  });

  it("answers 429 with Retry-After when Firehose keeps throttling through the budget", async () => {
    const h = await harness();
    const slowDown = Object.assign(new Error("Slow down."), {
      name: "ServiceUnavailableException",
      $fault: "server",
    });
    firehose.on(PutRecordCommand).rejects(slowDown);
    const result = await h.post(JSON_STREAM, "{}");
    expect(result.statusCode).toBe(429);
    expect(errorCode(result)).toBe("delivery_throttled");
    expect(result.headers?.["retry-after"]).toBe("1");
    expect(putInputs().length).toBeGreaterThan(1);
  });

  it("answers 503 with Retry-After when Firehose keeps failing", async () => {
    const h = await harness();
    const failure = Object.assign(new Error("We encountered an internal error."), {
      name: "InternalFailure",
      $fault: "server",
      $metadata: { httpStatusCode: 500 },
    });
    firehose.on(PutRecordCommand).rejects(failure);
    const result = await h.post(JSON_STREAM, "{}");
    expect(result.statusCode).toBe(503);
    expect(errorCode(result)).toBe("delivery_unavailable");
    expect(result.headers?.["retry-after"]).toBeDefined();
  });

  it("answers 503 when Firehose does not answer within the budget (a timeout)", async () => {
    const h = await harness();
    firehose.on(PutRecordCommand).callsFake(() => new Promise(() => undefined));
    const result = await h.post(JSON_STREAM, "{}");
    expect(result.statusCode).toBe(503);
    expect(result.headers?.["retry-after"]).toBeDefined();
  });

  it("answers 500 (and retryable) when Firehose refuses the request as invalid", async () => {
    const h = await harness();
    const invalid = Object.assign(new Error("bad"), { name: "InvalidArgumentException", $fault: "client" });
    firehose.on(PutRecordCommand).rejects(invalid);
    const result = await h.post(JSON_STREAM, "{}");
    expect(result.statusCode).toBe(500);
    expect(errorCode(result)).toBe("internal_error");
  });

  it("answers 503 delivery_not_ready while the delivery streams are being created, without calling Firehose", async () => {
    const h = await harness();
    const result = await h.post(CREATING_STREAM, "{}");
    expect(result.statusCode).toBe(503);
    expect(errorCode(result)).toBe("delivery_not_ready");
    expect(result.headers?.["retry-after"]).toBe("30");
    expect(putInputs()).toEqual([]);
  });

  it("answers 503 delivery_not_ready with a longer Retry-After when provisioning failed", async () => {
    const h = await harness();
    const result = await h.post(FAILED_STREAM, "{}");
    expect(result.statusCode).toBe(503);
    expect(errorCode(result)).toBe("delivery_not_ready");
    expect(result.headers?.["retry-after"]).toBe("60");
  });

  it("answers 503 while KMS cannot hand out the public key, and recovers on a later request", async () => {
    const h = await harness();
    let calls = 0;
    kms.on(GetPublicKeyCommand).callsFake(async () => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      return PUBLIC_KEY;
    });
    const first = await h.post(JSON_STREAM, "{}");
    expect(first.statusCode).toBe(503);
    expect(errorCode(first)).toBe("token_keys_unavailable");
    expect(first.headers?.["retry-after"]).toBe("1");
    // Within the retry interval KMS is left alone: an outage must not become one KMS call per request.
    h.clock.advance(KEY_LOAD_RETRY_INTERVAL_MS - 1);
    const soon = await h.post(JSON_STREAM, "{}");
    expect(soon.statusCode).toBe(503);
    expect(calls).toBe(1);
    h.clock.advance(1);
    const later = await h.post(JSON_STREAM, "{}");
    expect(calls).toBe(2);
    expect(later.statusCode).toBe(202);
  });

  it("answers 503 registry_unavailable when DynamoDB cannot be reached", async () => {
    const h = await harness({ registry: "http://127.0.0.1:9" });
    const result = await h.post(JSON_STREAM, "{}");
    expect(result.statusCode).toBe(503);
    expect(errorCode(result)).toBe("registry_unavailable");
  });
});

describe("ingest Lambda: registry edits and telemetry", () => {
  it("applies an admin's edit of the stream item within the cache TTL", async () => {
    const id = "is-EditMe01";
    await admin.createStream(awsStream(id));
    const h = await harness();
    expect((await h.post(id, "{}")).statusCode).toBe(202);
    const stream = await admin.getStream(id);
    if (stream === undefined) throw new Error("stream vanished");
    await admin.saveStream({ ...stream, status: "disabled" });
    expect((await h.post(id, "{}")).statusCode).toBe(202);
    h.clock.advance(TTL_SECONDS * 1000 + 1);
    const result = await h.post(id, "{}");
    expect(result.statusCode).toBe(404);
    expect(errorCode(result)).toBe("stream_disabled");
  });

  it("emits EMF metrics for accepted and rejected requests, the rejection with its status", async () => {
    const h = await harness();
    await h.post(JSON_STREAM, "{}");
    await h.post(JSON_STREAM, "[]");
    const docs = h.emf();
    const accepted = docs.find((doc) => doc.Accepted !== undefined);
    expect(accepted).toMatchObject({ Requests: 1, Accepted: 1, service: INGEST_SERVICE });
    expect(accepted?.AcceptedBytes).toBe(3);
    const rejected = docs.find((doc) => doc.Rejected !== undefined);
    expect(rejected).toMatchObject({ Rejected: 1, status: "400" });
    expect(docs.some((doc) => doc.ClientErrors === 1)).toBe(true);
    const namespaces = docs.flatMap(
      (doc) => (doc._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics,
    );
    expect(new Set(namespaces.map((m) => m.Namespace))).toEqual(new Set([METRICS_NAMESPACE]));
  });

  it("logs one summary line per request with stream, status and code, never the token or the record", async () => {
    const h = await harness();
    await h.post(JSON_STREAM, `{"secret":"${SECRET_FIELD}"}`);
    await h.post(JSON_STREAM, `{"secret":"${SECRET_FIELD}"`);
    const output = h.stdout.join("");
    expect(output).not.toContain(SECRET_FIELD);
    expect(output).not.toContain(h.token);
    expect(output).not.toContain(h.token.split(".")[2] ?? "never");
    const summaries = output
      .split("\n")
      .filter((line) => line.includes('"message":"request"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(summaries).toHaveLength(2);
    expect(summaries[0]).toMatchObject({ streamId: JSON_STREAM, status: 202, method: "POST" });
    expect(summaries[1]).toMatchObject({ streamId: JSON_STREAM, status: 400, code: "invalid_json" });
  });

  it("creates a Firehose client that leaves retries to the sink", async () => {
    const client = createFirehoseClient({ region: "eu-west-1" });
    expect(await client.config.maxAttempts()).toBe(1);
    client.destroy();
  });
});

describe("ingest Lambda: batch endpoint", () => {
  const postBatch = (h: Harness, streamId: string, body: string | Uint8Array, headers = {}) =>
    h.lambda(
      httpApiEvent({
        path: `/stream/v0/batch/${streamId}`,
        headers: {
          authorization: `Bearer ${h.token}`,
          "x-amperity-tenant": "acme",
          "content-type": "application/x-ndjson",
          ...headers,
        },
        body,
      }),
      lambdaContext(),
    );

  it("packs a gzip NDJSON batch into one PutRecordBatch record and answers 202 with the count", async () => {
    const h = await harness();
    firehose.on(PutRecordBatchCommand).callsFake((input: { Records?: unknown[] }) =>
      Promise.resolve({
        FailedPutCount: 0,
        RequestResponses: (input.Records ?? []).map((_, i) => ({ RecordId: `rec-${i}` })),
      }),
    );
    const result = await postBatch(
      h,
      JSON_STREAM,
      gzipSync('{ "order": 1 }\n\n{"order": 2, "zip": "00501"}\n'),
      {
        "content-encoding": "gzip",
      },
    );
    expect(result.statusCode).toBe(202);
    expect(JSON.parse(String(result.body))).toMatchObject({ status: "accepted", records: 2 });
    const calls = firehose.commandCalls(PutRecordBatchCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input.DeliveryStreamName).toBe(`${PREFIX}-${JSON_STREAM}-0`);
    const records = calls[0]?.args[0].input.Records ?? [];
    expect(records.map((record) => Buffer.from(record.Data ?? []).toString("utf8"))).toEqual([
      '{"order":1}\n{"order":2,"zip":"00501"}\n',
    ]);
    expect(putInputs()).toEqual([]);
  });

  it("answers 415 for an XML stream and 400 listing bad lines, calling Firehose for neither", async () => {
    const h = await harness();
    const xml = await postBatch(h, XML_STREAM, '{"a":1}\n');
    expect(xml.statusCode).toBe(415);
    const bad = await postBatch(h, JSON_STREAM, '{"a":1}\nnot json\n');
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(String(bad.body)).error.lines).toEqual([
      { line: 2, code: "invalid_json", message: expect.any(String) },
    ]);
    expect(firehose.commandCalls(PutRecordBatchCommand)).toHaveLength(0);
  });
});

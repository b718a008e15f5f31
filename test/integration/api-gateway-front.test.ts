/**
 * The loopback API Gateway front: real HTTP requests in, the exact HTTP API payload-format-2.0 event out (seen
 * by an invoke that captures it), results mapped back as API Gateway maps them, API Gateway's own limits
 * (413, 504, 429). Last, the real ingest Lambda core behind the front (registry in dynalite, KMS and Firehose
 * mocked as in test/aws/ingest-lambda.test.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { FirehoseClient, PutRecordCommand } from "@aws-sdk/client-firehose";
import { KMSClient } from "@aws-sdk/client-kms";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { KmsTokenSigner } from "../../lambda/adapters/kms-signer.js";
import { RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import { createIngestLambda } from "../../lambda/aws/ingest-lambda.js";
import { INGEST_SERVICE, METRICS_NAMESPACE } from "../../lambda/aws/metric-names.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import {
  type ApiGatewayFront,
  type ApiGatewayFrontOptions,
  isTextual,
  type LambdaInvoke,
  type LambdaLikeContext,
  startApiGatewayFront,
} from "../../lambda/local/api-gateway-front.js";
import { type EmbeddedRegistry, startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";
import { FakeKmsKeys } from "../helpers/fake-kms.js";
import { FakeClock, makeApiKey, makeStream } from "../helpers/in-memory-ports.js";
import { tokenClock } from "../helpers/tokens.js";

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** One request; `headers` as a flat [name, value, ...] list so repeated headers go out as separate lines. */
function send(
  url: string,
  init: { method?: string; headers?: string[]; body?: string | Uint8Array } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // With headers given as a list, node:http adds no Host header of its own.
    const headers = ["Host", new URL(url).host, ...(init.headers ?? [])];
    if (init.body !== undefined) headers.push("Content-Length", String(Buffer.byteLength(init.body)));
    const req = request(url, { method: init.method ?? "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

const fronts: ApiGatewayFront[] = [];

afterEach(async () => {
  await Promise.all(fronts.splice(0).map((front) => front.close()));
});

async function front(options: ApiGatewayFrontOptions): Promise<string> {
  const started = await startApiGatewayFront(options);
  fronts.push(started);
  return started.url;
}

/** A front whose Lambda captures each event and context and answers 200 "{}". */
async function capturing(
  options: Partial<ApiGatewayFrontOptions> = {},
): Promise<{ url: string; events: APIGatewayProxyEventV2[]; contexts: LambdaLikeContext[] }> {
  const events: APIGatewayProxyEventV2[] = [];
  const contexts: LambdaLikeContext[] = [];
  const invoke: LambdaInvoke = async (event, context) => {
    events.push(event);
    contexts.push(context);
    return { statusCode: 200, body: "{}" };
  };
  return { url: await front({ invoke, ...options }), events, contexts };
}

function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

describe("API Gateway front: the v2 event", () => {
  it("builds the full event for a JSON POST on the data route", async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 29, 10, 5, 7, 250));
    const { url, events, contexts } = await capturing({ clock, functionTimeoutMs: 15_000 });
    const reply = await send(`${url}/stream/v0/data/is-Abcdef12?a=1&b=x%20y&a=2`, {
      headers: ["Content-Type", "application/json", "User-Agent", "front-test/1.0"],
      body: '{"order":1}',
    });
    expect(reply.status).toBe(200);
    const event = only(events);
    const port = new URL(url).port;
    expect(event).toEqual({
      version: "2.0",
      routeKey: "POST /stream/v0/data/{streamId}",
      rawPath: "/stream/v0/data/is-Abcdef12",
      rawQueryString: "a=1&b=x%20y&a=2",
      headers: {
        "content-type": "application/json",
        "content-length": "11",
        "user-agent": "front-test/1.0",
        host: `127.0.0.1:${port}`,
        connection: "close",
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-port": port,
        "x-forwarded-proto": "http",
        "x-amzn-trace-id": expect.stringMatching(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/),
      },
      queryStringParameters: { a: "1,2", b: "x y" },
      requestContext: {
        accountId: "123456789012",
        apiId: "localfront",
        domainName: "127.0.0.1",
        domainPrefix: "127",
        http: {
          method: "POST",
          path: "/stream/v0/data/is-Abcdef12",
          protocol: "HTTP/1.1",
          sourceIp: "127.0.0.1",
          userAgent: "front-test/1.0",
        },
        requestId: expect.stringMatching(/^[A-Za-z0-9+/]{15}=$/),
        routeKey: "POST /stream/v0/data/{streamId}",
        stage: "$default",
        time: "29/Nov/2026:10:05:07 +0000",
        timeEpoch: Date.UTC(2026, 10, 29, 10, 5, 7, 250),
      },
      pathParameters: { streamId: "is-Abcdef12" },
      isBase64Encoded: false,
      body: '{"order":1}',
    });
    expect(reply.headers["apigw-requestid"]).toBe(event.requestContext.requestId);
    const context = only(contexts);
    expect(context).toMatchObject({
      functionName: "StreamingIngest-IngestFunction",
      functionVersion: "$LATEST",
      invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:StreamingIngest-IngestFunction",
      memoryLimitInMB: "1024",
      callbackWaitsForEmptyEventLoop: true,
      awsRequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(context.getRemainingTimeInMillis()).toBe(15_000);
    clock.advance(4_000);
    expect(context.getRemainingTimeInMillis()).toBe(11_000);
  });

  it("joins repeated headers with commas and moves cookies out of the headers", async () => {
    const { url, events } = await capturing();
    await send(`${url}/health`, {
      method: "GET",
      headers: [
        "X-Dup",
        "one",
        "x-dup",
        "two",
        "Cookie",
        "a=1; b=2",
        "Cookie",
        "c=3",
        "X-Forwarded-For",
        "198.51.100.9",
      ],
    });
    const event = only(events);
    expect(event.headers["x-dup"]).toBe("one,two");
    expect(event.headers["x-forwarded-for"]).toBe("198.51.100.9, 127.0.0.1");
    expect(event.headers.cookie).toBeUndefined();
    expect(event.cookies).toEqual(["a=1", "b=2", "c=3"]);
    expect(event.routeKey).toBe("GET /health");
    expect(event.pathParameters).toBeUndefined();
    expect(event.queryStringParameters).toBeUndefined();
    expect(event.rawQueryString).toBe("");
    expect(event.body).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
  });

  it("base64-encodes gzip, binary and non-UTF-8 bodies, passes text bodies as text", async () => {
    const { url, events } = await capturing();
    const gzip = gzipSync('{"gz":true}');
    const binary = Buffer.from([0, 1, 2, 254, 255]);
    const path = `${url}/stream/v0/batch/is-Batch001`;
    await send(path, {
      headers: ["Content-Type", "application/json", "Content-Encoding", "gzip"],
      body: gzip,
    });
    await send(path, { headers: ["Content-Type", "application/octet-stream"], body: binary });
    await send(path, { body: "no content type" });
    await send(path, { headers: ["Content-Type", "application/x-ndjson"], body: '{"a":1}\n{"a":2}\n' });
    await send(path, { headers: ["Content-Type", "application/xml; charset=utf-8"], body: "<a>é</a>" });
    const notUtf8 = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]);
    await send(path, { headers: ["Content-Type", "application/json"], body: notUtf8 });
    const [gz, bin, untyped, ndjson, xml, bad] = events;
    expect(gz).toMatchObject({ isBase64Encoded: true, body: gzip.toString("base64") });
    expect(bin).toMatchObject({ isBase64Encoded: true, body: binary.toString("base64") });
    expect(untyped).toMatchObject({
      isBase64Encoded: true,
      body: Buffer.from("no content type").toString("base64"),
    });
    expect(ndjson).toMatchObject({ isBase64Encoded: false, body: '{"a":1}\n{"a":2}\n' });
    expect(xml).toMatchObject({ isBase64Encoded: false, body: "<a>é</a>" });
    // Text that is not UTF-8 keeps its bytes (base64) instead of turning into U+FFFD.
    expect(bad).toMatchObject({ isBase64Encoded: true, body: notUtf8.toString("base64") });
    for (const event of events) {
      expect(event.routeKey).toBe("POST /stream/v0/batch/{streamId}");
      expect(event.pathParameters).toEqual({ streamId: "is-Batch001" });
    }
  });

  it("classifies content types as API Gateway does", () => {
    expect(isTextual("text/plain", undefined)).toBe(true);
    expect(isTextual("application/vnd.api+json", undefined)).toBe(true);
    expect(isTextual("application/soap+xml", undefined)).toBe(true);
    expect(isTextual("application/x-www-form-urlencoded", undefined)).toBe(false);
    expect(isTextual(undefined, undefined)).toBe(false);
    expect(isTextual("text/plain", "br")).toBe(false);
  });

  it("computes route keys: ANY for other methods on the data and batch paths, $default otherwise", async () => {
    const { url, events } = await capturing();
    await send(`${url}/stream/v0/data/is-Abcdef12`, { method: "GET" });
    await send(`${url}/stream/v0/batch/is-Abcdef12`, { method: "DELETE" });
    await send(`${url}/stream/v0/data/`, { method: "POST" });
    await send(`${url}/stream/v0/data/a/b`, { method: "POST" });
    await send(`${url}/health`, { method: "POST" });
    await send(`${url}/nowhere?x=1`, { method: "GET" });
    expect(
      events.map((event) => [event.routeKey, event.requestContext.routeKey, event.pathParameters]),
    ).toEqual([
      ["ANY /stream/v0/data/{streamId}", "ANY /stream/v0/data/{streamId}", { streamId: "is-Abcdef12" }],
      ["ANY /stream/v0/batch/{streamId}", "ANY /stream/v0/batch/{streamId}", { streamId: "is-Abcdef12" }],
      ["$default", "$default", undefined],
      ["$default", "$default", undefined],
      ["$default", "$default", undefined],
      ["$default", "$default", undefined],
    ]);
    expect(events[5]?.rawPath).toBe("/nowhere");
    expect(events[5]?.rawQueryString).toBe("x=1");
  });
});

describe("API Gateway front: result mapping", () => {
  async function answer(result: unknown): Promise<Reply> {
    const url = await front({ invoke: async () => result as object });
    return send(`${url}/health`, { method: "GET" });
  }

  it("maps a structured result: status, headers, cookies and body", async () => {
    const reply = await answer({
      statusCode: 202,
      headers: { "Content-Type": "application/json", "x-request-id": "r-1" },
      cookies: ["s=1; Path=/", "t=2"],
      body: '{"status":"accepted"}',
      isBase64Encoded: false,
    });
    expect(reply.status).toBe(202);
    expect(reply.headers["content-type"]).toBe("application/json");
    expect(reply.headers["x-request-id"]).toBe("r-1");
    expect(reply.headers["set-cookie"]).toEqual(["s=1; Path=/", "t=2"]);
    expect(reply.body.toString()).toBe('{"status":"accepted"}');
  });

  it("decodes a base64 body", async () => {
    const bytes = Buffer.from([0, 10, 200, 255]);
    const reply = await answer({ statusCode: 200, body: bytes.toString("base64"), isBase64Encoded: true });
    expect(reply.body).toEqual(bytes);
    expect(reply.headers["content-length"]).toBe("4");
  });

  it("infers 200 application/json for a string result (the string is the body)", async () => {
    const reply = await answer("hello");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/json");
    expect(reply.body.toString()).toBe("hello");
  });

  it("infers 200 application/json for an object without statusCode (serialised)", async () => {
    const reply = await answer({ ok: true, n: 2 });
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(reply.body.toString())).toEqual({ ok: true, n: 2 });
  });

  it("answers API Gateway's 500 when the Lambda throws or returns an invalid result", async () => {
    const url = await front({
      invoke: async () => {
        throw new Error("boom");
      },
    });
    const thrown = await send(`${url}/health`, { method: "GET" });
    expect(thrown.status).toBe(500);
    expect(thrown.headers["content-type"]).toBe("application/json");
    expect(thrown.body.toString()).toBe('{"message":"Internal Server Error"}');
    const invalid = await answer({ statusCode: "teapot" });
    expect(invalid.status).toBe(500);
    expect(invalid.body.toString()).toBe('{"message":"Internal Server Error"}');
  });
});

describe("API Gateway front: API Gateway's limits", () => {
  it("answers 413 for a payload over the limit, without invoking the Lambda", async () => {
    const { url, events } = await capturing({ maxPayloadBytes: 1024 });
    const reply = await send(`${url}/stream/v0/data/is-Abcdef12`, {
      headers: ["Content-Type", "application/json"],
      body: `{"pad":"${"x".repeat(2048)}"}`,
    });
    expect(reply.status).toBe(413);
    expect(reply.body.toString()).toBe('{"message":"Request Entity Too Large"}');
    expect(events).toEqual([]);
    const atLimit = await send(`${url}/stream/v0/data/is-Abcdef12`, {
      headers: ["Content-Type", "application/json"],
      body: "x".repeat(1024),
    });
    expect(atLimit.status).toBe(200);
  });

  it("answers 504 when the Lambda does not answer within the integration timeout", async () => {
    const url = await front({ invoke: () => new Promise<never>(() => undefined), timeoutMs: 50 });
    const reply = await send(`${url}/health`, { method: "GET" });
    expect(reply.status).toBe(504);
    expect(reply.body.toString()).toBe('{"message":"Endpoint request timed out"}');
  });

  it("lets a request being answered finish when it is closed, and takes no new one", async () => {
    let answer: (result: object) => void = () => undefined;
    let invoked: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      invoked = resolve;
    });
    const gateway = await startApiGatewayFront({
      invoke: () =>
        new Promise<object>((resolve) => {
          answer = resolve;
          invoked();
        }),
    });
    const reply = send(`${gateway.url}/health`, { method: "GET" });
    await started;
    const closed = gateway.close();
    answer({ statusCode: 200, body: '{"status":"ok"}' });
    expect((await reply).status).toBe(200);
    await closed;
    await expect(send(`${gateway.url}/health`, { method: "GET" })).rejects.toThrow();
  });

  it("throttles with a token bucket (burst, then rate) and answers API Gateway's 429", async () => {
    const clock = new FakeClock();
    const { url, events } = await capturing({ clock, throttle: { rateLimit: 2, burstLimit: 3 } });
    const statuses = async (n: number) => {
      const result: number[] = [];
      for (let i = 0; i < n; i += 1) result.push((await send(`${url}/health`, { method: "GET" })).status);
      return result;
    };
    expect(await statuses(4)).toEqual([200, 200, 200, 429]);
    clock.advance(500);
    expect(await statuses(2)).toEqual([200, 429]);
    clock.advance(10_000);
    expect(await statuses(4)).toEqual([200, 200, 200, 429]);
    expect(events).toHaveLength(7);
    const throttled = await send(`${url}/health`, { method: "GET" });
    expect(throttled.body.toString()).toBe('{"message":"Too Many Requests"}');
    expect(throttled.headers["content-type"]).toBe("application/json");
  });
});

describe("API Gateway front: the real ingest Lambda behind it", () => {
  const TABLES = { streams: "StreamingIngest-Streams-Front1", apiKeys: "StreamingIngest-ApiKeys-Front1" };
  const KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-0000000000f1";
  const ISSUER = "urn:streaming-ingest:eu-west-1:123456789012:StreamingIngest";
  const AUDIENCE = "streaming-ingest";
  const STREAM = "is-Front001";
  const DELIVERY = `StreamingIngest-${STREAM}-0`;
  const firehose = mockClient(FirehoseClient);
  const kms = mockClient(KMSClient);
  const kmsKeys = new FakeKmsKeys();
  kmsKeys.add(KEY_ARN);
  let dir: string;
  let store: EmbeddedRegistry;
  let url: string;
  let token: string;
  let spies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "api-gateway-front-"));
    store = await startEmbeddedRegistry(join(dir, "registry"), TABLES);
    const admin = new RegistryAdmin(store.client, TABLES);
    const key = makeApiKey({ id: "key-front-acme" });
    await admin.createApiKey(key);
    await admin.createStream(
      makeStream({ id: STREAM, deliveryStreams: [DELIVERY], deliveryStatus: "ACTIVE" }),
    );
    kmsKeys.install(kms);
    const clock = tokenClock();
    token = (
      await issueAccessToken({
        issuer: ISSUER,
        audience: AUDIENCE,
        signer: new KmsTokenSigner({ client: new KMSClient({ region: "eu-west-1" }), keyArn: KEY_ARN }),
        key,
        days: 1,
        clock,
      })
    ).token;
  });

  beforeEach(async () => {
    firehose.reset();
    firehose
      .on(PutRecordCommand)
      .resolves({ RecordId: "49546986683135544286507457936321625675700192471156785154" });
    // Powertools writes its summary lines and EMF to stdout/stderr: keep the test output quiet.
    spies = [process.stdout, process.stderr].map((stream) =>
      jest.spyOn(stream, "write").mockImplementation(() => true),
    );
    const lambda = createIngestLambda({
      config: {
        streamsTable: TABLES.streams,
        apiKeysTable: TABLES.apiKeys,
        tokenIssuer: ISSUER,
        tokenAudience: AUDIENCE,
        tokenKeyArns: [KEY_ARN],
        registryCacheTtlSeconds: 30,
        deliveryBudgetMs: 2_000,
      },
      dynamo: store.client,
      firehose: new FirehoseClient({ region: "eu-west-1" }),
      kms: new KMSClient({ region: "eu-west-1" }),
      logger: new Logger({ serviceName: INGEST_SERVICE }),
      metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: INGEST_SERVICE }),
      sleep: async () => undefined,
    });
    url = await front({ invoke: (event, context) => lambda(event, context) });
  });

  afterEach(() => {
    for (const spy of spies) spy.mockRestore();
    spies = [];
  });

  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function post(body: string | Uint8Array, headers: string[] = ["Content-Type", "application/json"]) {
    return send(`${url}/stream/v0/data/${STREAM}`, {
      headers: ["Authorization", `Bearer ${token}`, "X-Amperity-Tenant", "acme", ...headers],
      body,
    });
  }

  it("accepts a JSON record with 202 and puts its bytes to Firehose once", async () => {
    const reply = await post('{ "order": 1, "zip": "00501" }');
    expect(reply.status).toBe(202);
    const body = JSON.parse(reply.body.toString()) as { status: string; request_id: string };
    expect(body.status).toBe("accepted");
    expect(reply.headers["x-request-id"]).toBe(reply.headers["apigw-requestid"]);
    expect(body.request_id).toBe(reply.headers["apigw-requestid"]);
    const puts = firehose.commandCalls(PutRecordCommand).map((call) => call.args[0].input);
    expect(puts).toHaveLength(1);
    expect(puts[0]?.DeliveryStreamName).toBe(DELIVERY);
    expect(Buffer.from(puts[0]?.Record?.Data ?? []).toString("utf8")).toBe('{"order":1,"zip":"00501"}\n');
  });

  it("accepts a gzip body (base64 through the event) with 202", async () => {
    const reply = await post(gzipSync('{"gz":true}'), [
      "Content-Type",
      "application/json",
      "Content-Encoding",
      "gzip",
    ]);
    expect(reply.status).toBe(202);
    const puts = firehose.commandCalls(PutRecordCommand).map((call) => call.args[0].input);
    expect(Buffer.from(puts[0]?.Record?.Data ?? []).toString("utf8")).toBe('{"gz":true}\n');
  });

  it("maps the core's 413 and 415 back with its JSON body and x-request-id", async () => {
    const tooLarge = await post(`{"pad":"${"x".repeat(260_100)}"}`);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers["content-type"]).toMatch(/^application\/json/);
    expect(tooLarge.body.toString()).toContain("260,096");
    expect(tooLarge.headers["x-request-id"]).toBe(tooLarge.headers["apigw-requestid"]);
    const unsupported = await post("<a/>", ["Content-Type", "application/xml"]);
    expect(unsupported.status).toBe(415);
    expect(JSON.parse(unsupported.body.toString())).toMatchObject({ error: expect.any(Object) });
    expect(unsupported.headers["x-request-id"]).toBe(unsupported.headers["apigw-requestid"]);
    expect(firehose.commandCalls(PutRecordCommand)).toEqual([]);
  });
});

/**
 * The deployed artifacts end to end: each Lambda exactly as the stack bundles it (esbuild, minified, no
 * node_modules, no cbor-extract) runs in a separate Node process with the environment the synthesized template
 * gives it, and its real AWS SDK clients talk over HTTP to the embedded DynamoDB and to a loopback endpoint that
 * answers the KMS and Firehose calls in their JSON wire protocol. This proves what the other tests cannot: the
 * stack sets every variable the code reads, the bundles run without the project's node_modules, and the SDK
 * calls serialize as the services expect.
 */
import { spawn } from "node:child_process";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
} from "aws-lambda";
import { Decoder } from "cbor-x";
import { KeyObjectSigner } from "../../lambda/adapters/local-signer.js";
import { RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import { streamToItem } from "../../lambda/adapters/registry-items.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { type EmbeddedRegistry, startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";
import { insertRecord, streamEvent } from "../helpers/aws-events.js";
import { synthesizeStack } from "../helpers/cdk.js";
import { httpApiEvent } from "../helpers/http-api-events.js";
import { makeApiKey, makeStream } from "../helpers/in-memory-ports.js";
import { tokenClock } from "../helpers/tokens.js";

const TABLES = { streams: "bundle-streams", apiKeys: "bundle-api-keys" };
const KEY_UUID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
const KEY_ARN = `arn:aws:kms:eu-west-1:123456789012:key/${KEY_UUID}`;
const ISSUER = "urn:streaming-ingest:eu-west-1:123456789012:BundleTest";
const JSON_STREAM = "is-Bundle01";
const XML_STREAM = "is-Bundle02";
const NEW_STREAM = "is-Bundle03";
const PREFIX = "BundleTest";
const BUCKET_ARN = "arn:aws:s3:::bundletest-storage-bucket-1a2b3c";
const ROLE_ARN = "arn:aws:iam::123456789012:role/BundleTest-DeliveryRole-1A2B3C";
const QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/BundleTest-Deletions-1A2B3C";

/** One call the loopback AWS endpoint received. */
interface AwsCall {
  readonly target: string;
  readonly body: Record<string, unknown>;
}

const signing = generateKeyPairSync("ec", { namedCurve: "P-256" });
const spki = createPublicKey(signing.privateKey).export({ format: "der", type: "spki" });

// The one synthesis of this file: esbuild bundles the Lambdas exactly as `cdk deploy` would.
const { app, stack, template } = synthesizeStack({}, PREFIX, { bundle: true });

/** A bundled function as the template deploys it: its asset directory and environment variables. */
interface DeployedFunction {
  readonly assetDir: string;
  readonly environment: Readonly<Record<string, unknown>>;
}

function deployed(fn: typeof stack.ingest.function): DeployedFunction {
  const cfnFunction = fn.node.defaultChild as CfnFunction;
  const properties = template.toJSON().Resources[stack.getLogicalId(cfnFunction)].Properties;
  return {
    assetDir: join(app.outdir, `asset.${String(properties.Code.S3Key).replace(/\.zip$/, "")}`),
    environment: properties.Environment.Variables,
  };
}

const ingestFunction = deployed(stack.ingest.function);
const provisionerFunction = deployed(stack.provisioner.function);

let dir: string;
let registry: EmbeddedRegistry;
let aws: Server;
let awsEndpoint: string;
const calls: AwsCall[] = [];

/**
 * A delivery stream of the loopback Firehose. It is ACTIVE by the provisioner's first poll (real Firehose takes
 * longer; the waiting itself is covered with a fake clock in provisioner-streams.test.ts), so the one real wait
 * here is the provisioner's first 2 s poll interval.
 */
interface EmulatedDeliveryStream {
  readonly configuration: Record<string, unknown>;
}

const deliveryStreams = new Map<string, EmulatedDeliveryStream>();

/** A service error in the JSON 1.1 protocol: HTTP 400 with `__type`. */
class AwsServiceError extends Error {
  constructor(readonly type: string) {
    super(type);
  }
}

function describeDeliveryStream(name: string): Record<string, unknown> {
  const stream = deliveryStreams.get(name);
  if (stream === undefined) throw new AwsServiceError("ResourceNotFoundException");
  return {
    DeliveryStreamDescription: {
      DeliveryStreamName: name,
      DeliveryStreamARN: `arn:aws:firehose:eu-west-1:123456789012:deliverystream/${name}`,
      DeliveryStreamStatus: "ACTIVE",
      DeliveryStreamType: "DirectPut",
      VersionId: "1",
      CreateTimestamp: Date.UTC(2026, 10, 29, 10, 0, 0) / 1000,
      Destinations: [
        {
          DestinationId: "destinationId-000000000001",
          ExtendedS3DestinationDescription: stream.configuration,
        },
      ],
      HasMoreDestinations: false,
    },
  };
}

/** Answers the AWS JSON 1.1 protocol the way KMS and Firehose do, for the calls the Lambdas make. */
function answerAws(target: string, body: Record<string, unknown>): Record<string, unknown> {
  if (target === "Firehose_20150804.DescribeDeliveryStream") {
    return describeDeliveryStream(String(body.DeliveryStreamName));
  }
  if (target === "Firehose_20150804.CreateDeliveryStream") {
    const configuration = body.ExtendedS3DestinationConfiguration as Record<string, unknown>;
    deliveryStreams.set(String(body.DeliveryStreamName), { configuration });
    return {
      DeliveryStreamARN: `arn:aws:firehose:eu-west-1:123456789012:deliverystream/${body.DeliveryStreamName}`,
    };
  }
  if (target === "TrentService.GetPublicKey") {
    return {
      KeyId: body.KeyId,
      PublicKey: Buffer.from(spki).toString("base64"),
      KeySpec: "ECC_NIST_P256",
      KeyUsage: "SIGN_VERIFY",
      SigningAlgorithms: ["ECDSA_SHA_256"],
    };
  }
  if (target === "Firehose_20150804.PutRecord")
    return { RecordId: `record-${calls.length}`, Encrypted: true };
  throw new Error(`unexpected AWS call ${target}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ingest-bundle-e2e-"));
  registry = await startEmbeddedRegistry(join(dir, "registry"), TABLES);
  const admin = new RegistryAdmin(registry.client, TABLES);
  await admin.createApiKey(makeApiKey({ id: "key-bundle" }));
  for (const [id, payload] of [
    [JSON_STREAM, "json"],
    [XML_STREAM, "xml"],
  ] as const) {
    await admin.createStream(
      makeStream({ id, payload, deliveryStreams: [`BundleTest-${id}-0`], deliveryStatus: "ACTIVE" }),
    );
  }
  aws = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"]);
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      calls.push({ target, body });
      try {
        const answer = answerAws(target, body);
        res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
        res.end(JSON.stringify(answer));
      } catch (error) {
        if (!(error instanceof AwsServiceError)) throw error;
        res.writeHead(400, { "content-type": "application/x-amz-json-1.1" });
        res.end(JSON.stringify({ __type: error.type, message: `${error.type} (loopback Firehose)` }));
      }
    });
  });
  await new Promise<void>((resolve) => aws.listen(0, "127.0.0.1", resolve));
  awsEndpoint = `http://127.0.0.1:${(aws.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => aws.close(() => resolve()));
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The function's environment as the template sets it, with each CloudFormation reference replaced by what it
 * resolves to in this test. A variable the template lacks is missing here too, and the bundle fails.
 */
function lambdaEnvironment(fn: DeployedFunction): Record<string, string> {
  const resolvedHere: Record<string, string> = {
    STREAMS_TABLE: TABLES.streams,
    API_KEYS_TABLE: TABLES.apiKeys,
    // Only requests with an Idempotency-Key use it; these requests carry none (test/aws/idempotency-lambda.test.ts).
    IDEMPOTENCY_TABLE: "ingest-idempotency-test",
    TOKEN_ISSUER: ISSUER,
    TOKEN_KEY_ARNS: KEY_ARN,
    DELIVERY_BUCKET_ARN: BUCKET_ARN,
    DELIVERY_ROLE_ARN: ROLE_ARN,
    DELETION_QUEUE_URL: QUEUE_URL,
    DELIVERY_LOG_GROUP: `/aws/kinesisfirehose/${PREFIX}`,
  };
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(fn.environment)) {
    const literal = typeof value === "string" ? value : resolvedHere[name];
    if (literal === undefined) throw new Error(`no test value for the template's reference in ${name}`);
    environment[name] = literal;
  }
  return environment;
}

/**
 * Runs a bundle alone in a fresh directory and a fresh process, like a Lambda container: each event in turn,
 * with a context that reports 5 minutes of remaining time.
 */
async function invokeBundle<E, R>(fn: DeployedFunction, events: readonly E[]): Promise<R[]> {
  const container = mkdtempSync(join(dir, "container-"));
  copyFileSync(join(fn.assetDir, "index.js"), join(container, "index.js"));
  writeFileSync(
    join(container, "invoke.js"),
    `const { handler } = require("./index.js");
let input = "";
process.stdin.on("data", (c) => (input += c)).on("end", async () => {
  const results = [];
  const context = { functionName: "bundle-test", awsRequestId: "bundle-test", getRemainingTimeInMillis: () => 300000 };
  for (const event of JSON.parse(input)) results.push(await handler(event, context));
  process.stdout.write("\\n@@RESULTS@@" + JSON.stringify(results) + "\\n");
});`,
  );
  const child = spawn(process.execPath, ["invoke.js"], {
    cwd: container,
    env: {
      PATH: process.env.PATH,
      ...lambdaEnvironment(fn),
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIDBUNDLETEST",
      AWS_SECRET_ACCESS_KEY: "bundle-test-secret",
      AWS_ENDPOINT_URL_DYNAMODB: registry.endpoint,
      AWS_ENDPOINT_URL_KMS: awsEndpoint,
      AWS_ENDPOINT_URL_FIREHOSE: awsEndpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  child.stdin.end(JSON.stringify(events));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const marker = stdout.indexOf("@@RESULTS@@");
  if (code !== 0 || marker === -1) throw new Error(`bundle failed (exit ${code}): ${stderr}${stdout}`);
  return JSON.parse(stdout.slice(marker + "@@RESULTS@@".length)) as R[];
}

function post(streamId: string, token: string, contentType: string, body: string): APIGatewayProxyEventV2 {
  return httpApiEvent({
    path: `/stream/v0/data/${streamId}`,
    headers: { authorization: `Bearer ${token}`, "x-amperity-tenant": "acme", "content-type": contentType },
    body,
  });
}

describe("the bundled Lambdas, run alone with the stack's environment", () => {
  it("accepts JSON and XML records through real SDK calls, and refuses a bad token", async () => {
    const clock = tokenClock();
    const { token } = await issueAccessToken({
      issuer: ISSUER,
      audience: "streaming-ingest",
      signer: new KeyObjectSigner(KEY_UUID, signing.privateKey),
      key: makeApiKey({ id: "key-bundle" }),
      days: 1,
      clock,
    });
    const results = await invokeBundle<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(
      ingestFunction,
      [
        post(JSON_STREAM, token, "application/json", '{ "order": 1, "zip": "00501" }'),
        post(
          XML_STREAM,
          token,
          "application/xml",
          "<order><zip>00501</zip><item>a</item><item>b</item></order>",
        ),
        post(JSON_STREAM, `${token.slice(0, -4)}AAAA`, "application/json", "{}"),
        httpApiEvent({ method: "GET", path: "/health" }),
      ],
    );
    expect(results.map((result) => result.statusCode)).toEqual([202, 202, 401, 200]);

    // KMS was asked once for the public key (once per container), then Firehose once per accepted record.
    const ingestCalls = calls.splice(0);
    expect(ingestCalls.map((call) => call.target)).toEqual([
      "TrentService.GetPublicKey",
      "Firehose_20150804.PutRecord",
      "Firehose_20150804.PutRecord",
    ]);
    expect(ingestCalls[0]?.body).toEqual({ KeyId: KEY_ARN });
    const [jsonPut, xmlPut] = ingestCalls
      .slice(1)
      .map((call) => call.body as { DeliveryStreamName: string; Record: { Data: string } });
    expect(jsonPut?.DeliveryStreamName).toBe(`BundleTest-${JSON_STREAM}-0`);
    expect(Buffer.from(jsonPut?.Record.Data ?? "", "base64").toString("utf8")).toBe(
      '{"order":1,"zip":"00501"}\n',
    );
    // The CBOR comes from cbor-x's pure-JS encoder: the native cbor-extract is not in the bundle.
    const item = new Decoder({ mapsAsObjects: true, useRecords: false }).decode(
      Buffer.from(xmlPut?.Record.Data ?? "", "base64"),
    );
    expect(item).toEqual({ order: { zip: "00501", item: ["a", "b"] } });
  });

  it("provisions a new stream's delivery stream over real SDK calls and writes ACTIVE back", async () => {
    const stream = makeStream({
      id: NEW_STREAM,
      payload: "xml",
      delivery: { bufferMiB: 8, bufferSeconds: 60, compression: "gzip", shards: 1 },
    });
    await new RegistryAdmin(registry.client, TABLES).createStream(stream);
    const [result] = await invokeBundle<DynamoDBStreamEvent, DynamoDBBatchResponse>(provisionerFunction, [
      streamEvent(insertRecord(streamToItem(stream))),
    ]);
    expect(result).toEqual({ batchItemFailures: [] });
    const name = `${PREFIX}-${NEW_STREAM}-0`;
    const provisionerCalls = calls.splice(0);
    const create = provisionerCalls.find((call) => call.target === "Firehose_20150804.CreateDeliveryStream");
    expect(create?.body).toMatchObject({
      DeliveryStreamName: name,
      DeliveryStreamType: "DirectPut",
      DeliveryStreamEncryptionConfigurationInput: { KeyType: "AWS_OWNED_CMK" },
      ExtendedS3DestinationConfiguration: {
        BucketARN: BUCKET_ARN,
        RoleARN: ROLE_ARN,
        Prefix: `streams/acme/${NEW_STREAM}/!{timestamp:yyyy/MM/dd/HH}/`,
        ErrorOutputPrefix: `errors/${NEW_STREAM}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`,
        BufferingHints: { SizeInMBs: 8, IntervalInSeconds: 60 },
        CompressionFormat: "GZIP",
        FileExtension: ".cbor.gz",
        CloudWatchLoggingOptions: {
          Enabled: true,
          LogGroupName: `/aws/kinesisfirehose/${PREFIX}`,
          LogStreamName: "DestinationDelivery",
        },
      },
    });
    const item = await registry.client.send(
      new GetCommand({ TableName: TABLES.streams, Key: { id: NEW_STREAM } }),
    );
    expect(item.Item).toMatchObject({
      delivery_status: "ACTIVE",
      delivery_streams: [name],
      delivery_applied: "xml|acme|8|60|gzip|1",
    });
  });
});

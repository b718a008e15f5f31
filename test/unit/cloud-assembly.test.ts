// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the templates hold CloudFormation's Fn::Sub syntax.
/**
 * loadStackAssembly: hand-written cloud assemblies (every intrinsic, every way a function's bundle is found,
 * every error path), then the real stack synthesized with bundled Lambdas, whose resolved environments must
 * pass the Lambdas' own configuration readers.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kmsKeyIdOf } from "../../lambda/adapters/kms-signer.js";
import { HTTP_API_ROUTES } from "../../lambda/aws/http-api-routes.js";
import { readIngestConfig } from "../../lambda/aws/ingest-config.js";
import { readProvisionerConfig } from "../../lambda/aws/provisioner-config.js";
import {
  type AssemblyFunction,
  CloudAssemblyError,
  EMULATED_ACCOUNT,
  loadStackAssembly,
  type StackAssembly,
} from "../../lambda/local/emulate-aws/cloud-assembly.js";
import { synthesizeStack } from "../helpers/cdk.js";

type Json = Record<string, unknown>;

const HASH_API = `${"a".repeat(63)}1`;
const HASH_WORKER = `${"b".repeat(63)}2`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cloud-assembly-"));
  dirs.push(dir);
  return dir;
}

interface StackSpec {
  readonly resources: Record<string, Json>;
  readonly outputs?: Record<string, { Value: unknown }>;
  /** The artifact's environment. @default aws://unknown-account/eu-west-1 */
  readonly environment?: string;
  /** Write the template under a name other than `<stack>.template.json` (named by properties.templateFile). */
  readonly templateFile?: string;
}

/** Writes a cloud assembly: manifest.json, one template per stack, and bundles for the given asset hashes. */
function writeAssembly(
  stacks: Record<string, StackSpec>,
  assets: readonly string[] = [HASH_API, HASH_WORKER],
  dir = tempDir(),
): string {
  const artifacts: Record<string, Json> = {
    // Artifacts of other types are not stacks.
    Tree: { type: "cdk:tree", properties: { file: "tree.json" } },
  };
  for (const [name, spec] of Object.entries(stacks)) {
    const templateFile = spec.templateFile ?? `${name}.template.json`;
    artifacts[name] = {
      type: "aws:cloudformation:stack",
      environment: spec.environment ?? "aws://unknown-account/eu-west-1",
      ...(spec.templateFile === undefined ? {} : { properties: { templateFile } }),
    };
    writeFileSync(
      join(dir, templateFile),
      JSON.stringify({ Resources: spec.resources, ...(spec.outputs ? { Outputs: spec.outputs } : {}) }),
    );
  }
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({ version: "55.0.0", artifacts }));
  for (const hash of assets) {
    mkdirSync(join(dir, `asset.${hash}`), { recursive: true });
    writeFileSync(join(dir, `asset.${hash}`, "index.js"), "exports.handler = async () => ({});\n");
  }
  return dir;
}

/** A stack with every resource type the reader knows; `apiEnvironment` is the API function's variables. */
function baseResources(apiEnvironment: Json = {}): Record<string, Json> {
  return {
    ApiFn: {
      Type: "AWS::Lambda::Function",
      Metadata: { "aws:asset:path": `asset.${HASH_API}`, "aws:asset:property": "Code" },
      Properties: {
        Code: { S3Bucket: { "Fn::Sub": "cdk-assets-${AWS::AccountId}-${AWS::Region}" }, S3Key: "x.zip" },
        Handler: "index.main",
        Timeout: 15,
        MemorySize: 1024,
        Environment: { Variables: apiEnvironment },
      },
    },
    WorkerFn: {
      // No asset metadata (a plain App): found through Code.S3Key.
      Type: "AWS::Lambda::Function",
      Properties: {
        Code: { S3Bucket: "cdk-assets", S3Key: `${HASH_WORKER}.zip` },
        FunctionName: "explicit-worker-name",
      },
    },
    Table: {
      Type: "AWS::DynamoDB::Table",
      Properties: {
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        StreamSpecification: { StreamViewType: "NEW_AND_OLD_IMAGES" },
      },
    },
    NamedTable: {
      Type: "AWS::DynamoDB::Table",
      Properties: {
        TableName: "my-named-table",
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      },
    },
    Queue: {
      Type: "AWS::SQS::Queue",
      Properties: {
        VisibilityTimeout: 90,
        RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": ["Dlq", "Arn"] }, maxReceiveCount: 5 },
      },
    },
    Dlq: { Type: "AWS::SQS::Queue", Properties: { MessageRetentionPeriod: 1209600 } },
    Key: { Type: "AWS::KMS::Key", Properties: { KeySpec: "ECC_NIST_P256" } },
    Bucket: { Type: "AWS::S3::Bucket", Properties: {} },
    NamedBucket: { Type: "AWS::S3::Bucket", Properties: { BucketName: "my-named-bucket" } },
    Role: { Type: "AWS::IAM::Role", Properties: {} },
    Logs: { Type: "AWS::Logs::LogGroup", Properties: {} },
    Topic: { Type: "AWS::SNS::Topic", Properties: {} },
    Api: { Type: "AWS::ApiGatewayV2::Api", Properties: { ProtocolType: "HTTP" } },
    Integration: {
      Type: "AWS::ApiGatewayV2::Integration",
      Properties: {
        ApiId: { Ref: "Api" },
        IntegrationType: "AWS_PROXY",
        IntegrationUri: { "Fn::GetAtt": ["ApiFn", "Arn"] },
        PayloadFormatVersion: "2.0",
        TimeoutInMillis: 12000,
      },
    },
    Stage: {
      Type: "AWS::ApiGatewayV2::Stage",
      Properties: {
        ApiId: { Ref: "Api" },
        StageName: "$default",
        DefaultRouteSettings: { ThrottlingRateLimit: 250, ThrottlingBurstLimit: 500 },
      },
    },
    RoutePost: {
      Type: "AWS::ApiGatewayV2::Route",
      Properties: { ApiId: { Ref: "Api" }, RouteKey: "POST /things/{id}" },
    },
    RouteDefault: {
      Type: "AWS::ApiGatewayV2::Route",
      Properties: { ApiId: { Ref: "Api" }, RouteKey: "$default" },
    },
    TableMapping: {
      Type: "AWS::Lambda::EventSourceMapping",
      Properties: {
        EventSourceArn: { "Fn::GetAtt": ["Table", "StreamArn"] },
        FunctionName: { Ref: "WorkerFn" },
        BatchSize: 7,
        MaximumRetryAttempts: 3,
        StartingPosition: "TRIM_HORIZON",
        DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": ["Dlq", "Arn"] } } },
      },
    },
    QueueMapping: {
      Type: "AWS::Lambda::EventSourceMapping",
      Properties: {
        EventSourceArn: { "Fn::GetAtt": ["Queue", "Arn"] },
        FunctionName: { Ref: "WorkerFn" },
      },
    },
    NamedTableMapping: {
      Type: "AWS::Lambda::EventSourceMapping",
      Properties: {
        EventSourceArn: { "Fn::GetAtt": ["NamedTable", "StreamArn"] },
        FunctionName: { "Fn::GetAtt": ["ApiFn", "Arn"] },
      },
    },
  };
}

/** The Properties of resource `id` (to edit a template before writing it). */
function propertiesOf(resources: Record<string, Json>, id: string): Json {
  const properties = resources[id]?.Properties;
  if (properties === undefined) throw new Error(`no resource ${id} with properties`);
  return properties as Json;
}

/** Loads a one-stack assembly whose API function has `variables`, and returns its resolved environment. */
function environmentOf(variables: Json, stackName = "Demo"): Readonly<Record<string, string>> {
  const dir = writeAssembly({ [stackName]: { resources: baseResources(variables) } });
  return loadStackAssembly(dir).apiFunction.environment;
}

/** The CloudAssemblyError `load` throws (fails the test when it throws nothing or something else). */
function assemblyError(load: () => unknown): CloudAssemblyError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(CloudAssemblyError);
    return error as CloudAssemblyError;
  }
  throw new Error("expected a CloudAssemblyError, nothing was thrown");
}

describe("loadStackAssembly on hand-written assemblies", () => {
  let dir: string;
  let assembly: StackAssembly;

  beforeAll(() => {
    dir = writeAssembly({
      Demo: {
        resources: baseResources({ PLAIN: "x" }),
        outputs: {
          QueueUrl: { Value: { Ref: "Queue" } },
          KeyArn: { Value: { "Fn::GetAtt": ["Key", "Arn"] } },
          Literal: { Value: "just text" },
          Count: { Value: 42 },
          Url: {
            Value: {
              "Fn::Join": [
                "",
                [
                  "https://",
                  { Ref: "Api" },
                  ".execute-api.",
                  { Ref: "AWS::Region" },
                  ".",
                  { Ref: "AWS::URLSuffix" },
                  "/",
                ],
              ],
            },
          },
        },
      },
    });
    assembly = loadStackAssembly(dir);
  });

  it("reads the stack's name, region (from the artifact's environment) and the emulated account", () => {
    expect(assembly.stackName).toBe("Demo");
    expect(assembly.region).toBe("eu-west-1");
    expect(assembly.account).toBe(EMULATED_ACCOUNT);
  });

  it("defaults the region to us-east-1 for an environment-agnostic stack", () => {
    const agnostic = writeAssembly({
      Demo: { resources: baseResources(), environment: "aws://unknown-account/unknown-region" },
    });
    expect(loadStackAssembly(agnostic).region).toBe("us-east-1");
  });

  it("reads the template named by properties.templateFile", () => {
    const custom = writeAssembly({ Demo: { resources: baseResources(), templateFile: "elsewhere.json" } });
    expect(loadStackAssembly(custom).functions.size).toBe(2);
  });

  it("finds a function's bundle through its aws:asset:path metadata, with handler, timeout and memory", () => {
    const fn = assembly.functions.get("ApiFn");
    expect(fn).toEqual<AssemblyFunction>({
      logicalId: "ApiFn",
      name: "Demo-ApiFn",
      codeDir: join(dir, `asset.${HASH_API}`),
      handler: "index.main",
      timeoutSeconds: 15,
      memoryMb: 1024,
      environment: { PLAIN: "x" },
    });
  });

  it("finds a function's bundle through Code.S3Key <hash>.zip, with Lambda's defaults and its FunctionName", () => {
    const fn = assembly.functions.get("WorkerFn");
    expect(fn).toEqual<AssemblyFunction>({
      logicalId: "WorkerFn",
      name: "explicit-worker-name",
      codeDir: join(dir, `asset.${HASH_WORKER}`),
      handler: "index.handler",
      timeoutSeconds: 3,
      memoryMb: 128,
      environment: {},
    });
  });

  it("takes the API function from the ApiGatewayV2 integration, not from the order of the functions", () => {
    expect(assembly.apiFunction.logicalId).toBe("ApiFn");
    const resources = baseResources();
    propertiesOf(resources, "Integration").IntegrationUri = {
      "Fn::Join": ["", ["arn:", { "Fn::GetAtt": ["WorkerFn", "Arn"] }]],
    };
    // A Join is not a reference: no function is found.
    expect(assemblyError(() => loadStackAssembly(writeAssembly({ Demo: { resources } }))).message).toBe(
      "stack Demo has no HTTP API integration with a Lambda function",
    );
    propertiesOf(resources, "Integration").IntegrationUri = { Ref: "WorkerFn" };
    expect(loadStackAssembly(writeAssembly({ Demo: { resources } })).apiFunction.logicalId).toBe("WorkerFn");
  });

  it("reads the stage's throttling and the integration's timeout", () => {
    expect(assembly.stageThrottle).toEqual({ rateLimit: 250, burstLimit: 500 });
    expect(assembly.integrationTimeoutMs).toBe(12_000);
  });

  it("has no throttle and API Gateway's 30 s when the template sets neither", () => {
    const resources = baseResources();
    delete propertiesOf(resources, "Integration").TimeoutInMillis;
    propertiesOf(resources, "Stage").DefaultRouteSettings = { ThrottlingRateLimit: 10 };
    const bare = loadStackAssembly(writeAssembly({ Demo: { resources } }));
    expect(bare.stageThrottle).toBeUndefined();
    expect(bare.integrationTimeoutMs).toBe(30_000);
  });

  it("lists the route keys", () => {
    expect([...assembly.routeKeys].sort()).toEqual(["$default", "POST /things/{id}"]);
  });

  it("reads the tables with key schema and stream view type", () => {
    expect(assembly.tables).toEqual([
      {
        logicalId: "Table",
        name: "Demo-Table",
        keySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        attributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        streamViewType: "NEW_AND_OLD_IMAGES",
      },
      {
        logicalId: "NamedTable",
        name: "my-named-table",
        keySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        attributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      },
    ]);
  });

  it("reads the event source mappings: source ARN, dynamodb vs sqs, batch sizes (with defaults), retries, on-failure queue", () => {
    expect(assembly.eventSources).toEqual([
      {
        functionLogicalId: "WorkerFn",
        sourceLogicalId: "Table",
        sourceArn: `arn:aws:dynamodb:eu-west-1:${EMULATED_ACCOUNT}:table/Demo-Table/stream/1970-01-01T00:00:00.000`,
        kind: "dynamodb",
        batchSize: 7,
        maximumRetryAttempts: 3,
        onFailureLogicalId: "Dlq",
      },
      {
        functionLogicalId: "WorkerFn",
        sourceLogicalId: "Queue",
        sourceArn: `arn:aws:sqs:eu-west-1:${EMULATED_ACCOUNT}:Demo-Queue`,
        kind: "sqs",
        batchSize: 10,
      },
      {
        functionLogicalId: "ApiFn",
        sourceLogicalId: "NamedTable",
        sourceArn: `arn:aws:dynamodb:eu-west-1:${EMULATED_ACCOUNT}:table/my-named-table/stream/1970-01-01T00:00:00.000`,
        kind: "dynamodb",
        batchSize: 100,
      },
    ]);
  });

  it("reads the queues' URLs, visibility timeouts (30 s by default) and maxReceiveCount", () => {
    expect(assembly.queues.get("Queue")).toEqual({
      url: `https://sqs.eu-west-1.amazonaws.com/${EMULATED_ACCOUNT}/Demo-Queue`,
      visibilityTimeoutSeconds: 90,
      maxReceiveCount: 5,
    });
    expect(assembly.queues.get("Dlq")).toEqual({
      url: `https://sqs.eu-west-1.amazonaws.com/${EMULATED_ACCOUNT}/Demo-Dlq`,
      visibilityTimeoutSeconds: 30,
    });
  });

  it("names KMS keys with UUIDs and buckets by BucketName or the lower-cased logical name", () => {
    expect([...assembly.kmsKeys.keys()]).toEqual(["Key"]);
    expect(assembly.kmsKeys.get("Key")).toMatch(UUID);
    expect(Object.fromEntries(assembly.buckets)).toEqual({
      Bucket: "demo-bucket",
      NamedBucket: "my-named-bucket",
    });
  });

  it("resolves the outputs to strings", () => {
    const keyId = assembly.kmsKeys.get("Key");
    expect(assembly.outputs).toEqual({
      QueueUrl: `https://sqs.eu-west-1.amazonaws.com/${EMULATED_ACCOUNT}/Demo-Queue`,
      KeyArn: `arn:aws:kms:eu-west-1:${EMULATED_ACCOUNT}:key/${keyId}`,
      Literal: "just text",
      Count: "42",
      Url: expect.stringMatching(/^https:\/\/[a-z]{10}\.execute-api\.eu-west-1\.amazonaws\.com\/$/),
    });
  });

  it("derives the same names on every load, wherever the assembly lies; another stack gets other keys", () => {
    const again = loadStackAssembly(dir);
    const copy = tempDir();
    cpSync(dir, copy, { recursive: true });
    const moved = loadStackAssembly(copy);
    for (const other of [again, moved]) {
      expect(Object.fromEntries(other.kmsKeys)).toEqual(Object.fromEntries(assembly.kmsKeys));
      expect(other.outputs).toEqual(assembly.outputs);
      expect(Object.fromEntries(other.queues)).toEqual(Object.fromEntries(assembly.queues));
      expect(other.tables.map((t) => t.name)).toEqual(assembly.tables.map((t) => t.name));
      expect([...other.functions.values()].map((f) => f.name)).toEqual(
        [...assembly.functions.values()].map((f) => f.name),
      );
    }
    const renamed = loadStackAssembly(writeAssembly({ Other: { resources: baseResources() } }));
    expect(renamed.kmsKeys.get("Key")).toMatch(UUID);
    expect(renamed.kmsKeys.get("Key")).not.toBe(assembly.kmsKeys.get("Key"));
  });
});

describe("intrinsic functions in a function's environment", () => {
  const region = "eu-west-1";
  const arn = (service: string, rest: string) => `arn:aws:${service}:${region}:${EMULATED_ACCOUNT}:${rest}`;

  it("resolves Ref to each resource type and to the pseudo parameters", () => {
    const env = environmentOf({
      TABLE: { Ref: "Table" },
      NAMED_TABLE: { Ref: "NamedTable" },
      QUEUE: { Ref: "Queue" },
      BUCKET: { Ref: "Bucket" },
      LOGS: { Ref: "Logs" },
      FUNCTION: { Ref: "WorkerFn" },
      ROLE: { Ref: "Role" },
      KEY: { Ref: "Key" },
      API: { Ref: "Api" },
      ACCOUNT: { Ref: "AWS::AccountId" },
      REGION: { Ref: "AWS::Region" },
      PARTITION: { Ref: "AWS::Partition" },
      SUFFIX: { Ref: "AWS::URLSuffix" },
      STACK: { Ref: "AWS::StackName" },
      STACK_ID: { Ref: "AWS::StackId" },
    });
    expect(env).toEqual({
      TABLE: "Demo-Table",
      NAMED_TABLE: "my-named-table",
      QUEUE: `https://sqs.${region}.amazonaws.com/${EMULATED_ACCOUNT}/Demo-Queue`,
      BUCKET: "demo-bucket",
      LOGS: "/aws/emulated/Demo-Logs",
      FUNCTION: "explicit-worker-name",
      ROLE: "Demo-Role",
      KEY: expect.stringMatching(UUID),
      API: expect.stringMatching(/^[a-z]{10}$/),
      ACCOUNT: EMULATED_ACCOUNT,
      REGION: region,
      PARTITION: "aws",
      SUFFIX: "amazonaws.com",
      STACK: "Demo",
      STACK_ID: expect.stringMatching(
        new RegExp(`^arn:aws:cloudformation:${region}:${EMULATED_ACCOUNT}:stack/Demo/[0-9a-f-]{36}$`),
      ),
    });
  });

  it("resolves Fn::GetAtt (list and dotted forms) to ARNs, stream ARNs, queue URLs and names", () => {
    const env = environmentOf({
      KEY_ARN: { "Fn::GetAtt": ["Key", "Arn"] },
      KEY_ID: { "Fn::GetAtt": ["Key", "KeyId"] },
      STREAM_ARN: { "Fn::GetAtt": ["Table", "StreamArn"] },
      TABLE_ARN: { "Fn::GetAtt": "Table.Arn" },
      QUEUE_URL: { "Fn::GetAtt": ["Queue", "QueueUrl"] },
      QUEUE_ARN: { "Fn::GetAtt": ["Queue", "Arn"] },
      QUEUE_NAME: { "Fn::GetAtt": ["Queue", "QueueName"] },
      BUCKET_ARN: { "Fn::GetAtt": ["Bucket", "Arn"] },
      ROLE_ARN: { "Fn::GetAtt": ["Role", "Arn"] },
      FUNCTION_ARN: { "Fn::GetAtt": ["WorkerFn", "Arn"] },
      LOGS_ARN: { "Fn::GetAtt": ["Logs", "Arn"] },
      TOPIC_ARN: { "Fn::GetAtt": ["Topic", "TopicArn"] },
      TOPIC_NAME: { "Fn::GetAtt": ["Topic", "TopicName"] },
    });
    const keyId = env.KEY_ID ?? "";
    expect(keyId).toMatch(UUID);
    expect(env).toEqual({
      KEY_ARN: arn("kms", `key/${keyId}`),
      KEY_ID: keyId,
      STREAM_ARN: arn("dynamodb", "table/Demo-Table/stream/1970-01-01T00:00:00.000"),
      TABLE_ARN: arn("dynamodb", "table/Demo-Table"),
      QUEUE_URL: `https://sqs.${region}.amazonaws.com/${EMULATED_ACCOUNT}/Demo-Queue`,
      QUEUE_ARN: arn("sqs", "Demo-Queue"),
      QUEUE_NAME: "Demo-Queue",
      BUCKET_ARN: "arn:aws:s3:::demo-bucket",
      ROLE_ARN: `arn:aws:iam::${EMULATED_ACCOUNT}:role/Demo-Role`,
      FUNCTION_ARN: arn("lambda", "function:explicit-worker-name"),
      LOGS_ARN: arn("logs", "log-group:/aws/emulated/Demo-Logs:*"),
      TOPIC_ARN: arn("sns", "Demo-Topic"),
      TOPIC_NAME: "Demo-Topic",
    });
  });

  it("resolves Fn::Join over nested intrinsics", () => {
    const env = environmentOf({
      JOINED: {
        "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":s3:::", { Ref: "Bucket" }, "/*"]],
      },
      COMMA: { "Fn::Join": [",", [{ Ref: "Table" }, { Ref: "NamedTable" }, "literal"]] },
    });
    expect(env.JOINED).toBe("arn:aws:s3:::demo-bucket/*");
    expect(env.COMMA).toBe("Demo-Table,my-named-table,literal");
  });

  it("resolves Fn::Sub without variables: pseudo parameters, ${Resource} and ${Resource.Attr}", () => {
    const env = environmentOf({
      SUB: { "Fn::Sub": "${AWS::StackName}:${AWS::Region}:${Table}:${Queue.QueueName}" },
      SUB_ARN: { "Fn::Sub": "${Key.Arn}" },
      NO_VARS: { "Fn::Sub": "nothing to replace" },
    });
    expect(env.SUB).toBe("Demo:eu-west-1:Demo-Table:Demo-Queue");
    expect(env.SUB_ARN).toMatch(new RegExp(`^arn:aws:kms:eu-west-1:${EMULATED_ACCOUNT}:key/`));
    expect(env.NO_VARS).toBe("nothing to replace");
  });

  it("resolves Fn::Sub with a variable map (variables win over resources of the same name)", () => {
    const env = environmentOf({
      SUB: {
        "Fn::Sub": [
          "${Prefix}/${Table}/${AWS::AccountId}/${Name}",
          { Prefix: { "Fn::GetAtt": ["Queue", "QueueName"] }, Name: "literal", Table: "shadowed" },
        ],
      },
    });
    expect(env.SUB).toBe(`Demo-Queue/shadowed/${EMULATED_ACCOUNT}/literal`);
  });

  // CloudFormation renders the escape `${!Literal}` as the literal `${Literal}`.
  it("renders ${!Literal} in Fn::Sub as the literal ${Literal}, as CloudFormation does", () => {
    const env = environmentOf({ ESCAPED: { "Fn::Sub": "a-${!Literal}-${AWS::Region}" } });
    expect(env.ESCAPED).toBe("a-${Literal}-eu-west-1");
  });

  it("resolves Fn::Select over Fn::Split (the index may be a string), and numbers and booleans to text", () => {
    const env = environmentOf({
      KEY_ID: { "Fn::Select": [1, { "Fn::Split": ["/", { "Fn::GetAtt": ["Key", "Arn"] }] }] },
      SERVICE: { "Fn::Select": ["2", { "Fn::Split": [":", { "Fn::GetAtt": ["Queue", "Arn"] }] }] },
      LITERAL_LIST: { "Fn::Select": [0, ["first", "second"]] },
      REJOINED: { "Fn::Join": ["+", { "Fn::Split": ["-", "a-b-c"] }] },
      NUMBER: 30,
      FLAG: true,
    });
    expect(env.KEY_ID).toMatch(UUID);
    expect(env).toMatchObject({
      SERVICE: "sqs",
      LITERAL_LIST: "first",
      REJOINED: "a+b+c",
      NUMBER: "30",
      FLAG: "true",
    });
  });

  it("refuses a value that resolves to a list, not a string", () => {
    expect(assemblyError(() => environmentOf({ LIST: { "Fn::Split": [",", "a,b"] } })).message).toBe(
      "ApiFn's LIST does not resolve to a string",
    );
  });

  it("refuses an intrinsic it cannot emulate, naming it and where it is (Fn::If)", () => {
    const error = assemblyError(() => environmentOf({ CONDITIONAL: { "Fn::If": ["IsProd", "a", "b"] } }));
    expect(error.message).toBe("cannot emulate Fn::If in ApiFn's CONDITIONAL");
    expect(
      assemblyError(() => environmentOf({ IMPORTED: { "Fn::ImportValue": "Other-Export" } })).message,
    ).toBe("cannot emulate Fn::ImportValue in ApiFn's IMPORTED");
  });

  it("refuses a Ref or Fn::GetAtt to a resource the template does not define", () => {
    expect(assemblyError(() => environmentOf({ MISSING: { Ref: "Nowhere" } })).message).toBe(
      "the template refers to Nowhere, which it does not define",
    );
    expect(
      assemblyError(() => environmentOf({ MISSING: { "Fn::GetAtt": ["Nowhere", "Arn"] } })).message,
    ).toBe("the template refers to Nowhere, which it does not define");
    expect(assemblyError(() => environmentOf({ MISSING: { "Fn::Sub": "${Nowhere}" } })).message).toBe(
      "the template refers to Nowhere, which it does not define",
    );
  });

  it("refuses an attribute it cannot emulate", () => {
    expect(
      assemblyError(() => environmentOf({ ATTR: { "Fn::GetAtt": ["Table", "LatestStreamLabel"] } })).message,
    ).toBe("cannot emulate Fn::GetAtt Table.LatestStreamLabel (AWS::DynamoDB::Table)");
  });

  it("refuses an unresolvable output, naming it", () => {
    const dir = writeAssembly({
      Demo: { resources: baseResources(), outputs: { Bad: { Value: { "Fn::If": ["C", "a", "b"] } } } },
    });
    expect(assemblyError(() => loadStackAssembly(dir)).message).toBe("cannot emulate Fn::If in output Bad");
  });
});

describe("loadStackAssembly error paths", () => {
  it("says to run `npx cdk synth` when there is no manifest", () => {
    const empty = tempDir();
    const error = assemblyError(() => loadStackAssembly(empty));
    expect(error.message).toBe(
      `no cloud assembly at ${empty} (manifest.json is missing): run \`npx cdk synth\` first, or pass --cdk-out <dir>`,
    );
    expect(error.name).toBe("CloudAssemblyError");
  });

  it("says to synthesize again when the manifest or the template is not JSON", () => {
    const dir = writeAssembly({ Demo: { resources: baseResources() } });
    writeFileSync(join(dir, "Demo.template.json"), "{ not json");
    expect(assemblyError(() => loadStackAssembly(dir)).message).toMatch(
      new RegExp(
        `^cannot read ${escapeRegExp(join(dir, "Demo.template.json"))}: .+; run \`npx cdk synth\` again$`,
      ),
    );
    writeFileSync(join(dir, "manifest.json"), "");
    expect(assemblyError(() => loadStackAssembly(dir)).message).toMatch(/^cannot read .*manifest\.json: /);
  });

  it("asks for a stack name when there are several stacks and none is chosen; a chosen one loads", () => {
    const dir = writeAssembly({ One: { resources: baseResources() }, Two: { resources: baseResources() } });
    expect(assemblyError(() => loadStackAssembly(dir)).message).toBe(
      `the cloud assembly at ${dir} has 2 stacks (One, Two); choose one with --stack-name`,
    );
    expect(loadStackAssembly(dir, "Two").stackName).toBe("Two");
    expect(loadStackAssembly(dir, "Two").tables[0]?.name).toBe("Two-Table");
  });

  it("says so when the assembly has no stack", () => {
    const dir = writeAssembly({});
    expect(assemblyError(() => loadStackAssembly(dir)).message).toBe(
      `the cloud assembly at ${dir} has 0 stacks (none); choose one with --stack-name`,
    );
  });

  it("names the stacks it has when the chosen one is unknown", () => {
    const dir = writeAssembly({ One: { resources: baseResources() }, Two: { resources: baseResources() } });
    expect(assemblyError(() => loadStackAssembly(dir, "Three")).message).toBe(
      `the cloud assembly at ${dir} has no stack Three (it has: One, Two)`,
    );
  });

  it("says to synthesize again when a function's bundle is missing", () => {
    const dir = writeAssembly({ Demo: { resources: baseResources() } }, [HASH_API]);
    expect(assemblyError(() => loadStackAssembly(dir)).message).toBe(
      `the bundle of function WorkerFn is missing (${join(dir, `asset.${HASH_WORKER}`, "index.js")}): run \`npx cdk synth\` again`,
    );
  });

  it("refuses a function without a bundled asset (inline code, or an S3 key that is not an asset hash)", () => {
    for (const code of [{ ZipFile: "exports.handler = 1" }, { S3Bucket: "b", S3Key: "not-a-hash.zip" }]) {
      const resources = baseResources();
      propertiesOf(resources, "WorkerFn").Code = code;
      expect(assemblyError(() => loadStackAssembly(writeAssembly({ Demo: { resources } }))).message).toBe(
        "function WorkerFn has no bundled asset in the cloud assembly; run `npx cdk synth`",
      );
    }
  });

  it("refuses a stack without an HTTP API integration", () => {
    const resources = baseResources();
    delete resources.Integration;
    expect(assemblyError(() => loadStackAssembly(writeAssembly({ Demo: { resources } }))).message).toBe(
      "stack Demo has no HTTP API integration with a Lambda function",
    );
  });

  it("refuses an event source mapping that names no resource of the stack", () => {
    const resources = baseResources();
    propertiesOf(resources, "QueueMapping").EventSourceArn = "arn:aws:sqs:eu-west-1:1:elsewhere";
    expect(assemblyError(() => loadStackAssembly(writeAssembly({ Demo: { resources } }))).message).toBe(
      "an event source mapping of Demo names no resource of the stack",
    );
  });
});

describe("loadStackAssembly on the real stack (bundled)", () => {
  let assembly: StackAssembly;

  beforeAll(() => {
    const { app } = synthesizeStack({}, "AssemblyTest", { bundle: true });
    assembly = loadStackAssembly(app.outdir);
  }, 120_000);

  const provisioner = (): AssemblyFunction => {
    const fn = [...assembly.functions.values()].find(
      (f) => f.environment.DELIVERY_STREAM_PREFIX !== undefined,
    );
    if (fn === undefined) throw new Error("no provisioner function in the stack");
    return fn;
  };

  it("loads the stack and every function's bundle", () => {
    expect(assembly.stackName).toBe("AssemblyTest");
    expect(assembly.functions.size).toBeGreaterThanOrEqual(2);
    expect(provisioner()).not.toBe(assembly.apiFunction);
  });

  it("resolves the ingest function's environment to strings readIngestConfig accepts", () => {
    const env = assembly.apiFunction.environment;
    for (const value of Object.values(env)) {
      expect(typeof value).toBe("string");
      expect(value).not.toMatch(/\$\{|\[object |undefined|Token\[/);
    }
    const config = readIngestConfig(env);
    const tableNames = assembly.tables.map((t) => t.name);
    expect(tableNames).toContain(config.streamsTable);
    expect(tableNames).toContain(config.apiKeysTable);
    expect(tableNames).toContain(config.idempotencyTable);
    const keyIds = [...assembly.kmsKeys.values()];
    expect(config.tokenKeyArns.length).toBeGreaterThan(0);
    for (const arn of config.tokenKeyArns) {
      expect(arn).toMatch(new RegExp(`^arn:aws:kms:${assembly.region}:${EMULATED_ACCOUNT}:key/`));
      expect(keyIds).toContain(kmsKeyIdOf(arn));
    }
    expect(config.tokenIssuer).toContain(EMULATED_ACCOUNT);
  });

  it("resolves the provisioner's environment to values readProvisionerConfig accepts", () => {
    const config = readProvisionerConfig(provisioner().environment);
    expect(config.streamsTable).toBe(assembly.apiFunction.environment.STREAMS_TABLE);
    expect([...assembly.queues.values()].map((q) => q.url)).toContain(config.deletionQueueUrl);
    expect([...assembly.buckets.values()].map((b) => `arn:aws:s3:::${b}`)).toContain(config.target.bucketArn);
  });

  it("wires the provisioner to the streams table's stream and the deletion queue", () => {
    const fn = provisioner();
    const sources = assembly.eventSources.filter((s) => s.functionLogicalId === fn.logicalId);
    const streamsTable = assembly.tables.find((t) => t.name === fn.environment.STREAMS_TABLE);
    expect(sources).toContainEqual(
      expect.objectContaining({ kind: "dynamodb", sourceLogicalId: streamsTable?.logicalId }),
    );
    const sqs = sources.find((s) => s.kind === "sqs");
    const queue = sqs === undefined ? undefined : assembly.queues.get(sqs.sourceLogicalId);
    expect(queue?.url).toBe(fn.environment.DELETION_QUEUE_URL);
    expect(queue?.maxReceiveCount).toEqual(expect.any(Number));
  });

  it("resolves the outputs: the signing key is a KMS key ARN of the stack's keys", () => {
    const { outputs } = assembly;
    const keyArn = outputs.TokenSigningKeyArn ?? "";
    expect([...assembly.kmsKeys.values()]).toContain(kmsKeyIdOf(keyArn));
    expect(outputs.StreamsTableName).toBe(assembly.apiFunction.environment.STREAMS_TABLE);
    expect(outputs.ApiKeysTableName).toBe(assembly.apiFunction.environment.API_KEYS_TABLE);
    expect(outputs.TokenIssuer).toBe(assembly.apiFunction.environment.TOKEN_ISSUER);
    expect(outputs.TokenAudience).toBe(assembly.apiFunction.environment.TOKEN_AUDIENCE);
    expect([...assembly.buckets.values()]).toContain(outputs.DeliveryBucketName);
    expect(new URL(outputs.ApiUrl ?? "").protocol).toBe("https:");
  });

  it("has the route keys of HTTP_API_ROUTES plus $default", () => {
    const expected = [...HTTP_API_ROUTES.map((r) => `${r.method} ${r.path}`), "$default"].sort();
    expect([...assembly.routeKeys].sort()).toEqual(expected);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

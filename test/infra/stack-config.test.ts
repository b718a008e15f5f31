/** Stack props and app context: validated before any resource exists, each error naming the key and the fix. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Stack } from "aws-cdk-lib";
import { AttributeType, Table } from "aws-cdk-lib/aws-dynamodb";
import { Key, KeySpec, KeyUsage } from "aws-cdk-lib/aws-kms";
import { readAppSettings } from "../../lib/app-context.js";
import { defaultDeliveryStreamPrefix } from "../../lib/delivery-stream-names.js";
import { IngestFunction } from "../../lib/ingest-function.js";
import { findRepoRoot, projectPaths } from "../../lib/project-paths.js";
import { InvalidPropError } from "../../lib/prop-validation.js";
import { StreamingIngestStack, type StreamingIngestStackProps } from "../../lib/streaming-ingest-stack.js";
import { cdkJsonContext, testApp } from "../helpers/cdk.js";
import { thrownBy } from "../helpers/thrown.js";

describe("stack props validation", () => {
  // Every case throws at the top of the constructor, before the Lambdas are bundled.
  const attempt =
    (props: StreamingIngestStackProps, id = "ConfigTest") =>
    () =>
      new StreamingIngestStack(testApp(), id, props);

  it.each<[string, StreamingIngestStackProps, string]>([
    [
      "a domain without a certificate",
      { domainName: "ingest.example.com" },
      "certificateArn: domainName is set but certificateArn is not; set both (or neither) of domainName and certificateArn.",
    ],
    [
      "a certificate without a domain",
      { certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc" },
      "domainName: certificateArn is set but domainName is not; set both (or neither) of domainName and certificateArn.",
    ],
    [
      "no key generations",
      { tokenSigningKeyGenerations: [] },
      'tokenSigningKeyGenerations: got an empty list; name at least one key generation, e.g. ["v1"].',
    ],
    [
      "a repeated key generation",
      { tokenSigningKeyGenerations: ["v1", "v2", "v1"] },
      'tokenSigningKeyGenerations: generation "v1" is listed twice; each generation is one key.',
    ],
    [
      "a delivery-stream prefix with a space",
      { deliveryStreamPrefix: "my prefix" },
      'deliveryStreamPrefix: got "my prefix"; use 1–40 characters of A–Z, a–z, 0–9, "_", "." and "-" (Firehose\'s name alphabet).',
    ],
    [
      "a delivery-stream prefix longer than 40 characters",
      { deliveryStreamPrefix: "p".repeat(41) },
      `deliveryStreamPrefix: got "${"p".repeat(41)}"; use 1–40 characters of A–Z, a–z, 0–9, "_", "." and "-" (Firehose's name alphabet).`,
    ],
    [
      "a registry cache TTL above a minute",
      { registryCacheTtlSeconds: 61 },
      "registryCacheTtlSeconds: got 61; set a whole number between 1 and 60.",
    ],
    [
      "a zero registry cache TTL",
      { registryCacheTtlSeconds: 0 },
      "registryCacheTtlSeconds: got 0; set a whole number between 1 and 60.",
    ],
    [
      "a zero throttle rate",
      { throttleRateLimit: 0 },
      "throttleRateLimit: got 0; set a number greater than 0.",
    ],
    [
      "a fractional burst",
      { throttleBurstLimit: 10.5 },
      "throttleBurstLimit: got 10.5; set a whole number ≥ 1.",
    ],
    ["a zero data retention", { dataRetentionDays: 0 }, "dataRetentionDays: got 0; set a whole number ≥ 1."],
    [
      "an idempotency window under a minute",
      { idempotencyWindowSeconds: 59 },
      "idempotencyWindowSeconds: got 59; set a whole number between 60 and 2592000.",
    ],
  ])("refuses %s", (_case, props, message) => {
    const error = thrownBy(attempt(props), InvalidPropError);
    expect(error.message).toBe(message);
  });

  it("defaults the delivery-stream prefix to the stack name, cut to 40 characters", () => {
    expect(defaultDeliveryStreamPrefix("StreamingIngest")).toBe("StreamingIngest");
    expect(defaultDeliveryStreamPrefix(`A${"b".repeat(59)}`)).toBe(`A${"b".repeat(39)}`);
  });
});

describe("app context", () => {
  const contextOf =
    (values: Record<string, unknown>) =>
    (key: string): unknown =>
      values[key];

  it("turns cdk.json's documented defaults into the default stack", () => {
    const settings = readAppSettings((key) => cdkJsonContext()[key], {});
    expect(settings).toEqual({
      stackName: "StreamingIngest",
      props: {
        env: undefined,
        throttleRateLimit: 10000,
        throttleBurstLimit: 5000,
        dataRetentionDays: undefined,
        alarmEmail: undefined,
        domainName: undefined,
        certificateArn: undefined,
        tokenSigningKeyGenerations: ["v1"],
        registryCacheTtlSeconds: 30,
        deliveryStreamPrefix: undefined,
        requestLogs: true,
        idempotencyWindowSeconds: 86400,
      },
    });
  });

  it("parses numbers and lists given as strings on the command line (-c key=value)", () => {
    const settings = readAppSettings(
      contextOf({
        stackName: "Ingest-Prod",
        throttleRateLimit: "2500.5",
        throttleBurstLimit: " 800 ",
        dataRetentionDays: "365",
        registryCacheTtlSeconds: "15",
        tokenSigningKeyGenerations: "v1, v2",
        alarmEmail: "ops@example.com",
        requestLogs: "false",
        idempotencyWindowSeconds: "3600",
      }),
      {},
    );
    expect(settings.stackName).toBe("Ingest-Prod");
    expect(settings.props).toMatchObject({
      throttleRateLimit: 2500.5,
      throttleBurstLimit: 800,
      dataRetentionDays: 365,
      registryCacheTtlSeconds: 15,
      tokenSigningKeyGenerations: ["v1", "v2"],
      alarmEmail: "ops@example.com",
      requestLogs: false,
      idempotencyWindowSeconds: 3600,
    });
  });

  it("accepts a JSON list of generations as a string", () => {
    const settings = readAppSettings(contextOf({ tokenSigningKeyGenerations: '["v2","v3"]' }), {});
    expect(settings.props.tokenSigningKeyGenerations).toEqual(["v2", "v3"]);
  });

  it.each<[Record<string, unknown>, string]>([
    [
      { throttleRateLimit: "fast" },
      'context "throttleRateLimit": got "fast"; set a number (in cdk.json "context" or with -c throttleRateLimit=…).',
    ],
    [
      { dataRetentionDays: true },
      'context "dataRetentionDays": got true; set a number (in cdk.json "context" or with -c dataRetentionDays=…).',
    ],
    [
      { alarmEmail: 42 },
      'context "alarmEmail": got 42; set a string (in cdk.json "context" or with -c alarmEmail=…).',
    ],
    [
      { tokenSigningKeyGenerations: "[v1" },
      expect.stringContaining('context "tokenSigningKeyGenerations": got "[v1"'),
    ],
    [
      { tokenSigningKeyGenerations: [1, 2] },
      expect.stringContaining('context "tokenSigningKeyGenerations": got [1,2]'),
    ],
    [{ stackName: "1st-stack" }, expect.stringContaining('context "stackName": got "1st-stack"')],
    [
      { requestLogs: "no" },
      'context "requestLogs": got "no"; set true or false (in cdk.json "context" or with -c requestLogs=…).',
    ],
  ])("names the context key of a bad value %j", (context, message) => {
    expect(thrownBy(() => readAppSettings(contextOf(context), {}), InvalidPropError).message).toEqual(
      message,
    );
  });

  it("targets the CLI's default account and region when it found them, and no environment otherwise", () => {
    const env = { CDK_DEFAULT_ACCOUNT: "123456789012", CDK_DEFAULT_REGION: "eu-west-1" };
    expect(readAppSettings(contextOf({}), env).props.env).toEqual({
      account: "123456789012",
      region: "eu-west-1",
    });
    expect(readAppSettings(contextOf({}), { CDK_DEFAULT_REGION: "eu-west-1" }).props.env).toEqual({
      account: undefined,
      region: "eu-west-1",
    });
    expect(readAppSettings(contextOf({}), {}).props.env).toBeUndefined();
  });
});

describe("project paths", () => {
  const root = findRepoRoot(__dirname);

  it("finds the repository root from lib/ and from the compiled dist/lib/ alike", () => {
    expect(existsSync(join(root, "package.json"))).toBe(true);
    expect(findRepoRoot(join(root, "lib"))).toBe(root);
    expect(findRepoRoot(join(root, "dist", "lib"))).toBe(root);
  });

  it("points at the two Lambda entries and the lock file", () => {
    const paths = projectPaths(join(root, "dist", "lib"));
    expect(paths).toEqual({
      root,
      lockFile: join(root, "package-lock.json"),
      ingestEntry: join(root, "lambda", "aws", "ingest-entry.ts"),
      provisionerEntry: join(root, "lambda", "aws", "provisioner-entry.ts"),
    });
    for (const file of Object.values(paths)) expect(existsSync(file)).toBe(true);
  });

  it("fails with a sentence outside any package", () => {
    expect(() => findRepoRoot("/")).toThrow(/No package.json found in \/ or any directory above it/);
  });
});

describe("ingest function props validation", () => {
  it("refuses a Firehose budget the Lambda's own configuration would refuse at cold start", () => {
    const stack = new Stack(testApp(), "BudgetTest");
    const table = new Table(stack, "Table", { partitionKey: { name: "id", type: AttributeType.STRING } });
    const key = new Key(stack, "Key", { keySpec: KeySpec.ECC_NIST_P256, keyUsage: KeyUsage.SIGN_VERIFY });
    const props = {
      streamsTable: table,
      apiKeysTable: table,
      signingKeys: [key],
      tokenIssuer: "urn:test",
      tokenAudience: "streaming-ingest",
      deliveryStreamPrefix: "BudgetTest",
    };
    const thrown = thrownBy(
      () => new IngestFunction(stack, "Ingest", { ...props, deliveryBudgetMs: 10_000 }),
      InvalidPropError,
    );
    expect(thrown.message).toContain("deliveryBudgetMs: got 10000");
    // Within the bounds readIngestConfig accepts, the stack accepts it too.
    expect(() => new IngestFunction(stack, "Ingest2", { ...props, deliveryBudgetMs: 9_000 })).not.toThrow();
  });
});

import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
  type DescribeStacksCommandInput,
} from "@aws-sdk/client-cloudformation";
import { KMSClient, KMSInvalidStateException, SignCommand } from "@aws-sdk/client-kms";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { type AwsClientFactory, defaultAwsClients } from "../../bin/cli/aws-context.js";
import { runCli } from "../../bin/ingest.js";
import { JwksTokenVerifier } from "../../lambda/adapters/jwt-verifier.js";
import { loadKmsJwks } from "../../lambda/adapters/kms-public-keys.js";
import { systemClock } from "../../lambda/core/ports.js";
import {
  type EmbeddedRegistry,
  registryClient,
  startEmbeddedRegistry,
} from "../../lambda/local/embedded-registry.js";
import { FakeKmsKeys } from "../helpers/fake-kms.js";
import { decodeTokenPart } from "../helpers/tokens.js";

const STACK = "ingest-prod";
const REGION = "eu-west-1";
const KEY_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const OUTPUTS = {
  ApiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/",
  StreamsTableName: "ingest-prod-StreamsTable-1A2B3C",
  ApiKeysTableName: "ingest-prod-ApiKeysTable-4D5E6F",
  TokenSigningKeyArn: `arn:aws:kms:${REGION}:123456789012:key/${KEY_ID}`,
  TokenIssuer: `urn:streaming-ingest:${REGION}:123456789012:${STACK}`,
  TokenAudience: "streaming-ingest",
  DeliveryBucketName: "ingest-prod-deliverybucket-7g8h9i",
  DashboardName: "ingest-prod",
  AlarmTopicArn: `arn:aws:sns:${REGION}:123456789012:ingest-prod-alarms`,
};
/** A stack whose outputs name tables that do not exist (deleted by hand). */
const BROKEN_STACK = "ingest-broken";
const API_BASE = "https://abc123.execute-api.eu-west-1.amazonaws.com";

const kmsKeys = new FakeKmsKeys();
kmsKeys.add(OUTPUTS.TokenSigningKeyArn);
const cloudFormation = mockClient(CloudFormationClient);
const kms = mockClient(KMSClient);

function fakeAws(): void {
  cloudFormation.reset();
  cloudFormation.on(DescribeStacksCommand).callsFake((input: DescribeStacksCommandInput) => {
    const outputs =
      input.StackName === STACK
        ? OUTPUTS
        : input.StackName === BROKEN_STACK
          ? { ...OUTPUTS, StreamsTableName: "gone-streams", ApiKeysTableName: "gone-keys" }
          : undefined;
    if (outputs === undefined) {
      throw new CloudFormationServiceException({
        name: "ValidationError",
        message: `Stack with id ${input.StackName} does not exist`,
        $fault: "client",
        $metadata: {},
      });
    }
    return {
      Stacks: [
        {
          StackName: input.StackName,
          StackStatus: "CREATE_COMPLETE",
          CreationTime: new Date(),
          Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    };
  });
  kmsKeys.install(kms);
}

let work: string;
let dataDir: string;
let registry: EmbeddedRegistry;
/** Regions the CLI asked for clients in, per service. */
let regions: { cloudFormation: (string | undefined)[]; dynamo: string[]; kms: string[] };

const aws: AwsClientFactory = {
  cloudFormation: (region) => {
    regions.cloudFormation.push(region);
    return new CloudFormationClient(region === undefined ? {} : { region });
  },
  dynamoDocument: (region) => {
    regions.dynamo.push(region);
    return registryClient(registry.endpoint);
  },
  kms: (region) => {
    regions.kms.push(region);
    return new KMSClient({ region });
  },
};

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function ingest(...args: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(["--data-dir", dataDir, ...args], {
    aws,
    stdout: (chunk) => {
      stdout += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

/** Runs a command against the stack with --json and parses its output; fails on a non-zero exit. */
async function ingestJson<T>(...args: string[]): Promise<T> {
  const run = await ingest("--json", ...args, "--stack", STACK, "--region", REGION);
  if (run.code !== 0) throw new Error(`ingest ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

const onStack = (...args: string[]) => ingest(...args, "--stack", STACK, "--region", REGION);

interface StreamJson {
  id: string;
  tenant: string;
  status: string;
  payload: string;
  endpoint?: string;
  delivery: { bufferSeconds: number; shards: number };
  deliveryStatus?: string;
  deliveryStreams: string[];
  deliveryError?: string;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ingest-cli-stack-"));
  registry = await startEmbeddedRegistry(join(work, "dynamodb"), {
    streams: OUTPUTS.StreamsTableName,
    apiKeys: OUTPUTS.ApiKeysTableName,
  });
});

afterAll(async () => {
  await registry.close();
  cloudFormation.restore();
  kms.restore();
  rmSync(work, { recursive: true, force: true });
});

const savedEnv = { ...process.env };
beforeEach(() => {
  fakeAws();
  regions = { cloudFormation: [], dynamo: [], kms: [] };
  dataDir = mkdtempSync(join(work, "data-"));
  for (const name of ["INGEST_STACK", "AWS_REGION", "AWS_DEFAULT_REGION"]) delete process.env[name];
});
afterEach(() => {
  process.env = { ...savedEnv };
});

describe("ingest --stack", () => {
  it("creates a stream in the stack's table and says how to watch the provisioner make it ready", async () => {
    const run = await onStack("streams", "create", "--tenant", "acme", "--name", "web", "--payload", "json");
    expect(run.code).toBe(0);
    const id = /created stream (is-[A-Za-z0-9]{8}) \(json\) for tenant acme in stack ingest-prod/.exec(
      run.stdout,
    )?.[1];
    expect(id).toBeDefined();
    expect(run.stdout).toContain("503 delivery_not_ready");
    expect(run.stdout).toContain(`ingest streams show ${id} --stack ${STACK} --region ${REGION}`);
    expect(run.stdout).toContain(`curl -X POST '${API_BASE}/stream/v0/data/${id}'`);
    expect(run.stdout).toContain(`-H "Authorization: Bearer $TOKEN"`);
    const { Item } = await registry.client.send(
      new GetCommand({ TableName: OUTPUTS.StreamsTableName, Key: { id } }),
    );
    expect(Item).toMatchObject({ id, tenant: "acme", name: "web", payload: "json", status: "active" });
    // Nothing local is touched with --stack.
    expect(readdirSync(dataDir)).toEqual([]);
    expect(regions).toEqual({ cloudFormation: [REGION], dynamo: [REGION], kms: [] });
    expect(cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(1);
  });

  it("lists and shows a stream with the delivery status the provisioner writes, and keeps it on edits", async () => {
    const created = await ingestJson<StreamJson>(
      "streams",
      "create",
      "--tenant",
      "acme",
      "--name",
      "orders",
      "--payload",
      "xml",
      "--shards",
      "2",
    );
    expect(created.endpoint).toBe(`${API_BASE}/stream/v0/data/${created.id}`);
    const pending = await onStack("streams", "list", "--tenant", "acme");
    expect(pending.stdout).toMatch(
      /^ID\s+TENANT\s+PAYLOAD\s+STATUS\s+BUFFER\s+COMPRESSION\s+RATE\/S\s+DELIVERY\s+NAME/,
    );
    expect(pending.stdout).toMatch(new RegExp(`${created.id}.*PENDING\\s+orders`));

    // What the provisioner writes once the delivery streams are ACTIVE.
    const deliveryStreams = [`${STACK}-${created.id}-0`, `${STACK}-${created.id}-1`];
    await registry.client.send(
      new UpdateCommand({
        TableName: OUTPUTS.StreamsTableName,
        Key: { id: created.id },
        UpdateExpression:
          "SET delivery_streams = :s, delivery_status = :a, delivery_applied = :f, delivery_updated_at = :t",
        ExpressionAttributeValues: {
          ":s": deliveryStreams,
          ":a": "ACTIVE",
          ":f": "xml|acme|5|300|none|2",
          ":t": "2025-01-01T00:05:00.000Z",
        },
      }),
    );
    const shown = await ingestJson<StreamJson & { deliveryApplied: string; deliveryUpdatedAt: string }>(
      "streams",
      "show",
      created.id,
    );
    expect(shown).toMatchObject({
      deliveryStatus: "ACTIVE",
      deliveryStreams,
      deliveryApplied: "xml|acme|5|300|none|2",
      deliveryUpdatedAt: "2025-01-01T00:05:00.000Z",
    });
    const listed = await onStack("streams", "list");
    expect(listed.stdout).toMatch(new RegExp(`${created.id}.*ACTIVE \\(2 streams\\)\\s+orders`));
    const listJson = await ingestJson<{ streams: StreamJson[] }>("streams", "list", "--tenant", "acme");
    expect(listJson.streams.find((s) => s.id === created.id)?.deliveryStatus).toBe("ACTIVE");

    // Admin edits leave the provisioner's attributes alone.
    const updated = await ingestJson<StreamJson>("streams", "update", created.id, "--buffer-seconds", "120");
    expect(updated.delivery.bufferSeconds).toBe(120);
    expect((await ingestJson<StreamJson>("streams", "disable", created.id)).status).toBe("disabled");
    expect((await ingestJson<StreamJson>("streams", "enable", created.id)).status).toBe("active");
    const { Item } = await registry.client.send(
      new GetCommand({ TableName: OUTPUTS.StreamsTableName, Key: { id: created.id } }),
    );
    expect(Item).toMatchObject({
      buffer_seconds: 120,
      delivery_status: "ACTIVE",
      delivery_streams: deliveryStreams,
    });

    // A failed provisioning shows its error.
    await registry.client.send(
      new UpdateCommand({
        TableName: OUTPUTS.StreamsTableName,
        Key: { id: created.id },
        UpdateExpression: "SET delivery_status = :f, delivery_error = :e",
        ExpressionAttributeValues: {
          ":f": "FAILED",
          ":e": "LimitExceededException: too many delivery streams",
        },
      }),
    );
    const failed = await onStack("streams", "show", created.id);
    expect(JSON.parse(failed.stdout)).toMatchObject({
      deliveryStatus: "FAILED",
      deliveryError: "LimitExceededException: too many delivery streams",
    });

    expect((await onStack("streams", "delete", created.id)).code).toBe(0);
    const gone = await onStack("streams", "show", created.id);
    expect(gone).toEqual({ code: 1, stdout: "", stderr: `error: no stream ${created.id}\n` });
  });

  it("issues a KMS-signed token that verifies against the stack's key, issuer and audience", async () => {
    const key = await ingestJson<{ id: string; tenant: string }>(
      "keys",
      "create",
      "--tenant",
      "acme",
      "--name",
      "pos",
    );
    expect((await onStack("keys", "list")).stdout).toContain(key.id);
    const issued = await ingestJson<{ token: string; key: string; tenant: string; expires_at: string }>(
      "tokens",
      "issue",
      "--key",
      key.id,
      "--days",
      "3",
    );
    expect(issued).toMatchObject({ key: key.id, tenant: "acme" });
    expect(decodeTokenPart(issued.token, 0)).toEqual({ alg: "ES256", typ: "JWT", kid: KEY_ID });

    const jwks = await loadKmsJwks(new KMSClient({ region: REGION }), [OUTPUTS.TokenSigningKeyArn]);
    const verifier = new JwksTokenVerifier({
      issuer: OUTPUTS.TokenIssuer,
      audience: OUTPUTS.TokenAudience,
      jwks,
      clock: systemClock,
    });
    const claims = verifier.verify(issued.token);
    expect(claims).toMatchObject({ keyId: key.id, tenant: "acme" });
    expect(claims.expiresAt - claims.issuedAt).toBe(3 * 86_400);
    expect(new Date(claims.expiresAt * 1000).toISOString()).toBe(issued.expires_at);

    const signCalls = kms.commandCalls(SignCommand);
    expect(signCalls).toHaveLength(1);
    expect(signCalls[0]?.args[0].input).toMatchObject({
      KeyId: OUTPUTS.TokenSigningKeyArn,
      MessageType: "RAW",
      SigningAlgorithm: "ECDSA_SHA_256",
    });
    expect(regions.kms).toEqual([REGION]);

    const text = await onStack("tokens", "issue", "--key", key.id, "--days", "1");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`POST records to ${API_BASE}/stream/v0/data/<stream-id>`);

    const revoked = await ingestJson<{ revokedBefore: string }>("keys", "revoke-tokens", key.id);
    expect(Date.parse(revoked.revokedBefore)).toBeGreaterThan(claims.issuedAt * 1000);
    expect((await ingestJson<{ status: string }>("keys", "delete", key.id)).status).toBe("deleted");
    const refused = await onStack("tokens", "issue", "--key", key.id, "--days", "1");
    expect(refused).toMatchObject({
      code: 1,
      stderr: `error: API key ${key.id} is deleted; create a new key\n`,
    });
  });

  it("reports a signing key KMS refuses in one line that says what to fix", async () => {
    const key = await ingestJson<{ id: string }>("keys", "create", "--tenant", "acme", "--name", "pos");
    kms
      .on(SignCommand)
      .rejects(new KMSInvalidStateException({ message: "is pending deletion", $metadata: {} }));
    const run = await onStack("tokens", "issue", "--key", key.id, "--days", "1");
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      `error: cannot sign with KMS key ${OUTPUTS.TokenSigningKeyArn}: the key is disabled or pending deletion (is pending deletion); enable it, or cancel its deletion (aws kms cancel-key-deletion), or use the current key\n`,
    );
  });

  it.each([
    [["serve"], "on AWS the API is already running at the stack's ApiUrl output"],
    [
      ["flush"],
      "to the S3 bucket in the stack's DeliveryBucketName output, under streams/<tenant>/<stream-id>/",
    ],
    [["read", "x.ndjson"], "DeliveryBucketName output"],
    [["signing-keys", "list"], "rotate through the stack's `tokenSigningKeyGenerations` context"],
    [["signing-keys", "create"], "the TokenSigningKeyArn output signs new tokens"],
  ])("refuses %j with --stack: exit 2 and one line saying why", async (args, reason) => {
    const run = await onStack(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `error: \`${args[0]}\` works on the local data directory only, not with --stack: `,
    );
    expect(run.stderr).toContain(reason);
    expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(cloudFormation.calls()).toHaveLength(0);
  });

  it("refuses a local-only command under INGEST_STACK, saying to unset it", async () => {
    process.env.INGEST_STACK = STACK;
    const run = await ingest("serve");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`not with INGEST_STACK=${STACK} (unset it to work locally)`);
  });

  it("uses INGEST_STACK and AWS_DEFAULT_REGION when no flags are given", async () => {
    process.env.INGEST_STACK = STACK;
    process.env.AWS_DEFAULT_REGION = "eu-central-1";
    const run = await ingest("--json", "keys", "list");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toHaveProperty("keys");
    expect(regions.cloudFormation).toEqual(["eu-central-1"]);
  });

  it("reports a stack that does not exist: exit 1 and what to do", async () => {
    const run = await ingest("streams", "list", "--stack", "nope", "--region", REGION);
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr: `error: no CloudFormation stack named nope in region ${REGION}; deploy it with \`npx cdk deploy\` or pass --region\n`,
    });
  });

  it("reports registry tables that no longer exist", async () => {
    const run = await ingest("keys", "list", "--stack", BROKEN_STACK, "--region", REGION);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: a registry table of stack ${BROKEN_STACK} (gone-streams, gone-keys) does not exist in region ${REGION}; was it deleted? redeploy with \`npx cdk deploy\`\n`,
    );
  });

  it("reports missing AWS credentials", async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(
      Object.assign(new Error("Could not load credentials from any providers"), {
        name: "CredentialsProviderError",
      }),
    );
    const run = await onStack("streams", "list");
    expect(run.stderr).toBe(
      "error: no AWS credentials found: configure them (aws configure, AWS_PROFILE, or environment variables)\n",
    );
    expect(run.code).toBe(1);
  });

  it("says how to configure a region when none is given or configured", async () => {
    delete process.env.AWS_PROFILE;
    process.env.AWS_CONFIG_FILE = join(work, "no-aws-config");
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(work, "no-aws-credentials");
    const run = await ingest("streams", "list", "--stack", STACK);
    expect(regions.cloudFormation).toEqual([undefined]);
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "error: no AWS region configured: pass --region, set AWS_REGION, or set a region in your AWS profile (aws configure)\n",
    });
  });

  it.each([
    [["streams", "list", "--stack", "1-starts-with-a-digit"], "--stack must be a CloudFormation stack name"],
    [["streams", "list", "--stack", STACK, "--region", "Europe"], "--region must be an AWS region"],
    [["streams", "list", "--region", REGION], "--region only applies with --stack <name>"],
    [["streams", "create", "--stack", STACK, "--tenant", "acme", "--name", "x"], "required option"],
  ])("refuses %j as a usage error (exit 2)", async (args, message) => {
    const run = await ingest(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(cloudFormation.calls()).toHaveLength(0);
  });

  it("still works on the data directory without --stack, calling no AWS service", async () => {
    const created = await ingest(
      "--json",
      "streams",
      "create",
      "--tenant",
      "acme",
      "--name",
      "l",
      "--payload",
      "json",
    );
    expect(created.code).toBe(0);
    const stream = JSON.parse(created.stdout) as StreamJson;
    expect(stream).not.toHaveProperty("endpoint");
    const list = await ingest("streams", "list");
    expect(list.stdout).toMatch(/^ID\s+TENANT\s+PAYLOAD\s+STATUS\s+BUFFER\s+COMPRESSION\s+RATE\/S\s+NAME/);
    expect(list.stdout).toContain(stream.id);
    expect(readdirSync(dataDir)).toContain("registry");
    expect(cloudFormation.calls()).toHaveLength(0);
    expect(regions).toEqual({ cloudFormation: [], dynamo: [], kms: [] });
  });
});

describe("defaultAwsClients", () => {
  it("creates real SDK clients in the region asked for, or the SDK's own when none is given", async () => {
    process.env.AWS_REGION = "ap-southeast-2";
    const clients = [
      defaultAwsClients.cloudFormation(undefined),
      defaultAwsClients.cloudFormation("eu-west-1"),
      defaultAwsClients.kms("us-east-1"),
      defaultAwsClients.dynamoDocument("eu-central-1"),
    ];
    try {
      expect(await Promise.all(clients.map((c) => c.config.region()))).toEqual([
        "ap-southeast-2",
        "eu-west-1",
        "us-east-1",
        "eu-central-1",
      ]);
    } finally {
      for (const client of clients) client.destroy();
    }
  });
});

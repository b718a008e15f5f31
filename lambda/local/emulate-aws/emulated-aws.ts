/**
 * `ingest serve --emulate-aws`: the AWS build, run on this machine. Everything the stack deploys that the
 * request path touches is here, each piece speaking its real protocol:
 *
 *   client ─HTTP→ API Gateway front (payload 2.0 events, stage throttling, 10 MB, 30 s)
 *          → the ingest Lambda's bundle from cdk.out, in Lambda-like containers, with the stack's environment
 *            → DynamoDB (dynalite), KMS GetPublicKey (local P-256 keys), Firehose (loopback emulator) → "S3" files
 *   registry writes → table change feed (DynamoDB stream events) → the provisioner's bundle → Firehose, SQS
 *
 * Nothing of the Lambdas' TypeScript source is loaded: the bundles run in their own processes with their own
 * copies of the AWS SDK, exactly as deployed. State lives under `<data-dir>/aws/`, so a restart keeps tables,
 * keys, delivery streams, buffered records and queued messages.
 */
import { createPrivateKey } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CreateTableCommand, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import type { RegistryTables } from "../../adapters/dynamo-registry.js";
import { KmsKeyError, kmsKeyIdOf } from "../../adapters/kms-signer.js";
import { assertPrivateKeyFile, KeyObjectSigner } from "../../adapters/local-signer.js";
import { RegistryAdmin } from "../../adapters/registry-admin.js";
import { HTTP_API_ROUTES } from "../../aws/http-api-routes.js";
import type { Logger } from "../../core/ports.js";
import type { StreamRecord } from "../../core/types.js";
import { type ApiGatewayFront, startApiGatewayFront } from "../api-gateway-front.js";
import { startControlServer } from "../control-server.js";
import { dataDirLayout } from "../data-dir.js";
import { type EmbeddedRegistry, startEmbeddedRegistry } from "../embedded-registry.js";
import { type FirehoseEmulator, startFirehoseEmulator } from "../firehose-emulator.js";
import { type EmulatedStackState, refuseIfServed, removeRunState, writeRunState } from "../run-state.js";
import { CloudAssemblyError, loadStackAssembly, type StackAssembly } from "./cloud-assembly.js";
import {
  EmulatedKmsKeys,
  EmulatedQueues,
  type KmsSqsEndpoint,
  QueueConsumers,
  startKmsSqsEndpoint,
} from "./kms-sqs-endpoint.js";
import { LambdaContainers } from "./lambda-containers.js";
import { TableChangeFeed } from "./table-change-feed.js";

export interface EmulatedAwsOptions {
  readonly dataDir: string;
  /** The cloud assembly `npx cdk synth` wrote. @default "cdk.out" */
  readonly cloudAssemblyDir?: string;
  /** @default the assembly's only stack */
  readonly stackName?: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Port of the emulated DynamoDB endpoint (0 picks a free one). */
  readonly registryPort: number;
  readonly logger: Logger;
  /** Containers of the ingest function at once (its reserved concurrency, here). @default 4 */
  readonly concurrency?: number;
  /** How often the streams table is read for changes, ms. @default 1000 */
  readonly changeFeedEveryMs?: number;
  /** Retry waits of the table change feed (tests shorten them). */
  readonly changeFeedBackoffMs?: (attempt: number) => number;
  /** Write the run-state file (how the CLI finds this server). @default true */
  readonly runState?: boolean;
}

/** Where the emulation keeps its state, under `<data-dir>/aws/`. */
export interface EmulationLayout {
  readonly root: string;
  readonly dynamodb: string;
  readonly kms: string;
  readonly firehose: string;
  readonly s3: string;
  readonly sqs: string;
  readonly streams: string;
  readonly lambda: string;
}

export function emulationLayout(dataDir: string): EmulationLayout {
  const root = join(resolve(dataDir), "aws");
  return {
    root,
    dynamodb: join(root, "dynamodb"),
    kms: join(root, "kms"),
    firehose: join(root, "firehose"),
    s3: join(root, "s3"),
    sqs: join(root, "sqs"),
    streams: join(root, "dynamodb-streams"),
    lambda: join(root, "lambda"),
  };
}

/** How tokens for the emulated stack are signed: its issuer and audience, its signing key's local P-256 key. */
export interface EmulatedTokenSigning {
  readonly issuer: string;
  readonly audience: string;
  readonly keyArn: string;
  /** The private key file of the signing key (mode 0600). */
  readonly keyFile: string;
  readonly signer: KeyObjectSigner;
}

export interface EmulatedAws {
  readonly url: string;
  readonly registryEndpoint: string;
  readonly assembly: StackAssembly;
  readonly layout: EmulationLayout;
  readonly dataDir: string;
  readonly tables: RegistryTables;
  readonly admin: RegistryAdmin;
  readonly tokens: EmulatedTokenSigning;
  readonly firehose: FirehoseEmulator;
  /** The emulated delivery bucket: object keys are paths under it. */
  readonly bucketDir: string;
  /** The ingest function's log file (its own JSON log lines and metrics). */
  readonly functionLog: string;
  /** Reads the streams table now and has the provisioner handle every change; resolves when it has. */
  syncRegistry(): Promise<void>;
  /**
   * Waits until the provisioner has made stream `id`'s delivery streams ACTIVE (or reported FAILED); returns the
   * record. Throws after `timeoutMs`.
   */
  waitForDelivery(id: string, timeoutMs?: number): Promise<StreamRecord>;
  /** Delivers every buffered record to the bucket now; returns the object keys written. */
  flush(): Promise<string[]>;
  /** Stops accepting, finishes requests, delivers buffered records, stops every process. */
  close(): Promise<void>;
}

/** Starts the emulation; throws CloudAssemblyError when cdk.out is missing or does not fit this code. */
export async function startEmulatedAws(options: EmulatedAwsOptions): Promise<EmulatedAws> {
  const { logger } = options;
  const assembly = loadStackAssembly(options.cloudAssemblyDir ?? "cdk.out", options.stackName);
  checkRoutes(assembly);
  const dataLayout = dataDirLayout(options.dataDir);
  const layout = emulationLayout(options.dataDir);
  await mkdir(layout.root, { recursive: true, mode: 0o700 });
  await refuseIfServed(dataLayout.runState);

  const env = assembly.apiFunction.environment;
  const tables: RegistryTables = {
    streams: required(env, "STREAMS_TABLE"),
    apiKeys: required(env, "API_KEYS_TABLE"),
    ...(env.IDEMPOTENCY_TABLE === undefined ? {} : { idempotency: env.IDEMPOTENCY_TABLE }),
  };
  const bucket = assembly.outputs.DeliveryBucketName ?? [...assembly.buckets.values()][0];
  if (bucket === undefined)
    throw new CloudAssemblyError(`stack ${assembly.stackName} has no delivery bucket`);
  const bucketDir = join(layout.s3, bucket);

  const cleanups: (() => Promise<void>)[] = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0)) {
      await cleanup().catch((error: unknown) => {
        // Nothing acknowledged is lost (the Firehose journal keeps it for the next start); say what failed.
        logger.warn("emulation shutdown step failed", {
          errorName: error instanceof Error ? error.name : typeof error,
          errorCode: (error as NodeJS.ErrnoException).code,
        });
      });
    }
  };
  try {
    const registry: EmbeddedRegistry = await startEmbeddedRegistry(
      layout.dynamodb,
      tables,
      "127.0.0.1",
      options.registryPort,
    );
    cleanups.unshift(() => registry.close());
    await ensureTemplateTables(registry, assembly);

    const keys = await EmulatedKmsKeys.open(
      layout.kms,
      assembly.kmsKeys.values(),
      assembly.region,
      assembly.account,
    );
    const tokens = tokenSigning(assembly, keys);
    const queues = new EmulatedQueues(layout.sqs, [...assembly.queues.values()]);

    const firehose = await startFirehoseEmulator({
      bucketDir,
      stateDir: layout.firehose,
      region: assembly.region,
      logger,
    });
    cleanups.unshift(async () => {
      await firehose.flush();
      await firehose.close();
    });

    let consumers: QueueConsumers | undefined;
    const kmsSqs: KmsSqsEndpoint = await startKmsSqsEndpoint({
      keys,
      queues,
      logger,
      onSend: () => void consumers?.deliverDue(),
    });
    cleanups.unshift(() => kmsSqs.close());

    const platformEnvironment = {
      AWS_REGION: assembly.region,
      AWS_DEFAULT_REGION: assembly.region,
      AWS_ACCESS_KEY_ID: "AKIAEMULATEDLAMBDA01",
      AWS_SECRET_ACCESS_KEY: "emulated-lambda-secret",
      AWS_SESSION_TOKEN: "emulated-lambda-session",
      AWS_ENDPOINT_URL_DYNAMODB: registry.endpoint,
      AWS_ENDPOINT_URL_FIREHOSE: firehose.endpoint,
      AWS_ENDPOINT_URL_KMS: kmsSqs.endpoint,
      AWS_ENDPOINT_URL_SQS: kmsSqs.endpoint,
      // The bundles run on this machine's Node (20+), not Lambda's nodejs24.x: hide the SDK's notice about it.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    const containers = new Map<string, LambdaContainers>();
    for (const fn of assembly.functions.values()) {
      const isApi = fn === assembly.apiFunction;
      const pool = new LambdaContainers({
        fn,
        platformEnvironment,
        workDir: join(layout.lambda, fn.name),
        concurrency: isApi ? (options.concurrency ?? 4) : 4,
        logger,
        region: assembly.region,
        account: assembly.account,
      });
      containers.set(fn.logicalId, pool);
      cleanups.unshift(() => pool.close());
    }
    const invoker = (logicalId: string) => {
      const pool = containers.get(logicalId);
      if (pool === undefined)
        throw new CloudAssemblyError(
          `an event source names function ${logicalId}, which is not in the stack`,
        );
      return (event: unknown) => pool.invoke(event);
    };

    // Event source mappings: the SQS queues and the tables' streams.
    const sqsSources = assembly.eventSources.filter((s) => s.kind === "sqs");
    consumers = new QueueConsumers(
      queues,
      sqsSources.map((source) => {
        const queue = assembly.queues.get(source.sourceLogicalId);
        if (queue === undefined) throw new CloudAssemblyError(`no queue ${source.sourceLogicalId}`);
        return { url: queue.url, batchSize: source.batchSize, invoke: invoker(source.functionLogicalId) };
      }),
      assembly.region,
      logger,
    );
    consumers.start();
    const queueConsumers = consumers;
    cleanups.unshift(() => queueConsumers.close());

    const feeds = assembly.eventSources
      .filter((s) => s.kind === "dynamodb")
      .map((source) => {
        const table = assembly.tables.find((t) => t.logicalId === source.sourceLogicalId);
        const hashKey = table?.keySchema.find((k) => k.KeyType === "HASH")?.AttributeName;
        if (table === undefined || hashKey === undefined) {
          throw new CloudAssemblyError(
            `no table with a partition key for the stream of ${source.sourceLogicalId}`,
          );
        }
        const feed = new TableChangeFeed({
          client: registry.client,
          table: table.name,
          keyAttribute: hashKey,
          streamArn: source.sourceArn,
          region: assembly.region,
          invoke: invoker(source.functionLogicalId),
          checkpointFile: join(layout.streams, `${table.name}.json`),
          batchSize: source.batchSize,
          ...(source.maximumRetryAttempts === undefined
            ? {}
            : { maximumRetryAttempts: source.maximumRetryAttempts }),
          ...(options.changeFeedBackoffMs === undefined ? {} : { backoffMs: options.changeFeedBackoffMs }),
          onDropped: async (failure: Record<string, unknown>) => {
            const queue =
              source.onFailureLogicalId === undefined
                ? undefined
                : assembly.queues.get(source.onFailureLogicalId);
            if (queue !== undefined) await queues.send(queue.url, JSON.stringify(failure), 0, Date.now());
          },
          logger,
        });
        return feed;
      });
    await mkdir(layout.streams, { recursive: true, mode: 0o700 });
    for (const feed of feeds) {
      feed.start(options.changeFeedEveryMs ?? 1000);
      cleanups.unshift(() => feed.close());
    }
    const syncRegistry = async () => {
      await Promise.all(feeds.map((feed) => feed.sync()));
    };

    const api = assembly.apiFunction;
    const apiPool = containers.get(api.logicalId);
    if (apiPool === undefined) throw new CloudAssemblyError("the API function has no containers");
    const front: ApiGatewayFront = await startApiGatewayFront({
      invoke: async (event, context) => (await apiPool.invoke(event, context.awsRequestId)) as object,
      host: options.host,
      port: options.port,
      timeoutMs: assembly.integrationTimeoutMs,
      ...(assembly.stageThrottle === undefined ? {} : { throttle: assembly.stageThrottle }),
      functionTimeoutMs: api.timeoutSeconds * 1000,
      functionName: api.name,
      memoryLimitInMB: String(api.memoryMb),
      accountId: assembly.account,
      region: assembly.region,
      logger,
    });
    cleanups.unshift(() => front.close());

    const flush = () => firehose.flush();
    const admin = new RegistryAdmin(registry.client, tables);
    if (options.runState ?? true) {
      const control = await startControlServer(
        {
          flush: async () => ({ sealed: await flush() }),
          reloadSigningKeys: async () => {
            throw new Error("the emulated stack's signing keys are its KMS keys; nothing to reload");
          },
        },
        logger,
      );
      cleanups.unshift(() => control.close());
      await writeRunState(dataLayout.runState, {
        pid: process.pid,
        apiUrl: front.url,
        registryEndpoint: registry.endpoint,
        controlUrl: control.url,
        controlSecret: control.secret,
        emulateAws: {
          stackName: assembly.stackName,
          tables,
          tokenIssuer: tokens.issuer,
          tokenAudience: tokens.audience,
          tokenKeyArn: tokens.keyArn,
          tokenKeyFile: tokens.keyFile,
          bucketDir,
        },
      });
      cleanups.unshift(() => removeRunState(dataLayout.runState));
    }

    let closing: Promise<void> | undefined;
    return {
      url: front.url,
      registryEndpoint: registry.endpoint,
      assembly,
      layout,
      dataDir: dataLayout.root,
      tables,
      admin,
      tokens,
      firehose,
      bucketDir,
      functionLog: apiPool.logFile,
      syncRegistry,
      waitForDelivery: (id, timeoutMs = 60_000) => waitForDelivery(admin, syncRegistry, id, timeoutMs),
      flush,
      close() {
        closing ??= cleanUp();
        return closing;
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

function required(env: Readonly<Record<string, string>>, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new CloudAssemblyError(
      `the ingest function's environment has no ${name}: run \`npx cdk synth\` again`,
    );
  }
  return value;
}

/** A cdk.out synthesized from other code than this has other routes: say so instead of answering wrongly. */
function checkRoutes(assembly: StackAssembly): void {
  const expected = [...HTTP_API_ROUTES.map((r) => `${r.method} ${r.path}`), "$default"].sort();
  const actual = [...assembly.routeKeys].sort();
  if (JSON.stringify(expected) !== JSON.stringify(actual)) {
    throw new CloudAssemblyError(
      `the HTTP API in cdk.out has routes ${actual.join(", ")}, but this code has ${expected.join(", ")}: cdk.out is stale, run \`npx cdk synth\``,
    );
  }
}

/** Creates every table of the template that the registry did not (with the template's key schema). */
async function ensureTemplateTables(registry: EmbeddedRegistry, assembly: StackAssembly): Promise<void> {
  const existing = new Set((await registry.client.send(new ListTablesCommand({}))).TableNames ?? []);
  for (const table of assembly.tables) {
    if (existing.has(table.name)) continue;
    await registry.client.send(
      new CreateTableCommand({
        TableName: table.name,
        KeySchema: table.keySchema.map((k) => ({
          AttributeName: k.AttributeName,
          KeyType: k.KeyType as "HASH",
        })),
        AttributeDefinitions: table.attributeDefinitions.map((a) => ({
          AttributeName: a.AttributeName,
          AttributeType: a.AttributeType as "S",
        })),
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  }
}

function tokenSigning(assembly: StackAssembly, keys: EmulatedKmsKeys): EmulatedTokenSigning {
  const { outputs } = assembly;
  const keyArn =
    outputs.TokenSigningKeyArn ?? assembly.apiFunction.environment.TOKEN_KEY_ARNS?.split(",").at(-1);
  const issuer = outputs.TokenIssuer ?? assembly.apiFunction.environment.TOKEN_ISSUER;
  const audience = outputs.TokenAudience ?? assembly.apiFunction.environment.TOKEN_AUDIENCE;
  if (keyArn === undefined || issuer === undefined || audience === undefined) {
    throw new CloudAssemblyError(
      "the stack names no token signing key, issuer or audience (outputs TokenSigningKeyArn, TokenIssuer, TokenAudience)",
    );
  }
  let keyId: string;
  try {
    keyId = kmsKeyIdOf(keyArn);
  } catch (error) {
    if (error instanceof KmsKeyError)
      throw new CloudAssemblyError(`TokenSigningKeyArn ${keyArn} is not a KMS key ARN`);
    throw error;
  }
  const privateKey = keys.privateKey(keyId);
  if (privateKey === undefined)
    throw new CloudAssemblyError(`the signing key ${keyArn} is not a KMS key of the stack`);
  return {
    issuer,
    audience,
    keyArn,
    keyFile: keys.keyFile(keyId),
    signer: new KeyObjectSigner(keyId, privateKey),
  };
}

async function waitForDelivery(
  admin: RegistryAdmin,
  syncRegistry: () => Promise<void>,
  id: string,
  timeoutMs: number,
): Promise<StreamRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await syncRegistry();
    const stream = await admin.getStream(id);
    if (stream === undefined) throw new Error(`no stream ${id}`);
    if (stream.deliveryStatus === "ACTIVE" || stream.deliveryStatus === "FAILED") return stream;
    if (Date.now() > deadline) {
      throw new Error(
        `stream ${id}'s delivery streams are still ${stream.deliveryStatus ?? "not provisioned"} after ${timeoutMs} ms`,
      );
    }
    // The provisioner polls Firehose on its own timer (2 s first); check again shortly.
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The signer of a running emulation's tokens, from its run state: its signing key's local private key. */
export async function emulatedStackSigner(state: EmulatedStackState): Promise<KeyObjectSigner> {
  await assertPrivateKeyFile(state.tokenKeyFile);
  return new KeyObjectSigner(
    kmsKeyIdOf(state.tokenKeyArn),
    createPrivateKey(await readFile(state.tokenKeyFile)),
  );
}

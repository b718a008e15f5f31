/** `ingest serve` (what `npm start` runs): the local runtime, first-run demo set-up, and clean shutdown. */
import { type Dirent, readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import type { RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { systemClock } from "../../lambda/core/ports.js";
import { newStreamRecord } from "../../lambda/core/stream-settings.js";
import type { ApiKeyRecord, PayloadType } from "../../lambda/core/types.js";
import { MAX_WORKERS, startCluster } from "../../lambda/local/cluster-primary.js";
import { CloudAssemblyError } from "../../lambda/local/emulate-aws/cloud-assembly.js";
import { startEmulatedAws } from "../../lambda/local/emulate-aws/emulated-aws.js";
import { JsonLinesLogger, type LogLevel } from "../../lambda/local/logger.js";
import { startLocalRuntime } from "../../lambda/local/runtime.js";
import { banner } from "./banner.js";
import { CliError, type GlobalOptions, numberOption, refuseStack } from "./context.js";
import { newApiKeyId, newStreamId } from "./ids.js";
import { issueLocalToken } from "./keys.js";

interface ServeFlags {
  emulateAws: boolean;
  cdkOut: string;
  emulatedStack?: string;
  lambdaConcurrency: string;
  host: string;
  port: string;
  registryPort: string;
  logLevel: string;
  accessLog: boolean;
  demo: boolean;
  workers: string;
}

export function registerServeCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("serve")
    .description("run the ingest API on this machine (embedded registry, durable file sink)")
    .option("--host <host>", "address to listen on (env INGEST_HOST)", process.env.INGEST_HOST ?? "127.0.0.1")
    .option(
      "--port <port>",
      "API port; 0 picks a free one (env INGEST_PORT)",
      process.env.INGEST_PORT ?? "8080",
    )
    .option(
      "--registry-port <port>",
      "port of the embedded DynamoDB endpoint; 0 picks a free one (env INGEST_REGISTRY_PORT)",
      process.env.INGEST_REGISTRY_PORT ?? "8081",
    )
    .option(
      "--log-level <level>",
      "info, warn, error or silent (env INGEST_LOG_LEVEL)",
      process.env.INGEST_LOG_LEVEL ?? "info",
    )
    .option(
      "--access-log",
      "log one line per request: id, method, stream, status, length, ms (env INGEST_ACCESS_LOG=1)",
      process.env.INGEST_ACCESS_LOG === "1",
    )
    .option(
      "--workers <n>",
      `processes serving the port, 1-${MAX_WORKERS}; 1 runs everything in this process (env INGEST_WORKERS; default: one per core)`,
      process.env.INGEST_WORKERS ?? String(Math.min(availableParallelism(), MAX_WORKERS)),
    )
    .option("--no-demo", "do not create the demo tenant on a first start")
    .option(
      "--emulate-aws",
      "run the AWS build instead: the bundled Lambdas from cdk.out behind an emulated API Gateway, with emulated Firehose, S3, KMS and SQS (run `npx cdk synth` first)",
      false,
    )
    .option("--cdk-out <dir>", "with --emulate-aws: the cloud assembly `npx cdk synth` wrote", "cdk.out")
    .option("--emulated-stack <name>", "with --emulate-aws: the stack to run, when cdk.out holds several")
    .option(
      "--lambda-concurrency <n>",
      "with --emulate-aws: ingest Lambda containers running at once, 1-64",
      "4",
    )
    .action(async (flags: ServeFlags, command: Command) => {
      refuseStack(
        globals(),
        "serve",
        "on AWS the API is already running at the stack's ApiUrl output (deployed with `npx cdk deploy`)",
      );
      const port = portOption("--port", flags.port);
      const registryPort = portOption("--registry-port", flags.registryPort);
      const workers = workersOption(flags.workers);
      if (!["info", "warn", "error", "silent"].includes(flags.logLevel)) {
        throw new CliError(
          `--log-level must be info, warn, error or silent; got ${JSON.stringify(flags.logLevel)}`,
          2,
        );
      }
      const logger = new JsonLinesLogger(flags.logLevel as LogLevel);
      const options = globals();
      if (flags.emulateAws) {
        if (command.getOptionValueSource("workers") === "cli") {
          throw new CliError(
            "--workers does not apply to --emulate-aws: the emulated API scales by Lambda containers (--lambda-concurrency)",
            2,
          );
        }
        const concurrency = numberOption("--lambda-concurrency", flags.lambdaConcurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
          throw new CliError(
            `--lambda-concurrency must be a whole number from 1 to 64; got ${flags.lambdaConcurrency}`,
            2,
          );
        }
        await serveEmulatedAws({ flags, port, registryPort, concurrency, logger, options });
        return;
      }
      const start =
        workers === 1
          ? startLocalRuntime({
              dataDir: options.dataDir,
              host: flags.host,
              port,
              registryPort,
              logger,
              accessLog: flags.accessLog,
            })
          : startCluster({
              dataDir: options.dataDir,
              host: flags.host,
              port,
              registryPort,
              workers,
              logger,
              logLevel: flags.logLevel as LogLevel,
              accessLog: flags.accessLog,
            });
      const runtime = await start.catch((error: unknown) => {
        throw explainStartFailure(error, flags.host, port, registryPort);
      });
      installShutdown(runtime, logger);
      if ("failed" in runtime) {
        void runtime.failed.then((error) => {
          logger.error("stopped: the workers kept crashing; see the errors above", { reason: error.message });
          process.exit(1);
        });
      }
      const firstRun = flags.demo
        ? await createDemoOnFirstStart(runtime.admin, (key, days) => issueLocalToken(options, key, days))
        : undefined;
      const streams = (await runtime.admin.listStreams()).records;
      const keys = (await runtime.admin.listApiKeys()).records;
      const text = banner({
        apiUrl: runtime.url,
        registryEndpoint: runtime.registryEndpoint,
        dataDir: runtime.layout.root,
        streams,
        token: firstRun,
        keyIdHint: keys.find((k) => k.status === "active")?.id,
        workers: "workerPids" in runtime ? runtime.workerPids().length : 1,
      });
      options.stdout(
        options.json
          ? `${JSON.stringify({ url: runtime.url, registry: runtime.registryEndpoint })}\n`
          : `${text}\n`,
      );
      logger.info("listening", {
        url: runtime.url,
        registry: runtime.registryEndpoint,
        pid: process.pid,
        workers: "workerPids" in runtime ? runtime.workerPids() : undefined,
      });
    });
}

/** `serve --emulate-aws`: the AWS build from cdk.out on this machine (lambda/local/emulate-aws/). */
async function serveEmulatedAws(input: {
  flags: ServeFlags;
  port: number;
  registryPort: number;
  concurrency: number;
  logger: JsonLinesLogger;
  options: GlobalOptions;
}): Promise<void> {
  const { flags, port, registryPort, logger, options } = input;
  const emulation = await startEmulatedAws({
    dataDir: options.dataDir,
    cloudAssemblyDir: flags.cdkOut,
    ...(flags.emulatedStack === undefined ? {} : { stackName: flags.emulatedStack }),
    host: flags.host,
    port,
    registryPort,
    concurrency: input.concurrency,
    logger,
  }).catch((error: unknown) => {
    if (error instanceof CloudAssemblyError) throw new CliError(error.message);
    throw explainStartFailure(error, flags.host, port, registryPort);
  });
  installShutdown(emulation, logger, "finishing requests and delivering the emulated Firehose's buffers");
  const stale = newerSources(flags.cdkOut);
  if (stale !== undefined) {
    logger.warn("cdk.out is older than the sources: the emulation runs the bundles of the last synth", {
      newer: stale,
      fix: "npx cdk synth",
    });
  }
  const firstRun = flags.demo
    ? await createDemoOnFirstStart(emulation.admin, async (key, days) =>
        issueAccessToken({
          issuer: emulation.tokens.issuer,
          audience: emulation.tokens.audience,
          signer: emulation.tokens.signer,
          key,
          days,
          clock: systemClock,
        }),
      )
    : undefined;
  const streams = (await emulation.admin.listStreams()).records;
  // A stream takes records once the provisioner has made its delivery streams ACTIVE (a few seconds).
  for (const stream of streams.filter((s) => s.status === "active" && s.deliveryStatus !== "ACTIVE")) {
    await emulation.waitForDelivery(stream.id).catch((error: unknown) => {
      logger.warn("a stream's delivery streams are not ACTIVE yet", {
        streamId: stream.id,
        reason: String(error),
      });
    });
  }
  const ready = (await emulation.admin.listStreams()).records;
  const keys = (await emulation.admin.listApiKeys()).records;
  const text = banner({
    apiUrl: emulation.url,
    registryEndpoint: emulation.registryEndpoint,
    dataDir: emulation.dataDir,
    streams: ready.filter((s) => s.deliveryStatus === "ACTIVE"),
    token: firstRun,
    keyIdHint: keys.find((k) => k.status === "active")?.id,
    emulation: {
      stackName: emulation.assembly.stackName,
      cloudAssembly: flags.cdkOut,
      tables: emulation.tables,
      bucketDir: emulation.bucketDir,
      functionLog: emulation.functionLog,
      concurrency: input.concurrency,
    },
  });
  options.stdout(
    options.json
      ? `${JSON.stringify({ url: emulation.url, registry: emulation.registryEndpoint })}\n`
      : `${text}\n`,
  );
  logger.info("listening", {
    url: emulation.url,
    registry: emulation.registryEndpoint,
    pid: process.pid,
    emulateAws: emulation.assembly.stackName,
  });
}

/**
 * A source file under lambda/ or lib/ (in this directory, the repository) changed after cdk.out was written, or
 * undefined: the emulation runs what was synthesized, so a forgotten `npx cdk synth` is worth a warning.
 */
function newerSources(cdkOut: string): string | undefined {
  let synthesized: number;
  try {
    synthesized = statSync(join(cdkOut, "manifest.json")).mtimeMs;
  } catch {
    return undefined;
  }
  const walk = (dir: string): string | undefined => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        const found = walk(path);
        if (found !== undefined) return found;
      } else if (entry.name.endsWith(".ts") && statSync(path).mtimeMs > synthesized) return path;
    }
    return undefined;
  };
  return walk("lambda") ?? walk("lib");
}

/** Turns the usual start-up failures into one line that says what to do. */
function explainStartFailure(error: unknown, host: string, port: number, registryPort: number): unknown {
  const e = error as NodeJS.ErrnoException & { port?: number };
  if (e.code === "EADDRINUSE") {
    const which =
      e.port === registryPort
        ? `registry port ${registryPort} (--registry-port)`
        : `port ${e.port ?? port} (--port)`;
    return new CliError(`${which} on ${host} is already in use: stop what uses it, or choose another port`);
  }
  if (e.code === "EACCES" || e.code === "EADDRNOTAVAIL") {
    return new CliError(`cannot listen on ${host}: ${e.code}; check --host and the ports`);
  }
  if (e instanceof Error && (e.name === "RegistryLockedError" || e.name === "DataDirInUseError")) {
    return new CliError(e.message);
  }
  return error;
}

/** `--workers`: a whole number 1–64 (a usage error otherwise). */
function workersOption(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    const source = process.env.INGEST_WORKERS === value ? "--workers (env INGEST_WORKERS)" : "--workers";
    throw new CliError(
      `${source} must be a whole number from 1 to ${MAX_WORKERS}; got ${JSON.stringify(value)}`,
      2,
    );
  }
  return n;
}

function portOption(name: string, value: string): number {
  const port = numberOption(name, value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`${name} must be 0–65535; got ${value}`, 2);
  return port;
}

/** SIGTERM/SIGINT: stop accepting, finish in-flight requests, seal every batch, exit 0. */
function installShutdown(
  runtime: { close(): Promise<void> },
  logger: JsonLinesLogger,
  finishing = "finishing requests and sealing batches",
): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn("second signal: exiting without waiting", { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info(`shutting down: ${finishing}`, { signal });
    runtime.close().then(
      () => {
        logger.info("stopped cleanly");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error("shutdown failed; in-flight batches are recovered on the next start", {
          errorName: error instanceof Error ? error.name : typeof error,
          errorCode: (error as NodeJS.ErrnoException).code,
        });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/** On an empty registry: tenant demo, one JSON and one XML stream, an API key and a 7-day token. */
async function createDemoOnFirstStart(
  admin: RegistryAdmin,
  issueToken: (key: ApiKeyRecord, days: number) => Promise<{ token: string; expiresAt: Date }>,
) {
  const [streams, keys] = await Promise.all([admin.listStreams(), admin.listApiKeys()]);
  const empty = (l: { records: unknown[]; invalid: unknown[] }) => l.records.length + l.invalid.length === 0;
  if (!empty(streams) || !empty(keys)) return undefined;
  const now = new Date(systemClock.now()).toISOString();
  const stream = (name: string, payload: PayloadType, description: string) =>
    newStreamRecord({ id: newStreamId(), tenant: "demo", name, payload, description, now });
  await admin.createStream(stream("demo-events", "json", "demo: JSON events → NDJSON"));
  await admin.createStream(stream("demo-profiles", "xml", "demo: XML profile updates → CBOR"));
  const key: ApiKeyRecord = {
    id: newApiKeyId(),
    tenant: "demo",
    name: "demo",
    status: "active",
    createdAt: now,
  };
  await admin.createApiKey(key);
  const issued = await issueToken(key, 7);
  return { value: issued.token, keyId: key.id, expiresAt: issued.expiresAt.toISOString() };
}

/**
 * Assembles the local / self-hosted runtime: data directory, signing keys, embedded registry, durable file sink,
 * the core handler behind node:http, and the control endpoint. One call starts it; `close` stops it cleanly.
 */
import { mkdir } from "node:fs/promises";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoRegistry, LOCAL_REGISTRY_TABLES } from "../adapters/dynamo-registry.js";
import { FileSink, type FileSinkWorker, type SinkFileSystem } from "../adapters/file-sink.js";
import { JwksTokenVerifier } from "../adapters/jwt-verifier.js";
import { type LocalSigningKeys, loadOrCreateSigningKeys } from "../adapters/local-signer.js";
import { RegistryAdmin } from "../adapters/registry-admin.js";
import { CachedRegistry } from "../core/cached-registry.js";
import { IngestHandler } from "../core/handler.js";
import { type Clock, type Logger, systemClock } from "../core/ports.js";
import { RateLimiter } from "../core/rate-limiter.js";
import { removeEmptyWorkerFolders, waitForWorkerFolderOwners } from "./cluster-inflight.js";
import { startControlServer } from "./control-server.js";
import { type DataDirLayout, dataDirLayout } from "./data-dir.js";
import { type Deployment, loadOrCreateDeployment } from "./deployment.js";
import { type EmbeddedRegistry, registryClient, startEmbeddedRegistry } from "./embedded-registry.js";
import { startHttpServer } from "./http-server.js";
import { localIdempotency } from "./idempotency.js";
import { refuseIfServed, removeRunState, writeRunState } from "./run-state.js";

export interface LocalRuntimeOptions {
  readonly dataDir: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Port of the embedded registry's DynamoDB endpoint (0 picks a free one). */
  readonly registryPort: number;
  readonly logger: Logger;
  /** @default the system clock */
  readonly clock?: Clock;
  /** How long registry records are trusted before re-reading. @default 2,000 ms */
  readonly registryCacheTtlMs?: number;
  /** Seal aged batches on a 1 s timer. Tests turn it off and call `sink.sealDue()` with a fake clock. @default true */
  readonly sealTimer?: boolean;
  readonly maxConcurrentRequests?: number;
  /** One log line per request. @default false */
  readonly accessLog?: boolean;
  readonly requestTimeoutMs?: number;
  /** Time to receive a request's headers (and the first request on a new connection). @default 10,000 ms */
  readonly headersTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this. @default 5,000 ms */
  readonly keepAliveTimeoutMs?: number;
  /** The file sink's file-system operations (benchmarks and soaks inject a slow or failing disk). @default node:fs */
  readonly sinkFs?: SinkFileSystem;
  /** Bytes queued in the file sink but not yet durable; past it requests get 503 `sink_busy`. @default 64 MiB */
  readonly sinkMaxPendingBytes?: number;
  /** How long a request waits for the sink to confirm durability before answering 504. @default 10,000 ms */
  readonly deliveryTimeoutMs?: number;
  /**
   * How long an accepted Idempotency-Key is remembered, in seconds (60 to 30 days).
   * @default env INGEST_IDEMPOTENCY_WINDOW_SECONDS, else 86,400 (24 h)
   */
  readonly idempotencyWindowSeconds?: number;
  /**
   * The DynamoDB client the request path reads streams and keys with (fault tests put a proxy in between).
   * @default the embedded store's own client
   */
  readonly registryReadClient?: (endpoint: string) => DynamoDBDocumentClient;
  /**
   * Run as one worker of `ingest serve --workers N` (N ≥ 2; see cluster-primary.ts): the registry is the
   * primary's endpoint, the sink writes this worker's own in-flight folder and takes batch numbers from the
   * primary, and there is no recovery, control endpoint or run-state file (the primary owns those).
   * `registryPort` is then unused. @default a single process that owns everything
   */
  readonly worker?: LocalWorkerRole;
}

/** What a worker process gets from its primary. */
export interface LocalWorkerRole {
  readonly registryEndpoint: string;
  readonly sink: FileSinkWorker;
  /** @default a RateLimiter of its own */
  readonly rateLimiter?: RateLimiter;
}

export interface LocalRuntime {
  readonly url: string;
  readonly registryEndpoint: string;
  readonly layout: DataDirLayout;
  readonly deployment: Deployment;
  /** The signing keys as last loaded (at start, or by a reload through the control endpoint). */
  readonly keys: LocalSigningKeys;
  readonly admin: RegistryAdmin;
  readonly sink: FileSink;
  /** Seals every open batch; returns the sealed object paths. */
  flush(): Promise<string[]>;
  /** Re-reads the signing keys (new kids verify, removed ones stop); returns the kids now live. */
  reloadSigningKeys(): Promise<{ kids: string[] }>;
  /** Stops accepting, finishes in-flight requests, seals everything, releases the store. */
  close(): Promise<void>;
}

export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const layout = dataDirLayout(options.dataDir);
  await mkdir(layout.root, { recursive: true, mode: 0o700 });
  const deployment = await loadOrCreateDeployment(layout.deployment);
  let keys = await loadOrCreateSigningKeys(layout.keys);
  const { worker } = options;
  if (worker === undefined) await refuseIfServed(layout.runState);
  const store =
    worker === undefined
      ? await startEmbeddedRegistry(layout.registry, LOCAL_REGISTRY_TABLES, "127.0.0.1", options.registryPort)
      : remoteRegistry(worker.registryEndpoint);

  const cleanups: (() => Promise<void>)[] = [() => store.close()];
  try {
    const sink = new FileSink({
      root: layout.objects,
      clock,
      logger,
      ...(options.sinkFs === undefined ? {} : { fs: options.sinkFs }),
      ...(options.sinkMaxPendingBytes === undefined ? {} : { maxPendingBytes: options.sinkMaxPendingBytes }),
      ...(worker === undefined ? {} : { worker: worker.sink }),
    });
    if (worker === undefined) {
      // Workers of an earlier `--workers N` run left folders too: wait until none of them still writes.
      await waitForWorkerFolderOwners(layout.objects, logger);
      await sink.recover();
      await removeEmptyWorkerFolders(layout.objects);
    }
    cleanups.unshift(() => sink.close());

    const registry = new CachedRegistry(
      new DynamoRegistry(
        options.registryReadClient?.(store.endpoint) ?? store.client,
        LOCAL_REGISTRY_TABLES,
        logger,
      ),
      clock,
      {
        ttlMs: options.registryCacheTtlMs ?? 2000,
      },
    );
    const verifier = new JwksTokenVerifier({
      issuer: deployment.issuer,
      audience: deployment.audience,
      jwks: keys.jwks,
      clock,
    });
    const handler = new IngestHandler({
      registry,
      sink,
      verifier,
      clock,
      logger,
      rateLimiter: worker?.rateLimiter ?? new RateLimiter(clock),
      deliveryTimeoutMs: options.deliveryTimeoutMs,
      idempotency: localIdempotency(store.client, clock, logger, options.idempotencyWindowSeconds),
    });
    const http = await startHttpServer(handler, logger, {
      host: options.host,
      port: options.port,
      maxConcurrentRequests: options.maxConcurrentRequests,
      accessLog: options.accessLog,
      requestTimeoutMs: options.requestTimeoutMs,
      headersTimeoutMs: options.headersTimeoutMs,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs,
    });
    cleanups.unshift(() => http.drain());
    const reloadSigningKeys = async () => {
      keys = await loadOrCreateSigningKeys(layout.keys);
      verifier.replaceJwks(keys.jwks);
      logger.info("signing keys reloaded", { kids: keys.kids });
      return { kids: [...keys.kids] };
    };
    if (worker === undefined) {
      const control = await startControlServer(
        { flush: async () => ({ sealed: await sink.flush() }), reloadSigningKeys },
        logger,
      );
      cleanups.splice(1, 0, () => control.close());
      await writeRunState(layout.runState, {
        pid: process.pid,
        apiUrl: http.url,
        registryEndpoint: store.endpoint,
        controlUrl: control.url,
        controlSecret: control.secret,
      });
    }
    if (options.sealTimer ?? true) sink.startTimer();

    let closing: Promise<void> | undefined;
    return {
      url: http.url,
      registryEndpoint: store.endpoint,
      layout,
      deployment,
      get keys() {
        return keys;
      },
      admin: new RegistryAdmin(store.client, LOCAL_REGISTRY_TABLES),
      sink,
      flush: () => sink.flush(),
      reloadSigningKeys,
      close() {
        closing ??= (async () => {
          if (worker === undefined) await removeRunState(layout.runState);
          await runAll(cleanups);
        })();
        return closing;
      },
    };
  } catch (error) {
    await runAll(cleanups);
    throw error;
  }
}

/** The primary's registry seen from a worker: a client to its endpoint (closing it closes only the client). */
function remoteRegistry(endpoint: string): EmbeddedRegistry {
  const client = registryClient(endpoint);
  return {
    endpoint,
    client,
    close: async () => client.destroy(),
  };
}

/** Runs every cleanup in order, even when one fails, then throws the first failure. */
async function runAll(cleanups: (() => Promise<void>)[]): Promise<void> {
  let first: unknown;
  for (const cleanup of cleanups) {
    try {
      await cleanup();
    } catch (error) {
      first ??= error;
    }
  }
  if (first !== undefined) throw first;
}

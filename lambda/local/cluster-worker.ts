/**
 * One worker process of `ingest serve --workers N` (forked by cluster-primary.ts, which passes its settings in
 * INGEST_WORKER_CONFIG): the HTTP server on the shared port, the core handler, its own file sink (in-flight
 * folder `.inflight/@worker-<pid>`), a DynamoDB client to the primary's registry, and batch numbers from the
 * primary. It answers the primary's `flush`, `reload-signing-keys` and `drain`; it exits at once when the
 * primary is gone (what it acknowledged is fsynced; the next start recovers it).
 */
import cluster from "node:cluster";
import { type Clock, type Logger, systemClock } from "../core/ports.js";
import { type RateDecision, RateLimiter } from "../core/rate-limiter.js";
import { type IpcChannel, IpcPeer } from "./cluster-ipc.js";
import { JsonLinesLogger, type LogLevel } from "./logger.js";
import { type LocalRuntime, startLocalRuntime } from "./runtime.js";

/** What the primary passes to each worker (no secrets: the registry endpoint takes any credentials). */
export interface WorkerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly registryEndpoint: string;
  /** How many workers share the port (rate limits are divided by it). */
  readonly workers: number;
  readonly logLevel: LogLevel;
  readonly accessLog: boolean;
}

export const WORKER_CONFIG_ENV = "INGEST_WORKER_CONFIG";

/**
 * A stream's rate limit split evenly between N workers: each admits `perSecond / N` with a burst of
 * `burst / N`. Exact when requests spread evenly (the primary hands out connections round-robin); a single
 * keep-alive connection is served by one worker and so sees 1/N of the stream's limit.
 */
export class WorkerShareRateLimiter extends RateLimiter {
  constructor(
    clock: Clock,
    private readonly workers: number,
  ) {
    super(clock);
  }

  override take(streamId: string, perSecond: number, burst: number): RateDecision {
    return super.take(streamId, perSecond / this.workers, burst / this.workers);
  }
}

/** Adds `worker: <pid>` to every line. */
class WorkerLogger implements Logger {
  constructor(private readonly inner: Logger) {}
  info(message: string, fields?: Record<string, unknown>): void {
    this.inner.info(message, { ...fields, worker: process.pid });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.inner.warn(message, { ...fields, worker: process.pid });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.inner.error(message, { ...fields, worker: process.pid });
  }
}

async function runWorker(config: WorkerConfig): Promise<void> {
  const logger = new WorkerLogger(new JsonLinesLogger(config.logLevel));
  let runtime: LocalRuntime | undefined;
  let draining: Promise<void> | undefined;
  const drain = (reason: string) => {
    draining ??= (async () => {
      logger.info("worker draining: finishing requests and sealing batches", { reason });
      try {
        await runtime?.close();
        process.exit(0);
      } catch (error) {
        logger.error("worker drain failed; the primary recovers its in-flight batches", {
          errorName: error instanceof Error ? error.name : typeof error,
          errorCode: (error as NodeJS.ErrnoException).code,
        });
        process.exit(1);
      }
    })();
    return draining;
  };
  const primary = new IpcPeer(process as unknown as IpcChannel, {
    flush: async () => ({ sealed: runtime === undefined ? [] : await runtime.flush() }),
    "reload-signing-keys": async () => (runtime === undefined ? { kids: [] } : runtime.reloadSigningKeys()),
    drain: async () => {
      void drain("asked by the primary");
      return {};
    },
  });
  let leaving = false;
  // node:cluster's own listener ends the process (exit code 0) right after this one.
  process.prependListener("disconnect", () => {
    primary.close("the primary process is gone");
    if (leaving) return;
    // No registry and no batch numbers without the primary; everything acknowledged is already fsynced.
    logger.error("primary process is gone: worker exits; the next start recovers its in-flight batches");
    process.exit(1);
  });
  // Ctrl-C reaches the whole process group: drain like the primary asks to (it will, too).
  process.on("SIGINT", () => void drain("SIGINT"));
  process.on("SIGTERM", () => void drain("SIGTERM"));

  try {
    runtime = await startLocalRuntime({
      dataDir: config.dataDir,
      host: config.host,
      port: config.port,
      registryPort: 0,
      logger,
      accessLog: config.accessLog,
      worker: {
        registryEndpoint: config.registryEndpoint,
        rateLimiter: new WorkerShareRateLimiter(systemClock, config.workers),
        sink: {
          id: String(process.pid),
          reserveSequence: async (stream) => {
            const seq = await primary.call("reserve-sequence", { id: stream.id, tenant: stream.tenant });
            if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
              throw new Error("the primary answered no batch number");
            }
            return seq;
          },
        },
      },
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { port?: number };
    logger.error("worker failed to start", {
      errorName: e instanceof Error ? e.name : typeof e,
      code: e.code,
    });
    leaving = true;
    primary.event(
      "failed",
      {
        code: e.code,
        port: e.port,
        name: e instanceof Error ? e.name : typeof e,
        message: e instanceof Error ? e.message : String(e),
      },
      () => process.exit(1),
    );
    return;
  }
  if (draining !== undefined) return;
  primary.event("ready", { url: runtime.url });
}

if (require.main === module && cluster.isWorker) {
  const raw = process.env[WORKER_CONFIG_ENV];
  if (raw === undefined) {
    process.stderr.write(`error: ${WORKER_CONFIG_ENV} is not set; workers are started by \`ingest serve\`\n`);
    process.exit(2);
  }
  void runWorker(JSON.parse(raw) as WorkerConfig);
}

/**
 * The primary process of `ingest serve --workers N` (N ≥ 2). It owns what must stay one: the embedded registry
 * (dynalite on its port, one LevelDB), the control endpoint and run-state file, crash recovery, and the
 * per-stream batch numbers. It forks N workers (cluster-worker.ts) that share the API port (node:cluster hands
 * out connections round-robin) and each run the HTTP server, the handler and a file sink of their own.
 *
 * - Start: recover every in-flight folder (the single-process one and every worker folder, whatever N the
 *   last run had), then fork; ready once every worker listens.
 * - A worker dies: recover its folder (everything it acknowledged was fsynced, so it is sealed) and start a
 *   replacement, backing off; 5 unexpected exits within 30 s and it gives up (`failed` resolves).
 * - `flush` / `reload-signing-keys` on the control endpoint reach every worker; the answers are merged.
 * - close(): every worker drains (finishes requests, seals everything) and exits, then the registry closes.
 */
import cluster, { type Worker } from "node:cluster";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { LOCAL_REGISTRY_TABLES } from "../adapters/dynamo-registry.js";
import { FileSink } from "../adapters/file-sink.js";
import { loadOrCreateSigningKeys } from "../adapters/local-signer.js";
import { RegistryAdmin } from "../adapters/registry-admin.js";
import { errorCode } from "../adapters/sink-fs.js";
import { workerInflightDirName } from "../adapters/worker-inflight.js";
import { type Clock, type Logger, systemClock } from "../core/ports.js";
import {
  inflightRootOf,
  processRuns,
  recoverWorkerFolder,
  removeEmptyWorkerFolders,
  SharedSequences,
  waitForWorkerFolderOwners,
  workerFolderPids,
} from "./cluster-inflight.js";
import { type EventMessage, type IpcChannel, IpcPeer } from "./cluster-ipc.js";
import { WORKER_CONFIG_ENV, type WorkerConfig } from "./cluster-worker.js";
import { startControlServer } from "./control-server.js";
import { type DataDirLayout, dataDirLayout } from "./data-dir.js";
import { loadOrCreateDeployment } from "./deployment.js";
import { startEmbeddedRegistry } from "./embedded-registry.js";
import type { LogLevel } from "./logger.js";
import { refuseIfServed, removeRunState, writeRunState } from "./run-state.js";

/** Most workers `--workers` accepts. */
export const MAX_WORKERS = 64;

export interface ClusterOptions {
  readonly dataDir: string;
  readonly host: string;
  /** 0 picks a free port (shared by all workers). */
  readonly port: number;
  readonly registryPort: number;
  /** 2 or more. */
  readonly workers: number;
  readonly logger: Logger;
  /** The workers' log level (they log on the same stderr). */
  readonly logLevel: LogLevel;
  readonly accessLog: boolean;
  /** @default the system clock */
  readonly clock?: Clock;
  /** Unexpected worker exits tolerated: `count` within `windowMs` and the cluster gives up. @default 5 in 30 s */
  readonly crashLimit?: { readonly count: number; readonly windowMs: number };
  /** How long close() waits for workers to drain before killing them. @default 30 s */
  readonly drainTimeoutMs?: number;
}

export interface RunningCluster {
  readonly url: string;
  readonly registryEndpoint: string;
  readonly layout: DataDirLayout;
  readonly admin: RegistryAdmin;
  /** Pids of the workers running now. */
  workerPids(): number[];
  /** Resolves (after shutting everything down) if the cluster gave up because workers kept crashing. */
  readonly failed: Promise<Error>;
  /** Every worker drains and exits; then the control endpoint, run state and registry are closed. */
  close(): Promise<void>;
}

interface Slot {
  readonly worker: Worker;
  readonly pid: number;
  readonly peer: IpcPeer;
  ready: boolean;
  readonly started: Promise<string>;
  readonly exited: Promise<number>;
}

/** A worker's start failure as the error it was (so `serve` can explain EADDRINUSE and the like). */
class WorkerStartError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly port?: number,
  ) {
    super(message);
    this.name = "WorkerStartError";
  }
}

export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const crashLimit = options.crashLimit ?? { count: 5, windowMs: 30_000 };
  if (!Number.isInteger(options.workers) || options.workers < 2 || options.workers > MAX_WORKERS) {
    throw new RangeError(`a cluster has 2-${MAX_WORKERS} workers; got ${options.workers}`);
  }
  const layout = dataDirLayout(options.dataDir);
  await mkdir(layout.root, { recursive: true, mode: 0o700 });
  // Created once here, so workers only read them.
  await loadOrCreateDeployment(layout.deployment);
  let keys = await loadOrCreateSigningKeys(layout.keys);
  await refuseIfServed(layout.runState);
  const store = await startEmbeddedRegistry(
    layout.registry,
    LOCAL_REGISTRY_TABLES,
    "127.0.0.1",
    options.registryPort,
  );

  const slots = new Map<number, Slot>();
  const recoveries = new Set<Promise<void>>();
  const crashes: number[] = [];
  let stopping = false;
  let running = false;
  const restartTimers = new Set<NodeJS.Timeout>();
  let giveUp: (error: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => {
    giveUp = resolve;
  });
  let control: Awaited<ReturnType<typeof startControlServer>> | undefined;

  const sequences = new SharedSequences(layout.objects, logger);
  const config: WorkerConfig = {
    dataDir: layout.root,
    host: options.host,
    port: options.port,
    registryEndpoint: store.endpoint,
    workers: options.workers,
    logLevel: options.logLevel,
    accessLog: options.accessLog,
  };

  const fork = (): Slot => {
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
    const pid = worker.process.pid ?? 0;
    // A send to a worker that just exited fails with an 'error' event; its 'exit' is handled below.
    worker.on("error", (error: NodeJS.ErrnoException) =>
      logger.warn("worker channel error", { pid, code: error.code }),
    );
    let onStarted: (url: string) => void = () => undefined;
    let onStartFailed: (error: Error) => void = () => undefined;
    const started = new Promise<string>((resolve, reject) => {
      onStarted = resolve;
      onStartFailed = reject;
    });
    started.catch(() => undefined);
    const onEvent = (event: EventMessage) => {
      if (event.name === "ready") {
        slot.ready = true;
        onStarted(String(event.data?.url ?? ""));
      } else if (event.name === "failed") {
        const data = event.data ?? {};
        if (running) {
          logger.error("a replacement worker failed to start", {
            pid,
            code: data.code,
            errorName: data.name,
            message: data.message,
          });
        }
        onStartFailed(
          new WorkerStartError(
            String(data.message ?? "the worker failed to start"),
            typeof data.code === "string" ? data.code : undefined,
            typeof data.port === "number" ? data.port : undefined,
          ),
        );
      }
    };
    const peer = new IpcPeer(
      worker as unknown as IpcChannel,
      {
        "reserve-sequence": (arg) => sequences.reserve(arg as { id: string; tenant: string }),
      },
      onEvent,
    );
    const exited = new Promise<number>((resolve) => {
      worker.once("exit", (code, signal) => {
        peer.close(`worker ${pid} exited`);
        slots.delete(worker.id);
        onStartFailed(new WorkerStartError(`worker ${pid} exited (${signal ?? code}) before listening`));
        resolve(code ?? 1);
        onExit(slot, code, signal);
      });
    });
    const slot: Slot = { worker, pid, peer, ready: false, started, exited };
    slots.set(worker.id, slot);
    return slot;
  };

  const recover = (pid: number) => {
    const recovery = recoverWorkerFolder(layout.objects, pid, clock, logger).then(
      (report) => logger.info("recovered the in-flight batches of an exited worker", { pid, ...report }),
      (error: unknown) =>
        logger.error("could not recover an exited worker's in-flight batches; the next start retries", {
          pid,
          code: errorCode(error),
        }),
    );
    recoveries.add(recovery);
    void recovery.finally(() => recoveries.delete(recovery));
    return recovery;
  };

  const onExit = (slot: Slot, code: number | null, signal: string | null) => {
    if (stopping || !running) return; // close() and start-up deal with these
    // A clean exit of a worker that served (someone sent it SIGTERM) is replaced but is no crash.
    const clean = code === 0 && slot.ready;
    const now = clock.now();
    if (!clean) crashes.push(now);
    while (crashes.length > 0 && (crashes[0] ?? 0) <= now - crashLimit.windowMs) crashes.shift();
    (clean ? logger.warn : logger.error).call(
      logger,
      "worker exited; recovering its in-flight batches and starting a replacement",
      { pid: slot.pid, code, signal },
    );
    void recover(slot.pid);
    if (crashes.length >= crashLimit.count) {
      logger.error("workers keep crashing; giving up", {
        crashes: crashes.length,
        windowSeconds: crashLimit.windowMs / 1000,
      });
      void close().then(
        () => giveUp(new Error(`workers crashed ${crashes.length} times within ${crashLimit.windowMs} ms`)),
        (error: unknown) => giveUp(error instanceof Error ? error : new Error(String(error))),
      );
      return;
    }
    // Back off once crashes repeat: 0, 0.2, 0.4, 0.8 … s, at most 5 s.
    const delay = crashes.length <= 1 ? 0 : Math.min(5_000, 100 * 2 ** (crashes.length - 1));
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      if (stopping) return;
      const replacement = fork();
      logger.info("worker forked", { pid: replacement.pid, replacing: slot.pid });
      replacement.started.then(
        (workerUrl) => {
          logger.info("worker ready", { pid: replacement.pid, replaced: slot.pid });
          if (workerUrl !== url) {
            logger.warn("every worker had exited: the replacement listens on another port", {
              url: workerUrl,
            });
          }
        },
        () => undefined, // its exit is counted by onExit
      );
    }, delay);
    restartTimers.add(timer);
  };

  const close = async () => {
    if (stopping) return closing;
    stopping = true;
    closing = (async () => {
      for (const timer of restartTimers) clearTimeout(timer);
      const leaving = [...slots.values()];
      for (const slot of leaving) slot.peer.call("drain").catch(() => undefined);
      const drainTimeout = options.drainTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), drainTimeout);
      });
      const all = Promise.all(leaving.map((slot) => slot.exited));
      if ((await Promise.race([all, timedOut])) === "timeout") {
        logger.error("workers did not drain in time; killing them (their batches are recovered now)", {
          pids: [...slots.values()].map((s) => s.pid),
        });
        for (const slot of slots.values()) slot.worker.process.kill("SIGKILL");
        await all;
      }
      clearTimeout(timer);
      await Promise.all([...recoveries]);
      // A worker that could not seal everything (or was killed) left files: recover them as a start would.
      for (const pid of await workerFolderPids(layout.objects)) {
        if (processRuns(pid)) continue;
        if (await holdsFiles(join(inflightRootOf(layout.objects), workerInflightDirName(String(pid))))) {
          await recover(pid);
        } else {
          await removeEmptyWorkerFolders(layout.objects, pid);
        }
      }
      await control?.close();
      await removeRunState(layout.runState);
      await store.close();
    })();
    return closing;
  };
  let closing: Promise<void> = Promise.resolve();
  let url = "";

  try {
    // Exactly what a single process does at start, over every in-flight folder of any earlier run.
    await waitForWorkerFolderOwners(layout.objects, logger);
    const recovery = new FileSink({ root: layout.objects, clock, logger });
    await recovery.recover();
    await recovery.close();
    await removeEmptyWorkerFolders(layout.objects);

    cluster.setupPrimary({ exec: join(__dirname, "cluster-worker.js"), args: [] });
    const first = Array.from({ length: options.workers }, fork);
    const urls = await Promise.all(first.map((slot) => slot.started));
    url = urls[0] ?? "";
    // Replacements listen with the same port argument: node:cluster gives them the port already shared
    // under it (with --port 0 too, as long as one worker still listens).
    for (const slot of first) logger.info("worker ready", { pid: slot.pid });

    control = await startControlServer(
      {
        flush: async () => {
          const results = await Promise.allSettled(
            [...slots.values()].filter((s) => s.ready).map((s) => s.peer.call("flush")),
          );
          await Promise.all([...recoveries]);
          const sealed: string[] = [];
          for (const result of results) {
            // A worker that died meanwhile is recovered (its batches sealed) by the recoveries awaited above.
            if (result.status === "fulfilled") sealed.push(...(result.value as { sealed: string[] }).sealed);
            else if (!/exited|gone/.test(String(result.reason))) throw result.reason;
          }
          return { sealed };
        },
        reloadSigningKeys: async () => {
          keys = await loadOrCreateSigningKeys(layout.keys);
          await Promise.all(
            [...slots.values()].filter((s) => s.ready).map((s) => s.peer.call("reload-signing-keys")),
          );
          logger.info("signing keys reloaded in every worker", { kids: keys.kids });
          return { kids: [...keys.kids] };
        },
      },
      logger,
    );
    await writeRunState(layout.runState, {
      pid: process.pid,
      apiUrl: url,
      registryEndpoint: store.endpoint,
      controlUrl: control.url,
      controlSecret: control.secret,
    });
    running = true;
    return {
      url,
      registryEndpoint: store.endpoint,
      layout,
      admin: new RegistryAdmin(store.client, LOCAL_REGISTRY_TABLES),
      workerPids: () => [...slots.values()].map((s) => s.pid),
      failed,
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

/** Whether a folder tree holds any file. */
async function holdsFiles(dir: string): Promise<boolean> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || (await holdsFiles(join(dir, entry.name)))) return true;
  }
  return false;
}

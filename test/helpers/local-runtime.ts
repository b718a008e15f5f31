/**
 * Starts the real local runtime in this process for integration tests: a fresh data directory, free ports,
 * the real embedded registry, real files and real tokens; sealing on demand (a fake clock drives the age).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import type { Clock, Logger } from "../../lambda/core/ports.js";
import { newStreamRecord } from "../../lambda/core/stream-settings.js";
import type { ApiKeyRecord, StreamRecord } from "../../lambda/core/types.js";
import {
  type LocalRuntime,
  type LocalRuntimeOptions,
  startLocalRuntime,
} from "../../lambda/local/runtime.js";
import { captureLogLine } from "./log-capture.js";

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  // Starts at the real time (whole second) so tokens issued by the real clock are valid against it.
  constructor(private time = Math.floor(Date.now() / 1000) * 1000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** Collects log lines so tests can assert on them (e.g. that no token or record content was logged). */
export class CollectingLogger implements Logger {
  readonly lines: string[] = [];
  info(message: string, fields?: Record<string, unknown>): void {
    this.push(JSON.stringify({ level: "info", message, ...fields }));
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.push(JSON.stringify({ level: "warn", message, ...fields }));
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.push(JSON.stringify({ level: "error", message, ...fields }));
  }
  private push(line: string): void {
    this.lines.push(line);
    captureLogLine("local-runtime logger", line);
  }
}

export interface TestRuntime {
  readonly runtime: LocalRuntime;
  readonly dir: string;
  readonly clock: ManualClock;
  readonly logger: CollectingLogger;
  createStream(overrides?: Partial<StreamRecord>): Promise<StreamRecord>;
  createKey(tenant?: string): Promise<ApiKeyRecord>;
  tokenFor(key: ApiKeyRecord, days?: number): Promise<string>;
  /** Stream + key + token for tenant `acme`, ready to post. */
  ready(
    overrides?: Partial<StreamRecord>,
  ): Promise<{ stream: StreamRecord; key: ApiKeyRecord; token: string }>;
  dataUrl(streamId: string): string;
  stop(): Promise<void>;
}

let counter = 0;

export async function startTestRuntime(
  options: {
    registryCacheTtlMs?: number;
    accessLog?: boolean;
    /** Server timeouts, passed through to startLocalRuntime (small values for timeout tests). */
    requestTimeoutMs?: number;
    headersTimeoutMs?: number;
    keepAliveTimeoutMs?: number;
    /** Fault injection and bounds, passed through to startLocalRuntime (test/integration/faults.test.ts). */
    faults?: Pick<
      LocalRuntimeOptions,
      "sinkFs" | "sinkMaxPendingBytes" | "deliveryTimeoutMs" | "registryReadClient"
    >;
  } = {},
): Promise<TestRuntime> {
  const dir = mkdtempSync(join(tmpdir(), "ingest-it-"));
  const clock = new ManualClock();
  const logger = new CollectingLogger();
  const runtime = await startLocalRuntime({
    dataDir: dir,
    host: "127.0.0.1",
    port: 0,
    registryPort: 0,
    logger,
    clock,
    sealTimer: false,
    registryCacheTtlMs: options.registryCacheTtlMs ?? 2000,
    accessLog: options.accessLog ?? false,
    requestTimeoutMs: options.requestTimeoutMs,
    headersTimeoutMs: options.headersTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs,
    ...options.faults,
  });
  const createdAt = new Date(clock.now()).toISOString();
  const t: TestRuntime = {
    runtime,
    dir,
    clock,
    logger,
    async createStream(overrides = {}) {
      counter++;
      const stream: StreamRecord = {
        ...newStreamRecord({
          id: `is-Test${String(counter).padStart(4, "0")}`,
          tenant: "acme",
          name: `test stream ${counter}`,
          payload: "json",
          now: createdAt,
        }),
        ...overrides,
      };
      await runtime.admin.createStream(stream);
      return stream;
    },
    async createKey(tenant = "acme") {
      counter++;
      const key: ApiKeyRecord = {
        id: `ik-testkey${counter}`,
        tenant,
        name: "test",
        status: "active",
        createdAt,
      };
      await runtime.admin.createApiKey(key);
      return key;
    },
    async tokenFor(key, days = 1) {
      const issued = await issueAccessToken({
        ...runtime.deployment,
        signer: runtime.keys.signer,
        key,
        days,
        // aws-jwt-verify checks nbf on the system clock and the runtime on its manual one: satisfy both.
        clock: { now: () => Math.min(Date.now(), clock.now()) },
      });
      return issued.token;
    },
    async ready(overrides = {}) {
      const stream = await t.createStream(overrides);
      const key = await t.createKey(stream.tenant);
      return { stream, key, token: await t.tokenFor(key) };
    },
    dataUrl: (streamId) => `${runtime.url}/stream/v0/data/${streamId}`,
    async stop() {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

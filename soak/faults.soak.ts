/**
 * `npm run soak -- faults`: the real local runtime (in this process, real HTTP on loopback, real files, the
 * real embedded registry) under concurrent keep-alive load while a fault is switched on and off again: disk
 * write/fdatasync errors, a full disk, batch files that cannot be created, a disk slower than the delivery
 * timeout, back-pressure, and a registry that is down or hangs. Per fault: no 202 for a request the fault
 * affected, Retry-After on every 503, 202s again after the fault clears (no restart), and every 202'd record
 * sealed exactly once.
 */
import { join } from "node:path";
import { createUnthrottledTenant } from "../bench/support/unthrottled-tenant.js";
import type { Logger } from "../lambda/core/ports.js";
import { registryClient } from "../lambda/local/embedded-registry.js";
import { type LocalRuntimeOptions, startLocalRuntime } from "../lambda/local/runtime.js";
import type { Soak, SoakRow } from "./harness.js";
import { readSealed } from "./support/crash-loop.js";
import { FaultySinkFs } from "./support/faulty-sink-fs.js";
import { type LoadResult, runLoad } from "./support/load.js";
import { startTcpProxy, type TcpProxy } from "./support/tcp-proxy.js";

interface Faults {
  readonly fs: FaultySinkFs;
  readonly proxy: TcpProxy;
}

interface Scenario {
  readonly name: string;
  /** What the affected requests may be answered with, and the error codes that must show up among them. */
  readonly allowed: readonly number[];
  readonly codes: readonly string[];
  /** Requests sent this long after the fault began count as affected (the registry cache serves meanwhile). */
  readonly graceMs?: number;
  /**
   * A slow fault (a hang, a slow disk) also affects requests answered after it cleared: those sent at least
   * this long before it cleared. Instant faults only count requests answered while they lasted.
   */
  readonly slowMs?: number;
  readonly padBytes?: number;
  readonly runtime?: Partial<Pick<LocalRuntimeOptions, "sinkMaxPendingBytes" | "deliveryTimeoutMs">>;
  inject(faults: Faults, flush: () => Promise<unknown>): Promise<void> | void;
}

const REGISTRY_TTL_MS = 250;

const SCENARIOS: readonly Scenario[] = [
  {
    name: "write EIO (torn half-writes)",
    allowed: [503],
    codes: ["sink_unavailable"],
    inject: ({ fs }) => {
      fs.writeFault = "EIO";
    },
  },
  {
    name: "fdatasync EIO",
    allowed: [503],
    codes: ["sink_unavailable"],
    inject: ({ fs }) => {
      fs.datasyncFault = "EIO";
    },
  },
  {
    name: "disk full: ENOSPC on write",
    allowed: [503],
    codes: ["sink_unavailable"],
    inject: ({ fs }) => {
      fs.writeFault = "ENOSPC";
    },
  },
  {
    name: "disk full: ENOSPC on fdatasync",
    allowed: [503],
    codes: ["sink_unavailable"],
    inject: ({ fs }) => {
      fs.datasyncFault = "ENOSPC";
    },
  },
  {
    name: "batch file cannot be created (EIO)",
    allowed: [503],
    codes: ["sink_unavailable"],
    inject: async ({ fs }, flush) => {
      fs.openFault = "EIO";
      await flush(); // seal the open batch, so the next record needs a new file
    },
  },
  {
    name: "slow disk: fdatasync 1.5 s > 1 s delivery timeout",
    allowed: [504],
    codes: ["timeout"],
    runtime: { deliveryTimeoutMs: 1000 },
    slowMs: 1000,
    inject: ({ fs }) => {
      fs.datasyncDelayMs = 1500;
    },
  },
  {
    name: "back-pressure: slow disk, 32 KiB pending bound",
    allowed: [202, 503],
    codes: ["sink_busy"],
    padBytes: 8000,
    runtime: { sinkMaxPendingBytes: 32 * 1024 },
    inject: ({ fs }) => {
      fs.datasyncDelayMs = 200;
    },
  },
  {
    name: "registry down (connections reset)",
    allowed: [503],
    codes: ["registry_unavailable"],
    graceMs: REGISTRY_TTL_MS + 100,
    inject: ({ proxy }) => {
      proxy.mode = "refuse";
    },
  },
  {
    name: "registry hangs (300 ms read timeout)",
    allowed: [503],
    codes: ["registry_unavailable"],
    graceMs: REGISTRY_TTL_MS + 100,
    slowMs: 1000,
    inject: ({ proxy }) => {
      proxy.mode = "stall";
    },
  },
];

const quietLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function runScenario(
  scenario: Scenario,
  dataDir: string,
  timing: { healthyMs: number; faultMs: number; clients: number },
): Promise<SoakRow> {
  // Every write fault leaves half the bytes behind first: the harder case for the sink.
  const fs = new FaultySinkFs({ tornWrites: true });
  const proxy = await startTcpProxy();
  const runtime = await startLocalRuntime({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    registryPort: 0,
    logger: quietLogger,
    registryCacheTtlMs: REGISTRY_TTL_MS,
    sinkFs: fs,
    registryReadClient: (endpoint) => {
      const { hostname, port } = new URL(endpoint);
      proxy.target = { host: hostname, port: Number(port) };
      return registryClient(proxy.url, { requestTimeoutMs: 300, connectionTimeoutMs: 200 });
    },
    ...scenario.runtime,
  });
  try {
    const streamId = "is-FaultS0k";
    const { token } = await createUnthrottledTenant(runtime, "soak", "ik-faultsoak00000000", [
      { id: streamId, name: "faults", payload: "json" },
    ]);
    const faults: Faults = { fs, proxy };
    let faultOn = 0;
    let faultOff = 0;
    const load = await runLoad({
      url: `${runtime.url}/stream/v0/data/${streamId}`,
      token,
      tenant: "soak",
      clients: timing.clients,
      padBytes: scenario.padBytes ?? 100,
      script: async (wait) => {
        await wait(timing.healthyMs);
        faultOn = performance.now();
        await scenario.inject(faults, () => runtime.flush());
        await wait(timing.faultMs);
        fs.clear();
        proxy.mode = "pass";
        faultOff = performance.now();
        // After a slow fault, requests still stuck in it finish first: give the service time to show 202s.
        await wait(Math.max(timing.healthyMs, 500) + (scenario.slowMs ?? 0));
      },
    });
    await runtime.flush();
    return judge(
      scenario,
      load,
      faultOn,
      faultOff,
      readSealed(join(dataDir, "objects", "streams"), load.sent),
    );
  } finally {
    await runtime.close().catch(() => undefined);
    await proxy.close();
  }
}

function judge(
  scenario: Scenario,
  load: LoadResult,
  faultOn: number,
  faultOff: number,
  sealed: ReturnType<typeof readSealed>,
): SoakRow {
  const slowMs = scenario.slowMs;
  const affected = load.requests.filter(
    (r) =>
      r.sentAt >= faultOn + (scenario.graceMs ?? 0) &&
      (r.answeredAt <= faultOff || (slowMs !== undefined && r.sentAt <= faultOff - slowMs)),
  );
  const statusCounts = new Map<string, number>();
  for (const r of affected) {
    const key = r.code === undefined ? String(r.status) : `${r.status} ${r.code}`;
    statusCounts.set(key, (statusCounts.get(key) ?? 0) + 1);
  }
  const disallowed = affected.filter((r) => !scenario.allowed.includes(r.status));
  const missingRetryAfter = load.requests.filter(
    (r) => (r.status === 503 || r.status === 429) && r.retryAfter === undefined,
  );
  const codesSeen = scenario.codes.filter((code) => affected.some((r) => r.code === code));
  const unexpected = load.requests.filter((r) => ![202, 503, 504].includes(r.status));
  const firstAfter = load.requests
    .filter((r) => r.status === 202 && r.sentAt >= faultOff)
    .reduce((min, r) => Math.min(min, r.answeredAt - faultOff), Number.POSITIVE_INFINITY);
  const accepted = load.requests.filter((r) => r.status === 202).map((r) => r.id);
  const lost = accepted.filter((id) => !sealed.counts.has(id));
  const doubled = [...sealed.counts.values()].filter((count) => count > 1).length;
  const torn = sealed.torn.length + sealed.invalid.length;
  const answers = [...statusCounts].map(([key, count]) => `${count}×${key}`).join(", ") || "none";
  const ok =
    affected.length > 0 &&
    disallowed.length === 0 &&
    codesSeen.length === scenario.codes.length &&
    missingRetryAfter.length === 0 &&
    unexpected.length === 0 &&
    Number.isFinite(firstAfter) &&
    lost.length === 0 &&
    doubled === 0 &&
    torn === 0;
  return {
    scenario: scenario.name,
    volume: `${load.requests.length} requests, ${affected.length} during the fault`,
    result:
      `during: ${answers}; ${missingRetryAfter.length} 503 without Retry-After; ` +
      `202 again ${Number.isFinite(firstAfter) ? `${Math.round(firstAfter)} ms` : "never"} after clearing; ` +
      `${accepted.length} 202'd: ${lost.length} lost, ${doubled} doubled, ${torn} torn`,
    ok,
  };
}

export const soak: Soak = {
  name: "faults",
  title: "disk and registry faults under load: 503 + Retry-After (never 202), self-healing, nothing lost",
  async run(context) {
    const timing = context.quick
      ? { healthyMs: 200, faultMs: 1400, clients: 8 }
      : { healthyMs: 1000, faultMs: 2500, clients: 16 };
    const rows: SoakRow[] = [];
    // SOAK_FAULTS=<text> runs only the scenarios whose name contains it (to repeat one while debugging).
    const only = process.env.SOAK_FAULTS;
    for (const [index, scenario] of SCENARIOS.entries()) {
      if (only !== undefined && !scenario.name.includes(only)) continue;
      const row = await runScenario(scenario, join(context.tmpDir, `s${index}`), timing);
      context.log(`${row.ok ? "ok  " : "FAIL"} ${row.scenario}: ${row.result}`);
      rows.push(row);
    }
    return { rows };
  },
};

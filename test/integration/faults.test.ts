/**
 * Faults end to end over HTTP, on the real local runtime: a failing, full or slow disk under the file sink, and
 * a registry that is down or hangs. The affected requests get 503 with Retry-After (504 when the disk is slower
 * than the delivery timeout), never 202; once the fault clears the same runtime answers 202 again without a
 * restart, and every record 202'd before, during and after the fault is in the sealed files exactly once.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { StreamRecord } from "../../lambda/core/types.js";
import { registryClient } from "../../lambda/local/embedded-registry.js";
import { startTcpProxy, type TcpProxy } from "../../soak/support/tcp-proxy.js";
import { filesUnder } from "../helpers/files.js";
import { type HttpResult, send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";
import { FaultyFs, gate } from "../unit/file-sink-fixtures.js";

interface Poster {
  readonly t: TestRuntime;
  readonly token: string;
  /** Ids answered 202, in order. */
  readonly accepted: string[];
  /** Ids answered anything else (they may be stored at most once). */
  readonly refused: string[];
  post(stream: StreamRecord, id: string, padBytes?: number): Promise<HttpResult>;
}

function poster(t: TestRuntime, token: string): Poster {
  const accepted: string[] = [];
  const refused: string[] = [];
  return {
    t,
    token,
    accepted,
    refused,
    async post(stream, id, padBytes = 20) {
      const result = await send(t.dataUrl(stream.id), {
        headers: {
          authorization: `Bearer ${token}`,
          "x-amperity-tenant": stream.tenant,
          "content-type": "application/json",
        },
        body: JSON.stringify({ id, pad: "p".repeat(padBytes) }),
      });
      (result.status === 202 ? accepted : refused).push(id);
      return result;
    },
  };
}

/** Every record id in the runtime's sealed files; fails on a torn line or an unexpected file. */
function sealedIds(t: TestRuntime): string[] {
  const root = join(t.dir, "objects", "streams");
  return filesUnder(root).flatMap((file) => {
    const raw = readFileSync(join(root, file));
    const text = (file.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
    if (!/\.ndjson(\.gz)?$/.test(file)) throw new Error(`unexpected sealed file ${file}`);
    if (!text.endsWith("\n")) throw new Error(`${file} does not end with a whole record`);
    return text
      .slice(0, -1)
      .split("\n")
      .map((line) => (JSON.parse(line) as { id: string }).id);
  });
}

/** Seals everything, then checks: every 202'd id exactly once; refused ids at most once; nothing else. */
async function expectAcceptedIntact(p: Poster): Promise<string[]> {
  await p.t.runtime.flush();
  const ids = sealedIds(p.t);
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  expect(p.accepted.filter((id) => counts.get(id) !== 1)).toEqual([]);
  expect(p.refused.filter((id) => (counts.get(id) ?? 0) > 1)).toEqual([]);
  const known = new Set([...p.accepted, ...p.refused]);
  expect(ids.filter((id) => !known.has(id))).toEqual([]);
  return ids;
}

function expect503(result: HttpResult, code: string): void {
  expect(result.status).toBe(503);
  expect(result.json).toMatchObject({ error: { code, retryable: true } });
  expect(Number(result.headers["retry-after"])).toBeGreaterThanOrEqual(1);
}

describe("disk faults under the file sink, over HTTP", () => {
  let t: TestRuntime | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it.each([
    ["EIO on write", { writeFault: "EIO" }],
    ["EIO on write after half the bytes (torn tail)", { writeFault: "EIO", tornWrites: true }],
    ["EIO on fdatasync", { datasyncFault: "EIO" }],
    ["ENOSPC (disk full) on write", { writeFault: "ENOSPC" }],
    ["ENOSPC on fdatasync", { datasyncFault: "ENOSPC" }],
    ["a batch file that cannot be created", { openFault: "EIO" }],
  ])(
    "%s: 503 + Retry-After while it lasts, 202 again once it clears, nothing 202'd lost",
    async (_, fault) => {
      const fs = new FaultyFs();
      t = await startTestRuntime({ faults: { sinkFs: fs } });
      const { stream, token } = await t.ready();
      const p = poster(t, token);
      for (let i = 0; i < 5; i++) expect((await p.post(stream, `before-${i}`)).status).toBe(202);

      // A batch file is only created for a new batch: seal the open one first so that fault is met.
      if ("openFault" in fault) await t.runtime.flush();
      Object.assign(fs, fault);
      const during = await Promise.all([0, 1, 2].map((i) => p.post(stream, `during-${i}`)));
      for (const result of during) expect503(result, "sink_unavailable");

      Object.assign(fs, {
        writeFault: undefined,
        tornWrites: false,
        datasyncFault: undefined,
        openFault: undefined,
      });
      const after = await Promise.all([0, 1, 2, 3].map((i) => p.post(stream, `after-${i}`)));
      expect(after.map((r) => r.status)).toEqual([202, 202, 202, 202]);

      const ids = await expectAcceptedIntact(p);
      expect(ids.filter((id) => id.startsWith("during-"))).toEqual([]); // refused writes were cut back
      expect(p.accepted).toHaveLength(9);
      // The fault reached the log as a code, without record content.
      expect(t.logger.lines.some((line) => line.includes("file sink: write failed"))).toBe(true);
      expect(t.logger.lines.some((line) => line.includes("during-"))).toBe(false);
    },
  );

  it("a disk slower than the delivery timeout: 504 (never 202), then 202 again once the disk catches up", async () => {
    const fs = new FaultyFs();
    t = await startTestRuntime({ faults: { sinkFs: fs, deliveryTimeoutMs: 300 } });
    const { stream, token } = await t.ready();
    const p = poster(t, token);
    expect((await p.post(stream, "before")).status).toBe(202);

    const slow = gate();
    fs.datasyncGate = slow.promise;
    const started = Date.now();
    const timedOut = await p.post(stream, "slow");
    expect(timedOut.status).toBe(504);
    expect(timedOut.json).toMatchObject({ error: { retryable: true } });
    expect(Date.now() - started).toBeLessThan(5000);

    slow.open();
    fs.datasyncGate = undefined;
    expect((await p.post(stream, "after")).status).toBe(202);
    const ids = await expectAcceptedIntact(p);
    expect(ids).toEqual(expect.arrayContaining(["before", "after"]));
  });

  it("back-pressure: past the pending-bytes bound 503 sink_busy + Retry-After; queued records still land", async () => {
    const fs = new FaultyFs();
    t = await startTestRuntime({ faults: { sinkFs: fs, sinkMaxPendingBytes: 4096 } });
    const { stream, token } = await t.ready();
    const p = poster(t, token);
    expect((await p.post(stream, "before")).status).toBe(202);

    const slow = gate();
    fs.datasyncGate = slow.promise;
    const syncing = new Promise<void>((resolve) => {
      fs.onDatasync = resolve;
    });
    const first = p.post(stream, "held", 960); // ~1,000 bytes: waits on the slow disk
    await syncing;
    fs.onDatasync = undefined;
    // Five more of ~1,000 bytes: three fit under 4,096 pending bytes and wait, two are refused at once.
    const statuses: number[] = [];
    const rest = [0, 1, 2, 3, 4].map((i) =>
      p.post(stream, `queued-${i}`, 960).then((result) => {
        statuses.push(result.status);
        if (result.status !== 202) expect503(result, "sink_busy");
        return result;
      }),
    );
    await pollUntil(() => statuses.length >= 2);
    expect(statuses).toEqual([503, 503]);

    slow.open();
    fs.datasyncGate = undefined;
    expect((await first).status).toBe(202);
    expect((await Promise.all(rest)).map((r) => r.status).sort()).toEqual([202, 202, 202, 503, 503]);
    expect((await p.post(stream, "after", 960)).status).toBe(202);
    await expectAcceptedIntact(p);
    expect(p.accepted).toHaveLength(6);
  });
});

describe("registry faults, over HTTP", () => {
  let t: TestRuntime | undefined;
  let proxy: TcpProxy | undefined;
  let clients: DynamoDBDocumentClient[] = [];
  afterEach(async () => {
    await t?.stop();
    await proxy?.close();
    for (const client of clients) client.destroy();
    t = undefined;
    proxy = undefined;
    clients = [];
  });

  /** A runtime whose request path reads the registry through a switchable proxy, with short SDK timeouts. */
  async function start(): Promise<{ t: TestRuntime; proxy: TcpProxy }> {
    const px = await startTcpProxy();
    proxy = px;
    t = await startTestRuntime({
      registryCacheTtlMs: 2000,
      faults: {
        registryReadClient: (endpoint) => {
          const { hostname, port } = new URL(endpoint);
          px.target = { host: hostname, port: Number(port) };
          // The runtime's own client settings, pointed at the proxy, with shorter bounds.
          const client = registryClient(px.url, { requestTimeoutMs: 300, connectionTimeoutMs: 200 });
          clients.push(client);
          return client;
        },
      },
    });
    return { t, proxy: px };
  }

  it("store down: cached entries keep serving, cold ones get 503 + Retry-After, all recover by themselves", async () => {
    const { t, proxy } = await start();
    const { stream: warm, token } = await t.ready();
    const cold = await t.createStream();
    const p = poster(t, token);
    expect((await p.post(warm, "warm-before")).status).toBe(202);

    proxy.mode = "refuse";
    expect((await p.post(warm, "warm-cached")).status).toBe(202); // key and stream are in the cache
    expect503(await p.post(cold, "cold-down"), "registry_unavailable");
    t.clock.advance(2001); // the cache expires: the key and the warm stream are cold too
    expect503(await p.post(warm, "warm-expired"), "registry_unavailable");
    expect(proxy.faulted).toBeGreaterThan(0);

    proxy.mode = "pass";
    expect((await p.post(warm, "warm-after")).status).toBe(202);
    expect((await p.post(cold, "cold-after")).status).toBe(202);
    await expectAcceptedIntact(p);
    expect(p.accepted).toEqual(["warm-before", "warm-cached", "warm-after", "cold-after"]);
  });

  it("store hangs past the read timeout: 503 + Retry-After in bounded time, then 202 once it answers", async () => {
    const { t, proxy } = await start();
    const { stream, token } = await t.ready();
    const p = poster(t, token);
    proxy.mode = "stall";
    const started = Date.now();
    expect503(await p.post(stream, "stalled"), "registry_unavailable");
    // 2 attempts × 300 ms request timeout plus back-off: far below the client's patience.
    expect(Date.now() - started).toBeLessThan(3000);

    proxy.mode = "pass";
    expect((await p.post(stream, "after")).status).toBe(202);
    await expectAcceptedIntact(p);
    expect(p.accepted).toEqual(["after"]);
  });
});

/** Waits (bounded) until `condition` holds, checking on every turn of the event loop. */
async function pollUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

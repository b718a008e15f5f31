/**
 * The crash loop: the real `ingest serve` process under concurrent keep-alive load, SIGKILLed again and again —
 * at random moments under load, while a batch is being sealed, and during start-up recovery — and restarted
 * each time. At the end a clean start, flush and SIGTERM; then every sealed file is read back and checked:
 * every 202'd record exactly once, no torn or invalid record, nothing left in-flight.
 *
 * Shared by the soak (`soak/crash-loop.soak.ts`, long) and the test (`test/integration/crash-loop.test.ts`,
 * short). It only talks to the server as a user would: the CLI, HTTP, signals and the files it leaves.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, type FSWatcher, readdirSync, readFileSync, statSync, watch } from "node:fs";
import { mkdir } from "node:fs/promises";
import { Agent, request } from "node:http";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { gunzipSync } from "node:zlib";
import { newApiKeyId, newStreamId } from "../../bin/cli/ids.js";
import { LOCAL_REGISTRY_TABLES } from "../../lambda/adapters/dynamo-registry.js";
import { loadOrCreateSigningKeys } from "../../lambda/adapters/local-signer.js";
import { RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { systemClock } from "../../lambda/core/ports.js";
import { newStreamRecord } from "../../lambda/core/stream-settings.js";
import type { ApiKeyRecord } from "../../lambda/core/types.js";
import { dataDirLayout } from "../../lambda/local/data-dir.js";
import { loadOrCreateDeployment } from "../../lambda/local/deployment.js";
import { startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";

export interface CrashLoopOptions {
  /** Path of the built CLI, `dist/bin/ingest.js`. */
  readonly cli: string;
  /** A fresh, empty data directory. */
  readonly dataDir: string;
  /** SIGKILLs at a random moment under load. */
  readonly loadKills: number;
  /** SIGKILLs as soon as a flush starts writing a compressed object (a seal in progress). */
  readonly sealKills: number;
  /** SIGKILLs as soon as start-up recovery touches the in-flight folder, before the server listens. */
  readonly recoveryKills: number;
  /** Concurrent keep-alive clients. */
  readonly workers: number;
  /** `ingest serve --workers N`: 1 runs all in one process; N ≥ 2 a primary and N workers (the primary is killed). */
  readonly serverProcesses: number;
  /** Load time before a kill is drawn from [min, max] ms. */
  readonly loadMs: readonly [number, number];
  readonly seed: number;
  log(line: string): void;
}

export type KillKind = "load" | "seal" | "recovery";

export interface KillReport {
  readonly round: number;
  readonly kind: KillKind;
  /** Whether the kill was sent right after the intended moment was seen (a seal's temp file, recovery's first change). */
  readonly observed: boolean;
  /** Whether it provably landed inside it (the seal's temp file, or recovery's work, left behind). */
  readonly hit: boolean;
  /** Requests answered 202 in this round. */
  readonly accepted: number;
}

export interface CrashLoopReport {
  readonly kills: readonly KillReport[];
  /** Records answered 202. */
  readonly accepted: number;
  /** Records answered with another status, by status. */
  readonly refusedByStatus: Readonly<Record<string, number>>;
  /** Requests that got no answer (the server died under them); such records may be stored at most once. */
  readonly unanswered: number;
  readonly sealedFiles: number;
  readonly sealedRecords: number;
  readonly sealedBytes: number;
  /** 202'd ids not found in any sealed file. */
  readonly missing: readonly string[];
  /** Ids found more than once. */
  readonly duplicated: readonly string[];
  /** Sealed lines that are not a whole record we sent (torn, invalid JSON, unknown id). */
  readonly invalidRecords: readonly string[];
  /** Sealed files that are not whole (no final newline, broken gzip, unexpected name). */
  readonly tornFiles: readonly string[];
  /** Batch or temp files left in-flight after the final clean shutdown. */
  readonly inflightLeft: readonly string[];
  /** Exit of the final clean SIGTERM (0 expected). */
  readonly cleanExit: number | string;
  /** Statuses other than 202 and 503 (nothing else is expected while the server is killed). */
  readonly unexpectedStatuses: number;
  readonly durationMs: number;
}

/** Whether the report shows no loss, no duplicate, no torn record and a clean final stop. */
export function crashLoopHealthy(report: CrashLoopReport): boolean {
  return (
    report.missing.length === 0 &&
    report.duplicated.length === 0 &&
    report.invalidRecords.length === 0 &&
    report.tornFiles.length === 0 &&
    report.inflightLeft.length === 0 &&
    report.cleanExit === 0 &&
    report.unexpectedStatuses === 0
  );
}

/** A small deterministic PRNG (LCG), so each run draws different but repeatable kill points. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 4_294_967_296;
  };
}

const TENANT = "soak";

interface Setup {
  readonly streams: readonly string[];
  readonly token: string;
}

interface Server {
  readonly child: ChildProcess;
  /** Resolves with the API URL once listening; rejects if the process ends first. */
  readonly listening: Promise<string>;
  readonly exited: Promise<number | string>;
  readonly stderrTail: string[];
}

interface Ledger {
  readonly accepted: Set<string>;
  readonly sent: Set<string>;
  readonly refusedByStatus: Record<string, number>;
  unanswered: number;
  unexpectedStatuses: number;
}

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopReport> {
  const started = Date.now();
  if (!existsSync(options.cli)) throw new Error(`${options.cli} is missing: run \`npm run build\` first`);
  const random = prng(options.seed);
  const setup = await createTenant(options);
  const ledger: Ledger = {
    accepted: new Set(),
    sent: new Set(),
    refusedByStatus: {},
    unanswered: 0,
    unexpectedStatuses: 0,
  };
  // Round 0 is always a load round (it creates the in-flight folders the other kinds watch); the rest shuffled.
  const kinds: KillKind[] = [
    ...Array<KillKind>(Math.max(0, options.loadKills - 1)).fill("load"),
    ...Array<KillKind>(options.sealKills).fill("seal"),
    ...Array<KillKind>(options.recoveryKills).fill("recovery"),
  ];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j] as KillKind, kinds[i] as KillKind];
  }
  if (options.loadKills > 0) kinds.unshift("load");

  const kills: KillReport[] = [];
  for (const [round, kind] of kinds.entries()) {
    const before = ledger.accepted.size;
    const { observed, hit } =
      kind === "recovery"
        ? await recoveryKillRound(options)
        : await loadKillRound(options, setup, ledger, round, kind, random);
    kills.push({ round, kind, observed, hit, accepted: ledger.accepted.size - before });
    const note = hit ? "" : observed ? " (sent mid-way; it finished first)" : " (moment not seen)";
    options.log(
      `round ${round + 1}/${kinds.length}: SIGKILL ${kind}${note}, ` +
        `${ledger.accepted.size - before} accepted this round, ${ledger.accepted.size} in all`,
    );
  }

  // The last start recovers the last crash; flush + SIGTERM seal everything.
  const last = startServer(options);
  const url = await last.listening;
  const tail = await postSome(url, setup, ledger, "final", 20);
  if (tail !== 20) throw new Error(`the final clean server accepted ${tail} of 20 records`);
  await flush(options.dataDir);
  last.child.kill("SIGTERM");
  const cleanExit = await last.exited;

  const sealed = readSealed(join(options.dataDir, "objects", "streams"), ledger.sent);
  const missing = [...ledger.accepted].filter((id) => !sealed.counts.has(id));
  const duplicated = [...sealed.counts].filter(([, count]) => count > 1).map(([id]) => id);
  return {
    kills,
    accepted: ledger.accepted.size,
    refusedByStatus: ledger.refusedByStatus,
    unanswered: ledger.unanswered,
    sealedFiles: sealed.files,
    sealedRecords: sealed.records,
    sealedBytes: sealed.bytes,
    missing,
    duplicated,
    invalidRecords: sealed.invalid,
    tornFiles: sealed.torn,
    inflightLeft: inflightBatchFiles(options.dataDir),
    cleanExit,
    unexpectedStatuses: ledger.unexpectedStatuses,
    durationMs: Date.now() - started,
  };
}

/**
 * Two JSON streams sealing on every 1 s tick (one plain, one gzip) and 1 MiB batches, an API key and a token,
 * written straight into the data directory's registry and keys (what `ingest streams create`, `keys create`
 * and `tokens issue` do, without four CLI start-ups).
 */
async function createTenant(options: CrashLoopOptions): Promise<Setup> {
  const layout = dataDirLayout(options.dataDir);
  await mkdir(layout.root, { recursive: true, mode: 0o700 });
  const deployment = await loadOrCreateDeployment(layout.deployment);
  const { signer } = await loadOrCreateSigningKeys(layout.keys);
  const store = await startEmbeddedRegistry(layout.registry, LOCAL_REGISTRY_TABLES);
  try {
    const admin = new RegistryAdmin(store.client, LOCAL_REGISTRY_TABLES);
    const now = new Date().toISOString();
    const streams: string[] = [];
    for (const compression of ["none", "gzip"] as const) {
      const base = newStreamRecord({
        id: newStreamId(),
        tenant: TENANT,
        name: `crash loop ${compression}`,
        payload: "json",
        now,
      });
      await admin.createStream({
        ...base,
        delivery: { ...base.delivery, compression, bufferMiB: 1, bufferSeconds: 0 },
        rateLimitPerSecond: 100_000,
        rateLimitBurst: 100_000,
      });
      streams.push(base.id);
    }
    const key: ApiKeyRecord = {
      id: newApiKeyId(),
      tenant: TENANT,
      name: "soak",
      status: "active",
      createdAt: now,
    };
    await admin.createApiKey(key);
    const issued = await issueAccessToken({ ...deployment, signer, key, days: 1, clock: systemClock });
    return { streams, token: issued.token };
  } finally {
    await store.close();
  }
}

function startServer(options: CrashLoopOptions): Server {
  const child = spawn(
    process.execPath,
    [
      options.cli,
      "--data-dir",
      options.dataDir,
      "--json",
      "serve",
      "--port",
      "0",
      "--registry-port",
      "0",
      "--no-demo",
      "--log-level",
      "warn",
      "--workers",
      String(options.serverProcesses),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? -1));
  });
  const listening = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", (line) => {
      try {
        resolve((JSON.parse(line) as { url: string }).url);
      } catch (error) {
        reject(error);
      }
    });
    void exited.then((code) =>
      reject(new Error(`server exited (${code}) before listening: ${stderrTail.join("\n")}`)),
    );
  });
  listening.catch(() => undefined);
  return { child, listening, exited, stderrTail };
}

/** Kills under load: at a random moment, or (`seal`) the instant a flush starts writing a compressed object. */
async function loadKillRound(
  options: CrashLoopOptions,
  setup: Setup,
  ledger: Ledger,
  round: number,
  kind: KillKind,
  random: () => number,
): Promise<{ observed: boolean; hit: boolean }> {
  const server = startServer(options);
  const url = await server.listening;
  const agent = new Agent({ keepAlive: true, maxSockets: options.workers });
  let stopped = false;
  let answered: () => void = () => undefined;
  const firstAnswer = new Promise<void>((resolve) => {
    answered = resolve;
  });
  const workers = Array.from({ length: options.workers }, async (_, w) => {
    for (let n = 0; !stopped; n++) {
      // Before a mid-seal kill the gzip stream gets large, barely compressible records, so its batch takes
      // long enough to compress that the kill lands inside the seal.
      const heavy = kind === "seal" && w % setup.streams.length === 1;
      const big = heavy || random() < 0.05;
      const id = `r${round}-w${w}-n${n}`;
      await postRecord(url, agent, setup, ledger, id, w, big ? 20_000 : 60 + (n % 90), heavy);
      answered();
    }
  });
  // The load time counts from the first answer, so a slow start-up does not eat the round.
  await Promise.race([firstAnswer, delay(10_000)]);
  const [min, max] = options.loadMs;
  await delay(min + random() * (max - min));
  let outcome = { observed: true, hit: true };
  if (kind === "seal") {
    outcome = await killDuringSeal(options, server);
  } else {
    server.child.kill("SIGKILL");
  }
  stopped = true;
  await server.exited;
  await Promise.all(workers);
  agent.destroy();
  return outcome;
}

/**
 * Asks the server to flush and SIGKILLs it as soon as a compressed object's temp file appears in the
 * in-flight folder, i.e. mid-seal. Returns whether the temp file was still there after the kill.
 */
async function killDuringSeal(
  options: CrashLoopOptions,
  server: Server,
): Promise<{ observed: boolean; hit: boolean }> {
  const dirs = streamInflightDirs(options.dataDir);
  let sawTemp: () => void = () => undefined;
  const tempAppeared = new Promise<void>((resolve) => {
    sawTemp = resolve;
  });
  const watchers = dirs.map((dir) =>
    watchSafe(dir, (name) => {
      if (/\.(ndjson|cbor)\.gz\.tmp$/.test(name)) sawTemp();
    }),
  );
  // A flush finds nothing to compress when the 1 s timer just sealed the batch: flush again, a few times.
  let seen = false;
  void tempAppeared.then(() => {
    seen = true;
  });
  for (let attempt = 0; attempt < 10 && !seen; attempt++) {
    await Promise.race([tempAppeared, flush(options.dataDir).catch(() => undefined), delay(3000)]);
    if (!seen) await Promise.race([tempAppeared, delay(50 + attempt * 50)]);
  }
  server.child.kill("SIGKILL");
  await server.exited;
  for (const watcher of watchers) watcher?.close();
  const left = streamInflightDirs(options.dataDir).some((dir) =>
    safeReaddir(dir).some((name) => name.endsWith(".gz.tmp")),
  );
  return { observed: seen, hit: left };
}

/**
 * Starts the server and SIGKILLs it as soon as start-up recovery changes the in-flight folder (cutting a
 * torn tail or sealing a file left by the last crash). Returns whether recovery was unfinished at the kill.
 */
async function recoveryKillRound(options: CrashLoopOptions): Promise<{ observed: boolean; hit: boolean }> {
  const dirs = streamInflightDirs(options.dataDir);
  const before = new Set(dirs.flatMap((dir) => batchFilesIn(dir).map((name) => join(dir, name))));
  let touched: () => void = () => undefined;
  const recoveryTouched = new Promise<void>((resolve) => {
    touched = resolve;
  });
  const watchers = dirs.map((dir) => watchSafe(dir, () => touched()));
  const server = startServer(options);
  const outcome = await Promise.race([
    recoveryTouched.then(() => "recovery" as const),
    server.listening.then(
      () => "listening" as const,
      () => "exited" as const,
    ),
  ]);
  server.child.kill("SIGKILL");
  await server.exited;
  for (const watcher of watchers) watcher?.close();
  if (outcome !== "recovery" || before.size === 0) return { observed: false, hit: false };
  // Hit: something the crash left was still waiting for recovery when the process died.
  const hit =
    [...before].some((path) => existsSync(path)) || dirs.some((dir) => safeReaddir(dir).some(isTemp));
  return { observed: true, hit };
}

function isTemp(name: string): boolean {
  return /\.(ndjson|cbor)(\.gz)?\.tmp$/.test(name);
}

async function postSome(url: string, setup: Setup, ledger: Ledger, prefix: string, count: number) {
  const agent = new Agent({ keepAlive: true });
  const before = ledger.accepted.size;
  for (let i = 0; i < count; i++) await postRecord(url, agent, setup, ledger, `${prefix}-${i}`, i, 50);
  agent.destroy();
  return ledger.accepted.size - before;
}

function postRecord(
  url: string,
  agent: Agent,
  setup: Setup,
  ledger: Ledger,
  id: string,
  worker: number,
  padBytes: number,
  noisy = false,
): Promise<void> {
  const stream = setup.streams[worker % setup.streams.length] ?? "";
  const pad = noisy ? randomBytes(Math.ceil(padBytes * 0.75)).toString("base64") : "p".repeat(padBytes);
  const body = JSON.stringify({ id, pad });
  ledger.sent.add(id);
  return new Promise((resolve) => {
    const req = request(
      `${url}/stream/v0/data/${stream}`,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${setup.token}`,
          "x-amperity-tenant": TENANT,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status === 202) ledger.accepted.add(id);
          else {
            ledger.refusedByStatus[status] = (ledger.refusedByStatus[status] ?? 0) + 1;
            if (status !== 503) ledger.unexpectedStatuses++;
          }
          resolve();
        });
        res.on("error", () => {
          ledger.unanswered++;
          resolve();
        });
      },
    );
    req.on("error", () => {
      ledger.unanswered++;
      resolve();
    });
    req.end(body);
  });
}

/** Seals every open batch through the running server's control endpoint (what `ingest flush` does). */
async function flush(dataDir: string): Promise<void> {
  const state = JSON.parse(readFileSync(join(dataDir, "run", "server.json"), "utf8")) as {
    controlUrl: string;
    controlSecret: string;
  };
  const response = await fetch(`${state.controlUrl}/flush`, {
    method: "POST",
    headers: { authorization: `Bearer ${state.controlSecret}` },
  });
  if (!response.ok) throw new Error(`flush answered ${response.status}`);
  await response.arrayBuffer();
}

/**
 * Every stream folder in-flight: `.inflight/<tenant>/<stream>` and, with `--workers N`, each worker's
 * `.inflight/@worker-<pid>/<tenant>/<stream>`.
 */
function streamInflightDirs(dataDir: string): string[] {
  const root = join(dataDir, "objects", ".inflight");
  const tenantDirs = [join(root, TENANT)];
  for (const name of safeReaddir(root)) {
    if (name.startsWith("@")) tenantDirs.push(join(root, name, TENANT));
  }
  return tenantDirs.flatMap((tenantDir) => safeReaddir(tenantDir).map((name) => join(tenantDir, name)));
}

function batchFilesIn(dir: string): string[] {
  return safeReaddir(dir).filter((name) => /\.(ndjson|cbor)(\.gz)?$/.test(name));
}

/** Batch files and temp files still in-flight (the `.seq` counters are expected to stay). */
function inflightBatchFiles(dataDir: string): string[] {
  const root = join(dataDir, "objects", ".inflight");
  return filesUnder(root).filter((path) => !path.split("/").pop()?.startsWith(".seq"));
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function watchSafe(dir: string, onEvent: (name: string) => void): FSWatcher | undefined {
  try {
    return watch(dir, (_, name) => onEvent(name ?? ""));
  } catch {
    return undefined;
  }
}

function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of safeReaddir(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(root, path));
    }
  };
  walk(root);
  return out.sort();
}

export interface Sealed {
  readonly files: number;
  readonly records: number;
  readonly bytes: number;
  readonly counts: Map<string, number>;
  readonly invalid: string[];
  readonly torn: string[];
}

/** Reads every sealed object; each must be whole NDJSON (gunzipped if .gz) of records we sent. */
export function readSealed(root: string, sent: ReadonlySet<string>): Sealed {
  const counts = new Map<string, number>();
  const invalid: string[] = [];
  const torn: string[] = [];
  let records = 0;
  let bytes = 0;
  const files = filesUnder(root);
  for (const file of files) {
    let text: string;
    try {
      const raw = readFileSync(join(root, file));
      bytes += raw.byteLength;
      if (!/\.ndjson(\.gz)?$/.test(file)) throw new Error("unexpected object name");
      text = (file.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
      if (!text.endsWith("\n")) throw new Error("no final newline");
    } catch (error) {
      torn.push(`${file}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    for (const [index, line] of text.slice(0, -1).split("\n").entries()) {
      records++;
      let id: unknown;
      try {
        id = (JSON.parse(line) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      if (typeof id !== "string" || !sent.has(id)) {
        invalid.push(`${file}:${index + 1}`);
        continue;
      }
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return { files: files.length, records, bytes, counts, invalid, torn };
}

/** A timer that never keeps the process alive by itself (most delays here only bound a race). */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

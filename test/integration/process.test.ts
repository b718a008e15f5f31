/**
 * The real `ingest serve` process: a clean SIGTERM seals everything and exits 0; a SIGKILL under concurrent load
 * loses no 202'd record — after restarts, every accepted record is in exactly one sealed file, none torn.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeMultiple } from "cbor-x";
import { createTenantWithCli, type ServerProcess, startServerProcess } from "../helpers/cli.js";
import { filesUnder } from "../helpers/files.js";
import { send } from "../helpers/http.js";

interface Setup {
  readonly dir: string;
  readonly jsonStream: string;
  readonly xmlStream: string;
  readonly token: string;
}

async function setUp(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), "ingest-proc-"));
  const { streams, token } = await createTenantWithCli(dir, "acme", ["json", "xml"]);
  return { dir, jsonStream: streams[0] ?? "", xmlStream: streams[1] ?? "", token };
}

/** Every record id in the sealed files, in order; throws on a torn or undecodable record. */
function sealedRecordIds(dir: string): string[] {
  const ids: string[] = [];
  const streams = join(dir, "objects", "streams");
  for (const file of filesUnder(streams).map((f) => join(streams, f))) {
    const bytes = readFileSync(file);
    if (file.endsWith(".ndjson")) {
      const text = bytes.toString("utf8");
      expect(text.endsWith("\n")).toBe(true);
      for (const line of text.slice(0, -1).split("\n")) ids.push((JSON.parse(line) as { id: string }).id);
    } else if (file.endsWith(".cbor")) {
      decodeMultiple(bytes, (item: unknown) => {
        ids.push((item as { rec: { id: string } }).rec.id);
      });
    } else {
      throw new Error(`unexpected sealed file ${file}`);
    }
  }
  return ids;
}

function openBatchFiles(dir: string): string[] {
  return filesUnder(join(dir, "objects", ".inflight")).filter((f) => !f.endsWith(".seq"));
}

function post(server: ServerProcess, s: Setup, id: string, xml: boolean, padBytes: number) {
  const pad = "p".repeat(padBytes);
  return send(`${server.url}/stream/v0/data/${xml ? s.xmlStream : s.jsonStream}`, {
    headers: {
      authorization: `Bearer ${s.token}`,
      "x-amperity-tenant": "acme",
      "content-type": xml ? "application/xml" : "application/json",
    },
    body: xml ? `<rec><id>${id}</id><pad>${pad}</pad></rec>` : `{"id":"${id}","pad":"${pad}"}`,
  });
}

/** A small deterministic PRNG, so kill points differ per round but the test is repeatable in intent. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

describe("the ingest serve process", () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp();
  });
  afterAll(() => {
    rmSync(s.dir, { recursive: true, force: true });
  });

  it("on SIGTERM finishes in-flight requests, seals every batch and exits 0", async () => {
    const server = await startServerProcess(s.dir);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(server, s, `term-${i}`, i % 2 === 1, 100)),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(202));
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect(openBatchFiles(s.dir)).toEqual([]);
    const ids = sealedRecordIds(s.dir);
    for (let i = 0; i < 20; i++) expect(ids.filter((id) => id === `term-${i}`)).toHaveLength(1);
  });

  it("on SIGTERM under concurrent load keeps every 202'd record, answers the rest 503 or closes, and exits 0", async () => {
    const server = await startServerProcess(s.dir);
    const accepted: string[] = [];
    let signalled = false;
    const worker = async (w: number) => {
      for (let n = 0; ; n++) {
        const id = `load-term-${w}-${n}`;
        try {
          const res = await post(server, s, id, w % 2 === 1, 200);
          if (res.status === 202) accepted.push(id);
          else if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${res.text}`);
          if (accepted.length >= 200 && !signalled) {
            signalled = true;
            server.child.kill("SIGTERM");
          }
          if (signalled && res.status === 503) return;
        } catch (error) {
          if (signalled) return; // the server closed the connection on its way out
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    expect(await server.exited).toBe(0);
    expect(openBatchFiles(s.dir)).toEqual([]);
    const ids = new Set(sealedRecordIds(s.dir));
    expect(accepted.filter((id) => !ids.has(id))).toEqual([]);
  });

  it("loses no 202'd record when SIGKILLed under concurrent load, across repeated crashes", async () => {
    const random = prng(20261129);
    const accepted = new Set<string>();
    const rounds = Number(process.env.CRASH_ROUNDS ?? 4);
    for (let round = 0; round < rounds; round++) {
      const server = await startServerProcess(s.dir);
      const killAfter = 30 + Math.floor(random() * 120);
      let acceptedThisRound = 0;
      let killed = false;
      const worker = async (w: number) => {
        for (let n = 0; !killed; n++) {
          const id = `crash-${round}-${w}-${n}`;
          const pad = random() < 0.1 ? 40_000 : 50;
          try {
            const res = await post(server, s, id, w % 3 === 2, pad);
            if (res.status === 202) {
              accepted.add(id);
              acceptedThisRound++;
              if (acceptedThisRound >= killAfter && !killed) {
                killed = true;
                server.child.kill("SIGKILL");
              }
            } else if (res.status !== 503) {
              throw new Error(`unexpected ${res.status}: ${res.text}`);
            }
          } catch (error) {
            if (killed) return; // the connection died with the server
            throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      expect(await server.exited).toBe("SIGKILL");
    }
    // One more start recovers the last crash's open batches; a clean stop seals the rest.
    const last = await startServerProcess(s.dir);
    last.child.kill("SIGTERM");
    expect(await last.exited).toBe(0);
    const recovery = last.stderrLines.map((l) => JSON.parse(l) as { msg: string; sealed?: number });
    expect(recovery.find((l) => l.msg === "file sink: recovery done")?.sealed).toBeGreaterThanOrEqual(1);
    expect(openBatchFiles(s.dir)).toEqual([]);

    const ids = sealedRecordIds(s.dir);
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    const missing = [...accepted].filter((id) => !counts.has(id));
    const duplicated = [...counts].filter(([, c]) => c > 1).map(([id]) => id);
    expect(missing).toEqual([]);
    expect(duplicated).toEqual([]);
    expect(accepted.size).toBeGreaterThanOrEqual(rounds * 30);
  });
});

/**
 * `ingest serve --workers 2`: two worker processes share the port, each with its own in-flight folder; every 202'd
 * record ends up in exactly one sealed file, object names and batch numbers never collide, a SIGKILLed worker is
 * replaced and what it acknowledged is recovered and sealed, and SIGTERM seals everything and exits 0.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { decodeMultiple } from "cbor-x";
import {
  issueTokenViaCli,
  runCli,
  runCliJson,
  type ServerProcess,
  startServerProcess,
} from "../helpers/cli.js";
import { filesUnder } from "../helpers/files.js";
import { send } from "../helpers/http.js";

interface LogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** Polls `find` over the server's log lines until it returns something (at most 15 s). */
async function waitForLog<T>(server: ServerProcess, find: (lines: LogLine[]) => T | undefined): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const lines = server.stderrLines.flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
    const found = find(lines);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`log line not seen; log:\n${server.stderrLines.join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("ingest serve --workers 2", () => {
  let dir: string;
  let streams: string[];
  let token: string;
  let server: ServerProcess;
  let workers: number[];
  const accepted: string[] = [];

  const inflight = () => join(dir, "objects", ".inflight");
  const openBatchFiles = () => filesUnder(inflight()).filter((f) => !f.endsWith(".seq"));
  const workerFolders = () => readdirSync(inflight()).filter((name) => name.startsWith("@worker-"));

  /** Every record id in the sealed files, with the file names. */
  const sealed = () => {
    const ids: string[] = [];
    const root = join(dir, "objects", "streams");
    const files = filesUnder(root);
    for (const file of files) {
      const bytes = readFileSync(join(root, file));
      if (file.endsWith(".ndjson")) {
        for (const line of bytes.toString("utf8").split("\n").slice(0, -1)) {
          ids.push((JSON.parse(line) as { id: string }).id);
        }
      } else {
        decodeMultiple(bytes, (item: unknown) => {
          ids.push((item as { rec: { id: string } }).rec.id);
        });
      }
    }
    return { ids, names: files.map((f) => basename(f)) };
  };

  /** Posts `count` records (JSON and XML) with 12 requests at a time; returns the ids answered 202. */
  const postMany = async (prefix: string, count: number) => {
    let next = 0;
    const ok: string[] = [];
    const lane = async () => {
      for (let n = next++; n < count; n = next++) {
        const id = `${prefix}-${n}`;
        const xml = n % 3 === 2;
        const res = await send(`${server.url}/stream/v0/data/${xml ? streams[1] : streams[0]}`, {
          headers: {
            authorization: `Bearer ${token}`,
            "x-amperity-tenant": "acme",
            "content-type": xml ? "application/xml" : "application/json",
          },
          body: xml ? `<rec><id>${id}</id></rec>` : `{"id":"${id}","n":${n}}`,
        });
        expect(res.status).toBe(202);
        ok.push(id);
      }
    };
    await Promise.all(Array.from({ length: 12 }, lane));
    accepted.push(...ok);
    return ok;
  };

  const expectExactlyOnce = () => {
    const { ids, names } = sealed();
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(accepted.filter((id) => counts.get(id) !== 1)).toEqual([]);
    expect(ids).toHaveLength(accepted.length);
    expect(new Set(names).size).toBe(names.length);
    // `<stream-id>-<seq>-…`: one batch number per stream is used once, whichever worker wrote it.
    const batches = names.map((n) => n.split("-").slice(0, 3).join("-"));
    expect(new Set(batches).size).toBe(batches.length);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ingest-workers-"));
    server = await startServerProcess(dir, ["--workers", "2"]);
    // Against the running server's registry, so these CLI commands can run side by side.
    const create = (payload: string) =>
      runCliJson<{ id: string }>(dir, [
        "streams",
        "create",
        "--tenant",
        "acme",
        "--name",
        payload,
        "--payload",
        payload,
      ]);
    const [json, xml, key] = await Promise.all([
      create("json"),
      create("xml"),
      runCliJson<{ id: string }>(dir, ["keys", "create", "--tenant", "acme", "--name", "test"]),
    ]);
    streams = [json.id, xml.id];
    token = await issueTokenViaCli(dir, key.id);
    workers = await waitForLog(server, (lines) => {
      const listening = lines.find((l) => l.msg === "listening");
      return listening === undefined ? undefined : (listening.workers as number[]);
    });
  });
  afterAll(() => {
    server.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("rejects a worker count that is not a whole number from 1 to 64 as a usage error", async () => {
    const results = await Promise.all(["65", "1.5"].map((bad) => runCli(dir, ["serve", "--workers", bad])));
    for (const result of results) {
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("--workers must be a whole number from 1 to 64");
    }
  });

  it("serves from both workers, each in its own in-flight folder; flush seals every record exactly once", async () => {
    expect(workers).toHaveLength(2);
    await postMany("a", 150);
    expect(workerFolders().sort()).toEqual(workers.map((pid) => `@worker-${pid}`).sort());
    for (const folder of workerFolders()) {
      expect(filesUnder(join(inflight(), folder)).length).toBeGreaterThan(0);
    }
    const flushed = await runCliJson<{ sealed: string[] }>(dir, ["flush"]);
    expect(flushed.sealed.length).toBeGreaterThanOrEqual(4); // 2 streams × 2 workers
    expect(openBatchFiles()).toEqual([]);
    expectExactlyOnce();
  });

  it("replaces a SIGKILLed worker and seals the records it had acknowledged, without a flush", async () => {
    await postMany("b", 90);
    const victim = workers[0] ?? 0;
    const victimFiles = filesUnder(join(inflight(), `@worker-${victim}`));
    expect(victimFiles.length).toBeGreaterThan(0);
    process.kill(victim, "SIGKILL");
    const recovered = await waitForLog(server, (lines) =>
      lines.find((l) => l.msg === "recovered the in-flight batches of an exited worker" && l.pid === victim),
    );
    expect(recovered.sealed).toBe(victimFiles.length);
    const replacement = await waitForLog(server, (lines) =>
      lines.find((l) => l.msg === "worker ready" && l.replaced === victim),
    );
    expect(workerFolders()).not.toContain(`@worker-${victim}`);
    const sealedNames = new Set(sealed().names);
    for (const file of victimFiles) expect(sealedNames.has(basename(file))).toBe(true);

    await postMany("c", 60);
    expect(workerFolders()).toContain(`@worker-${replacement.pid as number}`);
  });

  it("on SIGTERM drains every worker, seals everything and exits 0", async () => {
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect(openBatchFiles()).toEqual([]);
    expect(workerFolders()).toEqual([]);
    expectExactlyOnce();
  });

  it("gives up and exits 1 when workers keep crashing (5 unexpected exits within 30 s)", async () => {
    const crashing = await startServerProcess(dir, ["--workers", "2"]);
    let exit: number | string | undefined;
    void crashing.exited.then((code) => {
      exit = code;
    });
    const killed = new Set<number>();
    const deadline = Date.now() + 15_000;
    while (exit === undefined && Date.now() < deadline) {
      for (const line of crashing.stderrLines) {
        const { msg, pid } = JSON.parse(line) as LogLine;
        // The first two once they serve, then every replacement as soon as it is forked.
        if (!/^worker (ready|forked)$/.test(msg) || typeof pid !== "number" || killed.has(pid)) continue;
        killed.add(pid);
        process.kill(pid, "SIGKILL");
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await crashing.exited).toBe(1);
    expect(killed.size).toBe(5);
    expect(crashing.stderrLines.some((l) => l.includes('"workers keep crashing; giving up"'))).toBe(true);
    expect(existsSync(join(dir, "run", "server.json"))).toBe(false);
    expect(workerFolders()).toEqual([]);
  });
});

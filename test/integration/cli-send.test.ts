/**
 * `ingest send` as a user runs it: the built CLI against a real server process, an NDJSON file with a few bad
 * lines and blank lines, a folder of mixed files; the summary, the exit code, the rejects file, and the records
 * that landed (flushed and read back with `ingest read`).
 */
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTenantWithCli, runCli, type ServerProcess, startServerProcess } from "../helpers/cli.js";

describe("ingest send", () => {
  let dir: string;
  let work: string;
  let server: ServerProcess;
  let jsonStream: string;
  let xmlStream: string;
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ingest-send-"));
    work = mkdtempSync(join(tmpdir(), "ingest-send-input-"));
    server = await startServerProcess(dir);
    const tenant = await createTenantWithCli(dir, "acme", ["json", "xml"]);
    [jsonStream = "", xmlStream = ""] = tenant.streams;
    token = tenant.token;
  });

  afterAll(async () => {
    server.child.kill("SIGTERM");
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  /** Runs `ingest send` with the token in the environment, as the README suggests. */
  function send(args: readonly string[]) {
    return runCli(dir, ["send", "--token-file", join(work, "token"), ...args]);
  }

  /** The records stored for a stream so far (sealed first), as JSON lines. */
  async function storedLines(streamId: string): Promise<string[]> {
    expect((await runCli(dir, ["flush"])).code).toBe(0);
    const read = await runCli(dir, ["read", join(dir, "objects", "streams", "acme", streamId)]);
    expect(read.code).toBe(0);
    return read.stdout.split("\n").filter(Boolean);
  }

  const BAD = ["{bad json", "[1,2]", "42", '{"a":1}{"b":2}', "not json at all"];

  it("sends a 2,000-line NDJSON file in batches: bad lines rejected and listed, every other record stored", async () => {
    writeFileSync(join(work, "token"), token);
    // Lines 17, 417, 817, 1217 and 1617 are bad; lines 3 and 1999 are blank (skipped, not records).
    const lines: string[] = [];
    const bad = new Map<number, string>();
    for (let n = 1; n <= 2000; n++) {
      if (n % 400 === 17) {
        const text = BAD[bad.size] ?? "{";
        bad.set(n, text);
        lines.push(text);
      } else if (n === 3 || n === 1999) lines.push("   ");
      else lines.push(JSON.stringify({ id: `r-${n}`, n, price: 1.5 }));
    }
    const file = join(work, "data.ndjson");
    writeFileSync(file, `${lines.join("\r\n")}\n`);
    const result = await send([
      "--stream",
      jsonStream,
      "--file",
      file,
      "--batch",
      "250",
      "--concurrency",
      "4",
      "--progress",
      "plain",
    ]);
    const good = 2000 - bad.size - 2;
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`sent ${(good + bad.size).toLocaleString("en-US")} records`);
    expect(result.stdout).toMatch(new RegExp(`accepted  ${good.toLocaleString("en-US")}\\n`));
    expect(result.stdout).toMatch(/rejected {2}5\n/);
    expect(result.stdout).toMatch(/retried {3}0 request\(s\)/);
    // The last progress line is always printed, and says 100%.
    expect(result.stderr).toContain(
      `progress: ${(good + 5).toLocaleString("en-US")} records (${good.toLocaleString("en-US")} accepted, 5 rejected)`,
    );
    expect(result.stderr).toMatch(/\(100%\)/);
    expect(result.stderr).toContain(`error: 5 record(s) rejected, listed in ${file}.rejects.ndjson`);
    expect(result.stderr + result.stdout).not.toContain(token);

    const rejects = readFileSync(`${file}.rejects.ndjson`, "utf8")
      .split("\n")
      .filter(Boolean)
      .map(
        (l) => JSON.parse(l) as { file: string; line: number; status: number; code: string; message: string },
      );
    expect(rejects.map((r) => r.line).sort((a, b) => a - b)).toEqual([...bad.keys()]);
    for (const r of rejects) {
      expect(r).toMatchObject({
        file,
        status: 400,
        code: expect.stringMatching(/^(invalid_json|not_an_object|multiple_values)$/),
      });
      expect(r.message).toMatch(/./);
    }
    const stored = await storedLines(jsonStream);
    expect(stored).toHaveLength(good);
    expect(new Set(stored)).toEqual(new Set(lines.filter((l, i) => l.trim() !== "" && !bad.has(i + 1))));
  });

  it("sends a folder record by record, gzipped: NDJSON lines, a .json file, and an .xml file the stream refuses", async () => {
    const folder = join(work, "folder");
    await mkdir(folder);
    writeFileSync(
      join(folder, "a.ndjson"),
      Array.from({ length: 150 }, (_, i) => JSON.stringify({ f: "a", i })).join("\n"),
    );
    writeFileSync(join(folder, "b.json"), '{\n  "f": "b",\n  "big": 12345678901234567890\n}\n');
    writeFileSync(join(folder, "c.xml"), "<order><id>1</id></order>");
    writeFileSync(join(folder, "ignored.txt"), "not sent");
    // An earlier run's rejects file is not input.
    writeFileSync(join(folder, "a.ndjson.rejects.ndjson"), '{"file":"a.ndjson","line":1,"status":400}\n');
    const result = await runCli(dir, [
      "--json",
      "send",
      "--stream",
      jsonStream,
      "--file",
      folder,
      "--gzip",
      "--token-file",
      join(work, "token"),
      "--rejects",
      join(work, "folder-rejects.ndjson"),
    ]);
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      files: 3,
      records: 152,
      accepted: 151,
      rejected: 1,
      rejected_by: { "415 wrong_content_type": 1 },
      retries: 0,
      rejects_file: join(work, "folder-rejects.ndjson"),
      stopped: null,
    });
    const [reject] = readFileSync(join(work, "folder-rejects.ndjson"), "utf8").split("\n").filter(Boolean);
    expect(JSON.parse(reject ?? "")).toMatchObject({
      file: join(folder, "c.xml"),
      status: 415,
      code: "wrong_content_type",
    });
    expect(JSON.parse(reject ?? "")).not.toHaveProperty("line");

    // XML files to the XML stream: accepted, exit 0, no rejects file.
    const xml = await send([
      "--stream",
      xmlStream,
      "--file",
      join(folder, "c.xml"),
      "--rejects",
      join(work, "none.ndjson"),
      "--progress",
      "none",
    ]);
    expect(xml.stderr).toBe("");
    expect(xml.code).toBe(0);
    expect(xml.stdout).toMatch(/accepted {2}1\n/);
    expect(() => readFileSync(join(work, "none.ndjson"))).toThrow();
  });

  it("stops at the first stream-wide refusal (a bad token) instead of sending the rest", async () => {
    const file = join(work, "small.ndjson");
    writeFileSync(file, Array.from({ length: 500 }, (_, i) => JSON.stringify({ i })).join("\n"));
    const badToken = `${token.slice(0, -6)}AAAAAA`;
    writeFileSync(join(work, "bad-token"), badToken);
    const result = await runCli(dir, [
      "send",
      "--stream",
      jsonStream,
      "--file",
      file,
      "--token-file",
      join(work, "bad-token"),
      "--concurrency",
      "2",
      "--progress",
      "none",
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/accepted {2}0\n/);
    // At most the records already in flight were tried.
    const rejected = Number(/rejected {2}(\d+)/.exec(result.stdout)?.[1]);
    expect(rejected).toBeGreaterThanOrEqual(1);
    expect(rejected).toBeLessThanOrEqual(3);
    expect(result.stderr).toMatch(
      /error: stopped: the server refused the stream: 401 [a-z_]+: .*records after line \d+ of .*small\.ndjson were not sent/,
    );
    expect(result.stderr + result.stdout).not.toContain(badToken);
    expect(result.stderr + result.stdout).not.toContain(token);
  });

  it("retries an API that does not answer, says so, and stops when the retry budget is spent", async () => {
    // A port that was just free: connections are refused.
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, "close");
    const file = join(work, "small.ndjson");
    const result = await send([
      "--stream",
      jsonStream,
      "--file",
      file,
      "--url",
      `http://127.0.0.1:${port}`,
      "--retry-budget",
      "0.5",
      "--concurrency",
      "1",
      "--progress",
      "plain",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^retrying: ECONNREFUSED \(attempt 2 in \d+\.\d s\)$/m);
    expect(result.stderr).toMatch(
      /error: stopped: the API is unavailable: stream is-\w+: gave up after \d+ attempt\(s\).*ECONNREFUSED.*; records after line 1 of .*small\.ndjson were not sent/,
    );
    const [reject] = readFileSync(`${file}.rejects.ndjson`, "utf8").split("\n").filter(Boolean);
    expect(JSON.parse(reject ?? "")).toMatchObject({ line: 1, status: null, code: "unavailable" });
  });

  it("is a usage error (exit 2) without a token, with a bad --concurrency or a missing file", async () => {
    const file = join(work, "small.ndjson");
    const noToken = await runCli(dir, ["send", "--stream", jsonStream, "--file", file]);
    expect(noToken).toMatchObject({ code: 2 });
    expect(noToken.stderr).toMatch(/an access token is needed/);
    const concurrency = await send(["--stream", jsonStream, "--file", file, "--concurrency", "0"]);
    expect(concurrency).toMatchObject({ code: 2 });
    expect(concurrency.stderr).toMatch(/--concurrency must be a whole number from 1 to 256/);
    const missing = await send(["--stream", jsonStream, "--file", join(work, "nope.ndjson")]);
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toMatch(/no such file or folder/);
  });
});

/**
 * `ingest serve --emulate-aws` as a user runs it: the built CLI as a process on a cloud assembly synthesized with
 * bundled Lambdas. Its banner's curl commands answer 202; `ingest flush` (a second process on the same data
 * directory) delivers the records to the emulated bucket, where `ingest read` prints them; `keys create` and
 * `tokens issue` work against the running emulation; `signing-keys` is refused; SIGTERM stops it cleanly. And the
 * start-up refusals: a missing cdk.out, and `--workers` with `--emulate-aws`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { RunState } from "../../lambda/local/run-state.js";
import { bundledAssembly } from "../contract/emulated-target.js";
import { CLI, issueTokenViaCli, parseCurlCommands, runCli, runCliJson } from "../helpers/cli.js";
import { filesUnder } from "../helpers/files.js";
import { send } from "../helpers/http.js";
import { captureLogLine } from "../helpers/log-capture.js";

/** `YYYY/MM/DD/HH` of an instant, in UTC: the folders Firehose files records under. */
function hourPath(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${two(d.getUTCHours())}`;
}

describe("ingest serve --emulate-aws (the CLI as a process)", () => {
  let cdkOut: string;
  let dir: string;
  let child: ChildProcess;
  let exited: Promise<number | string>;
  let banner: string;
  const stderrLines: string[] = [];
  /** Other data directories the start-up refusals use. */
  const scratch: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "ingest-emulate-cli-"));
    scratch.push(d);
    return d;
  };

  beforeAll(async () => {
    cdkOut = bundledAssembly();
    dir = tempDir();
    child = spawn(
      process.execPath,
      [
        CLI,
        "--data-dir",
        dir,
        "serve",
        "--emulate-aws",
        "--cdk-out",
        cdkOut,
        "--port",
        "0",
        "--registry-port",
        "0",
        "--log-level",
        "warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      stderrLines.push(line);
      captureLogLine("ingest serve --emulate-aws stderr", line);
    });
    exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
    // The banner (with the first start's token in it) is kept out of failure messages.
    banner = await new Promise<string>((resolve, reject) => {
      const lines: string[] = [];
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        lines.push(line);
        if (line.startsWith("Stop with Ctrl-C")) resolve(lines.join("\n"));
      });
      void exited.then((code) =>
        reject(
          new Error(`serve --emulate-aws exited (${code}) before its banner: ${stderrLines.join("\n")}`),
        ),
      );
    });
  }, 90_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
  }, 30_000);

  const runState = () => JSON.parse(readFileSync(join(dir, "run", "server.json"), "utf8")) as RunState;

  it("prints curl commands for the demo streams that answer 202; flush delivers them to the bucket, and read prints them", async () => {
    expect(banner).toContain("(--emulate-aws)");
    expect(banner).toContain('created tenant "demo"');
    const commands = parseCurlCommands(banner);
    expect(commands).toHaveLength(2);
    expect(commands.map((c) => c.headers["content-type"])).toEqual(["application/json", "application/xml"]);
    const state = runState();
    expect(commands.every((c) => c.url.startsWith(`${state.apiUrl}/stream/v0/data/is-`))).toBe(true);
    const streamIds = commands.map((c) => c.url.slice(c.url.lastIndexOf("/") + 1));

    const sentAt = Date.now();
    for (const command of commands) {
      expect(command.headers["x-amperity-tenant"]).toBe("demo");
      const res = await send(command.url, { headers: command.headers, body: command.body });
      expect(res.status).toBe(202);
    }

    // `ingest flush`, a second process: the running emulation's Firehose delivers its buffers now.
    const flushed = await runCli(dir, ["flush"]);
    expect(flushed.code).toBe(0);
    const keys = flushed.stdout.trim().split("\n").slice(1);
    expect(flushed.stdout).toMatch(/^sealed 2 batch file\(s\):\n/);
    expect(keys).toHaveLength(2);
    const hours = [hourPath(sentAt), hourPath(Date.now())];
    const bucketDir = state.emulateAws?.bucketDir ?? "";
    expect(bucketDir).toBe(join(dir, "aws", "s3", bucketDir.slice(bucketDir.lastIndexOf("/") + 1)));
    for (const [index, id] of streamIds.entries()) {
      const key = keys.find((k) => k.startsWith(`streams/demo/${id}/`)) ?? "";
      const match =
        /^streams\/demo\/is-[A-Za-z0-9]{8}\/(\d{4}\/\d{2}\/\d{2}\/\d{2})\/[^/]+\.(ndjson|cbor)$/.exec(key);
      expect(match).not.toBeNull();
      expect(hours).toContain(match?.[1]);
      expect(match?.[2]).toBe(index === 0 ? "ndjson" : "cbor");
      expect(existsSync(join(bucketDir, key))).toBe(true);
    }

    const json = keys.find((k) => k.endsWith(".ndjson")) ?? "";
    expect(readFileSync(join(bucketDir, json), "utf8")).toBe(
      '{"email":"justin.case@example.com","first_name":"Justin","last_name":"Case","loyalty_id":"00501","order_total":125.50}\n',
    );
    const readJson = await runCli(dir, ["read", join(bucketDir, json)]);
    expect(readJson.code).toBe(0);
    expect(JSON.parse(readJson.stdout)).toEqual({
      email: "justin.case@example.com",
      first_name: "Justin",
      last_name: "Case",
      loyalty_id: "00501",
      order_total: 125.5,
    });
    const readXml = await runCli(dir, ["read", join(bucketDir, keys.find((k) => k.endsWith(".cbor")) ?? "")]);
    expect(readXml.code).toBe(0);
    expect(JSON.parse(readXml.stdout)).toEqual({
      records: { record: { email: "justin.case@example.com", first_name: "Justin", loyalty_id: "00501" } },
    });
  }, 60_000);

  it("creates a key and issues a token for it against the running emulation; the token is accepted", async () => {
    const [json] = parseCurlCommands(banner);
    if (json === undefined) throw new Error("the banner has no JSON curl command");
    const key = await runCliJson<{ id: string }>(dir, [
      "keys",
      "create",
      "--tenant",
      "demo",
      "--name",
      "cli test",
    ]);
    expect(key.id).toMatch(/^ik-[A-Za-z0-9]{16}$/);
    const token = await issueTokenViaCli(dir, key.id);
    const res = await send(json.url, {
      headers: { ...json.headers, authorization: `Bearer ${token}` },
      body: '{"order_id":"A-1001","total":42.5}',
    });
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ status: "accepted" });
  }, 60_000);

  it("refuses signing-keys list with a clear message and exit code 2", async () => {
    const result = await runCli(dir, ["signing-keys", "list"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^error: the server on this data directory runs the AWS build \(serve --emulate-aws\)/,
    );
    expect(lines[0]).toContain("KMS key");
  }, 30_000);

  it("stops on SIGTERM with exit code 0 and removes its run state file", async () => {
    expect(existsSync(join(dir, "run", "server.json"))).toBe(true);
    const [json] = parseCurlCommands(banner);
    const bucketDir = runState().emulateAws?.bucketDir ?? "";
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(existsSync(join(dir, "run", "server.json"))).toBe(false);
    // Stopping delivered what was still buffered: the record the previous test sent with the CLI's token.
    const streamDir = join(
      bucketDir,
      "streams",
      "demo",
      json?.url.slice(json.url.lastIndexOf("/") + 1) ?? "",
    );
    const delivered = filesUnder(streamDir).filter((file) =>
      readFileSync(join(streamDir, file), "utf8").includes('"order_id":"A-1001"'),
    );
    expect(delivered).toHaveLength(1);
  }, 30_000);

  it("warns when cdk.out is older than the sources it was synthesized from, and not otherwise", async () => {
    expect(stderrLines.join("\n")).not.toContain("cdk.out is older than the sources");
    // The same assembly, but synthesized "long ago": its manifest predates every source file.
    const old = tempDir();
    for (const name of readdirSync(cdkOut)) {
      if (name.startsWith("asset.")) symlinkSync(join(cdkOut, name), join(old, name));
      else cpSync(join(cdkOut, name), join(old, name), { recursive: true });
    }
    utimesSync(join(old, "manifest.json"), new Date(2000, 0, 1), new Date(2000, 0, 1));
    const stale = spawn(
      process.execPath,
      [CLI, "--data-dir", tempDir(), "serve", "--emulate-aws", "--cdk-out", old, "--no-demo"].concat([
        "--port",
        "0",
        "--registry-port",
        "0",
        "--log-level",
        "warn",
      ]),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const stopped = new Promise((resolve) => stale.once("exit", resolve));
    const warning = await new Promise<Record<string, unknown>>((resolve) => {
      createInterface({ input: stale.stderr as NodeJS.ReadableStream }).on("line", (line) => {
        captureLogLine("ingest serve --emulate-aws stderr", line);
        if (line.includes("cdk.out is older")) resolve(JSON.parse(line) as Record<string, unknown>);
      });
    });
    stale.kill("SIGTERM");
    await stopped;
    expect(warning).toMatchObject({ level: "warn", fix: "npx cdk synth" });
    expect(String(warning.newer)).toMatch(/^(lambda|lib)\/.+\.ts$/);
  }, 60_000);

  it("fails fast with one line saying to run `npx cdk synth` when cdk.out is missing (exit code 1)", async () => {
    const started = Date.now();
    const result = await runCli(tempDir(), [
      "serve",
      "--emulate-aws",
      "--cdk-out",
      "/nonexistent",
      "--port",
      "0",
      "--registry-port",
      "0",
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toContain("/nonexistent");
    expect(lines[0]).toContain("npx cdk synth");
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);

  it("refuses --workers with --emulate-aws as a usage error (exit code 2)", async () => {
    const result = await runCli(tempDir(), [
      "serve",
      "--emulate-aws",
      "--cdk-out",
      cdkOut,
      "--workers",
      "2",
      "--port",
      "0",
      "--registry-port",
      "0",
    ]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: --workers does not apply to --emulate-aws/);
  }, 30_000);
});

/**
 * A first start as a new user sees it: `ingest serve` on an empty data directory creates the demo tenant and
 * prints curl commands; replaying exactly what they say returns 202, and `flush` seals the records where the
 * banner says they will appear.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CLI, parseCurlCommands, runCli, runCliJson } from "../helpers/cli.js";
import { send } from "../helpers/http.js";

describe("first start", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ingest-first-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints curl commands for the demo streams that return 202, and the records land after flush", async () => {
    const child = spawn(
      process.execPath,
      [CLI, "--data-dir", dir, "serve", "--port", "0", "--registry-port", "0", "--log-level", "warn"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const banner = await new Promise<string>((resolve, reject) => {
        const lines: string[] = [];
        createInterface({ input: child.stdout }).on("line", (line) => {
          lines.push(line);
          if (line.startsWith("Stop with Ctrl-C")) resolve(lines.join("\n"));
        });
        void exited.then((code) => reject(new Error(`server exited with ${code} before its banner`)));
      });
      expect(banner).toContain('created tenant "demo"');
      const commands = parseCurlCommands(banner);
      expect(commands).toHaveLength(2);
      expect(commands.map((c) => c.headers["content-type"])).toEqual(["application/json", "application/xml"]);
      for (const command of commands) {
        expect(command.headers["x-amperity-tenant"]).toBe("demo");
        const res = await send(command.url, { headers: command.headers, body: command.body });
        expect(res.status).toBe(202);
      }
      const { sealed } = await runCliJson<{ sealed: string[] }>(dir, ["flush"]);
      expect(sealed).toHaveLength(2);
      for (const key of sealed)
        expect(key).toMatch(/^streams\/demo\/is-[A-Za-z0-9]{8}\/\d{4}\/\d{2}\/\d{2}\/\d{2}\//);
      const json = sealed.find((k) => k.endsWith(".ndjson")) ?? "";
      expect(readFileSync(join(dir, "objects", json), "utf8")).toBe(
        '{"email":"justin.case@example.com","first_name":"Justin","last_name":"Case","loyalty_id":"00501","order_total":125.50}\n',
      );
      const xml = await runCli(dir, [
        "read",
        join(dir, "objects", sealed.find((k) => k.endsWith(".cbor")) ?? ""),
      ]);
      expect(JSON.parse(xml.stdout)).toEqual({
        records: { record: { email: "justin.case@example.com", first_name: "Justin", loyalty_id: "00501" } },
      });
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });

  it("on a later start prints how to issue a token instead of a token", async () => {
    const result = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [CLI, "--data-dir", dir, "serve", "--port", "0", "--registry-port", "0"],
        {
          stdio: ["ignore", "pipe", "ignore"],
        },
      );
      const lines: string[] = [];
      createInterface({ input: child.stdout }).on("line", (line) => {
        lines.push(line);
        if (line.startsWith("Stop with Ctrl-C")) {
          child.kill("SIGTERM");
          resolve(lines.join("\n"));
        }
      });
      child.once("exit", (code) => reject(new Error(`exited ${code}`)));
    });
    expect(result).not.toContain("First start");
    expect(result).toMatch(/tokens issue --key ik-[A-Za-z0-9]{16} --days 7/);
    expect(result).toContain("Authorization: Bearer $TOKEN");
  });
});

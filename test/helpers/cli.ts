/** Runs the built `ingest` CLI (dist/bin/ingest.js; `npm test` builds it first) as a user would. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { captureLogLine } from "./log-capture.js";

export const CLI = join(__dirname, "..", "..", "dist", "bin", "ingest.js");

function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one CLI command to completion. */
export function runCli(dataDir: string, args: readonly string[]): Promise<CliResult> {
  assertBuilt();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, "--data-dir", dataDir, ...args],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        // stderr is the CLI's diagnostics (checked for leaks); stdout may hold a token printed on purpose.
        captureLogLine("ingest cli stderr", stderr);
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a CLI command with --json and parses its output; fails the test with stderr on a non-zero exit. */
export async function runCliJson<T>(dataDir: string, args: readonly string[]): Promise<T> {
  const result = await runCli(dataDir, ["--json", ...args]);
  if (result.code !== 0) throw new Error(`ingest ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Creates streams of the given payload types, an API key and a token for `tenant`, all through the CLI. */
export async function createTenantWithCli(
  dataDir: string,
  tenant: string,
  payloads: readonly ("json" | "xml")[],
): Promise<{ streams: string[]; keyId: string; token: string }> {
  const streams: string[] = [];
  for (const payload of payloads) {
    const args = [
      "streams",
      "create",
      "--tenant",
      tenant,
      "--name",
      `${payload} stream`,
      "--payload",
      payload,
    ];
    streams.push((await runCliJson<{ id: string }>(dataDir, args)).id);
  }
  const key = await runCliJson<{ id: string }>(dataDir, [
    "keys",
    "create",
    "--tenant",
    tenant,
    "--name",
    "test",
  ]);
  return { streams, keyId: key.id, token: await issueTokenViaCli(dataDir, key.id) };
}

/** `ingest tokens issue --key <keyId> --days 1`: the token printed. */
export async function issueTokenViaCli(dataDir: string, keyId: string): Promise<string> {
  const issued = await runCliJson<{ token: string }>(dataDir, [
    "tokens",
    "issue",
    "--key",
    keyId,
    "--days",
    "1",
  ]);
  return issued.token;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Resolves with the exit code (or the signal's name) once the process ended. */
  readonly exited: Promise<number | string>;
  readonly stderrLines: string[];
}

/** Starts `ingest serve` on free ports and resolves once it printed its URL. */
export function startServerProcess(
  dataDir: string,
  extraArgs: readonly string[] = [],
): Promise<ServerProcess> {
  assertBuilt();
  const child = spawn(
    process.execPath,
    [
      CLI,
      "--data-dir",
      dataDir,
      "--json",
      "serve",
      "--port",
      "0",
      "--registry-port",
      "0",
      "--no-demo",
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const stderrLines: string[] = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderrLines.push(line);
    captureLogLine("ingest serve stderr", line);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? -1));
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      try {
        const { url } = JSON.parse(line) as { url: string };
        resolve({ child, url, exited, stderrLines });
      } catch (error) {
        reject(error);
      }
    });
    void exited.then((code) =>
      reject(new Error(`server exited (${code}) before listening: ${stderrLines.join("\n")}`)),
    );
  });
}

/** One of the curl commands `ingest serve` prints. */
export interface CurlCommand {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Parses the banner's `curl -X POST 'URL' -H '…' … -d '…'` commands (single-quoted, as printed). */
export function parseCurlCommands(banner: string): CurlCommand[] {
  const commands: CurlCommand[] = [];
  for (const match of banner.matchAll(
    /curl -X POST '([^']+)'((?:\s*\\\n\s*-H '[^']*')*)\s*\\\n\s*-d '([^']*)'/g,
  )) {
    const headers: Record<string, string> = {};
    for (const h of (match[2] ?? "").matchAll(/-H '([^:]+): ([^']*)'/g))
      headers[(h[1] ?? "").toLowerCase()] = h[2] ?? "";
    commands.push({ url: match[1] ?? "", headers, body: match[3] ?? "" });
  }
  return commands;
}

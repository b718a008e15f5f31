/**
 * The real `ingest serve` process, with --access-log at info level, is sent valid, invalid and attack requests
 * carrying canary record content; everything it wrote to stderr (its log) is then searched for tokens, key
 * material and that content. The access log must hold a line per request, so the search cannot pass on an
 * empty log.
 */
import { createPublicKey } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { runCli } from "../../bin/ingest.js";
import { loadOrCreateSigningKeys } from "../../lambda/adapters/local-signer.js";
import { dataDirLayout } from "../../lambda/local/data-dir.js";
import { loadOrCreateDeployment } from "../../lambda/local/deployment.js";
import { type ServerProcess, startServerProcess } from "../helpers/cli.js";
import { type HttpResult, send } from "../helpers/http.js";
import { CANARY_RECORD_CONTENT, scanText } from "../helpers/log-scan.js";
import { type AttackTarget, craft, TOKEN_ATTACKS, tokenFragments } from "../helpers/token-attacks.js";

let dir: string;
let server: ServerProcess;
let stderrClosed: Promise<unknown>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ingest-loghygiene-"));
  server = await startServerProcess(dir, ["--access-log", "--log-level", "info"]);
  stderrClosed = once(server.child.stderr as NodeJS.ReadableStream, "close");
});
afterAll(async () => {
  if (server.child.exitCode === null) server.child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Runs an `ingest --json` command in this process (against the running server's registry); parses its output. */
async function ingestJson<T>(...args: string[]): Promise<T> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(["--data-dir", dir, "--json", ...args], {
    stdout: (chunk) => {
      stdout += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  if (code !== 0) throw new Error(`ingest ${args.join(" ")} exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as T;
}

/** Sends raw bytes and resolves with the raw answer (for requests node:http would refuse to build). */
function rawRequest(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(text));
    let answer = "";
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("utf8");
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
  });
}

it("logs one line per request and never a token, key material or record content", async () => {
  const stream = await ingestJson<{ id: string }>(
    ...["streams", "create", "--tenant", "acme", "--name", "orders", "--payload", "json"],
  );
  const key = await ingestJson<{ id: string }>("keys", "create", "--tenant", "acme", "--name", "shop");
  const { token } = await ingestJson<{ token: string }>("tokens", "issue", "--key", key.id, "--days", "1");
  const streamId = stream.id;
  const layout = dataDirLayout(dir);
  const keys = await loadOrCreateSigningKeys(layout.keys);
  const deployment = await loadOrCreateDeployment(layout.deployment);
  const target: AttackTarget = {
    issuer: deployment.issuer,
    audience: deployment.audience,
    keyId: key.id,
    tenant: "acme",
    kid: keys.signer.keyId,
    publicKey: createPublicKey({
      key: { kty: "EC", crv: "P-256", x: keys.jwks.keys[0]?.x, y: keys.jwks.keys[0]?.y },
      format: "jwk",
    }),
    sign: (input) => keys.signer.sign(input),
    attackerUrl: "http://127.0.0.1:9",
    nowSeconds: Math.floor(Date.now() / 1000) - 1,
  };
  const url = `${server.url}/stream/v0/data/${streamId}`;
  const record = JSON.stringify({ note: CANARY_RECORD_CONTENT, email: "canary@example.com" });
  const sent: string[] = [token];
  /** request id → status of every request the handler answered (each must have its access-log line). */
  const answered = new Map<string, number>();
  const remember = (res: HttpResult) => answered.set(String(res.headers["x-request-id"]), res.status);
  const post = async (
    bearer: string | undefined,
    body: string | Buffer,
    extra: Record<string, string> = {},
  ) => {
    const headers: Record<string, string> = {
      "x-amperity-tenant": "acme",
      "content-type": "application/json",
      ...extra,
    };
    if (bearer !== undefined) {
      headers.authorization = `Bearer ${bearer}`;
      sent.push(bearer);
    }
    const res = await send(url, { headers, body });
    remember(res);
    return res;
  };

  expect((await post(token, record)).status).toBe(202);
  expect((await post(token, gzipSync(record), { "content-encoding": "gzip" })).status).toBe(202);
  expect((await post(token, `{"broken": "${CANARY_RECORD_CONTENT}"`)).status).toBe(400);
  expect(
    (await post(token, `<x>${CANARY_RECORD_CONTENT}</x>`, { "content-type": "application/xml" })).status,
  ).toBe(415);
  expect((await post(token, record, { "x-amperity-tenant": "globex" })).status).toBe(403);
  for (const attack of TOKEN_ATTACKS) {
    expect((await post(await attack.build(target), record)).status).toBe(401);
  }
  const queryToken = await craft(target);
  sent.push(queryToken);
  const viaQuery = await send(`${url}?access_token=${queryToken}`, {
    headers: { "x-amperity-tenant": "acme", "content-type": "application/json" },
    body: record,
  });
  expect(viaQuery.status).toBe(401);
  remember(viaQuery);
  // Over Node's 16 KiB header limit: refused by the HTTP parser itself (no access-log line for it).
  const huge = await craft(target, { claims: { pad: "y".repeat(20 * 1024) } });
  sent.push(huge);
  expect((await send(url, { headers: { authorization: `Bearer ${huge}` }, body: record })).status).toBe(431);
  // A request line node:http cannot parse, with a token in it: refused before any handler runs.
  const garbled = await rawRequest(
    server.url,
    `POST /stream/v0/data/${streamId}?access_token=${token} HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n${record}`,
  );
  expect(garbled).toMatch(/^HTTP\/1\.1 400 /);
  expect(garbled).not.toContain(token);

  server.child.kill("SIGTERM");
  expect(await server.exited).toBe(0);
  await stderrClosed;
  const log = server.stderrLines;
  const text = log.join("\n");

  // The log is real and complete: a line per request answered by the handler, with its status.
  const accessLines = log.map((line) => JSON.parse(line)).filter((line) => line.msg === "request");
  // Matched by request id: with several worker processes, lines need not come in the order of the requests.
  expect(answered.size).toBe(5 + TOKEN_ATTACKS.length + 1);
  expect(new Map(accessLines.map((line) => [line.requestId, line.status]))).toEqual(answered);
  expect(text).toContain('"msg":"stopped cleanly"');

  for (const secret of sent) {
    for (const fragment of tokenFragments(secret)) expect(text).not.toContain(fragment);
  }
  expect(text).not.toContain(CANARY_RECORD_CONTENT);
  expect(text).not.toContain("canary@example.com");
  const keyFile = join(layout.keys, `${keys.signer.keyId}.private.pem`);
  const pemBody = readFileSync(keyFile, "utf8").split("\n")[1] ?? "";
  expect(pemBody.length).toBeGreaterThan(40);
  expect(text).not.toContain(pemBody);
  expect(scanText(text, "ingest serve stderr")).toEqual([]);
});

/** The `ingest` CLI as a user runs it: admin commands on the embedded store, tokens, read, and clear errors. */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { encode } from "cbor-x";
import { xmlRecordToCbor } from "../../lambda/core/xml-record.js";
import { createTenantWithCli, runCli, runCliJson, startServerProcess } from "../helpers/cli.js";
import { send } from "../helpers/http.js";

interface StreamJson {
  id: string;
  tenant: string;
  payload: string;
  status: string;
  delivery: { bufferMiB: number; bufferSeconds: number; compression: string };
  rateLimitPerSecond: number;
}

describe("ingest CLI", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ingest-cli-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates, shows, updates, disables, enables, lists and deletes a stream", async () => {
    const created = await runCliJson<StreamJson>(dir, [
      "streams",
      "create",
      "--tenant",
      "acme",
      "--name",
      "orders",
      "--payload",
      "json",
      "--buffer-mb",
      "2",
      "--buffer-seconds",
      "60",
      "--compression",
      "gzip",
      "--rate-limit",
      "100",
    ]);
    expect(created.id).toMatch(/^is-[A-Za-z0-9]{8}$/);
    expect(created).toMatchObject({
      tenant: "acme",
      payload: "json",
      status: "active",
      delivery: { bufferMiB: 2, bufferSeconds: 60, compression: "gzip" },
      rateLimitPerSecond: 100,
    });
    const shown = await runCliJson<StreamJson>(dir, ["streams", "show", created.id]);
    expect(shown).toEqual(created);
    const updated = await runCliJson<StreamJson>(dir, [
      "streams",
      "update",
      created.id,
      "--buffer-seconds",
      "120",
    ]);
    expect(updated.delivery.bufferSeconds).toBe(120);
    expect((await runCliJson<StreamJson>(dir, ["streams", "disable", created.id])).status).toBe("disabled");
    expect((await runCliJson<StreamJson>(dir, ["streams", "enable", created.id])).status).toBe("active");
    const list = await runCli(dir, ["streams", "list", "--tenant", "acme"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(created.id);
    expect(list.stdout).toMatch(/^ID\s+TENANT\s+PAYLOAD/);
    expect((await runCli(dir, ["streams", "delete", created.id])).code).toBe(0);
    const gone = await runCli(dir, ["streams", "show", created.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`error: no stream ${created.id}\n`);
  });

  it("creates a key, issues a token for it, revokes tokens and deletes the key", async () => {
    const key = await runCliJson<{ id: string; tenant: string; status: string }>(dir, [
      "keys",
      "create",
      "--tenant",
      "acme",
      "--name",
      "pos",
    ]);
    expect(key).toMatchObject({ tenant: "acme", status: "active" });
    const issued = await runCliJson<{ token: string; expires_at: string }>(dir, [
      "tokens",
      "issue",
      "--key",
      key.id,
      "--days",
      "3",
    ]);
    const [header, payload] = issued.token
      .split(".")
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
    expect(header).toMatchObject({ alg: "ES256", typ: "JWT", kid: expect.any(String) });
    expect(payload).toMatchObject({ sub: key.id, tenant: "acme" });
    expect(payload.exp - payload.iat).toBe(3 * 86_400);
    const revoked = await runCliJson<{ revokedBefore: string }>(dir, ["keys", "revoke-tokens", key.id]);
    expect(Date.parse(revoked.revokedBefore)).toBeGreaterThan(payload.iat * 1000);
    const keys = await runCli(dir, ["keys", "list"]);
    expect(keys.stdout).toContain(key.id);
    expect((await runCliJson<{ status: string }>(dir, ["keys", "delete", key.id])).status).toBe("deleted");
    const refused = await runCli(dir, ["tokens", "issue", "--key", key.id, "--days", "1"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("is deleted");
  });

  it.each([
    [
      ["streams", "create", "--tenant", "acme", "--name", "x", "--payload", "csv"],
      "--payload must be json or xml",
    ],
    [["streams", "create", "--tenant", "Not Valid", "--name", "x", "--payload", "json"], "--tenant must be"],
    [
      ["streams", "create", "--tenant", "acme", "--name", "x", "--payload", "json", "--buffer-mb", "500"],
      "from 1 to 128",
    ],
    [["streams", "create", "--tenant", "acme", "--name", "x"], "required option"],
    [["tokens", "issue", "--key", "ik-x", "--days", "0"], "--days must be a whole number from 1 to 365"],
    [["tokens", "issue", "--key", "ik-x", "--days", "1.5"], "--days must be a whole number"],
    [["streams", "frobnicate"], "unknown command"],
    [["serve", "--port", "99999"], "--port must be 0–65535"],
  ])("refuses %j with a clear message and exit code 2, no stack trace", async (args, message) => {
    const result = await runCli(dir, args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("prints help for every command", async () => {
    for (const args of [
      [],
      ["streams"],
      ["streams", "create"],
      ["keys", "revoke-tokens"],
      ["tokens", "issue"],
      ["read"],
    ]) {
      const result = await runCli(dir, [...args, "--help"]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("Usage: ingest");
    }
  });

  it("reads NDJSON, gzipped NDJSON and CBOR sequence batch files as JSON lines", async () => {
    const ndjson = join(dir, "a.ndjson");
    writeFileSync(ndjson, '{"a":1}\n{"b":"x"}\n');
    writeFileSync(`${ndjson}.gz`, gzipSync('{"a":1}\n'));
    const cbor = join(dir, "b.cbor");
    writeFileSync(
      cbor,
      Buffer.concat([
        encode({ records: { record: ["1", "2"] } }),
        encode({ zip: "00501" }),
        xmlRecordToCbor("<a><__proto__>v</__proto__><constructor>w</constructor></a>"),
      ]),
    );
    expect((await runCli(dir, ["read", ndjson])).stdout).toBe('{"a":1}\n{"b":"x"}\n');
    expect((await runCli(dir, ["read", `${ndjson}.gz`])).stdout).toBe('{"a":1}\n');
    expect((await runCli(dir, ["read", cbor])).stdout).toBe(
      '{"records":{"record":["1","2"]}}\n{"zip":"00501"}\n{"a":{"__proto__":"v","constructor":"w"}}\n',
    );
    const missing = await runCli(dir, ["read", join(dir, "nope.ndjson")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("ENOENT");
  });

  it("administers the registry of a running server through its endpoint, and flushes it", async () => {
    const server = await startServerProcess(dir);
    try {
      const { streams, token } = await createTenantWithCli(dir, "live", ["json"]);
      const res = await send(`${server.url}/stream/v0/data/${streams[0]}`, {
        headers: {
          authorization: `Bearer ${token}`,
          "x-amperity-tenant": "live",
          "content-type": "application/json",
        },
        body: '{"hello":"world"}',
      });
      expect(res.status).toBe(202);
      const flushed = await runCliJson<{ sealed: string[] }>(dir, ["flush"]);
      expect(flushed.sealed).toHaveLength(1);
      const file = join(dir, "objects", flushed.sealed[0] ?? "");
      expect(statSync(file).size).toBeGreaterThan(0);
      expect((await runCli(dir, ["read", file])).stdout).toBe('{"hello":"world"}\n');
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });

  it("rotates signing keys on a running server: a new key verifies at once, a deleted one stops verifying", async () => {
    const server = await startServerProcess(dir);
    try {
      const { streams, keyId, token: oldToken } = await createTenantWithCli(dir, "rotate", ["json"]);
      const post = (token: string) =>
        send(`${server.url}/stream/v0/data/${streams[0]}`, {
          headers: {
            authorization: `Bearer ${token}`,
            "x-amperity-tenant": "rotate",
            "content-type": "application/json",
          },
          body: "{}",
        });
      const before = await runCliJson<{ kids: string[]; signing: string }>(dir, ["signing-keys", "list"]);
      const created = await runCliJson<{ kid: string; reloaded: boolean }>(dir, ["signing-keys", "create"]);
      expect(created.reloaded).toBe(true);
      const { token: newToken } = await runCliJson<{ token: string }>(dir, [
        "tokens",
        "issue",
        "--key",
        keyId,
        "--days",
        "1",
      ]);
      const kidOf = (token: string) =>
        JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString()).kid;
      expect(kidOf(newToken)).toBe(created.kid);
      expect((await post(newToken)).status).toBe(202);
      expect((await post(oldToken)).status).toBe(202);
      const refused = await runCli(dir, ["signing-keys", "delete", created.kid]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("is the newest signing key");
      expect((await runCli(dir, ["signing-keys", "delete", before.signing])).code).toBe(0);
      const old = await post(oldToken);
      expect(old.status).toBe(401);
      expect(old.json.error).toMatchObject({ code: "unknown_signing_key" });
      expect((await post(newToken)).status).toBe(202);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });
});

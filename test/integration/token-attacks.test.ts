/**
 * Token and access attacks (issue 5), each one a real request to the real local server over loopback, with
 * tokens hand-crafted with node:crypto; then the same tokens against the AWS path's verifier (KMS public keys).
 * Every response is checked not to echo the token, and the server's log not to hold any of them.
 */
import { createPublicKey, randomUUID, sign } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KMSClient } from "@aws-sdk/client-kms";
import { mockClient } from "aws-sdk-client-mock";
import { kmsKeyIdOf } from "../../lambda/adapters/kms-signer.js";
import { KmsTokenVerifier } from "../../lambda/adapters/kms-token-verifier.js";
import { authorize, MAX_ACCESS_TOKEN_LENGTH } from "../../lambda/core/authorize.js";
import { UnauthorizedError } from "../../lambda/core/errors.js";
import type { StreamRecord } from "../../lambda/core/types.js";
import { FakeKmsKeys, kmsKeyArn } from "../helpers/fake-kms.js";
import { type HttpResult, send } from "../helpers/http.js";
import {
  CollectingLogger,
  InMemoryRegistry,
  KEY_ID,
  makeApiKey,
  TENANT,
} from "../helpers/in-memory-ports.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";
import { CANARY_RECORD_CONTENT as CANARY } from "../helpers/log-scan.js";
import { rejectionOf, thrownBy } from "../helpers/thrown.js";
import { type AttackTarget, craft, TOKEN_ATTACKS, tokenFragments } from "../helpers/token-attacks.js";
import { AUDIENCE, ISSUER, tokenClock } from "../helpers/tokens.js";

const BODY = JSON.stringify({ note: CANARY, n: 1 });

/** A loopback server standing in for the attacker's key URLs: the verifier must never call it. */
let attackerServer: Server;
let attackerUrl: string;
const attackerRequests: string[] = [];

beforeAll(async () => {
  attackerServer = createServer((req: IncomingMessage, res) => {
    attackerRequests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "application/json" }).end('{"keys":[]}');
  });
  await new Promise<void>((resolve) => attackerServer.listen(0, "127.0.0.1", resolve));
  attackerUrl = `http://127.0.0.1:${(attackerServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => attackerServer.close(() => resolve()));
});

/** Every token sent in this file, to check afterwards that no log line holds one. */
const sentTokens: string[] = [];

function headersFor(token: string | undefined, tenant = "acme"): Record<string, string> {
  const headers: Record<string, string> = { "x-amperity-tenant": tenant, "content-type": "application/json" };
  if (token !== undefined) {
    headers.authorization = `Bearer ${token}`;
    sentTokens.push(token);
  }
  return headers;
}

/** The response names neither the token nor any part of it, in its body or in any header. */
function expectNoEcho(res: HttpResult, token: string): void {
  const everything = `${res.text}\n${JSON.stringify(res.headers)}`;
  for (const fragment of tokenFragments(token)) expect(everything).not.toContain(fragment);
}

function errorOf(res: HttpResult): { code: string; message: string; retryable: boolean } {
  return res.json.error as { code: string; message: string; retryable: boolean };
}

describe("token attacks against the local server over HTTP", () => {
  let t: TestRuntime;
  let stream: StreamRecord;
  let target: AttackTarget;

  beforeAll(async () => {
    t = await startTestRuntime({ accessLog: true });
    const ready = await t.ready();
    stream = ready.stream;
    const [jwk] = t.runtime.keys.jwks.keys;
    target = {
      issuer: t.runtime.deployment.issuer,
      audience: t.runtime.deployment.audience,
      keyId: ready.key.id,
      tenant: ready.key.tenant,
      kid: t.runtime.keys.signer.keyId,
      publicKey: createPublicKey({ key: { kty: "EC", crv: "P-256", x: jwk?.x, y: jwk?.y }, format: "jwk" }),
      sign: (input) => t.runtime.keys.signer.sign(input),
      attackerUrl,
      nowSeconds: Math.floor(Math.min(Date.now(), t.clock.now()) / 1000),
    };
  });
  afterAll(async () => {
    await t.stop();
  });

  const post = (token: string | undefined, options: { tenant?: string; streamId?: string } = {}) =>
    send(t.dataUrl(options.streamId ?? stream.id), {
      headers: headersFor(token, options.tenant),
      body: BODY,
    });

  it("accepts a token crafted here with no flaw (the control: the attacks below differ in one thing)", async () => {
    const res = await post(await craft(target));
    expect(res.status).toBe(202);
  });

  it.each(TOKEN_ATTACKS.map((attack) => [attack.name, attack] as const))(
    "answers 401 to a token with %s",
    async (_name, attack) => {
      const token = await attack.build(target);
      const res = await post(token);
      expect({ status: res.status, code: errorOf(res).code }).toEqual({ status: 401, code: attack.code });
      expect(errorOf(res).retryable).toBe(false);
      expectNoEcho(res, token);
    },
  );

  it("never fetches a jku or x5u URL (the loopback attacker server answers, and got no request)", async () => {
    const probe = await send(`${attackerUrl}/probe`, { method: "GET" });
    expect(probe.status).toBe(200);
    attackerRequests.length = 0;
    for (const attack of TOKEN_ATTACKS.filter((a) => a.name.startsWith("jku"))) {
      expect((await post(await attack.build(target))).status).toBe(401);
    }
    expect(attackerRequests).toEqual([]);
  });

  it("refuses a 10 KB token without parsing it, quickly, saying how long tokens may be", async () => {
    const token = await craft(target, { claims: { pad: "x".repeat(10 * 1024) } });
    const started = performance.now();
    const res = await post(token);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(res.status).toBe(401);
    expect(errorOf(res).message).toBe(
      `access token is ${token.length.toLocaleString("en-US")} characters long; tokens of this API are at most ${MAX_ACCESS_TOKEN_LENGTH.toLocaleString("en-US")}`,
    );
    expectNoEcho(res, token);
  });

  it("answers 431 when the token makes the request headers larger than 16 KiB (Node's header limit)", async () => {
    const token = await craft(target, { claims: { pad: "x".repeat(20 * 1024) } });
    const res = await post(token);
    expect(res.status).toBe(431);
    expectNoEcho(res, token);
  });

  it("answers 401 to a token in the ?access_token= query string, telling to use the Authorization header", async () => {
    const token = await craft(target);
    sentTokens.push(token);
    const res = await send(`${t.dataUrl(stream.id)}?access_token=${token}`, {
      headers: headersFor(undefined),
      body: BODY,
    });
    expect(res.status).toBe(401);
    expect(errorOf(res)).toEqual({
      code: "missing_token",
      message: "Authorization header is missing; send Authorization: Bearer <access token>",
      retryable: false,
    });
    expectNoEcho(res, token);
  });

  it("answers 403 when X-Amperity-Tenant names another tenant than the token's", async () => {
    const token = await craft(target);
    const res = await post(token, { tenant: "globex" });
    expect(res.status).toBe(403);
    expect(errorOf(res).code).toBe("forbidden");
    expectNoEcho(res, token);
  });

  it("answers 401 to a token signed for another tenant than its API key's, even with a matching tenant header", async () => {
    // Signed with the live key (defence in depth): the registry knows the key belongs to acme.
    const token = await craft(target, { claims: { tenant: "globex" } });
    const res = await post(token, { tenant: "globex" });
    expect(res.status).toBe(401);
    expect(errorOf(res).code).toBe("invalid_token");
  });

  it("answers 404, exactly as for a missing stream, for another tenant's stream (no existence leak)", async () => {
    const other = await t.createStream({ tenant: "globex" });
    const token = await craft(target);
    const foreign = await post(token, { streamId: other.id });
    const missing = await post(token, { streamId: "is-Nothere1" });
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(errorOf(foreign)).toEqual({
      ...errorOf(missing),
      message: errorOf(missing).message.replace("is-Nothere1", other.id),
    });
    const headerNames = (res: HttpResult) => Object.keys(res.headers).sort();
    expect(headerNames(foreign)).toEqual(headerNames(missing));
    expect(foreign.text).not.toContain("globex");
    expectNoEcho(foreign, token);
  });

  it("answers 401 to the tokens of a deleted API key once the registry cache expires", async () => {
    const key = await t.createKey("acme");
    const token = await craft({ ...target, keyId: key.id });
    expect((await post(token)).status).toBe(202);
    await t.runtime.admin.saveApiKey({ ...key, status: "deleted" });
    t.clock.advance(2001);
    const res = await post(token);
    expect({ status: res.status, code: errorOf(res).code }).toEqual({ status: 401, code: "key_deleted" });
    expectNoEcho(res, token);
  });

  it("answers 401 to a token issued before its key's revoked_before", async () => {
    const key = await t.createKey("acme");
    const token = await craft({ ...target, keyId: key.id });
    expect((await post(token)).status).toBe(202);
    await t.runtime.admin.saveApiKey({
      ...key,
      revokedBefore: new Date((target.nowSeconds + 1) * 1000).toISOString(),
    });
    t.clock.advance(2001);
    const res = await post(token);
    expect({ status: res.status, code: errorOf(res).code }).toEqual({ status: 401, code: "token_revoked" });
    // A token issued at or after revoked_before is accepted: revocation is by time, not a ban of the key.
    const fresh = await craft({ ...target, keyId: key.id }, { claims: { iat: target.nowSeconds + 1 } });
    expect((await post(fresh)).status).toBe(202);
  });

  it("logged none of the tokens sent above and none of the record content", () => {
    expect(sentTokens.length).toBeGreaterThan(TOKEN_ATTACKS.length);
    const log = t.logger.lines.join("\n");
    expect(log).toContain('"message":"request"');
    for (const token of sentTokens) {
      for (const fragment of tokenFragments(token)) expect(log).not.toContain(fragment);
    }
    expect(log).not.toContain(CANARY);
  });
});

describe("the same token attacks against the AWS path's verifier (KMS public keys) and authorize", () => {
  const kms = mockClient(KMSClient);
  const keys = new FakeKmsKeys();
  const keyArn = kmsKeyArn(randomUUID());
  const pair = keys.add(keyArn);
  const clock = tokenClock();
  const registry = new InMemoryRegistry({ apiKeys: [makeApiKey()] });
  let verifier: KmsTokenVerifier;
  let target: AttackTarget;

  beforeAll(async () => {
    keys.install(kms);
    verifier = new KmsTokenVerifier({
      kms: new KMSClient({ region: "eu-west-1" }),
      keyArns: [keyArn],
      issuer: ISSUER,
      audience: AUDIENCE,
      clock,
      logger: new CollectingLogger(),
    });
    await verifier.ensureLoaded();
    target = {
      issuer: ISSUER,
      audience: AUDIENCE,
      keyId: KEY_ID,
      tenant: TENANT,
      kid: kmsKeyIdOf(keyArn),
      publicKey: pair.publicKey,
      sign: async (input) => sign("sha256", input, { key: pair.privateKey, dsaEncoding: "ieee-p1363" }),
      attackerUrl,
      nowSeconds: Math.floor(clock.now() / 1000),
    };
  });
  afterAll(() => kms.restore());

  const check = (token: string, tenant = TENANT) =>
    authorize({ authorization: `Bearer ${token}`, "x-amperity-tenant": tenant }, verifier, registry, clock);

  it("accepts a token crafted here with no flaw (the control)", async () => {
    await expect(check(await craft(target))).resolves.toMatchObject({ keyId: KEY_ID, tenant: TENANT });
  });

  it.each(TOKEN_ATTACKS.map((attack) => [attack.name, attack] as const))(
    "refuses a token with %s with 401",
    async (_name, attack) => {
      attackerRequests.length = 0;
      const token = await attack.build(target);
      const refused = await rejectionOf(check(token));
      expect(refused).toBeInstanceOf(UnauthorizedError);
      expect(refused).toMatchObject({ status: 401, code: attack.code });
      expect((refused as Error).message).not.toContain(token.split(".")[1]?.slice(0, 32));
      // The 10 KB token is validly signed: authorize refuses it by its length, before the verifier sees it.
      if (!attack.name.startsWith("10 KB")) {
        const error = thrownBy(() => verifier.verify(token), UnauthorizedError);
        expect({ status: error.status, code: error.code }).toEqual({ status: 401, code: attack.code });
      }
      expect(attackerRequests).toEqual([]);
    },
  );

  it("refuses deleted and revoked keys and a tenant mismatch", async () => {
    const token = await craft(target);
    await expect(check(token, "globex")).rejects.toMatchObject({ status: 403 });
    registry.putApiKey(makeApiKey({ revokedBefore: new Date((target.nowSeconds + 1) * 1000).toISOString() }));
    await expect(check(token)).rejects.toMatchObject({ status: 401, code: "token_revoked" });
    registry.putApiKey(makeApiKey({ status: "deleted" }));
    await expect(check(token)).rejects.toMatchObject({ status: 401, code: "key_deleted" });
  });
});

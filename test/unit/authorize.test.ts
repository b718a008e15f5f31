/** Who is calling: the Bearer token, its API key's state on every request, and the tenant the request names. */
import { authorize, bearerToken, MAX_ACCESS_TOKEN_LENGTH } from "../../lambda/core/authorize.js";
import { ForbiddenError, ServiceUnavailableError, UnauthorizedError } from "../../lambda/core/errors.js";
import type { AccessTokenClaims, TokenVerifier } from "../../lambda/core/ports.js";
import {
  FakeClock,
  InMemoryRegistry,
  KEY_ID,
  makeApiKey,
  OTHER_TENANT,
  TENANT,
} from "../helpers/in-memory-ports.js";
import { rejectionOf, thrownBy } from "../helpers/thrown.js";

const NOW_SECONDS = Math.floor(new FakeClock().now() / 1000);

function claims(overrides: Partial<AccessTokenClaims> = {}): AccessTokenClaims {
  return {
    keyId: KEY_ID,
    tenant: TENANT,
    issuedAt: NOW_SECONDS - 60,
    expiresAt: NOW_SECONDS + 3600,
    tokenId: "jti-1",
    ...overrides,
  };
}

/** A verifier that accepts exactly one token string, as a cache hit would, and records what it saw. */
function stubVerifier(accepted: AccessTokenClaims) {
  const seen: string[] = [];
  const verifier: TokenVerifier = {
    verify(token: string): AccessTokenClaims {
      seen.push(token);
      if (token !== "good.token.sig") throw new UnauthorizedError("bad token", "invalid_signature");
      return accepted;
    },
  };
  return { verifier, seen };
}

function headers(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { authorization: "Bearer good.token.sig", "x-amperity-tenant": TENANT, ...overrides };
}

describe("bearerToken", () => {
  it.each([
    ["Bearer abc.def.ghi", "abc.def.ghi"],
    ["bearer abc.def.ghi", "abc.def.ghi"],
    ["BEARER abc", "abc"],
    ["  Bearer   abc  ", "abc"],
    ["Bearer\tabc", "abc"],
  ])("reads the token out of %j", (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each<[string | undefined, string]>([
    [undefined, "missing_token"],
    ["", "missing_token"],
    [" \t ", "missing_token"],
    ["Bearer", "malformed_token"],
    ["Bearer ", "malformed_token"],
    ["Basic dXNlcjpwYXNz", "malformed_token"],
    ["abc.def.ghi", "malformed_token"],
    ["Bearer abc def", "malformed_token"],
    ["Bearerabc", "malformed_token"],
    ["Token abc", "malformed_token"],
  ])("answers 401 to Authorization %j with %s", (header, code) => {
    let thrown: unknown;
    try {
      bearerToken(header);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UnauthorizedError);
    expect((thrown as UnauthorizedError).code).toBe(code);
    expect((thrown as UnauthorizedError).status).toBe(401);
  });

  it("takes a token of exactly MAX_ACCESS_TOKEN_LENGTH characters and refuses one character more, unparsed", () => {
    const longest = "a".repeat(MAX_ACCESS_TOKEN_LENGTH);
    expect(bearerToken(`Bearer ${longest}`)).toBe(longest);
    const error = thrownBy(() => bearerToken(`Bearer ${longest}a`), UnauthorizedError);
    expect({ status: error.status, code: error.code, message: error.message }).toEqual({
      status: 401,
      code: "malformed_token",
      message: "access token is 4,097 characters long; tokens of this API are at most 4,096",
    });
  });
});

describe("authorize", () => {
  function setup(accepted: AccessTokenClaims = claims()) {
    const clock = new FakeClock();
    const registry = new InMemoryRegistry({ apiKeys: [makeApiKey()] });
    const { verifier, seen } = stubVerifier(accepted);
    const run = (h: Record<string, string | undefined> = headers()) =>
      authorize(h, verifier, registry, clock);
    return { clock, registry, seen, run };
  }

  it("returns the claims of a valid token for the named tenant", async () => {
    const { run, seen } = setup();
    await expect(run()).resolves.toEqual(claims());
    expect(seen).toEqual(["good.token.sig"]);
  });

  it("re-checks expiry on every request, even for claims the verifier had cached", async () => {
    const { run, clock } = setup();
    await expect(run()).resolves.toEqual(claims());
    clock.advance(3600 * 1000);
    const error = await rejectionOf(run());
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).code).toBe("token_expired");
  });

  it.each<[string, (registry: InMemoryRegistry) => void, string]>([
    ["the key is missing", (r) => r.apiKeys.clear(), "key_deleted"],
    ["the key is deleted", (r) => r.putApiKey(makeApiKey({ status: "deleted" })), "key_deleted"],
    [
      "the key belongs to another tenant",
      (r) => r.putApiKey(makeApiKey({ tenant: OTHER_TENANT })),
      "invalid_token",
    ],
    [
      "the key refuses tokens issued before a moment after iat",
      (r) => r.putApiKey(makeApiKey({ revokedBefore: new Date((NOW_SECONDS - 59) * 1000).toISOString() })),
      "token_revoked",
    ],
    [
      "the key refuses tokens issued before a moment a fraction of a second after iat",
      (r) =>
        r.putApiKey(makeApiKey({ revokedBefore: new Date((NOW_SECONDS - 60) * 1000 + 1).toISOString() })),
      "token_revoked",
    ],
    [
      "the key's revoked_before is unparseable (fails closed)",
      (r) => r.putApiKey(makeApiKey({ revokedBefore: "last tuesday" })),
      "token_revoked",
    ],
  ])("answers 401 when %s", async (_name, change, code) => {
    const { run, registry } = setup();
    change(registry);
    const error = await rejectionOf(run());
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).code).toBe(code);
  });

  it.each([
    ["exactly at iat", (NOW_SECONDS - 60) * 1000],
    ["before iat", (NOW_SECONDS - 3600) * 1000],
    ["empty (never revoked)", undefined],
  ])("accepts a token when the key's revoked_before is %s", async (_name, revokedMs) => {
    const { run, registry } = setup();
    registry.putApiKey(
      makeApiKey(
        revokedMs === undefined
          ? { revokedBefore: "" }
          : { revokedBefore: new Date(revokedMs).toISOString() },
      ),
    );
    await expect(run()).resolves.toEqual(claims());
  });

  it.each<[string, string | undefined]>([
    ["missing", undefined],
    ["empty", ""],
    ["another tenant", OTHER_TENANT],
    ["a prefix of the tenant", TENANT.slice(0, 2)],
  ])("answers 403 when X-Amperity-Tenant is %s", async (_name, tenant) => {
    const { run } = setup();
    const error = await rejectionOf(run(headers({ "x-amperity-tenant": tenant })));
    expect(error).toBeInstanceOf(ForbiddenError);
    expect((error as ForbiddenError).status).toBe(403);
  });

  it("ignores whitespace around X-Amperity-Tenant", async () => {
    const { run } = setup();
    await expect(run(headers({ "x-amperity-tenant": `  ${TENANT} ` }))).resolves.toEqual(claims());
  });

  it("answers 401, not 403, to a bad token even when the tenant header is missing", async () => {
    const { run } = setup();
    const error = await rejectionOf(run({ authorization: "Bearer bad.token.sig" }));
    expect(error).toBeInstanceOf(UnauthorizedError);
  });

  it("passes a registry outage on as 503", async () => {
    const { run, registry } = setup();
    registry.down = true;
    await expect(run()).rejects.toBeInstanceOf(ServiceUnavailableError);
  });

  it("reads the API key once per request and no stream", async () => {
    const { run, registry } = setup();
    await run();
    await run();
    expect(registry.reads).toEqual([
      { kind: "apiKey", id: KEY_ID },
      { kind: "apiKey", id: KEY_ID },
    ]);
  });
});

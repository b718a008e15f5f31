/**
 * The TokenVerifier on aws-jwt-verify: real ES256 tokens against an in-memory JWKS, each library error mapped to
 * its 401 code, and verified tokens cached by their exact string until they expire.
 */
import { generateKeyPairSync } from "node:crypto";
import { JwtVerifier } from "aws-jwt-verify";
import {
  JwtExpiredError,
  JwtInvalidAudienceError,
  JwtInvalidIssuerError,
  JwtInvalidSignatureAlgorithmError,
  JwtInvalidSignatureError,
  JwtNotBeforeError,
  JwtParseError,
  JwtWithoutValidKidError,
  KidNotFoundInJwksError,
} from "aws-jwt-verify/error";
import { KeyObjectSigner } from "../../lambda/adapters/local-signer.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { UnauthorizedError } from "../../lambda/core/errors.js";
import { KEY_ID, makeApiKey, TENANT } from "../helpers/in-memory-ports.js";
import { thrownBy } from "../helpers/thrown.js";
import {
  AUDIENCE,
  type CraftOptions,
  craftToken,
  ISSUER,
  issueToken,
  jwks,
  makeVerifier,
  tokenClock,
} from "../helpers/tokens.js";

const unauthorizedOf = (fn: () => unknown) => thrownBy(fn, UnauthorizedError);

/** Counts signature verifications done by aws-jwt-verify. */
function spyOnSignatureChecks() {
  return jest.spyOn(JwtVerifier.prototype, "verifySync");
}

afterEach(() => jest.restoreAllMocks());

describe("JwksTokenVerifier", () => {
  it("returns the claims of a token issued by issueAccessToken", async () => {
    const clock = tokenClock();
    const token = await issueToken(makeApiKey(), clock, 2);
    const nowSeconds = clock.now() / 1000;
    expect(makeVerifier(clock).verify(token)).toStrictEqual({
      keyId: KEY_ID,
      tenant: TENANT,
      issuedAt: nowSeconds,
      expiresAt: nowSeconds + 2 * 86_400,
      tokenId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it("accepts an aud list that names the audience and a token without jti", () => {
    const claims = makeVerifier(tokenClock()).verify(
      craftToken({ claims: { aud: ["other", AUDIENCE], jti: undefined } }),
    );
    expect(claims.tokenId).toBe("");
  });

  it("accepts tokens of every live kid while signing keys rotate", async () => {
    const clock = tokenClock();
    const next = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const nextJwk = next.publicKey.export({ format: "jwk" });
    const rotated = {
      keys: [
        ...jwks.keys,
        {
          kty: "EC",
          crv: "P-256",
          x: String(nextJwk.x),
          y: String(nextJwk.y),
          kid: "k-test-2",
          alg: "ES256",
          use: "sig",
        },
      ],
    };
    const verifier = makeVerifier(clock, { jwks: rotated });
    const newToken = await issueAccessToken({
      issuer: ISSUER,
      audience: AUDIENCE,
      signer: new KeyObjectSigner("k-test-2", next.privateKey),
      key: makeApiKey(),
      days: 1,
      clock,
    });
    expect(verifier.verify(newToken.token).keyId).toBe(KEY_ID);
    expect(verifier.verify(await issueToken(makeApiKey(), clock)).keyId).toBe(KEY_ID);
  });

  describe("maps each aws-jwt-verify error class to its 401 code", () => {
    const now = Math.floor(Date.now() / 1000);
    it.each<[string, CraftOptions | string, abstract new (...args: never[]) => Error, string]>([
      ["JwtExpiredError", { claims: { exp: now - 60 } }, JwtExpiredError, "token_expired"],
      ["JwtNotBeforeError", { claims: { nbf: now + 3600 } }, JwtNotBeforeError, "token_not_yet_valid"],
      [
        "JwtInvalidIssuerError",
        { claims: { iss: "https://other.test" } },
        JwtInvalidIssuerError,
        "wrong_issuer",
      ],
      ["JwtInvalidAudienceError", { claims: { aud: "other" } }, JwtInvalidAudienceError, "wrong_audience"],
      [
        "KidNotFoundInJwksError",
        { header: { kid: "k-gone" } },
        KidNotFoundInJwksError,
        "unknown_signing_key",
      ],
      [
        "JwtInvalidSignatureAlgorithmError",
        { header: { alg: "HS256" }, signature: "hs256" },
        JwtInvalidSignatureAlgorithmError,
        "wrong_algorithm",
      ],
      ["JwtInvalidSignatureError", { signature: "stranger" }, JwtInvalidSignatureError, "invalid_signature"],
      ["JwtParseError", "not.a.jwt!", JwtParseError, "malformed_token"],
      [
        "any other error (JwtWithoutValidKidError)",
        { header: { kid: undefined } },
        JwtWithoutValidKidError,
        "invalid_token",
      ],
    ])("%s", (_name, token, errorClass, code) => {
      const error = unauthorizedOf(() =>
        makeVerifier(tokenClock()).verify(typeof token === "string" ? token : craftToken(token)),
      );
      expect(error.code).toBe(code);
      expect(error.status).toBe(401);
      expect(error.cause).toBeInstanceOf(errorClass);
      expect(error.message).not.toContain(typeof token === "string" ? token : "eyJ");
    });
  });

  it.each<[string, CraftOptions["claims"], string]>([
    ["tenant", { tenant: undefined }, "invalid_token"],
    ["a string tenant", { tenant: 42 }, "invalid_token"],
    ["sub", { sub: undefined }, "invalid_token"],
    ["iat", { iat: undefined }, "invalid_token"],
    ["exp", { exp: undefined }, "invalid_token"],
  ])("refuses a well-signed token that lacks %s", (_name, claims, code) => {
    expect(unauthorizedOf(() => makeVerifier(tokenClock()).verify(craftToken({ claims }))).code).toBe(code);
  });

  it("answers invalid_signature (not a generic invalid_token) for a signature of the wrong size", () => {
    // node:crypto, not aws-jwt-verify, throws for it ("Malformed signature"): a truncated token.
    const error = unauthorizedOf(() => makeVerifier(tokenClock()).verify(craftToken().slice(0, -10)));
    expect(error.code).toBe("invalid_signature");
    expect(error.status).toBe(401);
  });

  describe("cache of verified tokens", () => {
    it("checks the signature of a token once: the second verify returns the cached claims", async () => {
      const clock = tokenClock();
      const verifier = makeVerifier(clock);
      const token = await issueToken(makeApiKey(), clock);
      const checks = spyOnSignatureChecks();
      const first = verifier.verify(token);
      clock.advance(60_000);
      const second = verifier.verify(token);
      expect(second).toBe(first);
      expect(checks).toHaveBeenCalledTimes(1);
    });

    it("keys the cache by the exact token string", async () => {
      const clock = tokenClock();
      const verifier = makeVerifier(clock);
      const token = await issueToken(makeApiKey(), clock);
      verifier.verify(token);
      const [header, claims, signature] = token.split(".");
      expect(() => verifier.verify(`${header}.${claims}.${signature}x`)).toThrow(UnauthorizedError);
    });

    it("re-verifies a cached token once its exp has passed, and refuses it", async () => {
      const clock = tokenClock();
      const verifier = makeVerifier(clock);
      const token = await issueToken(makeApiKey(), clock, 1);
      verifier.verify(token);
      const checks = spyOnSignatureChecks();
      clock.advance(86_400_000);
      const error = unauthorizedOf(() => verifier.verify(token));
      expect(checks).toHaveBeenCalledTimes(1);
      expect(error.code).toBe("token_expired");
    });

    it("refuses an expired cached token when the system clock agrees with its clock (as in production)", async () => {
      const clock = tokenClock();
      jest.spyOn(Date, "now").mockImplementation(() => clock.now());
      const verifier = makeVerifier(clock);
      const token = await issueToken(makeApiKey(), clock, 1);
      verifier.verify(token);
      clock.advance(86_400_000 - 1000);
      expect(verifier.verify(token).keyId).toBe(KEY_ID);
      clock.advance(2000);
      const checks = spyOnSignatureChecks();
      const error = unauthorizedOf(() => verifier.verify(token));
      expect(checks).toHaveBeenCalledTimes(1);
      expect(error.code).toBe("token_expired");
    });

    it("never caches a refused token", () => {
      const verifier = makeVerifier(tokenClock());
      const token = craftToken({ signature: "stranger" });
      const checks = spyOnSignatureChecks();
      expect(() => verifier.verify(token)).toThrow(UnauthorizedError);
      expect(() => verifier.verify(token)).toThrow(UnauthorizedError);
      expect(checks).toHaveBeenCalledTimes(2);
    });

    it("holds at most maxCachedTokens tokens, forgetting the oldest", async () => {
      const clock = tokenClock();
      const verifier = makeVerifier(clock, { maxCachedTokens: 2 });
      const [a, b, c] = await Promise.all([1, 2, 3].map((days) => issueToken(makeApiKey(), clock, days)));
      const checks = spyOnSignatureChecks();
      for (const token of [a, b, c, c, b]) verifier.verify(token ?? "");
      expect(checks).toHaveBeenCalledTimes(3);
      verifier.verify(a ?? "");
      expect(checks).toHaveBeenCalledTimes(4);
    });
  });
});

/** Issuing access tokens: the ES256 JWT format, lifetime bounds, and refusal for deleted or revoked keys. */
import { verify } from "node:crypto";
import {
  issueAccessToken,
  MAX_TOKEN_DAYS,
  revokedBeforeSeconds,
  type TokenSigner,
} from "../../lambda/core/access-token.js";
import type { ApiKeyRecord } from "../../lambda/core/types.js";
import { FakeClock, FIXED_START, KEY_ID, makeApiKey, TENANT } from "../helpers/in-memory-ports.js";
import { rejectedWith } from "../helpers/thrown.js";

const rejectionOf = (promise: Promise<unknown>) => rejectedWith(promise, Error);

import {
  AUDIENCE,
  decodeTokenPart,
  ISSUER,
  SIGNING_KID,
  signer,
  signingPublicKey,
} from "../helpers/tokens.js";

const START_SECONDS = Math.floor(FIXED_START / 1000);

function issue(
  key: ApiKeyRecord = makeApiKey(),
  days = 3,
  clock = new FakeClock(),
  tokenSigner: TokenSigner = signer,
) {
  return issueAccessToken({ issuer: ISSUER, audience: AUDIENCE, signer: tokenSigner, key, days, clock });
}

describe("issueAccessToken", () => {
  it("writes the header alg ES256, typ JWT and the signer's kid", async () => {
    const { token } = await issue();
    expect(decodeTokenPart(token, 0)).toStrictEqual({ alg: "ES256", typ: "JWT", kid: SIGNING_KID });
  });

  it("writes the claims iss, aud, sub, tenant, iat, nbf, exp and jti", async () => {
    const issued = await issue(makeApiKey(), 3);
    expect(decodeTokenPart(issued.token, 1)).toStrictEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: KEY_ID,
      tenant: TENANT,
      iat: START_SECONDS,
      nbf: START_SECONDS,
      exp: START_SECONDS + 3 * 86_400,
      jti: issued.tokenId,
    });
    expect(issued.tokenId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("reports when the token was issued and when it expires, in whole seconds", async () => {
    const issued = await issue(makeApiKey(), 2);
    expect(issued.issuedAt).toEqual(new Date(START_SECONDS * 1000));
    expect(issued.expiresAt).toEqual(new Date((START_SECONDS + 2 * 86_400) * 1000));
  });

  it("signs with ES256 (r‖s, 64 bytes) so the public key verifies it", async () => {
    const { token } = await issue();
    const [header, claims, signature] = token.split(".");
    const signatureBytes = Buffer.from(signature ?? "", "base64url");
    expect(signatureBytes).toHaveLength(64);
    const valid = verify(
      "sha256",
      Buffer.from(`${header}.${claims}`),
      { key: signingPublicKey, dsaEncoding: "ieee-p1363" },
      signatureBytes,
    );
    expect(valid).toBe(true);
  });

  it("gives every token its own jti", async () => {
    const tokens = await Promise.all([issue(), issue(), issue()]);
    expect(new Set(tokens.map((t) => t.tokenId)).size).toBe(3);
  });

  it.each([[1], [30], [MAX_TOKEN_DAYS]])("issues a token for %i day(s)", async (days) => {
    const issued = await issue(makeApiKey(), days);
    expect(decodeTokenPart(issued.token, 1).exp).toBe(START_SECONDS + days * 86_400);
  });

  it("caps the lifetime at 365 days", () => {
    expect(MAX_TOKEN_DAYS).toBe(365);
  });

  it.each([[0], [-1], [366], [1.5], [Number.NaN], [Number.POSITIVE_INFINITY]])(
    "refuses a lifetime of %d days with a RangeError naming the bounds",
    async (days) => {
      const error = await rejectionOf(issue(makeApiKey(), days));
      expect(error).toBeInstanceOf(RangeError);
      expect(error.message).toContain("from 1 to 365");
    },
  );

  it("refuses to issue for a deleted key", async () => {
    const error = await rejectionOf(issue(makeApiKey({ status: "deleted" })));
    expect(error.message).toContain(KEY_ID);
    expect(error.message).toContain("deleted");
  });

  it("refuses to issue while the key refuses tokens issued now (revoked_before in the future)", async () => {
    const key = makeApiKey({ revokedBefore: new Date(FIXED_START + 1000).toISOString() });
    const error = await rejectionOf(issue(key));
    expect(error.message).toContain("refuses tokens issued before");
  });

  it("issues from the first whole second at or after revoked_before (iat has whole seconds)", async () => {
    const clock = new FakeClock(); // …:09.500
    const key = makeApiKey({ revokedBefore: new Date(FIXED_START + 1000).toISOString() }); // …:10.500
    clock.advance(1499); // …:10.999, iat …:10 would be refused by the verifier
    await expect(issue(key, 1, clock)).rejects.toThrow("refuses tokens issued before");
    clock.advance(1); // …:11.000
    const issued = await issue(key, 1, clock);
    expect(decodeTokenPart(issued.token, 1).iat).toBe(START_SECONDS + 2);
  });

  it("refuses to issue for a key whose revoked_before is unparseable, naming the key", async () => {
    const error = await rejectionOf(issue(makeApiKey({ revokedBefore: "not a date" })));
    expect(error.message).toContain(KEY_ID);
  });

  it("refuses a signer that returns a DER (non-JOSE) signature", async () => {
    const derSigner: TokenSigner = { keyId: "der", sign: async () => new Uint8Array(71) };
    const error = await rejectionOf(issue(makeApiKey(), 1, new FakeClock(), derSigner));
    expect(error.message).toContain("71-byte");
  });
});

describe("revokedBeforeSeconds", () => {
  it.each<[string, string | undefined, number | undefined]>([
    ["never revoked", undefined, undefined],
    ["an empty value", "", undefined],
    ["a whole second", "2024-01-01T00:00:00.000Z", 1_704_067_200],
    ["a fraction of a second, rounded up", "2024-01-01T00:00:00.001Z", 1_704_067_201],
    ["an offset time", "2024-01-01T01:00:00+01:00", 1_704_067_200],
    ["an unparseable value, which refuses every token", "yesterday", Number.POSITIVE_INFINITY],
  ])("reads %s", (_name, revokedBefore, seconds) => {
    const key = makeApiKey(revokedBefore === undefined ? {} : { revokedBefore });
    expect(revokedBeforeSeconds(key)).toBe(seconds);
  });
});

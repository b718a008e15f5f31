/** Who is calling: the bearer token, its API key's state, and the tenant the request names. */
import { revokedBeforeSeconds } from "./access-token.js";
import { ForbiddenError, formatBytes, UnauthorizedError } from "./errors.js";
import type { AccessTokenClaims, Clock, StreamRegistry, TokenVerifier } from "./ports.js";

/**
 * The longest bearer token looked at. Tokens this API issues are under 1 KB; a longer one is refused before it
 * is parsed, so oversized tokens cost nothing and never reach the verifier or its cache.
 */
export const MAX_ACCESS_TOKEN_LENGTH = 4096;

/** Pulls the token out of `Authorization: Bearer <token>`. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === "") {
    throw new UnauthorizedError(
      "Authorization header is missing; send Authorization: Bearer <access token>",
      "missing_token",
    );
  }
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match?.[1] === undefined) {
    throw new UnauthorizedError("Authorization header must be: Bearer <access token>", "malformed_token");
  }
  if (match[1].length > MAX_ACCESS_TOKEN_LENGTH) {
    throw new UnauthorizedError(
      `access token is ${formatBytes(match[1].length)} characters long; tokens of this API are at most ${formatBytes(MAX_ACCESS_TOKEN_LENGTH)}`,
      "malformed_token",
    );
  }
  return match[1];
}

/**
 * Verifies the token and checks, on every request, that its API key still exists, is active and was not
 * revoked after the token was issued, and that the request's tenant is the token's.
 */
export async function authorize(
  headers: Readonly<Record<string, string | undefined>>,
  verifier: TokenVerifier,
  registry: StreamRegistry,
  clock: Clock,
): Promise<AccessTokenClaims> {
  const claims = verifier.verify(bearerToken(headers.authorization));
  // The verifier may answer from its cache of verified tokens: the time window is re-checked here.
  const nowSeconds = clock.now() / 1000;
  if (claims.expiresAt <= nowSeconds) {
    throw new UnauthorizedError("access token has expired; issue a new one", "token_expired");
  }
  const key = await registry.getApiKey(claims.keyId);
  if (key === undefined || key.status !== "active") {
    throw new UnauthorizedError("the API key of this access token was deleted", "key_deleted");
  }
  if (key.tenant !== claims.tenant) {
    throw new UnauthorizedError("access token does not match its API key's tenant", "invalid_token");
  }
  const revokedBefore = revokedBeforeSeconds(key);
  if (revokedBefore !== undefined && claims.issuedAt < revokedBefore) {
    throw new UnauthorizedError(
      "access token was revoked (its API key refuses tokens issued before a rotation); issue a new one",
      "token_revoked",
    );
  }
  const tenant = headers["x-amperity-tenant"]?.trim();
  if (tenant === undefined || tenant === "") {
    throw new ForbiddenError(
      "X-Amperity-Tenant header is missing; it must name the tenant the token was issued for",
    );
  }
  if (tenant !== claims.tenant) {
    throw new ForbiddenError("access token was not issued for the tenant named in X-Amperity-Tenant");
  }
  return claims;
}

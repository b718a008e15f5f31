/**
 * The TokenVerifier port on aws-jwt-verify: ES256 signatures checked against an in-memory JWKS (no network),
 * issuer and audience required. Verified tokens are cached by their exact string until they expire, so a
 * signature is checked once per token rather than once per request.
 */
import { JwtVerifier } from "aws-jwt-verify";
import {
  JwtBaseError,
  JwtExpiredError,
  JwtInvalidAudienceError,
  JwtInvalidIssuerError,
  JwtInvalidSignatureAlgorithmError,
  JwtInvalidSignatureError,
  JwtNotBeforeError,
  JwtParseError,
  KidNotFoundInJwksError,
} from "aws-jwt-verify/error";
import type { Jwks } from "aws-jwt-verify/jwk";
import { UnauthorizedError } from "../core/errors.js";
import type { AccessTokenClaims, Clock, TokenVerifier } from "../core/ports.js";

export interface JwksTokenVerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  /** Public keys of every live signing key (several kids may be live while keys rotate). */
  readonly jwks: Jwks;
  readonly clock: Clock;
  /** Bound on cached verified tokens. @default 10,000 */
  readonly maxCachedTokens?: number;
}

/** The verifier never fetches: this URI only names the in-memory JWKS inside aws-jwt-verify. */
const IN_MEMORY_JWKS_URI = "https://jwks.invalid/in-memory.json";

export class JwksTokenVerifier implements TokenVerifier {
  private readonly verifier;
  private readonly cache = new Map<string, AccessTokenClaims>();
  private readonly maxCachedTokens: number;

  constructor(private readonly options: JwksTokenVerifierOptions) {
    this.verifier = JwtVerifier.create({
      issuer: options.issuer,
      audience: options.audience,
      jwksUri: IN_MEMORY_JWKS_URI,
    });
    this.verifier.cacheJwks(options.jwks);
    this.maxCachedTokens = options.maxCachedTokens ?? 10_000;
  }

  /**
   * Replaces the public keys (signing keys were added or removed). Verified tokens are forgotten, so a token
   * of a removed key is refused from now on rather than when it expires.
   */
  replaceJwks(jwks: Jwks): void {
    this.verifier.cacheJwks(jwks);
    this.cache.clear();
  }

  verify(token: string): AccessTokenClaims {
    const nowSeconds = this.options.clock.now() / 1000;
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (cached.expiresAt > nowSeconds) return cached;
      this.cache.delete(token);
    }
    const claims = this.verifySignature(token);
    if (this.cache.size >= this.maxCachedTokens) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(token, claims);
    return claims;
  }

  private verifySignature(token: string): AccessTokenClaims {
    let payload: Record<string, unknown>;
    try {
      payload = this.verifier.verifySync(token) as Record<string, unknown>;
    } catch (error) {
      throw toUnauthorized(error);
    }
    const { sub, tenant, iat, exp, nbf, jti } = payload;
    if (
      typeof sub !== "string" ||
      typeof tenant !== "string" ||
      typeof iat !== "number" ||
      typeof exp !== "number"
    ) {
      throw new UnauthorizedError("access token lacks the sub, tenant, iat or exp claim", "invalid_token");
    }
    // aws-jwt-verify checks the window on the system clock; the injected clock decides too, so both agree.
    const nowSeconds = this.options.clock.now() / 1000;
    if (exp <= nowSeconds)
      throw new UnauthorizedError("access token has expired; issue a new one", "token_expired");
    if (typeof nbf === "number" && nbf > nowSeconds) {
      throw new UnauthorizedError("access token is not valid yet (nbf)", "token_not_yet_valid");
    }
    return { keyId: sub, tenant, issuedAt: iat, expiresAt: exp, tokenId: typeof jti === "string" ? jti : "" };
  }
}

/** Maps aws-jwt-verify's errors (all named "Error", so by class) to 401s that say what is wrong. */
function toUnauthorized(error: unknown): UnauthorizedError {
  const options = { cause: error };
  if (error instanceof JwtExpiredError)
    return new UnauthorizedError("access token has expired; issue a new one", "token_expired", options);
  if (error instanceof JwtNotBeforeError)
    return new UnauthorizedError("access token is not valid yet (nbf)", "token_not_yet_valid", options);
  if (error instanceof JwtInvalidIssuerError)
    return new UnauthorizedError("access token was issued by another issuer", "wrong_issuer", options);
  if (error instanceof JwtInvalidAudienceError)
    return new UnauthorizedError("access token is for another audience", "wrong_audience", options);
  if (error instanceof KidNotFoundInJwksError)
    return new UnauthorizedError(
      "access token was signed with an unknown key",
      "unknown_signing_key",
      options,
    );
  if (error instanceof JwtInvalidSignatureAlgorithmError)
    return new UnauthorizedError("access token must be signed with ES256", "wrong_algorithm", options);
  if (error instanceof JwtInvalidSignatureError)
    return new UnauthorizedError("access token signature is invalid", "invalid_signature", options);
  if (error instanceof JwtParseError)
    return new UnauthorizedError("access token is not a well-formed JWT", "malformed_token", options);
  // aws-jwt-verify reports everything it checks as a JwtBaseError; only node:crypto's verify throws its own
  // error, for a signature of the wrong size (e.g. a truncated token).
  if (!(error instanceof JwtBaseError))
    return new UnauthorizedError("access token signature is invalid", "invalid_signature", options);
  return new UnauthorizedError("access token is not valid", "invalid_token", options);
}

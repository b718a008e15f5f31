/**
 * What every adapter needs to know about an error from an AWS SDK call: its name and Node error code, read
 * duck-typed (SDK and Node errors may come from another realm, where `instanceof Error` is false), and the
 * names and codes that mean "no credentials", "credentials refused" and "network".
 */

/** The error's `name` (`ThrottlingException`, `TimeoutError`), or "" when it has none. Never its message. */
export function awsErrorName(error: unknown): string {
  const name = typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
  return typeof name === "string" ? name : "";
}

/** The Node error `code` (`ECONNREFUSED`), or undefined. */
export function nodeErrorCode(error: unknown): string | undefined {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

/** The SDK found no credentials in its provider chain. */
export const MISSING_CREDENTIALS_ERRORS: ReadonlySet<string> = new Set([
  "CredentialsProviderError",
  "ProviderError",
  "TokenProviderError",
]);

/** The service refused the credentials (unknown, expired, or a bad signature). */
export const REJECTED_CREDENTIALS_ERRORS: ReadonlySet<string> = new Set([
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "InvalidSignatureException",
  "SignatureDoesNotMatch",
  "ExpiredTokenException",
  "ExpiredToken",
]);

/** Socket-level failures: the service was not reached at all. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "ENETUNREACH",
  "EHOSTUNREACH",
]);

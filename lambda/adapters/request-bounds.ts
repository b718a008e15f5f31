/**
 * Time bounds for the Lambdas' AWS SDK clients. The SDK's defaults wait on a silent connection until the
 * Lambda times out, and in this SDK version `requestTimeout` alone only logs a warning: the request is only
 * abandoned with `throwOnRequestTimeout`.
 */

/** `requestHandler` options for an SDK v3 client: connect within ~1 s, answer within `requestTimeoutMs`. */
export function boundedRequests(
  requestTimeoutMs: number,
  connectionTimeoutMs = 1_000,
): { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true } {
  return {
    connectionTimeout: connectionTimeoutMs,
    requestTimeout: requestTimeoutMs,
    throwOnRequestTimeout: true,
  };
}

/**
 * The ingest Lambda's registry and KMS reads: two attempts of at most 2 s each, so a silent DynamoDB or KMS
 * costs a request ~4 s and a clear 503, well inside the 15 s Lambda timeout.
 */
export const INGEST_READ_ATTEMPTS = 2;
export const INGEST_READ_TIMEOUT_MS = 2_000;

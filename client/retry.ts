/**
 * The retry rules of the status table, as pure functions: which statuses and errors are retried, the backoff
 * (exponential with full jitter), and Retry-After parsing.
 */

/** How a client retries. Every field has a default ({@link DEFAULT_RETRY}). */
export interface RetryPolicy {
  /** Most requests per record, the first included. @default 10 */
  readonly maxAttempts: number;
  /**
   * Milliseconds from the first attempt after which no new attempt starts: a retry whose wait would end after
   * the budget is not made, and the error is an IngestUnavailableError. @default 30,000
   */
  readonly budgetMs: number;
  /** Backoff base: the first retry waits up to this long. @default 100 */
  readonly baseDelayMs: number;
  /** Backoff cap: no computed wait is longer (a longer Retry-After still wins). @default 5,000 */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 10,
  budgetMs: 30_000,
  baseDelayMs: 100,
  maxDelayMs: 5_000,
};

/** The statuses the contract says to retry: 429, 500, 503, 504. Every other non-2xx status is final. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 500, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/**
 * Whether a request-level error (no HTTP response) is worth another attempt: connection refused or reset,
 * socket hang-ups, timeouts, DNS hiccups — yes; TLS certificate problems and bad URLs — no (they never heal).
 */
export function isRetryableError(error: unknown): boolean {
  // Duck-typed: errors from Node's internals may come from another realm (e.g. under a test runner's vm).
  if (typeof error !== "object" || error === null) return false;
  if ((error as { name?: unknown }).name === "AbortError") return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  if (/CERT|TLS|SSL|SELF_SIGNED|ERR_INVALID|ERR_HTTP_INVALID/.test(code)) return false;
  return true;
}

/**
 * The longest wait before retry number `retry` (0 for the first retry): `min(cap, base * 2^retry)`.
 * The wait itself is a uniformly random fraction of it ("full jitter").
 */
export function backoffCeiling(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retry, 30));
}

/** Full jitter: `random(0, ceiling)`, with `random()` in [0, 1). */
export function jitteredDelay(policy: RetryPolicy, retry: number, random: () => number): number {
  return Math.floor(random() * backoffCeiling(policy, retry));
}

/**
 * Parses a Retry-After header: delay-seconds (`"3"`) or an HTTP date (`"Wed, 21 Oct 2026 07:28:00 GMT"`), as
 * milliseconds from `now` (0 for a date in the past). Undefined when missing or unparseable.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  now: number,
): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value) as string | undefined;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text), 86_400) * 1000;
  // An HTTP date always names a weekday or month; this keeps Date.parse from reading things like "1.5".
  if (!/[A-Za-z]/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The wait before retry number `retry`: the jittered backoff, but never less than the server's Retry-After. */
export function retryDelay(
  policy: RetryPolicy,
  retry: number,
  retryAfterMs: number | undefined,
  random: () => number,
): number {
  const jittered = jitteredDelay(policy, retry, random);
  return retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs);
}

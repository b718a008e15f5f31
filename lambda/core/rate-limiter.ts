/** Per-stream token buckets: a sustained rate plus a burst, refilled continuously from the clock. */
import type { Clock } from "./ports.js";

export type RateDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Decides whether a request for a stream is within its rate limit. One instance per process. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock) {}

  /** Takes one token from the stream's bucket (created full), or says how long until one is available. */
  take(streamId: string, perSecond: number, burst: number): RateDecision {
    const now = this.clock.now();
    const capacity = Math.max(1, burst);
    let bucket = this.buckets.get(streamId);
    if (bucket === undefined) {
      bucket = { tokens: capacity, updatedAt: now };
      this.buckets.set(streamId, bucket);
    }
    const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(capacity, bucket.tokens + elapsedSeconds * perSecond);
    bucket.updatedAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    const secondsToNextToken = perSecond > 0 ? (1 - bucket.tokens) / perSecond : 60;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(secondsToNextToken)) };
  }
}

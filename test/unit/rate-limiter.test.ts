/** Per-stream token buckets: a burst, a sustained rate refilled from the clock, and an honest Retry-After. */
import fc from "fast-check";
import { RateLimiter } from "../../lambda/core/rate-limiter.js";
import { FakeClock } from "../helpers/in-memory-ports.js";

const STREAM = "is-AbCDefGH";

function takeMany(limiter: RateLimiter, n: number, perSecond: number, burst: number): boolean[] {
  return Array.from({ length: n }, () => limiter.take(STREAM, perSecond, burst).allowed);
}

describe("RateLimiter", () => {
  it("lets a full burst through at once, then refuses with Retry-After", () => {
    const limiter = new RateLimiter(new FakeClock());
    expect(takeMany(limiter, 3, 2, 3)).toEqual([true, true, true]);
    expect(limiter.take(STREAM, 2, 3)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it("refills continuously at the sustained rate", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(clock);
    takeMany(limiter, 10, 10, 10);
    expect(limiter.take(STREAM, 10, 10).allowed).toBe(false);
    clock.advance(99);
    expect(limiter.take(STREAM, 10, 10).allowed).toBe(false);
    clock.advance(1); // 100 ms at 10/s is one token
    expect(limiter.take(STREAM, 10, 10).allowed).toBe(true);
    expect(limiter.take(STREAM, 10, 10).allowed).toBe(false);
  });

  it("never holds more than the burst, however long the stream was idle", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(clock);
    takeMany(limiter, 2, 2, 2);
    clock.advance(3_600_000);
    expect(takeMany(limiter, 3, 2, 2)).toEqual([true, true, false]);
  });

  it.each([
    [2, 1],
    [1, 1],
    [0.5, 2],
    [0.1, 10],
    [0.3, 4],
  ])(
    "at %d/s tells a refused client to retry after %i s (whole seconds, rounded up)",
    (perSecond, seconds) => {
      const limiter = new RateLimiter(new FakeClock());
      limiter.take(STREAM, perSecond, 1);
      expect(limiter.take(STREAM, perSecond, 1)).toEqual({ allowed: false, retryAfterSeconds: seconds });
    },
  );

  it("counts a partly refilled token when saying how long to wait", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(clock);
    limiter.take(STREAM, 0.25, 1); // one token per 4 s
    clock.advance(2500);
    expect(limiter.take(STREAM, 0.25, 1)).toEqual({ allowed: false, retryAfterSeconds: 2 });
  });

  it("asks for at least one second, never zero", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(clock);
    limiter.take(STREAM, 1000, 1);
    expect(limiter.take(STREAM, 1000, 1)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it("treats a burst below one as one", () => {
    const limiter = new RateLimiter(new FakeClock());
    expect(takeMany(limiter, 2, 1, 0)).toEqual([true, false]);
  });

  it("asks a stream with no sustained rate to wait 60 s", () => {
    const limiter = new RateLimiter(new FakeClock());
    limiter.take(STREAM, 0, 1);
    expect(limiter.take(STREAM, 0, 1)).toEqual({ allowed: false, retryAfterSeconds: 60 });
  });

  it("keeps one bucket per stream", () => {
    const limiter = new RateLimiter(new FakeClock());
    expect(limiter.take("is-aaaaaaaa", 1, 1).allowed).toBe(true);
    expect(limiter.take("is-aaaaaaaa", 1, 1).allowed).toBe(false);
    expect(limiter.take("is-bbbbbbbb", 1, 1).allowed).toBe(true);
  });

  it("adds no tokens when the clock steps back", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(clock);
    limiter.take(STREAM, 1, 1);
    clock.advance(-10_000);
    expect(limiter.take(STREAM, 1, 1).allowed).toBe(false);
  });

  it("never lets more than burst + rate × elapsed requests through", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 200 }),
        (perSecond, burst, gapsMs) => {
          const clock = new FakeClock();
          const limiter = new RateLimiter(clock);
          let allowed = 0;
          let elapsedMs = 0;
          for (const gap of gapsMs) {
            clock.advance(gap);
            elapsedMs += gap;
            if (limiter.take(STREAM, perSecond, burst).allowed) allowed++;
          }
          expect(allowed).toBeLessThanOrEqual(burst + (perSecond * elapsedMs) / 1000);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("lets a client that waits the Retry-After it was given through", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4000 }).map((quarters) => quarters / 4),
        fc.integer({ min: 1, max: 20 }),
        (perSecond, burst) => {
          const clock = new FakeClock();
          const limiter = new RateLimiter(clock);
          let decision = limiter.take(STREAM, perSecond, burst);
          while (decision.allowed) decision = limiter.take(STREAM, perSecond, burst);
          clock.advance(decision.retryAfterSeconds * 1000);
          expect(limiter.take(STREAM, perSecond, burst).allowed).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

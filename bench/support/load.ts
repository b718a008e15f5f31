/**
 * The load generator of the HTTP benchmarks: autocannon as a library, plus exact latency percentiles (from
 * every response's own time, not autocannon's whole-millisecond histogram) and a status-code tally, so runs
 * can be merged and errors are reported rather than hidden.
 */
import autocannon from "autocannon";

export interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** @default 10 s */
  readonly timeoutSeconds?: number;
}

/** One or more runs of the same load, merged. Latencies in ms, of 2xx responses only. */
export interface LoadResult {
  readonly seconds: number;
  readonly responses: number;
  readonly status: Readonly<Record<string, number>>;
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly timeouts: number;
  readonly latenciesMs: Float64Array;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  const status: Record<string, number> = {};
  let responses = 0;
  let finish: (error: Error | null, result: autocannon.Result) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = (error, result) => (error === null || error === undefined ? resolve(result) : reject(error));
  });
  const instance = autocannon(
    {
      url: spec.url,
      method: "POST",
      connections: spec.connections,
      duration: spec.durationSeconds,
      timeout: spec.timeoutSeconds ?? 10,
      headers: { ...spec.headers },
      body: spec.body,
    },
    (error, result) => finish(error, result),
  );
  instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    responses++;
    status[statusCode] = (status[statusCode] ?? 0) + 1;
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const result = await done;
  return {
    seconds: result.duration,
    responses,
    status,
    errors: result.errors,
    timeouts: result.timeouts,
    latenciesMs: Float64Array.from(latencies).sort(),
  };
}

export function mergeLoads(results: readonly LoadResult[]): LoadResult {
  const status: Record<string, number> = {};
  for (const result of results) {
    for (const [code, count] of Object.entries(result.status)) status[code] = (status[code] ?? 0) + count;
  }
  const latencies = new Float64Array(results.reduce((sum, r) => sum + r.latenciesMs.length, 0));
  let at = 0;
  for (const result of results) {
    latencies.set(result.latenciesMs, at);
    at += result.latenciesMs.length;
  }
  return {
    seconds: results.reduce((sum, r) => sum + r.seconds, 0),
    responses: results.reduce((sum, r) => sum + r.responses, 0),
    status,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    timeouts: results.reduce((sum, r) => sum + r.timeouts, 0),
    latenciesMs: latencies.sort(),
  };
}

/** Responses with a 2xx status. */
export function successes(result: LoadResult): number {
  return Object.entries(result.status).reduce(
    (sum, [code, count]) => (code.startsWith("2") ? sum + count : sum),
    0,
  );
}

/** Responses with another status than 2xx. */
export function failures(result: LoadResult): number {
  return result.responses - successes(result);
}

/** Successful requests per second. */
export function rate(result: LoadResult): number {
  return result.seconds > 0 ? successes(result) / result.seconds : 0;
}

/** Nearest-rank percentile (p in 0–100) of sorted values; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

/** "202: 1,234, 503: 5" */
export function describeStatus(result: LoadResult): string {
  const parts = Object.entries(result.status)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, count]) => `${code}: ${count.toLocaleString("en-US")}`);
  if (result.errors > 0) parts.push(`connection errors: ${result.errors.toLocaleString("en-US")}`);
  if (result.timeouts > 0) parts.push(`timeouts: ${result.timeouts.toLocaleString("en-US")}`);
  return parts.length === 0 ? "no responses" : parts.join(", ");
}

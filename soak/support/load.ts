/**
 * Concurrent keep-alive HTTP load on one data endpoint, for as long as a script runs: every request carries a
 * unique record id and its answer (status, error code, Retry-After, times) is kept for judging afterwards.
 */
import { Agent, request } from "node:http";

export interface LoadRequest {
  readonly id: string;
  readonly sentAt: number;
  readonly answeredAt: number;
  /** 0: no answer (connection error). */
  readonly status: number;
  readonly code: string | undefined;
  readonly retryAfter: string | undefined;
}

export interface LoadResult {
  readonly requests: readonly LoadRequest[];
  readonly sent: ReadonlySet<string>;
}

export interface LoadOptions {
  readonly url: string;
  readonly token: string;
  readonly tenant: string;
  readonly clients: number;
  readonly padBytes: number;
  /** Runs while the clients post; `wait(ms)` lets time pass. The load stops when it resolves. */
  script(wait: (ms: number) => Promise<void>): Promise<void>;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.clients });
  const requests: LoadRequest[] = [];
  const sent = new Set<string>();
  let stopped = false;
  const pad = "p".repeat(options.padBytes);
  const clients = Array.from({ length: options.clients }, async (_, c) => {
    for (let n = 0; !stopped; n++) {
      const id = `c${c}-n${n}`;
      sent.add(id);
      requests.push(await post(options, agent, id, JSON.stringify({ id, pad })));
    }
  });
  try {
    await options.script((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  } finally {
    stopped = true;
    await Promise.all(clients);
    agent.destroy();
  }
  return { requests, sent };
}

function post(options: LoadOptions, agent: Agent, id: string, body: string): Promise<LoadRequest> {
  // performance.now(), not Date.now(): a whole-millisecond clock counted requests sent in the same millisecond as
  // the fault was switched on, but before it, as sent during the fault (their 202s are then correct, not faults).
  const sentAt = performance.now();
  return new Promise((resolve) => {
    const done = (status: number, code?: string, retryAfter?: string) =>
      resolve({ id, sentAt, answeredAt: performance.now(), status, code, retryAfter });
    const req = request(
      options.url,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${options.token}`,
          "x-amperity-tenant": options.tenant,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          let code: string | undefined;
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { error?: { code?: string } }).error
              ?.code;
          } catch {
            code = "unparsable_body";
          }
          const retryAfter = res.headers["retry-after"];
          done(res.statusCode ?? 0, code, typeof retryAfter === "string" ? retryAfter : undefined);
        });
        res.on("error", () => done(0));
      },
    );
    req.on("error", () => done(0));
    req.end(body);
  });
}

/**
 * The TypeScript client against a loopback server scripted to fail in set patterns: what is retried and what
 * never is, the backoff schedule (full jitter, Retry-After as a minimum), the budget, typed errors, headers,
 * gzip, keep-alive and batch splitting. Waits between attempts go through a fake sleep that moves a fake clock.
 */
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { listInputs, readRecords } from "../../bin/cli/send-input.js";
import { barLine, formatDuration, plainLine } from "../../bin/cli/send-progress.js";
import { chunkLines, toNdjsonLine } from "../../client/body.js";
import {
  IngestClient,
  type IngestClientOptions,
  IngestRejectedError,
  IngestUnavailableError,
  parseRetryAfter,
} from "../../client/index.js";
import { backoffCeiling, DEFAULT_RETRY, isRetryableError, retryDelay } from "../../client/retry.js";

const TOKEN = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl";
const STREAM = "is-AbCdEf12";

type Step = { status: number; headers?: Record<string, string>; body?: unknown } | "reset" | "hang";

interface Seen {
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: Buffer;
  readonly socket: number;
}

/** An HTTP server that answers each request with the next scripted step (202 once the script is used up). */
class ScriptedServer {
  readonly seen: Seen[] = [];
  private steps: Step[] = [];
  private sockets = 0;
  private readonly server: Server;
  private readonly hanging: ServerResponse[] = [];

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const socketId = (req.socket as unknown as { id: number }).id;
        this.seen.push({
          url: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks),
          socket: socketId,
        });
        const step = this.steps.shift() ?? { status: 202 };
        if (step === "reset") {
          req.socket.destroy();
          return;
        }
        if (step === "hang") {
          this.hanging.push(res);
          return;
        }
        const body =
          step.body ??
          (step.status === 202 ? { status: "accepted", stream: STREAM, request_id: "r-ok" } : {});
        res.writeHead(step.status, {
          "content-type": "application/json",
          "x-request-id": `req-${this.seen.length}`,
          ...step.headers,
        });
        res.end(typeof body === "string" ? body : JSON.stringify(body));
      });
    });
    this.server.on("connection", (socket) => {
      (socket as unknown as { id: number }).id = ++this.sockets;
    });
  }

  async start(): Promise<string> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  script(...steps: Step[]): void {
    this.steps = steps;
    this.seen.length = 0;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, "close");
  }
}

const error = (status: number, code: string, message: string, headers?: Record<string, string>): Step => ({
  status,
  headers,
  body: { error: { code, message, retryable: status >= 429 } },
});

describe("IngestClient against a scripted server", () => {
  const server = new ScriptedServer();
  let baseUrl: string;
  let clients: IngestClient[] = [];
  let delays: number[];
  let time: number;

  beforeAll(async () => {
    baseUrl = await server.start();
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    delays = [];
    time = Date.parse("2026-11-29T10:00:00Z");
  });
  afterEach(() => {
    for (const c of clients) c.close();
    clients = [];
  });

  /** A client whose waits are recorded and move the fake clock instead of passing real time. */
  function client(options: Partial<IngestClientOptions> = {}): IngestClient {
    const c = new IngestClient({
      baseUrl,
      tenant: "acme",
      token: TOKEN,
      now: () => time,
      sleep: async (ms) => {
        delays.push(ms);
        time += ms;
      },
      random: () => 0,
      ...options,
    });
    clients.push(c);
    return c;
  }

  it("sends an object as JSON with the contract's headers and resolves on 202", async () => {
    server.script({ status: 202 });
    const result = await client().send(STREAM, { id: "o-1", total: 12.5 });
    expect(result).toEqual({
      status: 202,
      stream: STREAM,
      requestId: "req-1",
      attempts: 1,
      duplicate: false,
    });
    const [req] = server.seen;
    expect(req?.url).toBe(`/stream/v0/data/${STREAM}`);
    expect(req?.headers).toMatchObject({
      authorization: `Bearer ${TOKEN}`,
      "x-amperity-tenant": "acme",
      "content-type": "application/json",
      "content-length": String(req?.body.length),
    });
    expect(req?.headers["content-encoding"]).toBeUndefined();
    expect(req?.headers["idempotency-key"]).toBeUndefined();
    expect(req?.body.toString()).toBe('{"id":"o-1","total":12.5}');
  });

  it("sends texts as they are: JSON text as JSON, text starting with < as XML, unless told otherwise", async () => {
    const c = client();
    server.script();
    await c.send(STREAM, ' {"big": 12345678901234567890}');
    await c.send(STREAM, "\n  <order id='1'/>");
    await c.send(STREAM, Buffer.from("<a/>"));
    await c.send(STREAM, "<a/>", { contentType: "text/xml; charset=utf-8" });
    await c.send(STREAM, Buffer.from('{"a":1}'), { idempotencyKey: "order-1" });
    expect(server.seen.map((r) => r.headers["content-type"])).toEqual([
      "application/json",
      "application/xml",
      "application/xml",
      "text/xml; charset=utf-8",
      "application/json",
    ]);
    expect(server.seen[0]?.body.toString()).toBe(' {"big": 12345678901234567890}');
    expect(server.seen[4]?.headers["idempotency-key"]).toBe("order-1");
  });

  it("gzips bodies when asked, with Content-Encoding: gzip", async () => {
    server.script();
    await client({ gzip: true }).send(STREAM, { id: "z" });
    const [req] = server.seen;
    expect(req?.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(req?.body ?? Buffer.alloc(0)).toString()).toBe('{"id":"z"}');
  });

  it("reuses one keep-alive connection for requests in sequence", async () => {
    server.script();
    const c = client();
    for (let i = 0; i < 5; i++) await c.send(STREAM, { i });
    expect(new Set(server.seen.map((r) => r.socket)).size).toBe(1);
  });

  it("keeps a base URL's path prefix", async () => {
    server.script();
    await client({ baseUrl: `${baseUrl}/prod/` }).send(STREAM, {});
    expect(server.seen[0]?.url).toBe(`/prod/stream/v0/data/${STREAM}`);
  });

  it("retries 503 with Retry-After twice, waiting at least Retry-After, then resolves", async () => {
    server.script(
      error(503, "sink_unavailable", "delivery unavailable", { "retry-after": "2" }),
      error(503, "sink_unavailable", "delivery unavailable", { "retry-after": "2" }),
      { status: 202 },
    );
    const retries: unknown[] = [];
    const result = await client({ onRetry: (e) => retries.push(e) }).send(
      STREAM,
      { id: 1 },
      { idempotencyKey: "k-1" },
    );
    expect(result.attempts).toBe(3);
    expect(delays).toEqual([2000, 2000]);
    expect(server.seen).toHaveLength(3);
    // Every attempt carries the same body and idempotency key.
    expect(new Set(server.seen.map((r) => r.body.toString()))).toEqual(new Set(['{"id":1}']));
    expect(server.seen.map((r) => r.headers["idempotency-key"])).toEqual(["k-1", "k-1", "k-1"]);
    expect(retries).toEqual([
      { stream: STREAM, attempt: 1, delayMs: 2000, status: 503, code: "sink_unavailable" },
      { stream: STREAM, attempt: 2, delayMs: 2000, status: 503, code: "sink_unavailable" },
    ]);
  });

  it("backs off exponentially with full jitter when there is no Retry-After (429, 500, 504)", async () => {
    server.script(
      error(429, "throttled", "over the rate limit"),
      error(500, "internal_error", "internal error"),
      error(504, "timeout", "no confirmation"),
      error(429, "throttled", "over the rate limit"),
      { status: 202 },
    );
    const result = await client({ random: () => 0.5 }).send(STREAM, {});
    expect(result.attempts).toBe(5);
    // random 0.5 of min(5000, 100 * 2^n)
    expect(delays).toEqual([50, 100, 200, 400]);
  });

  it("takes the larger of jitter and Retry-After, and reads Retry-After as an HTTP date", async () => {
    const inThreeSeconds = new Date(time + 3000).toUTCString();
    server.script(error(503, "unavailable", "x", { "retry-after": inThreeSeconds }), { status: 202 });
    await client({ random: () => 0.999 }).send(STREAM, {});
    expect(delays).toEqual([3000]);
  });

  it.each([
    [400, "invalid_json", "body is not JSON: unexpected token at offset 3 (line 1, column 4)"],
    [401, "invalid_signature", "the token's signature is not valid"],
    [403, "forbidden", "the token is for another tenant"],
    [404, "stream_not_found", "no such stream"],
    [405, "method_not_allowed", "use POST"],
    [413, "payload_too_large", "body is 300,112 bytes; the limit is 260,096 bytes"],
    [415, "wrong_content_type", "this stream takes application/json"],
  ])("never retries %i: a typed IngestRejectedError after one request", async (status, code, message) => {
    server.script(error(status, code, message), { status: 202 });
    const thrown = await client()
      .send(STREAM, { secret: "record-content-xyz" })
      .catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(IngestRejectedError);
    expect(thrown).toMatchObject({ name: "IngestRejectedError", status, code, message, requestId: "req-1" });
    expect(server.seen).toHaveLength(1);
    expect(delays).toEqual([]);
    const text = `${String(thrown)} ${JSON.stringify(thrown)} ${(thrown as Error).stack}`;
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain("record-content-xyz");
  });

  it("treats statuses outside the table (502) and bodies that are not JSON as final, with a generic code", async () => {
    server.script({ status: 502, body: "<html>Bad Gateway</html>" });
    const thrown = await client()
      .send(STREAM, {})
      .catch((e: unknown) => e);
    expect(thrown).toMatchObject({ status: 502, code: "http_502", message: "HTTP 502" });
    expect(server.seen).toHaveLength(1);
  });

  it("gives up with IngestUnavailableError when the next wait would pass the budget", async () => {
    server.script(
      ...Array.from({ length: 10 }, () => error(503, "sink_busy", "queue full", { "retry-after": "1" })),
    );
    const thrown = await client({ retry: { budgetMs: 2500 } })
      .send(STREAM, {})
      .catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(IngestUnavailableError);
    // Attempts at t=0, 1 s, 2 s; a third wait would end at 3 s > 2.5 s.
    expect(thrown).toMatchObject({ attempts: 3, lastStatus: 503, lastCode: "sink_busy", requestId: "req-3" });
    expect(delays).toEqual([1000, 1000]);
    expect((thrown as Error).message).toMatch(
      /gave up after 3 attempt\(s\) in 2\.0 s.*last: 503 sink_busy: queue full/,
    );
    expect((thrown as Error).message).not.toContain(TOKEN);
  });

  it("gives up at once when Retry-After is longer than the budget", async () => {
    server.script(error(503, "delivery_not_ready", "being created", { "retry-after": "60" }));
    const thrown = await client()
      .send(STREAM, {})
      .catch((e: unknown) => e);
    expect(thrown).toMatchObject({ name: "IngestUnavailableError", attempts: 1, lastStatus: 503 });
    expect(delays).toEqual([]);
  });

  it("stops after maxAttempts", async () => {
    server.script(...Array.from({ length: 10 }, () => error(500, "internal_error", "boom")));
    const thrown = await client({ retry: { maxAttempts: 4 } })
      .send(STREAM, {})
      .catch((e: unknown) => e);
    expect(thrown).toMatchObject({ name: "IngestUnavailableError", attempts: 4, lastStatus: 500 });
    expect(server.seen).toHaveLength(4);
    expect(delays).toHaveLength(3);
  });

  it("retries a connection reset, then succeeds", async () => {
    server.script("reset", "reset", { status: 202 });
    const retries: { code?: string }[] = [];
    const result = await client({ onRetry: (e) => retries.push(e) }).send(STREAM, { id: 1 });
    expect(result.attempts).toBe(3);
    expect(retries.map((r) => r.code)).toEqual(["ECONNRESET", "ECONNRESET"]);
  });

  it("retries a refused connection and ends with IngestUnavailableError naming the network error", async () => {
    const closed = new ScriptedServer();
    const url = await closed.start();
    await closed.stop();
    const thrown = await client({ baseUrl: url, retry: { maxAttempts: 3 } })
      .send(STREAM, {})
      .catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(IngestUnavailableError);
    expect(thrown).toMatchObject({ attempts: 3, lastStatus: undefined, lastCode: "ECONNREFUSED" });
    expect((thrown as IngestUnavailableError).lastError).toMatchObject({ code: "ECONNREFUSED" });
  });

  it("abandons an attempt that passes timeoutMs and retries it", async () => {
    server.script("hang", { status: 202 });
    const retries: { code?: string }[] = [];
    const result = await client({ timeoutMs: 100, onRetry: (e) => retries.push(e) }).send(STREAM, {});
    expect(result.attempts).toBe(2);
    expect(retries.map((r) => r.code)).toEqual(["ETIMEDOUT"]);
  });

  it("stops waiting when the caller aborts", async () => {
    server.script(error(503, "unavailable", "x", { "retry-after": "5" }));
    const controller = new AbortController();
    const c = client({
      sleep: () => {
        controller.abort(new Error("stopped by the caller"));
        return Promise.reject(controller.signal.reason);
      },
    });
    await expect(c.send(STREAM, {}, { signal: controller.signal })).rejects.toThrow("stopped by the caller");
  });

  it("refuses tokens that cannot be a header without echoing them", () => {
    expect(() => new IngestClient({ baseUrl, tenant: "acme", token: "abc\r\nx-evil: 1" })).toThrow(
      /^token must be a non-empty string/,
    );
    expect(() => new IngestClient({ baseUrl: "ftp://x", tenant: "acme", token: "t" })).toThrow(
      /http: or https:/,
    );
  });

  describe("sendBatch", () => {
    it("splits records into NDJSON requests of at most 500 to the batch path", async () => {
      server.script();
      const records = Array.from({ length: 1200 }, (_, i) => ({ i }));
      const result = await client().sendBatch(STREAM, records, { idempotencyKey: "load-7" });
      expect(result).toMatchObject({ records: 1200, requests: 3, attempts: 3 });
      expect(server.seen.map((r) => r.url)).toEqual(Array(3).fill(`/stream/v0/batch/${STREAM}`));
      expect(server.seen.map((r) => r.headers["content-type"])).toEqual(
        Array(3).fill("application/x-ndjson"),
      );
      expect(server.seen.map((r) => r.headers["idempotency-key"])).toEqual([
        "load-7-0",
        "load-7-1",
        "load-7-2",
      ]);
      const lines = server.seen.flatMap((r) => r.body.toString().split("\n").slice(0, -1));
      expect(lines).toEqual(records.map((r) => JSON.stringify(r)));
      expect(server.seen.map((r) => r.body.toString().split("\n").length - 1)).toEqual([500, 500, 200]);
    });

    it("maps invalid_batch lines to record indexes and says what earlier requests stored", async () => {
      server.script(
        { status: 202 },
        {
          status: 400,
          body: {
            error: {
              code: "invalid_batch",
              message: "2 lines are not JSON objects",
              lines: [
                { line: 3, code: "invalid_json", message: "unexpected end" },
                { line: 10, code: "not_an_object", message: "an array" },
              ],
            },
          },
        },
      );
      const records = Array.from({ length: 700 }, (_, i) => ({ i }));
      const thrown = await client()
        .sendBatch(STREAM, records)
        .catch((e: unknown) => e);
      expect(thrown).toBeInstanceOf(IngestRejectedError);
      const rejected = thrown as IngestRejectedError;
      expect(rejected.code).toBe("invalid_batch");
      expect(rejected.lines).toEqual([
        { index: 502, line: 3, code: "invalid_json", message: "unexpected end" },
        { index: 509, line: 10, code: "not_an_object", message: "an array" },
      ]);
      expect(rejected.batch).toEqual({ acceptedRecords: 500, failedFrom: 500, failedTo: 700 });
    });

    it("retries a batch like a record", async () => {
      server.script(error(503, "sink_busy", "busy", { "retry-after": "1" }), { status: 202 });
      const result = await client().sendBatch(STREAM, ['{"a":1}', { b: 2 }]);
      expect(result).toMatchObject({ records: 2, requests: 1, attempts: 2 });
      expect(server.seen[1]?.body.toString()).toBe('{"a":1}\n{"b":2}\n');
    });
  });
});

describe("batch bodies", () => {
  it("makes a pretty-printed JSON text one line without touching strings or numbers", () => {
    const pretty = '{\r\n  "a": "x\\ny",\n  "n": 1.50\n}';
    const line = toNdjsonLine(pretty).toString();
    expect(line).not.toMatch(/[\r\n]/);
    expect(JSON.parse(line)).toEqual({ a: "x\ny", n: 1.5 });
    expect(line).toContain("1.50");
    expect(() => toNdjsonLine("  \n ")).toThrow("a batch record is empty");
  });

  it("cuts chunks at the record count and at the byte limit; an oversized line goes alone", () => {
    const lines = ["aaaa", "bbbb", "cccc", "x".repeat(20), "dd"].map((s) => Buffer.from(s));
    const chunks = chunkLines(lines, 2, 11);
    expect(chunks.map((c) => [c.from, c.body.toString()])).toEqual([
      [0, "aaaa\nbbbb\n"],
      [2, "cccc\n"],
      [3, `${"x".repeat(20)}\n`],
      [4, "dd\n"],
    ]);
  });
});

describe("retry rules", () => {
  it("parses Retry-After as seconds or an HTTP date, and ignores anything else", () => {
    const now = Date.parse("2026-11-29T10:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("Sun, 29 Nov 2026 10:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Sun, 29 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter(["7", "8"], now)).toBe(7000);
    for (const bad of [undefined, "", "soon", "1.5", "-1", "1e3"])
      expect(parseRetryAfter(bad, now)).toBeUndefined();
  });

  it("grows the backoff ceiling exponentially up to the cap, and jitters across the whole range", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffCeiling(DEFAULT_RETRY, n))).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000,
    ]);
    expect(backoffCeiling(DEFAULT_RETRY, 1000)).toBe(5000);
    expect(retryDelay(DEFAULT_RETRY, 3, undefined, () => 0)).toBe(0);
    expect(retryDelay(DEFAULT_RETRY, 3, undefined, () => 0.9999)).toBe(799);
    expect(retryDelay(DEFAULT_RETRY, 3, 2000, () => 0.9999)).toBe(2000);
    expect(retryDelay(DEFAULT_RETRY, 10, 2000, () => 0.9999)).toBe(4999);
  });

  it("retries network errors but not certificate errors or aborts", () => {
    const coded = (code: string) => Object.assign(new Error(code), { code });
    for (const code of ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN"])
      expect(isRetryableError(coded(code))).toBe(true);
    for (const code of ["CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT", "ERR_TLS_CERT_ALTNAME_INVALID"])
      expect(isRetryableError(coded(code))).toBe(false);
    expect(
      isRetryableError(Object.assign(new Error("aborted"), { name: "AbortError", code: "ABORT_ERR" })),
    ).toBe(false);
    expect(isRetryableError(new Error("no code"))).toBe(false);
  });
});

describe("ingest send: reading NDJSON and drawing progress", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ingest-send-unit-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("splits lines across read chunks, drops a BOM, CRs and blank lines, keeps physical line numbers", async () => {
    const long = JSON.stringify({ pad: "x".repeat(100_000) });
    const text = `\uFEFF{"a":1}\r\n\r\n  \n${long}\n${long}\n${long}\n{"last":true}`;
    const file = join(dir, "in.ndjson");
    writeFileSync(file, text);
    const records = [];
    for await (const r of readRecords(await listInputs(file))) records.push(r);
    expect(records.map((r) => [r.line, r.body.length])).toEqual([
      [1, 7],
      [4, long.length],
      [5, long.length],
      [6, long.length],
      [7, 13],
    ]);
    expect(records[0]?.body.toString()).toBe('{"a":1}');
    expect(records[4]?.body.toString()).toBe('{"last":true}');
    // Every input byte is counted once, so progress reaches exactly 100%.
    expect(records.reduce((sum, r) => sum + r.bytes, 0)).toBe(Buffer.byteLength(text));
  });

  it("formats plain lines and the bar with rate and ETA", () => {
    const s = {
      records: 10_000,
      accepted: 9_998,
      rejected: 2,
      bytes: 2 * 1024 * 1024,
      totalBytes: 20 * 1024 * 1024,
      elapsedMs: 4_000,
    };
    expect(plainLine(s)).toBe(
      "progress: 10,000 records (9,998 accepted, 2 rejected), 2.0 MiB of 20.0 MiB (10%), 2,500 records/s, ETA 36s",
    );
    expect(barLine(s)).toBe(
      "[##----------------------]  10%  10,000 rec  2 rejected  2.0 MiB/20.0 MiB  2,500 rec/s  ETA 36s",
    );
    expect(barLine({ ...s, records: 0, accepted: 0, rejected: 0, bytes: 0, elapsedMs: 0 })).toContain(
      "ETA -",
    );
    expect(formatDuration(3_725_000)).toBe("1h02m");
    expect(formatDuration(125_000)).toBe("2m05s");
    expect(formatDuration(2_345)).toBe("2.3s");
  });
});

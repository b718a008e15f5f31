/**
 * The node:http front at the protocol level: slow, malformed and oversized requests are cut off with a clear
 * status, and the concurrent-request bound answers 503 before reading a body.
 */
import { connect } from "node:net";
import { IngestHandler } from "../../lambda/core/handler.js";
import { type RunningHttpServer, startHttpServer } from "../../lambda/local/http-server.js";
import { send } from "../helpers/http.js";
import {
  CollectingLogger,
  InMemoryRegistry,
  InMemorySink,
  makeApiKey,
  makeStream,
  STREAM_ID,
  TENANT,
} from "../helpers/in-memory-ports.js";
import { issueToken, makeVerifier, tokenClock } from "../helpers/tokens.js";

/** Writes raw bytes on a new connection and resolves with everything the server sent until it closed. */
function rawExchange(port: number, ...chunks: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
    });
    socket.on("close", () => resolve(received));
    socket.on("error", (error: NodeJS.ErrnoException) =>
      error.code === "ECONNRESET" ? resolve(received) : reject(error),
    );
    for (const chunk of chunks) socket.write(chunk);
  });
}

describe("the local HTTP front", () => {
  const clock = tokenClock();
  const sink = new InMemorySink();
  const logger = new CollectingLogger();
  const key = makeApiKey();
  let token: string;
  let http: RunningHttpServer;
  let port: number;

  beforeAll(async () => {
    token = await issueToken(key, clock);
    const handler = new IngestHandler({
      registry: new InMemoryRegistry({ streams: [makeStream()], apiKeys: [key] }),
      sink,
      verifier: makeVerifier(clock),
      clock,
      logger,
    });
    http = await startHttpServer(handler, logger, {
      host: "127.0.0.1",
      port: 0,
      maxConcurrentRequests: 1,
      requestTimeoutMs: 300,
      headersTimeoutMs: 300,
    });
    port = Number(new URL(http.url).port);
  });
  afterAll(async () => {
    await http.drain(1000);
  });

  const head = (length: number) =>
    `POST /stream/v0/data/${STREAM_ID} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n` +
    `x-amperity-tenant: ${TENANT}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;

  it("answers 408 and closes when a client stops sending its body", async () => {
    const response = await rawExchange(port, head(100), '{"a":');
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("answers 408 and closes when a client never finishes its headers", async () => {
    const response = await rawExchange(port, "POST /stream/v0/data/is-AbCDefGH HTTP/1.1\r\nhost: x\r\n");
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("answers 431 to headers larger than 16 KiB", async () => {
    const response = await rawExchange(port, `GET /health HTTP/1.1\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(response).toMatch(/^HTTP\/1\.1 431 /);
  });

  it.each([
    ["a garbage request line", "HELLO\r\n\r\n"],
    [
      "both Content-Length and Transfer-Encoding",
      "POST /stream/v0/data/is-AbCDefGH HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    [
      "two different Content-Length values",
      "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
    ],
  ])("answers 400 to %s", async (_name, raw) => {
    const response = await rawExchange(port, raw);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect(response).toContain('"code":"bad_http_request"');
  });

  it("answers 503 with Retry-After beyond its concurrent-request bound, then serves again", async () => {
    sink.hang();
    const held = send(`${http.url}/stream/v0/data/${STREAM_ID}`, {
      headers: {
        authorization: `Bearer ${token}`,
        "x-amperity-tenant": TENANT,
        "content-type": "application/json",
      },
      body: '{"held":true}',
    });
    // The held request is in the sink once the sink has received it.
    while (sink.received.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const refused = await send(`${http.url}/health`, { method: "GET" });
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.json.error).toMatchObject({ code: "overloaded", retryable: true });
    sink.release();
    expect((await held).status).toBe(202);
    expect((await send(`${http.url}/health`, { method: "GET" })).status).toBe(200);
  });
});

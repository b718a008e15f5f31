/**
 * The local HTTP front: a node:http server over the core handler, with server timeouts, a bound on concurrent
 * requests (back-pressure instead of unbounded memory) and a graceful drain for shutdown.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { DATA_PATH_PREFIX } from "../core/constants.js";
import { MethodNotAllowedError, ServiceUnavailableError } from "../core/errors.js";
import type { IngestHandler } from "../core/handler.js";
import type { Logger } from "../core/ports.js";
import { errorResponse } from "../core/responses.js";
import type { IngestResponse } from "../core/types.js";
import { isLingering, lingerThenDestroy, toIngestRequest, writeResponse } from "./http-entry.js";

export interface HttpServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Requests handled at once; more are answered 503 before their body is read. @default 1024 */
  readonly maxConcurrentRequests?: number;
  /** Log one line per request (id, method, stream, status, length, ms); never tokens or bodies. @default false */
  readonly accessLog?: boolean;
  /** Time to receive a whole request (slow clients are cut off). @default 30,000 ms */
  readonly requestTimeoutMs?: number;
  /** Time to receive the request headers. @default 10,000 ms */
  readonly headersTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this. @default 5,000 ms */
  readonly keepAliveTimeoutMs?: number;
}

export interface RunningHttpServer {
  readonly url: string;
  readonly server: Server;
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`), then closes every connection. */
  drain(graceMs?: number): Promise<void>;
}

export async function startHttpServer(
  handler: IngestHandler,
  logger: Logger,
  options: HttpServerOptions,
): Promise<RunningHttpServer> {
  const maxConcurrent = options.maxConcurrentRequests ?? 1024;
  const accessLog = options.accessLog ?? false;
  let inFlight = 0;
  let draining = false;
  let onIdle: (() => void) | undefined;

  const serve = async (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    const requestId = randomUUID();
    inFlight++;
    try {
      if (draining) res.setHeader("connection", "close");
      if (inFlight > maxConcurrent || draining) {
        const reason = draining
          ? "the server is shutting down"
          : `the server is at its limit of ${maxConcurrent} concurrent requests`;
        const error = new ServiceUnavailableError(`${reason}; retry shortly`, 1, "overloaded");
        writeResponse(req, res, errorResponse(error, requestId, logger));
        return;
      }
      const request = toIngestRequest(req, requestId, () => {
        if (expectsContinue) res.writeContinue();
      });
      const started = accessLog ? performance.now() : 0;
      const response = await handler.handle(request);
      writeResponse(req, res, response);
      if (accessLog) {
        logger.info("request", {
          requestId,
          method: request.method,
          stream: request.path.startsWith(DATA_PATH_PREFIX)
            ? request.path.slice(DATA_PATH_PREFIX.length, 64)
            : undefined,
          path: request.path.startsWith(DATA_PATH_PREFIX) ? undefined : request.path.slice(0, 64),
          status: response.status,
          contentLength: req.headers["content-length"],
          ms: Math.round((performance.now() - started) * 100) / 100,
        });
      }
    } catch (error) {
      // handler.handle never throws; this guards the translation itself.
      writeResponse(req, res, errorResponse(error, requestId, logger));
    } finally {
      inFlight--;
      if (inFlight === 0) onIdle?.();
    }
  };

  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(options.headersTimeoutMs ?? 10_000, requestTimeout);
  const server = createServer({
    requestTimeout,
    headersTimeout,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    // Node checks those two timeouts only this often (30 s by default): check often enough to honour them.
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headersTimeout / 4))),
    // Node would answer a request without Host itself: 400 with an empty body and no x-request-id. Nothing
    // here reads Host, so such a request gets the same JSON answers as any other.
    requireHostHeader: false,
  });
  // A client may half-close its side once its request is sent (`nc -N`, some proxies). Node's default then
  // aborts the request in flight and closes without an answer, although the record may already be stored:
  // keep the connection open for writing until every response is sent.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on("request", (req: IncomingMessage, res: ServerResponse) => void serve(req, res, false));
  // Answer `Expect: 100-continue` only once the request passed every check that needs no body.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => void serve(req, res, true));
  // Any other expectation: Node would answer 417 with an empty body. RFC 9110 §10.1.1 lets a server ignore
  // it, so the request is served like one without Expect (the documented statuses, JSON bodies).
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => void serve(req, res, false));
  // CONNECT: with no listener Node closes the connection without a word. It is a method like any other: 405.
  server.on("connect", (req: IncomingMessage, socket: Duplex) => {
    const requestId = randomUUID();
    const error = new MethodNotAllowedError(`${req.method} is not allowed; records are posted with POST`);
    writeRaw(socket, errorResponse(error, requestId, logger, { allow: "POST" }));
  });
  // Sockets already answered here: Node reports every later chunk of garbage on them as another clientError.
  const answered = new WeakSet<Duplex>();
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (answered.has(socket) || isLingering(socket)) return; // answered; only waits to be closed
    if (!socket.writable) return socket.destroy();
    answered.add(socket);
    const status =
      error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const message =
      status === 431
        ? "the request headers are larger than the limit of 16 KiB"
        : status === 408
          ? "the request was not received in time"
          : "malformed HTTP request";
    const body = JSON.stringify({ error: { code: "bad_http_request", message, retryable: false } });
    writeRaw(socket, {
      status,
      headers: { "content-type": "application/json; charset=utf-8", "x-request-id": randomUUID() },
      body,
    });
    // Not destroyed at once: unread bytes would turn the close into a reset that hides this answer.
    lingerThenDestroy(socket);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;

  return {
    url: `http://${host}:${port}`,
    server,
    async drain(graceMs = 10_000) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => {
            onIdle = resolve;
          }),
          new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}

const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

/** Writes a whole response straight onto a socket Node's HTTP layer has given up on, then closes it. */
function writeRaw(socket: Duplex, response: IngestResponse): void {
  const head = [`HTTP/1.1 ${response.status} ${REASONS[response.status] ?? "Error"}`];
  for (const [name, value] of Object.entries(response.headers)) head.push(`${name}: ${value}`);
  head.push(`content-length: ${Buffer.byteLength(response.body)}`, "connection: close");
  socket.end(`${head.join("\r\n")}\r\n\r\n${response.body}`);
}

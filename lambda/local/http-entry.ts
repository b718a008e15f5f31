/**
 * The node:http entry: translates an IncomingMessage into the core's IngestRequest (with a body reader that
 * stops at the limit) and the core's IngestResponse back onto the wire. No decisions are made here.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex, Readable } from "node:stream";
import { payloadTooLarge } from "../core/body.js";
import { BadRequestError } from "../core/errors.js";
import type { IngestRequest, IngestResponse } from "../core/types.js";

/** Builds the core's view of a request. `onBodyStart` runs before the first body byte is read. */
export function toIngestRequest(
  req: IncomingMessage,
  requestId: string,
  onBodyStart: () => void,
): IngestRequest {
  const url = req.url ?? "/";
  const queryAt = url.indexOf("?");
  return {
    method: req.method ?? "GET",
    path: queryAt === -1 ? url : url.slice(0, queryAt),
    headers: flattenHeaders(req),
    requestId,
    readBody: (maxBytes) => {
      onBodyStart();
      return readBoundedBody(req, maxBytes);
    },
  };
}

/** Writes the response; a request whose body was not read to the end gets its connection closed. */
export function writeResponse(req: IncomingMessage, res: ServerResponse, response: IngestResponse): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string | number> = { ...response.headers };
  headers["content-length"] = Buffer.byteLength(response.body);
  // An unread body would otherwise be drained (or worse, parsed as the next request): close instead.
  if (!req.complete) headers.connection = "close";
  // Whenever Node closes the connection after this response (our `connection: close`, the client's, HTTP/1.0).
  lingerBeforeClose(req);
  res.writeHead(response.status, headers);
  res.end(req.method === "HEAD" ? undefined : response.body);
}

/** After an early answer, at most this much more of the unread body is read and dropped before closing… */
const LINGER_BYTES = 1024 * 1024;
/** …and for at most this long. */
const LINGER_MS = 2_000;

/**
 * A "lingering close" for any response after which the connection is closed: one sent before the request
 * body was read (413, 401, 415…), or one to a client that asked to close while more bytes follow. Closing the
 * socket at once while the client is still sending makes the kernel answer its next bytes with a reset, and
 * most clients then report "connection reset" (or EPIPE) and never read the answer. So once the response is
 * sent (when Node calls `destroySoon`), the write side is shut (FIN) and the rest is read and dropped for a
 * bounded time and size, then the socket is destroyed. The bound keeps the limit meaningful: a client
 * streaming gigabytes is still cut off after LINGER_BYTES of body or LINGER_MS.
 */
function lingerBeforeClose(req: IncomingMessage): void {
  const socket = req.socket as IncomingMessage["socket"] & { destroySoon?: () => void };
  if (typeof socket.destroySoon !== "function") return;
  socket.destroySoon = () => {
    socket.end();
    lingerThenDestroy(socket, req.complete ? undefined : req);
  };
}

/**
 * Reads and drops what the client still sends on a socket whose answer is written and whose write side is
 * shut, for at most LINGER_MS and LINGER_BYTES, then destroys it. Destroying a socket with unread bytes in the
 * kernel's buffer sends a reset, which makes the client lose the answer it has not read yet.
 *
 * Bytes that arrive after the request (pipelined garbage) go to Node's parser, whose errors the server then
 * ignores for this socket (see isLingering); the unread rest of a request body is drained through `body`.
 */
export function lingerThenDestroy(socket: Duplex, body?: Readable): void {
  lingering.add(socket);
  const stop = () => socket.destroy();
  const timer = setTimeout(stop, LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
  // The client has read the answer and closed its side: nothing is left to protect.
  socket.once("end", stop);
  if (body !== undefined) {
    let dropped = 0;
    body.on("data", (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER_BYTES) stop();
    });
    body.resume();
  }
}

const lingering = new WeakSet<Duplex>();

/** Whether the socket's answer is sent and it only waits to be closed (its further bytes are dropped). */
export function isLingering(socket: Duplex): boolean {
  return lingering.has(socket);
}

function flattenHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

/** Reads the whole body unless more than `maxBytes` arrive; then rejects 413 at once and reads no more. */
function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers["content-length"];
  if (declared !== undefined) {
    const length = Number(declared);
    if (Number.isSafeInteger(length) && length > maxBytes)
      return Promise.reject(payloadTooLarge(length, maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        cleanup();
        req.pause();
        reject(payloadTooLarge(undefined, maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, received));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(
        new BadRequestError(`the request body could not be read (${error.message})`, "body_read_failed"),
      );
    };
    const onAborted = () => onError(new Error("client closed the connection"));
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("aborted", onAborted);
  });
}

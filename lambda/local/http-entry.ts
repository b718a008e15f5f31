/**
 * The node:http entry: translates an IncomingMessage into the core's IngestRequest (with a body reader that
 * stops at the limit) and the core's IngestResponse back onto the wire. No decisions are made here.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
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
  res.writeHead(response.status, headers);
  res.end(req.method === "HEAD" ? undefined : response.body);
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

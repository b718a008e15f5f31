/** Which route a request is for. The core serves the data path and a health check. */
import { DATA_PATH_PREFIX, STREAM_ID_PATTERN } from "./constants.js";
import { MethodNotAllowedError, NotFoundError } from "./errors.js";

export type Route = { readonly kind: "data"; readonly streamId: string } | { readonly kind: "health" };

/** Resolves method + path to a route, or throws 404/405 with a message naming what was asked for. */
export function resolveRoute(method: string, path: string): Route {
  if (path.startsWith(DATA_PATH_PREFIX)) {
    const streamId = safeDecode(path.slice(DATA_PATH_PREFIX.length));
    if (method !== "POST") {
      throw new MethodNotAllowedError(`${method} is not allowed on ${DATA_PATH_PREFIX}<stream-id>; use POST`);
    }
    if (!STREAM_ID_PATTERN.test(streamId)) {
      throw new NotFoundError(
        `no stream ${JSON.stringify(shorten(streamId))}: stream ids are is- followed by 8 letters or digits`,
        "stream_not_found",
      );
    }
    return { kind: "data", streamId };
  }
  if (path === "/health") {
    if (method !== "GET" && method !== "HEAD")
      throw new MethodNotAllowedError(`${method} is not allowed on /health; use GET`);
    return { kind: "health" };
  }
  throw new NotFoundError(
    `no route for ${method} ${shorten(path)}; records are posted to ${DATA_PATH_PREFIX}<stream-id>`,
  );
}

/** The methods each route takes, for the `Allow` header of a 405. */
export function allowedMethods(path: string): string {
  return path === "/health" ? "GET, HEAD" : "POST";
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

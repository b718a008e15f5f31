/**
 * Which route a request is for. The core serves the data path, the batch path, a health check and the API
 * description (OpenAPI).
 */
import { BATCH_PATH_PREFIX, DATA_PATH_PREFIX, STREAM_ID_PATTERN } from "./constants.js";
import { MethodNotAllowedError, NotFoundError } from "./errors.js";

export type Route =
  | { readonly kind: "data"; readonly streamId: string }
  | { readonly kind: "batch"; readonly streamId: string }
  | { readonly kind: "health" }
  | { readonly kind: "openapi" };

/** Where the OpenAPI description of the API is served. */
export const OPENAPI_PATH = "/openapi.json";

/** Resolves method + path to a route, or throws 404/405 with a message naming what was asked for. */
export function resolveRoute(method: string, path: string): Route {
  if (path.startsWith(DATA_PATH_PREFIX)) {
    return { kind: "data", streamId: streamRoute(method, path, DATA_PATH_PREFIX) };
  }
  if (path.startsWith(BATCH_PATH_PREFIX)) {
    return { kind: "batch", streamId: streamRoute(method, path, BATCH_PATH_PREFIX) };
  }
  if (path === "/health" || path === OPENAPI_PATH) {
    if (method !== "GET" && method !== "HEAD")
      throw new MethodNotAllowedError(`${method} is not allowed on ${path}; use GET`);
    return path === "/health" ? { kind: "health" } : { kind: "openapi" };
  }
  throw new NotFoundError(
    `no route for ${method} ${shorten(path)}; records are posted to ${DATA_PATH_PREFIX}<stream-id>`,
  );
}

/** The methods each route takes, for the `Allow` header of a 405. */
export function allowedMethods(path: string): string {
  return path === "/health" || path === OPENAPI_PATH ? "GET, HEAD" : "POST";
}

/** The stream id of a POST to `<prefix><stream-id>`; 405 for another method, 404 for a malformed id. */
function streamRoute(method: string, path: string, prefix: string): string {
  const streamId = safeDecode(path.slice(prefix.length));
  if (method !== "POST") {
    throw new MethodNotAllowedError(`${method} is not allowed on ${prefix}<stream-id>; use POST`);
  }
  if (!STREAM_ID_PATTERN.test(streamId)) {
    throw new NotFoundError(
      `no stream ${JSON.stringify(shorten(streamId))}: stream ids are is- followed by 8 letters or digits`,
      "stream_not_found",
    );
  }
  return streamId;
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

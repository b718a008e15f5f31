/**
 * The routes of the stack's HTTP API, as plain data: lib/ingest-api.ts adds them, and the local API Gateway
 * front (lambda/local/api-gateway-front.ts) computes route keys from them, so the two cannot drift. Every route,
 * and the `$default` route for any other path, goes to the ingest Lambda.
 */

/** The data path; `{streamId}` is the stream's id (`is-` + 8 alphanumerics). */
export const DATA_ROUTE_PATH = "/stream/v0/data/{streamId}";

/** The batch path (an NDJSON body of up to 500 JSON records); `{streamId}` as for the data path. */
export const BATCH_ROUTE_PATH = "/stream/v0/batch/{streamId}";

/** One route: a method (`ANY` matches every method) and a path with `{name}` segments. */
export interface HttpApiRoute {
  readonly method: "POST" | "ANY" | "GET";
  readonly path: string;
}

/** In the order the stack adds them. */
export const HTTP_API_ROUTES: readonly HttpApiRoute[] = [
  { method: "POST", path: DATA_ROUTE_PATH },
  // Any other method on the data path answers the core's 405 with an Allow header.
  { method: "ANY", path: DATA_ROUTE_PATH },
  // The batch path likewise: POST, and every other method for the core's 405.
  { method: "POST", path: BATCH_ROUTE_PATH },
  { method: "ANY", path: BATCH_ROUTE_PATH },
  { method: "GET", path: "/health" },
];

/**
 * A loopback stand-in for API Gateway HTTP API (payload format 2.0) in front of a Lambda handler, so the AWS
 * code path runs end to end offline: each HTTP request becomes the v2 event API Gateway would send, the
 * handler's result is mapped back the way API Gateway maps it, and API Gateway's own limits are enforced
 * (10 MiB payload → 413, integration timeout → 504, stage throttling → 429), with API Gateway's JSON bodies.
 *
 * Decisions (what real HTTP APIs do, as far as documented/observed; marked where it is our choice):
 * - Header names are lower-cased and repeated headers joined with "," (no space). Cookie headers are removed
 *   from `headers` and split on ";" into `cookies`. `x-forwarded-for/-port/-proto` and `x-amzn-trace-id` are
 *   added as API Gateway adds them.
 * - The body is base64-encoded unless the content type is textual (text/*, application/json, application/xml,
 *   application/*+json, application/*+xml, application/x-ndjson) and the body has no Content-Encoding; so a
 *   missing content type, form posts, octet streams and gzip bodies arrive base64 (as on AWS), and so does a
 *   textual body that is not valid UTF-8 (a JSON event cannot hold its bytes as text).
 * - The route key is computed from HTTP_API_ROUTES (lambda/aws/http-api-routes.ts), the table lib/ingest-api.ts
 *   adds to the stack (POST and ANY on the data and batch paths, GET /health, `$default` otherwise).
 * - Result mapping follows the format-2.0 rules: an object with `statusCode` is a structured result; any other
 *   JSON value (a string, an object without statusCode) is a 200 `application/json` body (a string as is,
 *   anything else JSON-serialised). A throw, or a structured result that is not valid, is 500
 *   `{"message":"Internal Server Error"}`.
 * - Timeout: 504 `{"message":"Endpoint request timed out"}` after `timeoutMs` (our choice of body, per issue 7;
 *   real HTTP APIs are reported to answer 503 `{"message":"Service Unavailable"}`: see TIMEOUT_RESPONSE).
 */

import { isUtf8 } from "node:buffer";
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { HTTP_API_ROUTES, type HttpApiRoute } from "../aws/http-api-routes.js";
import { type Clock, type Logger, systemClock } from "../core/ports.js";

/** What the Node.js Lambda runtime passes as the second argument (the aws-lambda `Context`). */
export type LambdaLikeContext = Context;

export type LambdaInvoke = (
  event: APIGatewayProxyEventV2,
  context: LambdaLikeContext,
) => Promise<APIGatewayProxyStructuredResultV2 | string | object>;

export interface ApiGatewayFrontOptions {
  readonly invoke: LambdaInvoke;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
  /** API Gateway's integration timeout. @default 30000 */
  readonly timeoutMs?: number;
  /** API Gateway's payload limit. @default 10 MiB */
  readonly maxPayloadBytes?: number;
  /** Stage throttling (token bucket: `rateLimit` per second refill, `burstLimit` bucket size). @default none */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
  /** Drives throttling, `timeEpoch`/`time` and getRemainingTimeInMillis. @default the system clock */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** The function's own timeout, for getRemainingTimeInMillis. @default 15000 (lib/ingest-function.ts) */
  readonly functionTimeoutMs?: number;
  /** How long close() lets requests being answered finish before it drops their connections. @default 10000 */
  readonly closeGraceMs?: number;
  /** @default "StreamingIngest-IngestFunction" */
  readonly functionName?: string;
  /** @default "1024" */
  readonly memoryLimitInMB?: string;
  /** @default "123456789012" (as SAM local uses) */
  readonly accountId?: string;
  /** @default "eu-west-1" */
  readonly region?: string;
  /** Ten lower-case alphanumerics, like a real API id. @default "localfront" */
  readonly apiId?: string;
}

export interface ApiGatewayFront {
  /** `http://host:port` (no trailing slash). */
  readonly url: string;
  /** Stops accepting; requests being answered finish first (up to `closeGraceMs`). */
  close(): Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

interface GatewayError {
  readonly status: number;
  readonly message: string;
}

const INTERNAL_ERROR: GatewayError = { status: 500, message: "Internal Server Error" };
/** See the file comment: the status and body are issue 7's choice. */
export const TIMEOUT_RESPONSE: GatewayError = { status: 504, message: "Endpoint request timed out" };
const TOO_LARGE: GatewayError = { status: 413, message: "Request Entity Too Large" };
const THROTTLED: GatewayError = { status: 429, message: "Too Many Requests" };

const TEXT_TYPES = new Set(["application/json", "application/xml", "application/x-ndjson"]);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Starts the front on a loopback port; `close()` stops it and drops open connections. */
export async function startApiGatewayFront(options: ApiGatewayFrontOptions): Promise<ApiGatewayFront> {
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const bucket = options.throttle === undefined ? undefined : new TokenBucket(options.throttle, clock);
  const settings: EventSettings = {
    clock,
    accountId: options.accountId ?? "123456789012",
    apiId: options.apiId ?? "localfront",
  };
  const functionName = options.functionName ?? "StreamingIngest-IngestFunction";
  const region = options.region ?? "eu-west-1";
  const functionTimeoutMs = options.functionTimeoutMs ?? 15_000;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = apiGatewayRequestId();
    const body = await readBody(req, maxPayloadBytes);
    if (body === undefined) return sendError(res, requestId, TOO_LARGE);
    if (bucket !== undefined && !bucket.take()) return sendError(res, requestId, THROTTLED);
    const event = toHttpApiEvent(req, body, requestId, settings);
    const context = lambdaContext({
      clock,
      functionName,
      region,
      accountId: settings.accountId,
      memoryLimitInMB: options.memoryLimitInMB ?? "1024",
      deadline: clock.now() + functionTimeoutMs,
    });
    const outcome = await invokeWithin(options.invoke, event, context, timeoutMs);
    if (outcome.kind === "timeout") {
      options.logger?.warn("integration timed out", { requestId, timeoutMs });
      return sendError(res, requestId, TIMEOUT_RESPONSE);
    }
    if (outcome.kind === "error") {
      // The error's name only: a message may quote the request.
      options.logger?.error("lambda invocation failed", { requestId, error: errorName(outcome.error) });
      return sendError(res, requestId, INTERNAL_ERROR);
    }
    const mapped = mapResult(outcome.result);
    if (mapped === undefined) {
      options.logger?.error("lambda returned an invalid result", { requestId });
      return sendError(res, requestId, INTERNAL_ERROR);
    }
    res.statusCode = mapped.status;
    for (const [name, value] of mapped.headers) res.appendHeader(name, value);
    res.setHeader("apigw-requestid", requestId);
    res.setHeader("content-length", mapped.body.byteLength);
    res.end(mapped.body);
  };

  // Requests being answered: close() lets them finish (up to closeGraceMs) before it drops connections.
  let inFlight = 0;
  let closing = false;
  const server = createServer((req, res) => {
    inFlight++;
    handle(req, res)
      .catch((error: unknown) => {
        options.logger?.error("api gateway front failed", { error: errorName(error) });
        if (!res.headersSent) sendError(res, apiGatewayRequestId(), INTERNAL_ERROR);
        else res.destroy();
      })
      .finally(() => {
        inFlight--;
        if (closing && inFlight === 0) server.closeAllConnections();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        if (inFlight === 0) server.closeAllConnections();
        else {
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), options.closeGraceMs ?? 10_000).unref();
        }
      }),
  };
}

interface EventSettings {
  readonly clock: Clock;
  readonly accountId: string;
  readonly apiId: string;
}

/** The payload-format-2.0 event API Gateway builds for this request. */
export function toHttpApiEvent(
  req: IncomingMessage,
  body: Buffer,
  requestId: string,
  settings: EventSettings,
): APIGatewayProxyEventV2 {
  const url = req.url ?? "/";
  const queryAt = url.indexOf("?");
  const rawPath = queryAt < 0 ? url : url.slice(0, queryAt);
  const rawQueryString = queryAt < 0 ? "" : url.slice(queryAt + 1);
  const method = (req.method ?? "GET").toUpperCase();
  const sourceIp = (req.socket.remoteAddress ?? "127.0.0.1").replace(/^::ffff:/, "");
  const now = settings.clock.now();

  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? "").toLowerCase();
    const value = raw[i + 1] ?? "";
    if (name === "cookie") {
      cookies.push(
        ...value
          .split(";")
          .map((cookie) => cookie.trim())
          .filter((cookie) => cookie !== ""),
      );
      continue;
    }
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous},${value}`;
  }
  const forwardedFor = headers["x-forwarded-for"];
  headers["x-forwarded-for"] = forwardedFor === undefined ? sourceIp : `${forwardedFor}, ${sourceIp}`;
  headers["x-forwarded-port"] = String(req.socket.localPort ?? 80);
  headers["x-forwarded-proto"] = "http";
  headers["x-amzn-trace-id"] ??= traceId(now);

  const host = headers.host ?? `${settings.apiId}.execute-api.localhost`;
  const domainName = host.replace(/:\d+$/, "");
  const route = matchRoute(method, rawPath);
  const routeKey = route === undefined ? "$default" : `${route.route.method} ${route.route.path}`;
  // A JSON event cannot carry bytes that are not UTF-8 as text: such a body goes base64 whatever its type, so
  // the Lambda sees the bytes sent (and refuses them as invalid_utf8), never U+FFFD replacements.
  const base64 =
    body.byteLength > 0 &&
    (!isTextual(headers["content-type"], headers["content-encoding"]) || !isUtf8(body));

  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length === 0 ? {} : { cookies }),
    headers,
    ...(rawQueryString === "" ? {} : { queryStringParameters: queryParameters(rawQueryString) }),
    requestContext: {
      accountId: settings.accountId,
      apiId: settings.apiId,
      domainName,
      domainPrefix: domainName.split(".")[0] ?? domainName,
      http: {
        method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers["user-agent"] ?? "",
      },
      requestId,
      routeKey,
      stage: "$default",
      time: apiGatewayTime(now),
      timeEpoch: now,
    },
    ...(route?.parameters === undefined ? {} : { pathParameters: route.parameters }),
    isBase64Encoded: base64,
  };
  if (body.byteLength > 0) event.body = body.toString(base64 ? "base64" : "utf8");
  return event;
}

/** True when API Gateway passes the body as text rather than base64. */
export function isTextual(contentType: string | undefined, contentEncoding: string | undefined): boolean {
  if (contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== "identity") return false;
  if (contentType === undefined) return false;
  const type = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return type.startsWith("text/") || TEXT_TYPES.has(type) || /^application\/[^/]+\+(json|xml)$/.test(type);
}

/** The most specific route: an exact method before ANY, literal paths before parameterised ones. */
function matchRoute(
  method: string,
  path: string,
): { route: HttpApiRoute; parameters?: Record<string, string> } | undefined {
  const segments = path.split("/");
  let best: { route: HttpApiRoute; parameters?: Record<string, string>; score: number } | undefined;
  for (const route of HTTP_API_ROUTES) {
    if (route.method !== "ANY" && route.method !== method) continue;
    const parts = route.path.split("/");
    if (parts.length !== segments.length) continue;
    const parameters: Record<string, string> = {};
    let literals = 0;
    let matched = true;
    for (let i = 0; i < parts.length && matched; i += 1) {
      const part = parts[i] ?? "";
      const segment = segments[i] ?? "";
      const name = /^\{([^}]+)\}$/.exec(part)?.[1];
      if (name === undefined) {
        matched = part === segment;
        literals += 1;
      } else if (segment === "") {
        matched = false;
      } else {
        parameters[name] = safeDecode(segment);
      }
    }
    if (!matched) continue;
    const score = literals * 2 + (route.method === "ANY" ? 0 : 1);
    if (best === undefined || score > best.score) {
      best = {
        route,
        score,
        ...(Object.keys(parameters).length === 0 ? {} : { parameters }),
      };
    }
  }
  return best === undefined
    ? undefined
    : { route: best.route, ...(best.parameters === undefined ? {} : { parameters: best.parameters }) };
}

function queryParameters(rawQueryString: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    const previous = result[name];
    result[name] = previous === undefined ? value : `${previous},${value}`;
  }
  return result;
}

interface MappedResult {
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: Buffer;
}

/** Format-2.0 response mapping; undefined for a result API Gateway would reject (→ 500). */
export function mapResult(result: unknown): MappedResult | undefined {
  if (typeof result === "object" && result !== null && "statusCode" in result) {
    const structured = result as APIGatewayProxyStructuredResultV2;
    const status = structured.statusCode;
    if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) {
      return undefined;
    }
    const headers: [string, string][] = [];
    for (const [name, value] of Object.entries(structured.headers ?? {})) {
      headers.push([name.toLowerCase(), String(value)]);
    }
    for (const cookie of structured.cookies ?? []) headers.push(["set-cookie", cookie]);
    const text = structured.body ?? "";
    if (typeof text !== "string") return undefined;
    const body = Buffer.from(text, structured.isBase64Encoded === true ? "base64" : "utf8");
    return { status, headers, body };
  }
  if (result === undefined) return undefined;
  const text = typeof result === "string" ? result : JSON.stringify(result);
  if (text === undefined) return undefined;
  return { status: 200, headers: [["content-type", "application/json"]], body: Buffer.from(text, "utf8") };
}

type Outcome = { kind: "result"; result: unknown } | { kind: "error"; error: unknown } | { kind: "timeout" };

function invokeWithin(
  invoke: LambdaInvoke,
  event: APIGatewayProxyEventV2,
  context: LambdaLikeContext,
  timeoutMs: number,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const timer = setTimeout(() => resolve({ kind: "timeout" }), timeoutMs);
    let invocation: Promise<unknown>;
    try {
      invocation = Promise.resolve(invoke(event, context));
    } catch (error) {
      invocation = Promise.reject(error);
    }
    invocation.then(
      (result) => {
        clearTimeout(timer);
        resolve({ kind: "result", result });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ kind: "error", error });
      },
    );
  });
}

/** The body, or undefined when it is over the limit (read to the end either way, so the client sees the answer). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > maxBytes ? undefined : Buffer.concat(chunks, size)));
    req.on("error", reject);
  });
}

function sendError(res: ServerResponse, requestId: string, error: GatewayError): void {
  const body = Buffer.from(JSON.stringify({ message: error.message }), "utf8");
  res.statusCode = error.status;
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", body.byteLength);
  res.setHeader("apigw-requestid", requestId);
  res.end(body);
}

/** API Gateway's token bucket: `burstLimit` tokens, refilled at `rateLimit` per second. */
class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limits: { readonly rateLimit: number; readonly burstLimit: number },
    private readonly clock: Clock,
  ) {
    this.tokens = limits.burstLimit;
    this.last = clock.now();
  }

  take(): boolean {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.limits.burstLimit, this.tokens + (elapsed / 1000) * this.limits.rateLimit);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function lambdaContext(init: {
  clock: Clock;
  functionName: string;
  region: string;
  accountId: string;
  memoryLimitInMB: string;
  deadline: number;
}): LambdaLikeContext {
  const date = new Date(init.clock.now()).toISOString().slice(0, 10).replaceAll("-", "/");
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: init.functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${init.region}:${init.accountId}:function:${init.functionName}`,
    memoryLimitInMB: init.memoryLimitInMB,
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${init.functionName}`,
    logStreamName: `${date}/[$LATEST]${randomBytes(16).toString("hex")}`,
    getRemainingTimeInMillis: () => Math.max(0, init.deadline - init.clock.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Like API Gateway's ids, e.g. `JKJaXmPLvHcESHA=` (11 random bytes, base64). */
function apiGatewayRequestId(): string {
  return randomBytes(11).toString("base64");
}

function traceId(now: number): string {
  return `Root=1-${Math.floor(now / 1000).toString(16)}-${randomBytes(12).toString("hex")}`;
}

/** `dd/MMM/yyyy:HH:mm:ss +0000`, as in `requestContext.time`. */
export function apiGatewayTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, "0");
  return (
    `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

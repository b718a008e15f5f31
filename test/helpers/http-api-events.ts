/**
 * API Gateway HTTP API (payload format 2.0) events exactly as Lambda receives them, for driving the ingest
 * Lambda: header names lower-cased, `rawPath` without the query, gzip bodies base64-encoded.
 */
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";

export interface HttpApiEventInit {
  readonly method?: string;
  readonly path: string;
  /** Names as given (HTTP API lower-cases them; tests may pass any case to check the adapter). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Force base64 (API Gateway does so for binary bodies such as gzip). @default true for Uint8Array bodies */
  readonly base64?: boolean;
  readonly requestId?: string;
  readonly query?: string;
}

let counter = 0;

export function httpApiEvent(init: HttpApiEventInit): APIGatewayProxyEventV2 {
  counter += 1;
  const method = init.method ?? "POST";
  const requestId = init.requestId ?? `JKJaXmPLvHcESHA${counter}=`;
  const streamId = /^\/stream\/v0\/data\/([^/]+)$/.exec(init.path)?.[1];
  const routeKey =
    streamId === undefined ? "$default" : `${method === "POST" ? "POST" : "ANY"} /stream/v0/data/{streamId}`;
  const bytes = typeof init.body === "string" ? Buffer.from(init.body, "utf8") : init.body;
  const base64 = init.base64 ?? (init.body !== undefined && typeof init.body !== "string");
  const now = Date.UTC(2026, 10, 29, 10, 0, 0);
  const event: APIGatewayProxyEventV2 = {
    version: "2.0",
    routeKey,
    rawPath: init.path,
    rawQueryString: init.query ?? "",
    headers: {
      accept: "*/*",
      host: "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
      "user-agent": "curl/8.5.0",
      "x-amzn-trace-id": `Root=1-6749a3c0-0123456789abcdef0123456${counter % 10}`,
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-port": "443",
      "x-forwarded-proto": "https",
      ...(bytes === undefined ? {} : { "content-length": String(bytes.byteLength) }),
      ...init.headers,
    },
    requestContext: {
      accountId: "123456789012",
      apiId: "a1b2c3d4e5",
      domainName: "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
      domainPrefix: "a1b2c3d4e5",
      http: {
        method,
        path: init.path,
        protocol: "HTTP/1.1",
        sourceIp: "203.0.113.7",
        userAgent: "curl/8.5.0",
      },
      requestId,
      routeKey,
      stage: "$default",
      time: "29/Nov/2026:10:00:00 +0000",
      timeEpoch: now,
    },
    isBase64Encoded: base64,
    ...(streamId === undefined ? {} : { pathParameters: { streamId } }),
    ...(init.query === undefined
      ? {}
      : { queryStringParameters: Object.fromEntries(new URLSearchParams(init.query)) }),
  };
  if (bytes !== undefined) event.body = Buffer.from(bytes).toString(base64 ? "base64" : "utf8");
  return event;
}

/** A Lambda context as the Node.js runtime passes it. */
export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "StreamingIngest-IngestFunction",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:StreamingIngest-IngestFunction",
    memoryLimitInMB: "1024",
    awsRequestId: "c6af9ac6-7b61-11e6-9a41-93e812345678",
    logGroupName: "/aws/lambda/StreamingIngest-IngestFunction",
    logStreamName: "2026/11/29/[$LATEST]0123456789abcdef",
    getRemainingTimeInMillis: () => 15_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

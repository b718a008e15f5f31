/**
 * The ingest Lambda, assembled from injected clients: HTTP API event → the shared IngestHandler core (registry
 * on DynamoDB behind the TTL cache, tokens verified against the KMS public keys, records delivered to
 * Firehose) → HTTP API result, with metrics and a summary log line per request.
 */

import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { FirehoseClient } from "@aws-sdk/client-firehose";
import type { KMSClient } from "@aws-sdk/client-kms";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { DynamoIdempotencyStore } from "../adapters/dynamo-idempotency.js";
import { DynamoRegistry } from "../adapters/dynamo-registry.js";
import { FirehoseSink } from "../adapters/firehose-sink.js";
import { KmsTokenVerifier } from "../adapters/kms-token-verifier.js";
import { CachedRegistry } from "../core/cached-registry.js";
import { IngestHandler } from "../core/handler.js";
import { type Clock, systemClock } from "../core/ports.js";
import { toHttpApiResult, toIngestRequest } from "./http-api-event.js";
import type { IngestConfig } from "./ingest-config.js";
import { IngestTelemetry } from "./ingest-telemetry.js";
import { PowertoolsLoggerPort } from "./powertools-logger.js";

export interface IngestLambdaDeps {
  readonly config: IngestConfig;
  readonly dynamo: DynamoDBDocumentClient;
  readonly firehose: FirehoseClient;
  readonly kms: KMSClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** @default the system clock */
  readonly clock?: Clock;
  /** The Firehose sink's backoff wait. @default a real timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter and delivery-stream choice. @default Math.random */
  readonly random?: () => number;
}

export type IngestLambda = (
  event: APIGatewayProxyEventV2,
  context?: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Builds the handler once per container; every invocation reuses its clients, caches and keys. */
export function createIngestLambda(deps: IngestLambdaDeps): IngestLambda {
  const { config, logger, metrics } = deps;
  const clock = deps.clock ?? systemClock;
  const port = new PowertoolsLoggerPort(logger);
  const telemetry = new IngestTelemetry(metrics, logger);
  const verifier = new KmsTokenVerifier({
    kms: deps.kms,
    keyArns: config.tokenKeyArns,
    issuer: config.tokenIssuer,
    audience: config.tokenAudience,
    clock,
    logger: port,
  });
  const registry = new CachedRegistry(
    new DynamoRegistry(deps.dynamo, { streams: config.streamsTable, apiKeys: config.apiKeysTable }, port),
    clock,
    { ttlMs: config.registryCacheTtlSeconds * 1000 },
  );
  const sink = new FirehoseSink({
    client: deps.firehose,
    logger: port,
    budgetMs: config.deliveryBudgetMs,
    clock,
    ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
    ...(deps.random === undefined ? {} : { random: deps.random }),
    onRetry: () => telemetry.deliveryRetried(),
    onConfirmed: (confirmed) => telemetry.deliveryConfirmed(confirmed.latencyMs, confirmed.bytes),
  });
  // No per-container rate limiter: each container would allow the whole rate. On AWS the stage throttling and
  // Firehose's own quota (answered 429) bound the rate.
  // Only requests that carry an Idempotency-Key touch this table (a conditional put, then a confirm), through
  // the registry's bounded client (ingest-entry.ts: 2 attempts of at most 2 s), so a silent table is a quick 503.
  const idempotency =
    config.idempotencyTable === undefined
      ? undefined
      : {
          store: new DynamoIdempotencyStore({
            client: deps.dynamo,
            table: config.idempotencyTable,
            logger: port,
          }),
          windowSeconds: config.idempotencyWindowSeconds,
        };
  const handler = new IngestHandler({
    registry,
    sink,
    verifier,
    clock,
    logger: port,
    ...(idempotency === undefined ? {} : { idempotency }),
  });
  let coldStart = true;

  return async (event, context) => {
    const started = clock.now();
    if (context !== undefined) logger.addContext(context);
    if (coldStart) {
      coldStart = false;
      metrics.captureColdStartMetric(context?.functionName);
    }
    await verifier.ensureLoaded();
    const request = toIngestRequest(event);
    const response = await handler.handle(request);
    telemetry.requestDone({
      method: request.method,
      path: request.path,
      response,
      latencyMs: clock.now() - started,
      bodyBytes:
        event.body === undefined
          ? 0
          : Buffer.byteLength(event.body, event.isBase64Encoded ? "base64" : "utf8"),
    });
    telemetry.flush();
    return toHttpApiResult(response);
  };
}

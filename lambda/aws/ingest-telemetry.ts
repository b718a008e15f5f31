/**
 * What the ingest Lambda tells CloudWatch about each request: EMF metrics through Powertools Metrics (counts by
 * outcome and status, bytes, delivery retries and latency) and one structured summary log line. Neither ever
 * holds a token or record content.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { BATCH_PATH_PREFIX, DATA_PATH_PREFIX, STREAM_ID_PATTERN } from "../core/constants.js";
import type { IngestResponse } from "../core/types.js";
import { IngestMetric } from "./metric-names.js";

/** One answered request, as the summary line and the metrics see it. */
export interface RequestOutcome {
  readonly method: string;
  readonly path: string;
  readonly response: IngestResponse;
  readonly latencyMs: number;
  /** Body bytes as received (still encoded). */
  readonly bodyBytes: number;
}

export class IngestTelemetry {
  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** A PutRecord attempt failed and is retried. */
  deliveryRetried(): void {
    this.metrics.addMetric(IngestMetric.deliveryRetries, MetricUnit.Count, 1);
  }

  /** Firehose acknowledged a record. */
  deliveryConfirmed(latencyMs: number, bytes: number): void {
    this.metrics.addMetric(IngestMetric.deliveryLatency, MetricUnit.Milliseconds, latencyMs);
    this.metrics.addMetric(IngestMetric.acceptedBytes, MetricUnit.Bytes, bytes);
  }

  /** Counts the answer and writes the request's summary line. */
  requestDone(outcome: RequestOutcome): void {
    const { status } = outcome.response;
    this.metrics.addMetric(IngestMetric.requests, MetricUnit.Count, 1);
    if (status < 300) this.metrics.addMetric(IngestMetric.accepted, MetricUnit.Count, 1);
    else if (status === 429) this.metrics.addMetric(IngestMetric.throttled, MetricUnit.Count, 1);
    else if (status >= 500) this.metrics.addMetric(IngestMetric.serverErrors, MetricUnit.Count, 1);
    else this.metrics.addMetric(IngestMetric.clientErrors, MetricUnit.Count, 1);
    if (status >= 300) {
      // Rejections by status code: a dimension of its own, so the usual metrics keep one dimension set.
      const single = this.metrics.singleMetric();
      single.addDimension("status", String(status));
      single.addMetric(IngestMetric.rejected, MetricUnit.Count, 1);
    }
    const fields = {
      requestId: outcome.response.headers["x-request-id"],
      method: outcome.method,
      streamId: streamIdOf(outcome.path),
      status,
      code: errorCodeOf(outcome.response),
      latencyMs: outcome.latencyMs,
      bodyBytes: outcome.bodyBytes,
    };
    if (status >= 500) this.logger.warn("request", fields);
    else this.logger.info("request", fields);
  }

  /** Writes the invocation's metrics (EMF on stdout, which CloudWatch turns into metrics). */
  flush(): void {
    this.metrics.publishStoredMetrics();
  }
}

/** The stream id of a data or batch path, only when it has the documented shape (a path is client input). */
function streamIdOf(path: string): string | undefined {
  const prefix = [DATA_PATH_PREFIX, BATCH_PATH_PREFIX].find((candidate) => path.startsWith(candidate));
  if (prefix === undefined) return undefined;
  const id = path.slice(prefix.length);
  return STREAM_ID_PATTERN.test(id) ? id : undefined;
}

/** The `error.code` of an error response: the core wrote that JSON, so it parses. */
function errorCodeOf(response: IngestResponse): string | undefined {
  if (response.status < 300) return undefined;
  try {
    const body = JSON.parse(response.body) as { error?: { code?: unknown } };
    return typeof body.error?.code === "string" ? body.error.code : undefined;
  } catch {
    return undefined;
  }
}

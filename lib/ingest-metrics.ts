/**
 * The CloudWatch metrics of a Streaming Ingest deployment, built in one place so that the dashboard and the
 * alarms read the very same series (same namespace, dimensions, statistic and period).
 */
import { Duration } from "aws-cdk-lib";
import { type IMetric, MathExpression, Metric, Stats } from "aws-cdk-lib/aws-cloudwatch";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import {
  INGEST_SERVICE,
  IngestMetric,
  METRICS_NAMESPACE,
  PROVISIONER_SERVICE,
  type ProvisionerMetric,
} from "../lambda/aws/metric-names.js";

/** Period of every alarm and dashboard datapoint. */
export const METRIC_PERIOD = Duration.minutes(5);

/** What {@link IngestMetrics} reads from. */
export interface IngestMetricsSources {
  /** The HTTP API's id (dimension ApiId). */
  readonly apiId: string;
  /** The stage name (dimension Stage), `$default` here. */
  readonly stageName: string;
  readonly ingestFunction: IFunction;
  readonly provisionerFunction: IFunction;
  readonly failuresDlq: IQueue;
  readonly deletionDlq: IQueue;
  readonly deletionQueue: IQueue;
}

/** Factory of the deployment's metrics. */
export class IngestMetrics {
  constructor(private readonly sources: IngestMetricsSources) {}

  /** An AWS/ApiGateway metric of the stage (dimensions ApiId + Stage). */
  api(metricName: "Count" | "4xx" | "5xx" | "Latency" | "IntegrationLatency", statistic: string): Metric {
    return new Metric({
      namespace: "AWS/ApiGateway",
      metricName,
      dimensionsMap: { ApiId: this.sources.apiId, Stage: this.sources.stageName },
      statistic,
      period: METRIC_PERIOD,
    });
  }

  /** A metric the ingest Lambda emits (namespace StreamingIngest, dimension service=streaming-ingest). */
  ingest(name: (typeof IngestMetric)[keyof typeof IngestMetric], statistic: string = Stats.SUM): Metric {
    return customMetric(name, INGEST_SERVICE, statistic);
  }

  /** A metric the provisioner emits (dimension service=streaming-ingest-provisioner). */
  provisioner(name: (typeof ProvisionerMetric)[keyof typeof ProvisionerMetric]): Metric {
    return customMetric(name, PROVISIONER_SERVICE, Stats.SUM);
  }

  /**
   * The ingest Lambda's rejections, one line per HTTP status code: `Rejected` carries a `status` dimension next
   * to `service`, and a SEARCH finds every status that occurred without listing them.
   */
  rejectedByStatus(): MathExpression {
    return new MathExpression({
      expression: `SEARCH('{${METRICS_NAMESPACE},service,status} MetricName="${IngestMetric.rejected}" service="${INGEST_SERVICE}"', 'Sum', ${METRIC_PERIOD.toSeconds()})`,
      label: "",
      period: METRIC_PERIOD,
    });
  }

  /** Percentage of API requests answered 5xx (by API Gateway or the Lambda); 0 without traffic. */
  apiServerErrorRate(): MathExpression {
    return new MathExpression({
      expression: "IF(apiRequests > 0, 100 * apiErrors / apiRequests, 0)",
      usingMetrics: { apiErrors: this.api("5xx", Stats.SUM), apiRequests: this.api("Count", Stats.SUM) },
      label: "API 5xx rate (%)",
      period: METRIC_PERIOD,
    });
  }

  /**
   * Percentage of the Lambda's answers that were 429 (per-stream rate limit or Firehose throttling). The stage's
   * own throttling answers 429 before the Lambda runs, so it is not in here; it shows in the API's 4xx.
   */
  throttledRate(): MathExpression {
    return new MathExpression({
      expression: "IF(lambdaRequests > 0, 100 * throttled / lambdaRequests, 0)",
      usingMetrics: {
        throttled: this.ingest(IngestMetric.throttled),
        lambdaRequests: this.ingest(IngestMetric.requests),
      },
      label: "429 rate (%)",
      period: METRIC_PERIOD,
    });
  }

  /**
   * A Metrics Insights query over AWS/Firehose per DeliveryStreamName. Delivery streams are created at runtime,
   * so no fixed metric can name them. The documented operators of Metrics Insights' WHERE clause compare label
   * values for equality (`=`, `!=`, joined with AND/OR); there is no LIKE or prefix match. So the query covers
   * ALL delivery streams of the account and region, not only this stack's `<prefix>-*` ones: in an account that
   * runs other Firehose streams, their throttling and freshness count too.
   */
  firehose(
    aggregate: "SUM" | "MAX",
    metricName: string,
    label: string,
    groupByStream = false,
  ): MathExpression {
    const select = `SELECT ${aggregate}("${metricName}") FROM SCHEMA("AWS/Firehose", DeliveryStreamName)`;
    return new MathExpression({
      expression: groupByStream
        ? `${select} GROUP BY DeliveryStreamName ORDER BY ${aggregate}() DESC LIMIT 20`
        : select,
      label,
      period: METRIC_PERIOD,
    });
  }

  /** Lambda metrics of the two functions. */
  lambda(fn: "ingest" | "provisioner"): LambdaMetrics {
    const target = fn === "ingest" ? this.sources.ingestFunction : this.sources.provisionerFunction;
    const options = { period: METRIC_PERIOD };
    return {
      errors: target.metricErrors({ ...options, statistic: Stats.SUM }),
      throttles: target.metricThrottles({ ...options, statistic: Stats.SUM }),
      invocations: target.metricInvocations({ ...options, statistic: Stats.SUM }),
      durationP50: target.metricDuration({ ...options, statistic: Stats.p(50) }),
      durationP99: target.metricDuration({ ...options, statistic: Stats.p(99) }),
      durationMax: target.metricDuration({ ...options, statistic: Stats.MAXIMUM }),
      concurrency: target.metric("ConcurrentExecutions", { ...options, statistic: Stats.MAXIMUM }),
    };
  }

  /** Messages waiting in a queue (maximum over the period, so one message is enough to show). */
  queueDepth(queue: "failuresDlq" | "deletionDlq" | "deletionQueue"): IMetric {
    return this.sources[queue].metricApproximateNumberOfMessagesVisible({
      period: METRIC_PERIOD,
      statistic: Stats.MAXIMUM,
    });
  }
}

/** The Lambda service's metrics of one function. */
export interface LambdaMetrics {
  readonly errors: Metric;
  readonly throttles: Metric;
  readonly invocations: Metric;
  readonly durationP50: Metric;
  readonly durationP99: Metric;
  readonly durationMax: Metric;
  readonly concurrency: Metric;
}

function customMetric(metricName: string, service: string, statistic: string): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service },
    statistic,
    period: METRIC_PERIOD,
  });
}

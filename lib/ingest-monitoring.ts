/**
 * Alarms that make failures loud (5xx and 429 rates, Lambda errors and throttles, Firehose throttling and
 * freshness, provisioning failures, dead letters), the SNS topic they notify, and the dashboard.
 */
import { ArnFormat, Stack } from "aws-cdk-lib";
import type { IHttpApi, IHttpStage } from "aws-cdk-lib/aws-apigatewayv2";
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { ProvisionerMetric } from "../lambda/aws/metric-names.js";
import { IngestDashboard } from "./ingest-dashboard.js";
import { IngestMetrics } from "./ingest-metrics.js";
import { assertMatches } from "./prop-validation.js";

/** Firehose's largest buffer interval: data older than twice this is stuck, not buffered. */
const MAX_BUFFER_INTERVAL_SECONDS = 900;

/** Props of {@link IngestMonitoring}. */
export interface IngestMonitoringProps {
  readonly httpApi: IHttpApi;
  readonly stage: IHttpStage;
  readonly ingestFunction: IFunction;
  readonly provisionerFunction: IFunction;
  readonly failuresDlq: IQueue;
  readonly deletionDlq: IQueue;
  readonly deletionQueue: IQueue;
  /**
   * Address subscribed to the alarm topic (the recipient must confirm the subscription).
   * @default - no subscription; subscribe to the AlarmTopicArn output yourself
   */
  readonly alarmEmail?: string;
  /**
   * Name of the CloudWatch dashboard.
   * @default - the stack name
   */
  readonly dashboardName?: string;
}

/** The named alarms of {@link IngestMonitoring}. */
export interface IngestAlarms {
  readonly apiServerErrorRate: Alarm;
  readonly throttledRate: Alarm;
  readonly ingestErrors: Alarm;
  readonly ingestThrottles: Alarm;
  readonly firehoseThrottledRecords: Alarm;
  readonly firehoseDataFreshness: Alarm;
  readonly provisionerErrors: Alarm;
  readonly provisioningFailures: Alarm;
  readonly provisioningFailuresDlq: Alarm;
  readonly deletionDlq: Alarm;
}

/** SNS topic + alarms + dashboard. */
export class IngestMonitoring extends Construct {
  /** Every alarm notifies this topic (ALARM and back to OK). */
  readonly alarmTopic: Topic;
  readonly alarms: IngestAlarms;
  readonly dashboard: IngestDashboard;

  constructor(scope: Construct, id: string, props: IngestMonitoringProps) {
    super(scope, id);
    if (props.alarmEmail !== undefined) {
      assertMatches("alarmEmail", props.alarmEmail, /^[^@\s]+@[^@\s]+\.[^@\s]+$/, "use one e-mail address");
    }
    const dashboardName = props.dashboardName ?? Stack.of(this).stackName;
    assertMatches("dashboardName", dashboardName, /^[A-Za-z0-9_-]{1,255}$/, "use A–Z, a–z, 0–9, '-' and '_'");

    this.alarmTopic = new Topic(this, "AlarmTopic", {
      displayName: "Streaming Ingest alarms",
      enforceSSL: true,
    });
    // The topic policy written for enforceSSL replaces SNS's default one; let this account's alarms publish.
    const stack = Stack.of(this);
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { "aws:SourceAccount": stack.account },
          ArnLike: {
            "aws:SourceArn": stack.formatArn({
              service: "cloudwatch",
              resource: "alarm",
              resourceName: "*",
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    }

    const metrics = new IngestMetrics({
      apiId: props.httpApi.apiId,
      stageName: props.stage.stageName,
      ingestFunction: props.ingestFunction,
      provisionerFunction: props.provisionerFunction,
      failuresDlq: props.failuresDlq,
      deletionDlq: props.deletionDlq,
      deletionQueue: props.deletionQueue,
    });
    const ingestFn = metrics.lambda("ingest");
    const provisionerFn = metrics.lambda("provisioner");
    this.alarms = {
      apiServerErrorRate: this.alarm(
        "ApiServerErrorRate",
        metrics.apiServerErrorRate(),
        1,
        "More than 1% of API requests answered 5xx.",
      ),
      throttledRate: this.alarm(
        "ThrottledRate",
        metrics.throttledRate(),
        5,
        "More than 5% of the ingest Lambda's answers were 429 (Firehose throttled a delivery stream through the whole retry budget): raise the busy streams' shards.",
      ),
      ingestErrors: this.alarm(
        "IngestErrors",
        ingestFn.errors,
        0,
        "The ingest Lambda failed invocations (unhandled errors, timeouts).",
      ),
      ingestThrottles: this.alarm(
        "IngestThrottles",
        ingestFn.throttles,
        0,
        "The ingest Lambda was throttled: raise the account's concurrency quota.",
      ),
      firehoseThrottledRecords: this.alarm(
        "FirehoseThrottledRecords",
        metrics.firehose("SUM", "ThrottledRecords", "ThrottledRecords"),
        0,
        "Firehose throttled records (any delivery stream of the region): raise the stream's shards.",
      ),
      firehoseDataFreshness: this.alarm(
        "FirehoseDataFreshness",
        metrics.firehose("MAX", "DeliveryToS3.DataFreshness", "DataFreshness"),
        2 * MAX_BUFFER_INTERVAL_SECONDS,
        "The oldest record in a delivery stream (any of the region) is older than twice the largest buffer interval: S3 delivery is failing; see the /aws/kinesisfirehose/<prefix> log group.",
      ),
      provisionerErrors: this.alarm(
        "ProvisionerErrors",
        provisionerFn.errors,
        0,
        "The provisioner Lambda failed invocations.",
      ),
      provisioningFailures: this.alarm(
        "ProvisioningFailures",
        metrics.provisioner(ProvisionerMetric.failures),
        0,
        "The provisioner could not create, update or delete delivery streams; see delivery_error on the stream record.",
      ),
      provisioningFailuresDlq: this.alarm(
        "ProvisioningFailuresDlq",
        metrics.queueDepth("failuresDlq"),
        0,
        "Stream-table changes the provisioner gave up on are waiting in the failures DLQ.",
      ),
      deletionDlq: this.alarm(
        "DeletionDlq",
        metrics.queueDepth("deletionDlq"),
        0,
        "Delivery-stream deletions failed 5 times and wait in the deletion DLQ.",
      ),
    };

    this.dashboard = new IngestDashboard(this, "Dashboard", {
      dashboardName,
      metrics,
      alarms: Object.values(this.alarms),
    });
  }

  /** An alarm on `metric` > `threshold` for one 5-minute period, notifying the topic on ALARM and OK. */
  private alarm(id: string, metric: IMetric, threshold: number, description: string): Alarm {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      // No data means no traffic (or no failures): never an alarm by itself.
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    const action = new SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    return alarm;
  }
}

/**
 * The operator's CloudWatch dashboard: one screen from the client's view (requests, status codes, latency)
 * down to delivery (Firehose throughput and freshness) and provisioning (errors, dead letters).
 */
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  type IWidget,
  Stats,
  TextWidget,
} from "aws-cdk-lib/aws-cloudwatch";
import { Construct } from "constructs";
import { IngestMetric, ProvisionerMetric } from "../lambda/aws/metric-names.js";
import type { IngestMetrics } from "./ingest-metrics.js";

/** Props of {@link IngestDashboard}. */
export interface IngestDashboardProps {
  readonly dashboardName: string;
  readonly metrics: IngestMetrics;
  /** Alarms shown in the status row at the top. */
  readonly alarms: readonly IAlarm[];
}

const WIDTH = 8;
const HEIGHT = 6;

/** CloudWatch dashboard of the ingest path, the Lambdas, the API, Firehose and the provisioner. */
export class IngestDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: IngestDashboardProps) {
    super(scope, id);
    const m = props.metrics;
    const ingestFn = m.lambda("ingest");
    const provisionerFn = m.lambda("provisioner");
    const graph = (title: string, left: IMetric[], right?: IMetric[]) =>
      new GraphWidget({ title, left, right, width: WIDTH, height: HEIGHT });

    const rows: IWidget[][] = [
      [new AlarmStatusWidget({ title: "Alarms", alarms: [...props.alarms], width: 24, height: 3 })],
      [
        graph("Requests by outcome (ingest Lambda)", [
          m.ingest(IngestMetric.requests),
          m.ingest(IngestMetric.accepted),
          m.ingest(IngestMetric.throttled),
          m.ingest(IngestMetric.clientErrors),
          m.ingest(IngestMetric.serverErrors),
        ]),
        graph(
          "Accepted bytes and delivery retries",
          [m.ingest(IngestMetric.acceptedBytes)],
          [m.ingest(IngestMetric.deliveryRetries)],
        ),
        graph("Firehose PutRecord latency (ms)", [
          m.ingest(IngestMetric.deliveryLatency, Stats.p(50)),
          m.ingest(IngestMetric.deliveryLatency, Stats.p(99)),
        ]),
      ],
      [graph("Rejections by status code (ingest Lambda)", [m.rejectedByStatus()])],
      [
        graph("Ingest Lambda duration (ms)", [
          ingestFn.durationP50,
          ingestFn.durationP99,
          ingestFn.durationMax,
        ]),
        graph("Ingest Lambda errors and throttles", [ingestFn.errors, ingestFn.throttles]),
        graph("Ingest Lambda concurrency", [ingestFn.concurrency], [ingestFn.invocations]),
      ],
      [
        graph(
          "API requests and errors",
          [m.api("Count", Stats.SUM)],
          [m.api("4xx", Stats.SUM), m.api("5xx", Stats.SUM)],
        ),
        graph("API latency (ms)", [
          m.api("Latency", Stats.p(50)),
          m.api("Latency", Stats.p(99)),
          m.api("IntegrationLatency", Stats.p(99)),
        ]),
        graph("Error rates (%)", [m.apiServerErrorRate(), m.throttledRate()]),
      ],
      [
        new TextWidget({
          markdown:
            "**Firehose** panels query every delivery stream of this account and region (Metrics Insights " +
            "cannot filter by name prefix); this stack's streams are named `<prefix>-<streamId>-<shard>`.",
          width: 24,
          height: 2,
        }),
      ],
      [
        graph("Firehose incoming records (top 20 delivery streams)", [
          m.firehose("SUM", "IncomingRecords", "IncomingRecords", true),
        ]),
        graph("Firehose throttled records", [m.firehose("SUM", "ThrottledRecords", "ThrottledRecords")]),
        graph("Firehose DeliveryToS3.DataFreshness (s, max)", [
          m.firehose("MAX", "DeliveryToS3.DataFreshness", "DataFreshness"),
        ]),
      ],
      [
        graph(
          "Provisioner",
          [provisionerFn.errors, m.provisioner(ProvisionerMetric.failures)],
          [
            m.provisioner(ProvisionerMetric.created),
            m.provisioner(ProvisionerMetric.updated),
            m.provisioner(ProvisionerMetric.deleted),
          ],
        ),
        graph("Provisioner duration (ms)", [provisionerFn.durationP99, provisionerFn.durationMax]),
        graph(
          "Dead letters and pending deletions",
          [m.queueDepth("failuresDlq"), m.queueDepth("deletionDlq")],
          [m.queueDepth("deletionQueue")],
        ),
      ],
    ];
    this.dashboard = new Dashboard(this, "Dashboard", { dashboardName: props.dashboardName, widgets: rows });
  }
}

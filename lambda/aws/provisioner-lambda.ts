/**
 * The provisioner Lambda, assembled from injected clients: DynamoDB stream events of the streams table drive
 * the DeliveryProvisioner, SQS events of the deletion queue drive the DueDeletions; metrics are published once
 * per invocation.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { FirehoseClient } from "@aws-sdk/client-firehose";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Context, DynamoDBBatchResponse, SQSBatchResponse } from "aws-lambda";
import { DeletionQueue, DeletionScheduler, DueDeletions } from "../adapters/deferred-deletions.js";
import { DeliveryProvisioner } from "../adapters/delivery-provisioner.js";
import { DeliveryStatusStore } from "../adapters/delivery-status-store.js";
import { DeliveryStreams } from "../adapters/delivery-streams.js";
import { type ProvisioningMetrics, realSleep, type Sleep } from "../adapters/provisioning-ports.js";
import { type Clock, systemClock } from "../core/ports.js";
import { ProvisionerMetric } from "./metric-names.js";
import { PowertoolsLoggerPort } from "./powertools-logger.js";
import type { ProvisionerConfig } from "./provisioner-config.js";
import {
  handleQueueMessages,
  handleStreamRecords,
  isQueueEvent,
  isStreamEvent,
  type ProvisionerEvent,
  toStreamChange,
} from "./provisioner-events.js";

/** The clients and telemetry the provisioner Lambda is built from (the entry creates them from the environment). */
export interface ProvisionerLambdaDeps {
  readonly config: ProvisionerConfig;
  readonly dynamo: DynamoDBDocumentClient;
  readonly firehose: FirehoseClient;
  readonly sqs: SQSClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** @default the system clock */
  readonly clock?: Clock;
  /** The wait between DescribeDeliveryStream polls. @default a real timer */
  readonly sleep?: Sleep;
}

/** The provisioner's handler: batch item failures name what must be delivered again. */
export type ProvisionerLambda = (
  event: ProvisionerEvent,
  context: Context,
) => Promise<DynamoDBBatchResponse | SQSBatchResponse>;

/** Builds the handler once per container; every invocation reuses its clients. */
export function createProvisionerLambda(deps: ProvisionerLambdaDeps): ProvisionerLambda {
  const { config, logger, metrics } = deps;
  const clock = deps.clock ?? systemClock;
  const port = new PowertoolsLoggerPort(logger);
  const counters = new PowertoolsProvisioningMetrics(metrics);
  const streams = new DeliveryStreams(deps.firehose, config.target, counters, port, deps.sleep ?? realSleep);
  const store = new DeliveryStatusStore(deps.dynamo, config.streamsTable);
  const queue = new DeletionQueue(deps.sqs, config.deletionQueueUrl);
  const provisioner = new DeliveryProvisioner({
    streams,
    store,
    deletions: new DeletionScheduler(queue, clock, config.registryCacheTtlSeconds, port),
    prefix: config.target.prefix,
    clock,
    logger: port,
    metrics: counters,
  });
  const deletions = new DueDeletions({
    queue,
    streams,
    store,
    prefix: config.target.prefix,
    clock,
    logger: port,
    metrics: counters,
  });

  return async (event, context) => {
    logger.addContext(context);
    const deadline = { remainingTimeMs: () => context.getRemainingTimeInMillis() };
    const source = event.Records[0]?.eventSource;
    try {
      if (isQueueEvent(event))
        return await handleQueueMessages(event, (body, id) => deletions.handle(body, id));
      if (isStreamEvent(event)) {
        return await handleStreamRecords(event.Records, async (record) => {
          const change = toStreamChange(record);
          if (typeof change !== "string") return provisioner.handle(change, deadline);
          // A record nobody can act on (the stream's view type is wrong): retrying it would block the shard.
          counters.failed();
          port.error("stream record dropped", { eventID: record.eventID, problem: change });
        });
      }
      if (source === undefined) return { batchItemFailures: [] };
      throw new Error(`unexpected event source ${JSON.stringify(source)}`);
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}

/** The provisioner's counters as Powertools (EMF) metrics, named as the stack's dashboard and alarms read them. */
class PowertoolsProvisioningMetrics implements ProvisioningMetrics {
  constructor(private readonly metrics: Metrics) {}

  failed(): void {
    this.metrics.addMetric(ProvisionerMetric.failures, MetricUnit.Count, 1);
  }

  created(count: number): void {
    this.metrics.addMetric(ProvisionerMetric.created, MetricUnit.Count, count);
  }

  updated(count: number): void {
    this.metrics.addMetric(ProvisionerMetric.updated, MetricUnit.Count, count);
  }

  deleted(count: number): void {
    this.metrics.addMetric(ProvisionerMetric.deleted, MetricUnit.Count, count);
  }
}

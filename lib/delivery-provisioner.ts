/**
 * The provisioner: a Lambda on the streams table's DynamoDB stream that creates, updates and (deferred, through
 * an SQS queue) deletes each stream's Firehose delivery streams, plus the role Firehose delivers with.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource, SqsDlq, SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, LogStream, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { Queue, QueueEncryption, type QueueProps } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRICS_NAMESPACE, PROVISIONER_SERVICE } from "../lambda/aws/metric-names.js";
import { BundledFunction } from "./bundled-function.js";
import { DATA_PREFIXES } from "./delivery-bucket.js";
import {
  DELIVERY_LOG_STREAM,
  deliveryLogGroupName,
  deliveryStreamArnPattern,
  validateDeliveryStreamPrefix,
} from "./delivery-stream-names.js";
import { MAX_REGISTRY_CACHE_TTL_SECONDS } from "./ingest-function.js";
import { acknowledgeRule, acknowledgeWildcardResources } from "./nag-acknowledgements.js";
import { projectPaths } from "./project-paths.js";
import { assertInteger, InvalidPropError } from "./prop-validation.js";

/** How long the provisioner may run: it waits for CREATING → ACTIVE within this, minus 15 s. */
const PROVISIONER_TIMEOUT = Duration.minutes(5);

/** Props of {@link DeliveryProvisioner}. */
export interface DeliveryProvisionerProps {
  /** The streams table; it must have a DynamoDB stream (NEW_AND_OLD_IMAGES). */
  readonly streamsTable: ITable;
  /** Where the delivery streams deliver to. */
  readonly bucket: IBucket;
  /** Delivery streams are named `${deliveryStreamPrefix}-${streamId}-${shard}`. */
  readonly deliveryStreamPrefix: string;
  /**
   * The ingest Lambda's registry cache TTL: deletions wait at least this long after a stream changes.
   * @default 30
   */
  readonly registryCacheTtlSeconds?: number;
  /**
   * Retention of the provisioner's and Firehose's log groups.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
}

/** Provisioner Lambda + event sources + queues + the Firehose delivery role and error log group. */
export class DeliveryProvisioner extends Construct {
  readonly function: NodejsFunction;
  readonly bundled: BundledFunction;
  /** The role every delivery stream assumes to write to the bucket. */
  readonly deliveryRole: Role;
  /** `/aws/kinesisfirehose/<prefix>`: delivery errors of all delivery streams (log stream DestinationDelivery). */
  readonly deliveryLogGroup: LogGroup;
  /** Deferred deletions of delivery streams (messages re-sent until due). */
  readonly deletionQueue: Queue;
  /** Deletion messages that failed 5 times. */
  readonly deletionDlq: Queue;
  /** Stream-table records the provisioner gave up on after its retries. */
  readonly failuresDlq: Queue;

  constructor(scope: Construct, id: string, props: DeliveryProvisionerProps) {
    super(scope, id);
    validateDeliveryStreamPrefix("deliveryStreamPrefix", props.deliveryStreamPrefix);
    const cacheTtl = props.registryCacheTtlSeconds ?? 30;
    assertInteger("registryCacheTtlSeconds", cacheTtl, { min: 1, max: MAX_REGISTRY_CACHE_TTL_SECONDS });
    if (props.streamsTable.tableStreamArn === undefined) {
      throw new InvalidPropError(
        "streamsTable",
        "has no DynamoDB stream; create it with NEW_AND_OLD_IMAGES.",
      );
    }
    const logRetention = props.logRetention ?? RetentionDays.THREE_MONTHS;

    // Fixed name, so DESTROY: a retained group would make re-creating the stack fail on "already exists".
    this.deliveryLogGroup = new LogGroup(this, "DeliveryLogGroup", {
      logGroupName: deliveryLogGroupName(props.deliveryStreamPrefix),
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const deliveryLogStream = new LogStream(this, "DeliveryLogStream", {
      logGroup: this.deliveryLogGroup,
      logStreamName: DELIVERY_LOG_STREAM,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.deliveryRole = this.createDeliveryRole(props.bucket, deliveryLogStream);

    this.failuresDlq = new Queue(this, "ProvisioningFailuresDlq", secureQueueProps());
    acknowledgeRule(
      this.failuresDlq,
      "SQS3",
      "This queue is itself a dead-letter destination: the on-failure destination of the DynamoDB-stream " +
        "event source mapping (records the provisioner gave up on). An alarm watches its depth.",
    );
    this.deletionDlq = new Queue(this, "DeletionDlq", secureQueueProps());
    this.deletionQueue = new Queue(this, "DeletionQueue", {
      ...secureQueueProps(),
      // AWS asks for ≥ 6× the function timeout on an SQS event source, so a retry never races a slow run.
      visibilityTimeout: Duration.seconds(PROVISIONER_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.deletionDlq, maxReceiveCount: 5 },
    });

    this.bundled = new BundledFunction(this, "Handler", {
      entry: projectPaths().provisionerEntry,
      description: "Streaming Ingest: stream records to Firehose delivery streams",
      memorySize: 512,
      timeout: PROVISIONER_TIMEOUT,
      logRetention,
      environment: {
        STREAMS_TABLE: props.streamsTable.tableName,
        DELIVERY_STREAM_PREFIX: props.deliveryStreamPrefix,
        DELIVERY_BUCKET_ARN: props.bucket.bucketArn,
        DELIVERY_ROLE_ARN: this.deliveryRole.roleArn,
        DELIVERY_LOG_GROUP: this.deliveryLogGroup.logGroupName,
        DELETION_QUEUE_URL: this.deletionQueue.queueUrl,
        REGISTRY_CACHE_TTL_SECONDS: String(cacheTtl),
        POWERTOOLS_SERVICE_NAME: PROVISIONER_SERVICE,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: "--enable-source-maps",
      },
    });
    this.function = this.bundled.function;
    this.grantProvisioning(props.streamsTable, props.deliveryStreamPrefix);

    this.function.addEventSource(
      new DynamoEventSource(props.streamsTable, {
        // Start from the oldest record the stream holds: a stream created while the function was being
        // deployed still gets its delivery streams.
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 10,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: 10,
        onFailure: new SqsDlq(this.failuresDlq),
      }),
    );
    this.function.addEventSource(
      new SqsEventSource(this.deletionQueue, { batchSize: 10, reportBatchItemFailures: true }),
    );
    acknowledgeWildcardResources(
      this.bundled.role,
      ["*"],
      "dynamodb:ListStreams (added by the DynamoDB event source for Lambda's stream poller) supports no " +
        "resource-level permissions; it only lists stream ARNs. Reading a stream is limited to this table's.",
    );
  }

  /** Firehose's role: list the bucket, write `streams/` and `errors/` objects, log delivery errors. */
  private createDeliveryRole(bucket: IBucket, logStream: LogStream): Role {
    const stack = Stack.of(this);
    const role = new Role(this, "DeliveryRole", {
      // Firehose passes the account id as ExternalId; the condition stops other accounts' streams (confused
      // deputy) from assuming this role.
      assumedBy: new ServicePrincipal("firehose.amazonaws.com").withConditions({
        StringEquals: { "sts:ExternalId": stack.account },
      }),
      description: "Firehose delivery streams of Streaming Ingest: write delivered batches to S3",
    });
    const objectArns = DATA_PREFIXES.map((prefix) => bucket.arnForObjects(`${prefix}*`));
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
        resources: [bucket.bucketArn],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
        resources: objectArns,
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["logs:PutLogEvents"],
        resources: [
          stack.formatArn({
            service: "logs",
            resource: "log-group",
            resourceName: `${this.deliveryLogGroup.logGroupName}:log-stream:${logStream.logStreamName}`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    acknowledgeWildcardResources(
      role,
      objectArns,
      "Firehose names delivered objects itself (timestamped keys under the stream's prefix); the wildcard is " +
        "limited to the streams/ and errors/ prefixes of the delivery bucket.",
    );
    return role;
  }

  /** Manage this stack's delivery streams, pass their role, track status on the stream record, defer deletes. */
  private grantProvisioning(streamsTable: ITable, prefix: string): void {
    const role = this.bundled.role;
    const deliveryStreams = deliveryStreamArnPattern(this, prefix);
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          "firehose:CreateDeliveryStream",
          "firehose:DeleteDeliveryStream",
          "firehose:DescribeDeliveryStream",
          "firehose:UpdateDestination",
          "firehose:TagDeliveryStream",
          "firehose:ListTagsForDeliveryStream",
        ],
        resources: [deliveryStreams],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["iam:PassRole"],
        resources: [this.deliveryRole.roleArn],
        conditions: { StringEquals: { "iam:PassedToService": "firehose.amazonaws.com" } },
      }),
    );
    // Delivery status is written back with UpdateItem (never PutItem: admins own the rest of the record).
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
        resources: [streamsTable.tableArn],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["sqs:SendMessage"], resources: [this.deletionQueue.queueArn] }),
    );
    acknowledgeWildcardResources(
      role,
      [deliveryStreams],
      "Delivery streams are created at runtime as <prefix>-<streamId>-<shard>; the prefix wildcard limits " +
        "the provisioner to this stack's delivery streams.",
    );
  }
}

/** TLS-only, SQS-managed encryption, 14 days (the maximum) for a human to look at what landed there. */
function secureQueueProps(): QueueProps {
  return {
    enforceSSL: true,
    encryption: QueueEncryption.SQS_MANAGED,
    retentionPeriod: Duration.days(14),
  };
}

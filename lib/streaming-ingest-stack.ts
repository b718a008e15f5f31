/**
 * The Streaming Ingest stack: HTTP API → ingest Lambda → per-stream Firehose delivery streams → S3, with the
 * DynamoDB registry, KMS token keys, the delivery provisioner and monitoring. Its outputs are the CLI's contract.
 */
import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { DEFAULT_IDEMPOTENCY_WINDOW_SECONDS, IDEMPOTENCY_WINDOW_BOUNDS } from "../lambda/core/idempotency.js";
import { DeliveryBucket } from "./delivery-bucket.js";
import { DeliveryProvisioner } from "./delivery-provisioner.js";
import { defaultDeliveryStreamPrefix, validateDeliveryStreamPrefix } from "./delivery-stream-names.js";
import { IdempotencyTable } from "./idempotency-table.js";
import { IngestApi } from "./ingest-api.js";
import { IngestFunction, MAX_REGISTRY_CACHE_TTL_SECONDS } from "./ingest-function.js";
import { IngestMonitoring } from "./ingest-monitoring.js";
import { assertBothOrNeither, assertInteger, assertPositive } from "./prop-validation.js";
import { RegistryTables } from "./registry-tables.js";
import { TokenSigningKeys, validateGenerations } from "./token-signing-keys.js";

/** `aud` of every access token issued for an AWS deployment. */
export const TOKEN_AUDIENCE = "streaming-ingest";

/** Props of {@link StreamingIngestStack}; the CDK app fills them from `cdk.json` context. */
export interface StreamingIngestStackProps extends StackProps {
  /**
   * Steady-state requests per second the API stage admits.
   * @default 10000
   */
  readonly throttleRateLimit?: number;
  /**
   * Burst the API stage admits above the rate.
   * @default 5000
   */
  readonly throttleBurstLimit?: number;
  /**
   * Days after which delivered objects (`streams/`, `errors/`) expire.
   * @default - keep forever
   */
  readonly dataRetentionDays?: number;
  /**
   * Retention of the Lambda, Firehose and API access log groups.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
  /**
   * E-mail address subscribed to the alarm topic.
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Custom domain of the API (needs certificateArn).
   * @default - the execute-api URL only
   */
  readonly domainName?: string;
  /**
   * ACM certificate (same region) for domainName.
   * @default - none
   */
  readonly certificateArn?: string;
  /**
   * Token signing key generations, oldest first; the last signs new tokens, all verify.
   * @default ["v1"]
   */
  readonly tokenSigningKeyGenerations?: readonly string[];
  /**
   * Delivery streams are named `${deliveryStreamPrefix}-${streamId}-${shard}`.
   * @default - the stack name, cut to 40 characters
   */
  readonly deliveryStreamPrefix?: string;
  /**
   * Seconds the ingest Lambda caches registry records: how soon admins' edits apply (at most 60).
   * @default 30
   */
  readonly registryCacheTtlSeconds?: number;
  /**
   * Log one summary line per request from the ingest Lambda (and Lambda's START/END/REPORT lines); false keeps
   * only warnings and errors, to save CloudWatch Logs cost at high rates. Metrics are unaffected.
   * @default true
   */
  readonly requestLogs?: boolean;
  /**
   * How long an accepted Idempotency-Key is remembered, in seconds (60 to 30 days).
   * @default 86400 (24 h)
   */
  readonly idempotencyWindowSeconds?: number;
}

/** The deployable Streaming Ingest stack. */
export class StreamingIngestStack extends Stack {
  readonly registry: RegistryTables;
  readonly idempotency: IdempotencyTable;
  readonly storage: DeliveryBucket;
  readonly signingKeys: TokenSigningKeys;
  readonly ingest: IngestFunction;
  readonly api: IngestApi;
  readonly provisioner: DeliveryProvisioner;
  readonly monitoring: IngestMonitoring;
  /** `urn:streaming-ingest:<region>:<account>:<stackName>`. */
  readonly tokenIssuer: string;
  readonly deliveryStreamPrefix: string;

  constructor(scope: Construct, id: string, props: StreamingIngestStackProps = {}) {
    super(scope, id, props);
    // Every prop is checked before any resource exists: a bad value fails in milliseconds, naming itself.
    const deliveryStreamPrefix = props.deliveryStreamPrefix ?? defaultDeliveryStreamPrefix(this.stackName);
    validateDeliveryStreamPrefix("deliveryStreamPrefix", deliveryStreamPrefix);
    const registryCacheTtlSeconds = props.registryCacheTtlSeconds ?? 30;
    assertInteger("registryCacheTtlSeconds", registryCacheTtlSeconds, {
      min: 1,
      max: MAX_REGISTRY_CACHE_TTL_SECONDS,
    });
    const generations = props.tokenSigningKeyGenerations ?? ["v1"];
    validateGenerations(generations);
    assertPositive("throttleRateLimit", props.throttleRateLimit ?? 10_000);
    assertInteger(
      "idempotencyWindowSeconds",
      props.idempotencyWindowSeconds ?? DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
      IDEMPOTENCY_WINDOW_BOUNDS,
    );
    assertInteger("throttleBurstLimit", props.throttleBurstLimit ?? 5_000, { min: 1 });
    if (props.dataRetentionDays !== undefined) {
      assertInteger("dataRetentionDays", props.dataRetentionDays, { min: 1 });
    }
    assertBothOrNeither(
      { prop: "domainName", value: props.domainName },
      { prop: "certificateArn", value: props.certificateArn },
    );
    this.deliveryStreamPrefix = deliveryStreamPrefix;
    // Region and account resolve to literals when the stack has an env, else to pseudo parameters.
    this.tokenIssuer = `urn:streaming-ingest:${this.region}:${this.account}:${this.stackName}`;

    this.registry = new RegistryTables(this, "Registry");
    this.idempotency = new IdempotencyTable(this, "Idempotency");
    this.storage = new DeliveryBucket(this, "Storage", { dataRetentionDays: props.dataRetentionDays });
    this.signingKeys = new TokenSigningKeys(this, "TokenSigningKeys", { generations });
    this.ingest = new IngestFunction(this, "Ingest", {
      streamsTable: this.registry.streams,
      apiKeysTable: this.registry.apiKeys,
      signingKeys: this.signingKeys.keys,
      tokenIssuer: this.tokenIssuer,
      tokenAudience: TOKEN_AUDIENCE,
      deliveryStreamPrefix,
      registryCacheTtlSeconds,
      logRetention: props.logRetention,
      requestLogs: props.requestLogs,
      idempotencyTable: this.idempotency.table,
      idempotencyWindowSeconds: props.idempotencyWindowSeconds,
    });
    this.api = new IngestApi(this, "Api", {
      handler: this.ingest.function,
      throttleRateLimit: props.throttleRateLimit,
      throttleBurstLimit: props.throttleBurstLimit,
      domainName: props.domainName,
      certificateArn: props.certificateArn,
      accessLogRetention: props.logRetention,
    });
    this.provisioner = new DeliveryProvisioner(this, "DeliveryProvisioner", {
      streamsTable: this.registry.streams,
      bucket: this.storage.bucket,
      deliveryStreamPrefix,
      registryCacheTtlSeconds,
      logRetention: props.logRetention,
    });
    this.monitoring = new IngestMonitoring(this, "Monitoring", {
      httpApi: this.api.httpApi,
      stage: this.api.stage,
      ingestFunction: this.ingest.function,
      provisionerFunction: this.provisioner.function,
      failuresDlq: this.provisioner.failuresDlq,
      deletionDlq: this.provisioner.deletionDlq,
      deletionQueue: this.provisioner.deletionQueue,
      alarmEmail: props.alarmEmail,
    });
    this.addOutputs();
  }

  /** Outputs defined on the stack itself, so each OutputKey is exactly its id (the CLI reads them by name). */
  private addOutputs(): void {
    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output("ApiUrl", this.api.url, "POST records to <ApiUrl>stream/v0/data/<streamId>");
    output("StreamsTableName", this.registry.streams.tableName, "DynamoDB table of stream records");
    output("ApiKeysTableName", this.registry.apiKeys.tableName, "DynamoDB table of API key records");
    output("TokenSigningKeyArn", this.signingKeys.current.keyArn, "KMS key that signs new access tokens");
    output("TokenIssuer", this.tokenIssuer, "iss of access tokens");
    output("TokenAudience", TOKEN_AUDIENCE, "aud of access tokens");
    output("DeliveryBucketName", this.storage.bucket.bucketName, "S3 bucket the delivery streams write to");
    output("DashboardName", this.monitoring.dashboard.dashboard.dashboardName, "CloudWatch dashboard");
    output("AlarmTopicArn", this.monitoring.alarmTopic.topicArn, "SNS topic every alarm notifies");
    if (this.api.domainName !== undefined) {
      output(
        "CustomDomainTarget",
        this.api.domainName.regionalDomainName,
        `Point a CNAME (or alias) for ${this.api.domainName.name} at this name`,
      );
    }
  }
}

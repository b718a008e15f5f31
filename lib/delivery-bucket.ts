/**
 * The S3 bucket Firehose delivers batches to (`streams/…`, `errors/…`) and the bucket that receives its server
 * access logs. Both are private, TLS-only, encrypted and retained when the stack is deleted.
 */
import { Duration, FeatureFlags, RemovalPolicy } from "aws-cdk-lib";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type LifecycleRule,
  ObjectOwnership,
} from "aws-cdk-lib/aws-s3";
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from "aws-cdk-lib/cx-api";
import { Construct } from "constructs";
import { acknowledgeRule } from "./nag-acknowledgements.js";
import { assertInteger } from "./prop-validation.js";

/** Key prefixes the delivery streams write to (see DESIGN.md, "Delivery layout"). */
export const DATA_PREFIXES = ["streams/", "errors/"] as const;

/** Props of {@link DeliveryBucket}. */
export interface DeliveryBucketProps {
  /**
   * Days after which delivered objects under `streams/` and `errors/` expire. Versioning keeps an expired
   * object's last version for `noncurrentVersionRetentionDays` more.
   * @default - keep delivered data forever
   */
  readonly dataRetentionDays?: number;
  /**
   * Days an overwritten or deleted object's previous version is kept (the undo window for mistakes).
   * @default 30
   */
  readonly noncurrentVersionRetentionDays?: number;
  /**
   * Days server access log objects are kept.
   * @default 365
   */
  readonly accessLogRetentionDays?: number;
}

/** The delivery bucket and its server-access-logs bucket. */
export class DeliveryBucket extends Construct {
  /** Where Firehose lands the batches. */
  readonly bucket: Bucket;
  /** Server access logs of {@link bucket}. */
  readonly accessLogsBucket: Bucket;

  constructor(scope: Construct, id: string, props: DeliveryBucketProps = {}) {
    super(scope, id);
    if (props.dataRetentionDays !== undefined) {
      assertInteger("dataRetentionDays", props.dataRetentionDays, { min: 1 });
    }
    const noncurrentDays = props.noncurrentVersionRetentionDays ?? 30;
    assertInteger("noncurrentVersionRetentionDays", noncurrentDays, { min: 1 });
    const accessLogDays = props.accessLogRetentionDays ?? 365;
    assertInteger("accessLogRetentionDays", accessLogDays, { min: 1 });

    this.accessLogsBucket = new Bucket(this, "AccessLogsBucket", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Server access logging supports SSE-S3 destinations only (not SSE-KMS).
      encryption: BucketEncryption.S3_MANAGED,
      // With the bucket-policy flag, log delivery is granted by policy and ACLs can stay disabled; without it,
      // the CDK grants it through the LogDeliveryWrite ACL, which needs ACLs enabled.
      objectOwnership: FeatureFlags.of(this).isEnabled(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY)
        ? ObjectOwnership.BUCKET_OWNER_ENFORCED
        : ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ id: "ExpireAccessLogs", expiration: Duration.days(accessLogDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
      autoDeleteObjects: false,
    });
    acknowledgeRule(
      this.accessLogsBucket,
      "S1",
      "This is the server-access-log destination of the delivery bucket; logging it into itself would log " +
        "every log delivery, and a second log bucket would only move the question one bucket further.",
    );

    this.bucket = new Bucket(this, "Bucket", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Firehose writes with the bucket's default encryption; SSE-S3 needs no key grants for the delivery role.
      encryption: BucketEncryption.S3_MANAGED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: "delivery-bucket/",
      lifecycleRules: dataLifecycleRules(props.dataRetentionDays, noncurrentDays),
      removalPolicy: RemovalPolicy.RETAIN,
      autoDeleteObjects: false,
    });
  }
}

/** Versioning housekeeping always; expiry of delivered data only when a retention is set. */
function dataLifecycleRules(dataRetentionDays: number | undefined, noncurrentDays: number): LifecycleRule[] {
  const rules: LifecycleRule[] = [
    {
      id: "VersionsAndUploads",
      noncurrentVersionExpiration: Duration.days(noncurrentDays),
      abortIncompleteMultipartUploadAfter: Duration.days(7),
      // Once all versions are gone, the remaining delete marker is removed too.
      expiredObjectDeleteMarker: true,
    },
  ];
  if (dataRetentionDays === undefined) return rules;
  return [
    ...rules,
    ...DATA_PREFIXES.map((prefix) => ({
      id: `Expire-${prefix.slice(0, -1)}`,
      prefix,
      expiration: Duration.days(dataRetentionDays),
    })),
  ];
}

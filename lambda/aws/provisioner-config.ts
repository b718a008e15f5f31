/**
 * The provisioner Lambda's configuration, read once per container from the environment the stack sets,
 * validated, typed and frozen. A bad value fails the cold start with a message naming the variable.
 */
import { DELIVERY_PREFIX_PATTERN, type DeliveryTarget } from "../adapters/delivery-stream-config.js";
import { ConfigError, type Environment, registryCacheTtlSeconds, requiredVariable } from "./environment.js";

/** The provisioner's settings (from the stack, through the environment). */
export interface ProvisionerConfig {
  readonly streamsTable: string;
  /** Where the delivery streams write and log, and their name prefix. */
  readonly target: DeliveryTarget;
  /** SQS queue of deferred deletions (this Lambda consumes it too). */
  readonly deletionQueueUrl: string;
  /** The ingest Lambda's registry cache TTL: how long it may still use a retired delivery stream. */
  readonly registryCacheTtlSeconds: number;
}

/** Each variable's rule, as a pattern and the words that explain it when a value breaks it. */
const RULES = {
  STREAMS_TABLE: [/^[a-zA-Z0-9_.-]{3,255}$/, "a DynamoDB table name"],
  DELIVERY_STREAM_PREFIX: [DELIVERY_PREFIX_PATTERN, "1–40 letters, digits, '.', '_' or '-'"],
  DELIVERY_BUCKET_ARN: [/^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket ARN"],
  DELIVERY_ROLE_ARN: [/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, "an IAM role ARN"],
  DELIVERY_LOG_GROUP: [/^[\w.\-/#]{1,512}$/, "a CloudWatch Logs group name"],
  DELETION_QUEUE_URL: [/^https:\/\/\S+\/\d{12}\/[\w-]{1,80}$/, "an SQS queue URL"],
} as const satisfies Record<string, readonly [RegExp, string]>;

/** Reads and checks the provisioner's environment; throws ConfigError naming the first bad variable. */
export function readProvisionerConfig(env: Environment = process.env): ProvisionerConfig {
  return Object.freeze({
    streamsTable: valid(env, "STREAMS_TABLE"),
    target: Object.freeze({
      prefix: valid(env, "DELIVERY_STREAM_PREFIX"),
      bucketArn: valid(env, "DELIVERY_BUCKET_ARN"),
      roleArn: valid(env, "DELIVERY_ROLE_ARN"),
      logGroup: valid(env, "DELIVERY_LOG_GROUP"),
    }),
    deletionQueueUrl: valid(env, "DELETION_QUEUE_URL"),
    registryCacheTtlSeconds: registryCacheTtlSeconds(env),
  });
}

function valid(env: Environment, name: keyof typeof RULES): string {
  const value = requiredVariable(env, name);
  const [pattern, meaning] = RULES[name];
  if (!pattern.test(value)) {
    throw new ConfigError(name, `must be ${meaning}; got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The ingest Lambda behind the HTTP API: verifies the token, reads the registry (cached), converts the record
 * and puts it to one of the stream's Firehose delivery streams. Its role can do exactly that and nothing more.
 */
import { Duration } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IKey } from "aws-cdk-lib/aws-kms";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { MAX_REGISTRY_CACHE_TTL_SECONDS } from "../lambda/aws/environment.js";
import { DELIVERY_BUDGET_BOUNDS } from "../lambda/aws/ingest-config.js";
import { INGEST_SERVICE, METRICS_NAMESPACE } from "../lambda/aws/metric-names.js";
import { DEFAULT_IDEMPOTENCY_WINDOW_SECONDS, IDEMPOTENCY_WINDOW_BOUNDS } from "../lambda/core/idempotency.js";
import { BundledFunction } from "./bundled-function.js";
import { deliveryStreamArnPattern, validateDeliveryStreamPrefix } from "./delivery-stream-names.js";
import { acknowledgeWildcardResources } from "./nag-acknowledgements.js";
import { projectPaths } from "./project-paths.js";
import { assertInteger, InvalidPropError } from "./prop-validation.js";

/** Longest registry cache TTL: admins are promised that edits apply within a minute. */
export { MAX_REGISTRY_CACHE_TTL_SECONDS } from "../lambda/aws/environment.js";

/** Props of {@link IngestFunction}. */
export interface IngestFunctionProps {
  readonly streamsTable: ITable;
  readonly apiKeysTable: ITable;
  /** Every key whose public key verifies tokens (all generations); at least one. */
  readonly signingKeys: readonly IKey[];
  /** `iss` every token must carry. */
  readonly tokenIssuer: string;
  /** `aud` every token must carry. */
  readonly tokenAudience: string;
  /** The delivery streams this function may put to are `${deliveryStreamPrefix}-*`. */
  readonly deliveryStreamPrefix: string;
  /**
   * How long registry records (streams, keys) are cached in memory: the delay until an admin's edit applies.
   * @default 30
   */
  readonly registryCacheTtlSeconds?: number;
  /**
   * Time budget for putting one record to Firehose, retries included, before answering 503.
   * @default 6000
   */
  readonly deliveryBudgetMs?: number;
  /**
   * Where Idempotency-Keys are remembered (see IdempotencyTable). Without it, a request that carries the header
   * is answered 500 and not stored.
   * @default - none
   */
  readonly idempotencyTable?: ITable;
  /**
   * How long an accepted Idempotency-Key is remembered, in seconds (60 to 30 days).
   * @default 86400 (24 h)
   */
  readonly idempotencyWindowSeconds?: number;
  /**
   * Retention of the function's log group.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
  /**
   * One INFO summary line per request (stream, status, error code, latency), plus Lambda's START/END/REPORT
   * lines. Off, only warnings and errors are logged: about half the CloudWatch Logs cost per request.
   * @default true
   */
  readonly requestLogs?: boolean;
}

/** NodejsFunction for lambda/aws/ingest-entry.ts: arm64, 1024 MiB, 15 s, least-privilege role. */
export class IngestFunction extends Construct {
  readonly function: NodejsFunction;
  readonly bundled: BundledFunction;

  constructor(scope: Construct, id: string, props: IngestFunctionProps) {
    super(scope, id);
    const cacheTtl = props.registryCacheTtlSeconds ?? 30;
    assertInteger("registryCacheTtlSeconds", cacheTtl, { min: 1, max: MAX_REGISTRY_CACHE_TTL_SECONDS });
    const budgetMs = props.deliveryBudgetMs ?? 6000;
    // The Lambda refuses a budget outside these bounds at cold start; refuse it at synth instead.
    assertInteger("deliveryBudgetMs", budgetMs, DELIVERY_BUDGET_BOUNDS);
    validateDeliveryStreamPrefix("deliveryStreamPrefix", props.deliveryStreamPrefix);
    const idempotencyWindow = props.idempotencyWindowSeconds ?? DEFAULT_IDEMPOTENCY_WINDOW_SECONDS;
    assertInteger("idempotencyWindowSeconds", idempotencyWindow, IDEMPOTENCY_WINDOW_BOUNDS);
    if (props.signingKeys.length === 0) {
      throw new InvalidPropError("signingKeys", "got no keys; pass at least one token signing key.");
    }

    this.bundled = new BundledFunction(this, "Handler", {
      entry: projectPaths().ingestEntry,
      description: "Streaming Ingest: HTTP API records to Firehose",
      memorySize: 1024,
      timeout: Duration.seconds(15),
      logRetention: props.logRetention,
      logLevel: props.requestLogs === false ? "WARN" : "INFO",
      environment: {
        STREAMS_TABLE: props.streamsTable.tableName,
        API_KEYS_TABLE: props.apiKeysTable.tableName,
        TOKEN_ISSUER: props.tokenIssuer,
        TOKEN_AUDIENCE: props.tokenAudience,
        TOKEN_KEY_ARNS: props.signingKeys.map((key) => key.keyArn).join(","),
        REGISTRY_CACHE_TTL_SECONDS: String(cacheTtl),
        DELIVERY_BUDGET_MS: String(budgetMs),
        ...(props.idempotencyTable === undefined
          ? {}
          : {
              IDEMPOTENCY_TABLE: props.idempotencyTable.tableName,
              IDEMPOTENCY_WINDOW_SECONDS: String(idempotencyWindow),
            }),
        POWERTOOLS_SERVICE_NAME: INGEST_SERVICE,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: "--enable-source-maps",
      },
    });
    this.function = this.bundled.function;
    const role = this.bundled.role;

    // Hand-written statements: grantReadData would add Query, Scan, BatchGetItem and more; the registry
    // adapter only ever calls GetItem.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["dynamodb:GetItem"],
        resources: [props.streamsTable.tableArn, props.apiKeysTable.tableArn],
      }),
    );
    // Idempotency-Keys: claim (conditional PutItem, GetItem after a collision), confirm (UpdateItem), release
    // (DeleteItem). No Query or Scan: the function only ever addresses one key.
    if (props.idempotencyTable !== undefined) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
          resources: [props.idempotencyTable.tableArn],
        }),
      );
    }
    // Public keys are fetched once per container to build the JWKS; Sign stays with the admins.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["kms:GetPublicKey"],
        resources: props.signingKeys.map((key) => key.keyArn),
      }),
    );
    const deliveryStreams = deliveryStreamArnPattern(this, props.deliveryStreamPrefix);
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["firehose:PutRecord", "firehose:PutRecordBatch"],
        resources: [deliveryStreams],
      }),
    );
    acknowledgeWildcardResources(
      role,
      [deliveryStreams],
      "Delivery streams are created at runtime by the provisioner as <prefix>-<streamId>-<shard>; the prefix " +
        "wildcard limits PutRecord/PutRecordBatch to this stack's delivery streams.",
    );
  }
}

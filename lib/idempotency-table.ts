/**
 * The Idempotency-Key table: one item per (stream, key) that a request carrying the header claimed, expired by
 * DynamoDB TTL on `expires_at`. Its items live for a day, so it is not retained like the registry: losing it (a
 * stack deletion) only forgets the keys of the last window.
 */
import { RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { Construct } from "constructs";
import {
  IDEMPOTENCY_PARTITION_KEY,
  IDEMPOTENCY_TTL_ATTRIBUTE,
} from "../lambda/adapters/dynamo-idempotency.js";

/** Props of {@link IdempotencyTable}. */
export interface IdempotencyTableProps {
  /**
   * What happens to the table when it leaves the stack.
   * @default RemovalPolicy.DESTROY - it only holds keys of the last window
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Partition key `pk` (S), TTL on `expires_at`, on demand, point-in-time recovery, AWS-managed encryption. */
export class IdempotencyTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: IdempotencyTableProps = {}) {
    super(scope, id);
    this.table = new Table(this, "Table", {
      partitionKey: { name: IDEMPOTENCY_PARTITION_KEY, type: AttributeType.STRING },
      // TTL deletion is free and lazy (items may outlive expires_at for days): the adapter treats an expired
      // item as absent, so correctness never waits for it.
      timeToLiveAttribute: IDEMPOTENCY_TTL_ATTRIBUTE,
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
  }
}

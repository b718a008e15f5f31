/**
 * The registry: the streams and API-keys DynamoDB tables that admins edit (console, AWS CLI or `ingest`) and
 * both Lambdas read. They hold the product's configuration, so they survive stack deletion and mistakes.
 */
import { RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, StreamViewType, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { Construct } from "constructs";

/** Props of {@link RegistryTables}. */
export interface RegistryTablesProps {
  /**
   * What happens to the tables (and their items) when they leave the stack.
   * @default RemovalPolicy.RETAIN - the stream and key records outlive the stack
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Refuse DeleteTable, even from the console.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/** The streams and API-keys tables: partition key `id` (S), on demand, point-in-time recovery, DynamoDB streams. */
export class RegistryTables extends Construct {
  /** Stream records; its NEW_AND_OLD_IMAGES stream drives the delivery provisioner. */
  readonly streams: Table;
  /** API key records (`revoked_before` is the token revocation lever). */
  readonly apiKeys: Table;

  constructor(scope: Construct, id: string, props: RegistryTablesProps = {}) {
    super(scope, id);
    this.streams = this.table("StreamsTable", props);
    this.apiKeys = this.table("ApiKeysTable", props);
  }

  private table(id: string, props: RegistryTablesProps): Table {
    return new Table(this, id, {
      partitionKey: { name: "id", type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The streams table's stream feeds the provisioner; the API-keys table's is there for audit consumers
      // (who revoked which key when) at no cost until something reads it.
      stream: StreamViewType.NEW_AND_OLD_IMAGES,
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }
}

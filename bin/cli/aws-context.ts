/**
 * `--stack NAME`: admin commands against a deployed stack. The stack's outputs name the registry tables, the
 * token key, issuer and audience; the AWS clients (injectable for tests) use the caller's credentials chain.
 */
import { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KMSClient } from "@aws-sdk/client-kms";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { MISSING_CREDENTIALS_ERRORS, REJECTED_CREDENTIALS_ERRORS } from "../../lambda/adapters/aws-errors.js";
import { KmsKeyError, KmsTokenSigner, kmsKeyRegionOf } from "../../lambda/adapters/kms-signer.js";
import { RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import {
  NO_CREDENTIALS_MESSAGE,
  readStackOutputs,
  type StackOutputs,
  StackOutputsError,
} from "../../lambda/adapters/stack-outputs.js";
import { CliError } from "./context.js";

/** Creates the AWS clients a command uses; each call returns a new client, which the caller destroys. */
export interface AwsClientFactory {
  /** `region` undefined: the SDK resolves it (AWS_REGION, then the profile's region). */
  cloudFormation(region: string | undefined): CloudFormationClient;
  dynamoDocument(region: string): DynamoDBDocumentClient;
  kms(region: string): KMSClient;
}

/** Real SDK v3 clients on the default credentials chain (environment, profile, SSO, instance role). */
export const defaultAwsClients: AwsClientFactory = {
  cloudFormation: (region) => new CloudFormationClient(region === undefined ? {} : { region }),
  dynamoDocument: (region) =>
    DynamoDBDocumentClient.from(new DynamoDBClient({ region }), {
      marshallOptions: { removeUndefinedValues: true },
    }),
  kms: (region) => new KMSClient({ region }),
};

/** The provisioner's bookkeeping on a stream item that StreamRecord does not carry. */
export interface DeliveryDetails {
  readonly deliveryError?: string;
  readonly deliveryApplied?: string;
  readonly deliveryUpdatedAt?: string;
}

/**
 * One command's view of a deployed stack: outputs read once, clients created once and destroyed by close().
 */
export class StackSession {
  private outputsRead: Promise<{ outputs: StackOutputs; region: string }> | undefined;
  private dynamo: DynamoDBDocumentClient | undefined;
  private readonly clients: { destroy(): void }[] = [];

  constructor(
    /** The stack's name. */
    readonly name: string,
    /** The region asked for; undefined lets the SDK resolve it. */
    readonly region: string | undefined,
    /** Whether the stack came from INGEST_STACK rather than --stack (error messages say which to change). */
    readonly fromEnvironment: boolean,
    private readonly factory: AwsClientFactory,
  ) {}

  /** The stack's outputs and the region they were read in. */
  async outputs(): Promise<StackOutputs & { readonly region: string }> {
    this.outputsRead ??= this.readOutputs();
    const { outputs, region } = await this.outputsRead;
    return { ...outputs, region };
  }

  /** Runs `fn` with registry admin access to the stack's tables; DynamoDB errors become one clear line. */
  async withAdmin<T>(fn: (admin: RegistryAdmin) => Promise<T>): Promise<T> {
    const outputs = await this.outputs();
    const admin = new RegistryAdmin(this.documentClient(outputs.region), {
      streams: outputs.streamsTable,
      apiKeys: outputs.apiKeysTable,
    });
    try {
      return await fn(admin);
    } catch (error) {
      throw explainDynamoError(error, this.name, outputs);
    }
  }

  /** The provisioner's error, fingerprint and time on a stream item (absent attributes are left out). */
  async deliveryDetails(streamId: string): Promise<DeliveryDetails> {
    const outputs = await this.outputs();
    try {
      const { Item: item } = await this.documentClient(outputs.region).send(
        new GetCommand({
          TableName: outputs.streamsTable,
          Key: { id: streamId },
          ConsistentRead: true,
          ProjectionExpression: "delivery_error, delivery_applied, delivery_updated_at",
        }),
      );
      const text = (name: string) => (typeof item?.[name] === "string" ? (item[name] as string) : undefined);
      return Object.fromEntries(
        Object.entries({
          deliveryError: text("delivery_error"),
          deliveryApplied: text("delivery_applied"),
          deliveryUpdatedAt: text("delivery_updated_at"),
        }).filter(([, value]) => value !== undefined),
      );
    } catch (error) {
      throw explainDynamoError(error, this.name, outputs);
    }
  }

  /** Signs with the stack's TokenSigningKeyArn, through a KMS client in that key's region. */
  async tokenSigner(): Promise<{ signer: KmsTokenSigner; issuer: string; audience: string }> {
    const outputs = await this.outputs();
    try {
      const client = this.track(this.factory.kms(kmsKeyRegionOf(outputs.tokenSigningKeyArn)));
      const signer = new KmsTokenSigner({ client, keyArn: outputs.tokenSigningKeyArn });
      return { signer, issuer: outputs.tokenIssuer, audience: outputs.tokenAudience };
    } catch (error) {
      if (!(error instanceof KmsKeyError)) throw error;
      throw new CliError(`stack ${this.name}'s TokenSigningKeyArn output: ${error.message}`);
    }
  }

  /** Destroys the clients this command created. */
  close(): void {
    for (const client of this.clients.splice(0)) client.destroy();
  }

  private async readOutputs(): Promise<{ outputs: StackOutputs; region: string }> {
    const client = this.track(this.factory.cloudFormation(this.region));
    try {
      const outputs = await readStackOutputs(client, this.name);
      return { outputs, region: await client.config.region() };
    } catch (error) {
      if (error instanceof StackOutputsError) throw new CliError(error.message);
      throw error;
    }
  }

  private documentClient(region: string): DynamoDBDocumentClient {
    this.dynamo ??= this.track(this.factory.dynamoDocument(region));
    return this.dynamo;
  }

  private track<C extends { destroy(): void }>(client: C): C {
    this.clients.push(client);
    return client;
  }
}

/** ` --stack NAME [--region R]`: what a follow-up command the CLI suggests needs to reach the same stack. */
export function stackArguments(stack: StackSession): string {
  return ` --stack ${stack.name}${stack.region === undefined ? "" : ` --region ${stack.region}`}`;
}

/** Maps an AWS error from the registry tables to a CliError; anything else (CliError included) passes. */
function explainDynamoError(
  error: unknown,
  stack: string,
  outputs: StackOutputs & { region: string },
): unknown {
  if (!(error instanceof Error)) return error;
  const aws = "$metadata" in error || MISSING_CREDENTIALS_ERRORS.has(error.name);
  if (!aws || error instanceof CliError) return error;
  const tables = `${outputs.streamsTable}, ${outputs.apiKeysTable}`;
  const code = (error as { code?: unknown }).code;
  if (MISSING_CREDENTIALS_ERRORS.has(error.name)) return new CliError(NO_CREDENTIALS_MESSAGE);
  if (REJECTED_CREDENTIALS_ERRORS.has(error.name)) {
    return new CliError(
      `AWS rejected your credentials (${error.name}); refresh them (aws sso login, new keys) or pick another AWS_PROFILE`,
    );
  }
  switch (error.name) {
    case "ResourceNotFoundException":
      return new CliError(
        `a registry table of stack ${stack} (${tables}) does not exist in region ${outputs.region}; was it deleted? redeploy with \`npx cdk deploy\``,
      );
    case "AccessDeniedException":
      return new CliError(
        `not allowed to use the registry tables of stack ${stack} (${tables}): your AWS identity needs dynamodb:GetItem, PutItem, UpdateItem, DeleteItem and Scan on them`,
      );
    case "ProvisionedThroughputExceededException":
    case "ThrottlingException":
    case "RequestLimitExceeded":
      return new CliError(`DynamoDB throttled the request (${error.name}); retry shortly`);
  }
  if (error.name === "TimeoutError" || typeof code === "string") {
    return new CliError(
      `cannot reach DynamoDB in region ${outputs.region}${typeof code === "string" ? ` (${code})` : ""}; check the network`,
    );
  }
  return new CliError(`DynamoDB: ${error.name}: ${error.message}`);
}

/**
 * A deployed Streaming Ingest stack as the CLI needs it: its CloudFormation outputs (API URL, table names,
 * token key, issuer and audience, bucket), with errors that say what to do when the stack cannot be used.
 */
import { type CloudFormationClient, DescribeStacksCommand, type Stack } from "@aws-sdk/client-cloudformation";
import {
  awsErrorName,
  MISSING_CREDENTIALS_ERRORS,
  NETWORK_ERROR_CODES,
  nodeErrorCode,
  REJECTED_CREDENTIALS_ERRORS,
} from "./aws-errors.js";

/** The outputs of a Streaming Ingest stack (CfnOutput ids on the stack, so the OutputKeys are fixed). */
export interface StackOutputs {
  /** Base URL of the HTTP API, without a trailing slash. */
  readonly apiUrl: string;
  readonly streamsTable: string;
  readonly apiKeysTable: string;
  /** The KMS key new tokens are signed with. */
  readonly tokenSigningKeyArn: string;
  readonly tokenIssuer: string;
  readonly tokenAudience: string;
  readonly deliveryBucket: string;
}

/** Each field and the output key it is read from. */
const OUTPUT_KEYS: Readonly<Record<keyof StackOutputs, string>> = {
  apiUrl: "ApiUrl",
  streamsTable: "StreamsTableName",
  apiKeysTable: "ApiKeysTableName",
  tokenSigningKeyArn: "TokenSigningKeyArn",
  tokenIssuer: "TokenIssuer",
  tokenAudience: "TokenAudience",
  deliveryBucket: "DeliveryBucketName",
};

/** The stack cannot be read or used; the message says why and what to do. The SDK's error is the cause. */
export class StackOutputsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StackOutputsError";
  }
}

export const NO_CREDENTIALS_MESSAGE =
  "no AWS credentials found: configure them (aws configure, AWS_PROFILE, or environment variables)";

export const NO_REGION_MESSAGE =
  "no AWS region configured: pass --region, set AWS_REGION, or set a region in your AWS profile (aws configure)";

/** Reads the outputs of `stackName` in the client's region. */
export async function readStackOutputs(
  client: CloudFormationClient,
  stackName: string,
): Promise<StackOutputs> {
  let region: string;
  try {
    region = await client.config.region();
  } catch (error) {
    // The SDK's own resolution (AWS_REGION, then the profile) found nothing: a plain Error, "Region is missing".
    throw new StackOutputsError(NO_REGION_MESSAGE, { cause: error });
  }
  let stack: Stack | undefined;
  try {
    const output = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    stack = output.Stacks?.[0];
  } catch (error) {
    throw explainDescribeError(error, stackName, region);
  }
  if (stack === undefined || stack.StackStatus === "DELETE_COMPLETE") throw notFound(stackName, region);
  return outputsOf(stack, stackName);
}

function outputsOf(stack: Stack, stackName: string): StackOutputs {
  const values = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const missing = Object.values(OUTPUT_KEYS).filter((key) => !values.get(key));
  const status = stack.StackStatus ?? "UNKNOWN";
  if (missing.length > 0 && !isSettled(status)) {
    throw new StackOutputsError(
      values.size === 0
        ? `stack ${stackName} is ${status} and has no outputs; ${statusAdvice(status)}`
        : `stack ${stackName} is ${status} and lacks the output(s) ${missing.join(", ")}; ${statusAdvice(status)}`,
    );
  }
  if (missing.length > 0) {
    throw new StackOutputsError(
      `stack ${stackName} has no output ${missing.join(", ")}; is it a Streaming Ingest stack of this version?`,
    );
  }
  const read = (field: keyof StackOutputs) => values.get(OUTPUT_KEYS[field]) ?? "";
  return {
    apiUrl: read("apiUrl").replace(/\/+$/, ""),
    streamsTable: read("streamsTable"),
    apiKeysTable: read("apiKeysTable"),
    tokenSigningKeyArn: read("tokenSigningKeyArn"),
    tokenIssuer: read("tokenIssuer"),
    tokenAudience: read("tokenAudience"),
    deliveryBucket: read("deliveryBucket"),
  };
}

/** A deployment finished successfully (possibly after rolling an update back): its outputs are current. */
function isSettled(status: string): boolean {
  return ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"].includes(
    status,
  );
}

function statusAdvice(status: string): string {
  if (status.endsWith("_IN_PROGRESS")) return "wait until the deployment has finished, then run this again";
  if (status === "ROLLBACK_COMPLETE" || status === "ROLLBACK_FAILED")
    return "its creation failed: see the stack's events, delete it and deploy again (npx cdk deploy)";
  return "see the stack's events in the CloudFormation console, fix the cause and deploy again (npx cdk deploy)";
}

function notFound(stackName: string, region: string, cause?: unknown): StackOutputsError {
  return new StackOutputsError(
    `no CloudFormation stack named ${stackName} in region ${region}; deploy it with \`npx cdk deploy\` or pass --region`,
    cause === undefined ? undefined : { cause },
  );
}

function explainDescribeError(error: unknown, stackName: string, region: string): StackOutputsError {
  const name = awsErrorName(error);
  const detail = error instanceof Error ? error.message : String(error);
  const code = nodeErrorCode(error);
  const options = { cause: error };
  // CloudFormation answers an unknown stack with a ValidationError "Stack with id X does not exist".
  if (name === "ValidationError" && /does not exist/.test(detail)) return notFound(stackName, region, error);
  if (name === "ValidationError")
    return new StackOutputsError(`CloudFormation refused stack name ${stackName}: ${detail}`, options);
  if (MISSING_CREDENTIALS_ERRORS.has(name)) return new StackOutputsError(NO_CREDENTIALS_MESSAGE, options);
  if (REJECTED_CREDENTIALS_ERRORS.has(name)) {
    return new StackOutputsError(
      `AWS rejected your credentials (${name}); refresh them (aws sso login, new keys) or pick another AWS_PROFILE`,
      options,
    );
  }
  if (name === "AccessDenied" || name === "AccessDeniedException") {
    return new StackOutputsError(
      `not allowed to read stack ${stackName}: your AWS identity needs cloudformation:DescribeStacks (${detail})`,
      options,
    );
  }
  if (name === "Throttling" || name === "ThrottlingException")
    return new StackOutputsError("CloudFormation throttled the request; retry shortly", options);
  if (name === "TimeoutError" || (code !== undefined && NETWORK_ERROR_CODES.has(code))) {
    return new StackOutputsError(
      `cannot reach CloudFormation in region ${region}${code === undefined ? "" : ` (${code})`}; check the network and --region`,
      options,
    );
  }
  return new StackOutputsError(
    `cannot read stack ${stackName} in region ${region}: ${name === "" ? "" : `${name}: `}${detail}`,
    options,
  );
}

/** readStackOutputs against a mocked CloudFormation: the outputs a deployed stack has, and every way it fails. */
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
  type Output,
  type Stack,
} from "@aws-sdk/client-cloudformation";
import { mockClient } from "aws-sdk-client-mock";
import {
  NO_CREDENTIALS_MESSAGE,
  NO_REGION_MESSAGE,
  readStackOutputs,
  StackOutputsError,
} from "../../lambda/adapters/stack-outputs.js";
import { rejectedWith } from "../helpers/thrown.js";

const STACK = "ingest-prod";
const OUTPUTS: Record<string, string> = {
  ApiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/",
  StreamsTableName: "ingest-prod-Streams-1A2B3C",
  ApiKeysTableName: "ingest-prod-ApiKeys-4D5E6F",
  TokenSigningKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-4333-8444-555555555555",
  TokenIssuer: "urn:streaming-ingest:eu-west-1:123456789012:ingest-prod",
  TokenAudience: "streaming-ingest",
  DeliveryBucketName: "ingest-prod-deliverybucket-7g8h9i",
  DashboardName: "ingest-prod",
  AlarmTopicArn: "arn:aws:sns:eu-west-1:123456789012:ingest-prod-alarms",
};

const cloudFormation = mockClient(CloudFormationClient);
const client = new CloudFormationClient({ region: "eu-west-1" });

function stack(status: string, outputs: Record<string, string> = OUTPUTS): Stack {
  const list: Output[] = Object.entries(outputs).map(([OutputKey, OutputValue]) => ({
    OutputKey,
    OutputValue,
  }));
  return {
    StackName: STACK,
    StackStatus: status as Stack["StackStatus"],
    CreationTime: new Date("2025-01-01T00:00:00Z"),
    ...(list.length === 0 ? {} : { Outputs: list }),
  };
}

function cfnError(name: string, message: string): Error {
  return new CloudFormationServiceException({ name, message, $fault: "client", $metadata: {} });
}

async function failure(): Promise<StackOutputsError> {
  return rejectedWith(readStackOutputs(client, STACK), StackOutputsError);
}

beforeEach(() => cloudFormation.reset());
afterAll(() => cloudFormation.restore());

describe("readStackOutputs", () => {
  it("reads every output the CLI needs from DescribeStacks, without the URL's trailing slash", async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [stack("CREATE_COMPLETE")] });
    await expect(readStackOutputs(client, STACK)).resolves.toEqual({
      apiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com",
      streamsTable: OUTPUTS.StreamsTableName,
      apiKeysTable: OUTPUTS.ApiKeysTableName,
      tokenSigningKeyArn: OUTPUTS.TokenSigningKeyArn,
      tokenIssuer: OUTPUTS.TokenIssuer,
      tokenAudience: OUTPUTS.TokenAudience,
      deliveryBucket: OUTPUTS.DeliveryBucketName,
    });
    expect(cloudFormation.commandCalls(DescribeStacksCommand)[0]?.args[0].input).toEqual({
      StackName: STACK,
    });
  });

  it.each(["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"])(
    "uses the outputs of a stack that is %s",
    async (status) => {
      cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [stack(status)] });
      await expect(readStackOutputs(client, STACK)).resolves.toMatchObject({
        tokenAudience: "streaming-ingest",
      });
    },
  );

  it("names the stack and region when there is no such stack, and how to fix it", async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(cfnError("ValidationError", `Stack with id ${STACK} does not exist`));
    const error = await failure();
    expect(error.message).toBe(
      `no CloudFormation stack named ${STACK} in region eu-west-1; deploy it with \`npx cdk deploy\` or pass --region`,
    );
    expect(error.cause).toBeInstanceOf(CloudFormationServiceException);
  });

  it("treats a deleted stack as missing", async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [stack("DELETE_COMPLETE", {})] });
    expect((await failure()).message).toContain(`no CloudFormation stack named ${STACK} in region eu-west-1`);
  });

  it("passes on another validation error", async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(cfnError("ValidationError", "1 validation error detected"));
    expect((await failure()).message).toBe(
      `CloudFormation refused stack name ${STACK}: 1 validation error detected`,
    );
  });

  it.each([
    [
      "CREATE_IN_PROGRESS",
      "is CREATE_IN_PROGRESS and has no outputs; wait until the deployment has finished",
    ],
    [
      "ROLLBACK_COMPLETE",
      "is ROLLBACK_COMPLETE and has no outputs; its creation failed: see the stack's events",
    ],
    [
      "CREATE_FAILED",
      "is CREATE_FAILED and has no outputs; see the stack's events in the CloudFormation console",
    ],
  ])("says a stack that is %s has no outputs yet, and what to do", async (status, message) => {
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [stack(status, {})] });
    expect((await failure()).message).toContain(`stack ${STACK} ${message}`);
  });

  it("names the outputs a half-deployed stack still lacks", async () => {
    const { TokenIssuer: _issuer, TokenAudience: _audience, ...partial } = OUTPUTS;
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [stack("UPDATE_IN_PROGRESS", partial)] });
    expect((await failure()).message).toBe(
      `stack ${STACK} is UPDATE_IN_PROGRESS and lacks the output(s) TokenIssuer, TokenAudience; wait until the deployment has finished, then run this again`,
    );
  });

  it("names a missing output of a complete stack and asks whether it is a Streaming Ingest stack", async () => {
    const { TokenIssuer: _issuer, ...partial } = OUTPUTS;
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [stack("CREATE_COMPLETE", partial)] });
    expect((await failure()).message).toBe(
      `stack ${STACK} has no output TokenIssuer; is it a Streaming Ingest stack of this version?`,
    );
  });

  it("treats an empty output value as missing", async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .resolves({ Stacks: [stack("CREATE_COMPLETE", { ...OUTPUTS, ApiUrl: "" })] });
    expect((await failure()).message).toContain("has no output ApiUrl");
  });

  const sdkError = (name: string, message: string, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(message), { name, ...extra });

  it.each([
    [
      "missing credentials",
      sdkError("CredentialsProviderError", "Could not load credentials from any providers"),
      NO_CREDENTIALS_MESSAGE,
    ],
    [
      "expired credentials",
      cfnError("ExpiredToken", "The security token included in the request is expired"),
      "AWS rejected your credentials (ExpiredToken); refresh them",
    ],
    [
      "unknown credentials",
      cfnError("InvalidClientTokenId", "The security token included in the request is invalid"),
      "AWS rejected your credentials (InvalidClientTokenId)",
    ],
    [
      "a missing permission",
      cfnError("AccessDenied", "User is not authorized to perform: cloudformation:DescribeStacks"),
      `not allowed to read stack ${STACK}: your AWS identity needs cloudformation:DescribeStacks`,
    ],
    [
      "throttling",
      cfnError("Throttling", "Rate exceeded"),
      "CloudFormation throttled the request; retry shortly",
    ],
    [
      "an unreachable endpoint",
      sdkError("Error", "getaddrinfo ENOTFOUND cloudformation.eu-west-1.amazonaws.com", {
        code: "ENOTFOUND",
      }),
      "cannot reach CloudFormation in region eu-west-1 (ENOTFOUND); check the network and --region",
    ],
    [
      "a timeout",
      sdkError("TimeoutError", "Connection timed out"),
      "cannot reach CloudFormation in region eu-west-1; check the network",
    ],
    [
      "anything else",
      cfnError("InternalFailure", "boom"),
      `cannot read stack ${STACK} in region eu-west-1: InternalFailure: boom`,
    ],
  ])("explains %s", async (_case, error, message) => {
    cloudFormation.on(DescribeStacksCommand).rejects(error);
    const refused = await failure();
    expect(refused.message).toContain(message);
    expect(refused.cause).toBe(error);
  });

  describe("without a region", () => {
    const saved = { ...process.env };
    beforeEach(() => {
      for (const name of ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"]) delete process.env[name];
      process.env.AWS_CONFIG_FILE = "/nonexistent/aws-config";
      process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/aws-credentials";
    });
    afterEach(() => {
      process.env = { ...saved };
    });

    it("says how to configure one when neither AWS_REGION nor the profile names one", async () => {
      cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [stack("CREATE_COMPLETE")] });
      const error = await rejectedWith(
        readStackOutputs(new CloudFormationClient({}), STACK),
        StackOutputsError,
      );
      expect(error.message).toBe(NO_REGION_MESSAGE);
      expect(cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(0);
    });
  });
});

/** The two Lambdas of the synthesized stack: runtime, settings, environment, event sources and exact IAM. */
import { Match } from "aws-cdk-lib/assertions";
import type { IRole } from "aws-cdk-lib/aws-iam";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import {
  allowedActions,
  resolved,
  resourcesFor,
  type Statement,
  statementsOf,
  synthesizeStack,
} from "../helpers/cdk.js";

// One synthesis for the whole file (it bundles both Lambdas); two key generations to see all of them used.
const { stack, template } = synthesizeStack({ tokenSigningKeyGenerations: ["v1", "v2"] }, "IngestTest");
const r = (value: unknown) => resolved(stack, value);
const deliveryStreamsArn = {
  "Fn::Join": [
    "",
    [
      "arn:",
      { Ref: "AWS::Partition" },
      ":firehose:",
      { Ref: "AWS::Region" },
      ":",
      { Ref: "AWS::AccountId" },
      ":deliverystream/IngestTest-*",
    ],
  ],
};

function functionProps(fn: { node: { defaultChild?: unknown } }): Record<string, unknown> {
  const logicalId = stack.getLogicalId(fn.node.defaultChild as never);
  return template.toJSON().Resources[logicalId].Properties;
}

function sortedJson(values: unknown[]): string[] {
  return values.map((value) => JSON.stringify(value)).sort();
}

/** No statement allows a wildcard action, and only `allowedStar` actions may use Resource "*". */
function expectNoWildcards(statements: Statement[], allowedStar: string[] = []): void {
  for (const statement of statements) {
    expect(statement.Action.filter((action) => action.includes("*"))).toEqual([]);
    if (statement.Resource.includes("*")) expect(statement.Action).toEqual(allowedStar);
  }
}

const roleOf = (bundledRole: IRole) => statementsOf(template, bundledRole);

describe("ingest Lambda", () => {
  const props = functionProps(stack.ingest.function);

  it("runs the newest Node.js runtime on arm64 with the handler export", () => {
    expect(props).toMatchObject({
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Handler: "index.handler",
      MemorySize: 1024,
      Timeout: 15,
    });
  });

  it("gets exactly the environment of the contract, TOKEN_KEY_ARNS listing every key generation", () => {
    const [v1, v2] = stack.signingKeys.keys;
    expect((props.Environment as { Variables: unknown }).Variables).toEqual({
      STREAMS_TABLE: r(stack.registry.streams.tableName),
      API_KEYS_TABLE: r(stack.registry.apiKeys.tableName),
      TOKEN_ISSUER: {
        "Fn::Join": [
          "",
          ["urn:streaming-ingest:", { Ref: "AWS::Region" }, ":", { Ref: "AWS::AccountId" }, ":IngestTest"],
        ],
      },
      TOKEN_AUDIENCE: "streaming-ingest",
      TOKEN_KEY_ARNS: { "Fn::Join": ["", [r(v1?.keyArn), ",", r(v2?.keyArn)]] },
      REGISTRY_CACHE_TTL_SECONDS: "30",
      DELIVERY_BUDGET_MS: "6000",
      IDEMPOTENCY_TABLE: r(stack.idempotency.table.tableName),
      IDEMPOTENCY_WINDOW_SECONDS: "86400",
      POWERTOOLS_SERVICE_NAME: "streaming-ingest",
      POWERTOOLS_METRICS_NAMESPACE: "StreamingIngest",
      NODE_OPTIONS: "--enable-source-maps",
    });
  });

  it("logs JSON to its own log group, INFO and up (a summary line per request)", () => {
    expect(props.LoggingConfig).toEqual({
      LogGroup: r(stack.ingest.bundled.logGroup.logGroupName),
      LogFormat: "JSON",
      ApplicationLogLevel: "INFO",
      SystemLogLevel: "INFO",
    });
  });

  it("keeps only warnings and errors, its own and the platform's, with requestLogs false", () => {
    const quiet = synthesizeStack({ requestLogs: false }, "QuietTest");
    const fn = quiet.stack.ingest.function.node.defaultChild as CfnFunction;
    const quietProps = quiet.template.toJSON().Resources[quiet.stack.getLogicalId(fn)].Properties;
    expect(quietProps.LoggingConfig).toMatchObject({
      LogFormat: "JSON",
      ApplicationLogLevel: "WARN",
      SystemLogLevel: "WARN",
    });
  });

  describe("role", () => {
    const statements = roleOf(stack.ingest.bundled.role);

    it("is allowed these actions and no others", () => {
      expect(allowedActions(statements)).toEqual([
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "firehose:PutRecord",
        "firehose:PutRecordBatch",
        "kms:GetPublicKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
      ]);
    });

    it("may GetItem on the two registry tables and the idempotency table only", () => {
      expect(sortedJson(resourcesFor(statements, "dynamodb:GetItem"))).toEqual(
        sortedJson([
          r(stack.registry.streams.tableArn),
          r(stack.registry.apiKeys.tableArn),
          r(stack.idempotency.table.tableArn),
        ]),
      );
    });

    it("may write (Put/Update/DeleteItem) the idempotency table only: never the registry, never Query or Scan", () => {
      for (const action of ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]) {
        expect(resourcesFor(statements, action)).toEqual([r(stack.idempotency.table.tableArn)]);
      }
    });

    it("may read the public key of every signing key generation, and nothing else of KMS", () => {
      expect(sortedJson(resourcesFor(statements, "kms:GetPublicKey"))).toEqual(
        sortedJson(stack.signingKeys.keys.map((key) => r(key.keyArn))),
      );
    });

    it("may put records to this stack's delivery streams (the prefix) only", () => {
      expect(resourcesFor(statements, "firehose:PutRecord")).toEqual([deliveryStreamsArn]);
      expect(resourcesFor(statements, "firehose:PutRecordBatch")).toEqual([deliveryStreamsArn]);
    });

    it("writes logs only to its own log group", () => {
      expect(resourcesFor(statements, "logs:PutLogEvents")).toEqual([
        r(stack.ingest.bundled.logGroup.logGroupArn),
      ]);
    });

    it("has no wildcard action and no Resource '*'", () => {
      expectNoWildcards(statements);
    });

    it("has no AWS managed policy attached", () => {
      const roleId = stack.getLogicalId(stack.ingest.bundled.role.node.defaultChild as never);
      expect(template.toJSON().Resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
    });
  });
});

describe("provisioner Lambda", () => {
  const props = functionProps(stack.provisioner.function);
  const statements = roleOf(stack.provisioner.bundled.role);

  it("runs on the same runtime and architecture with 512 MiB and 5 minutes", () => {
    expect(props).toMatchObject({
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Handler: "index.handler",
      MemorySize: 512,
      Timeout: 300,
    });
  });

  it("gets the environment of the contract", () => {
    expect((props.Environment as { Variables: unknown }).Variables).toEqual({
      STREAMS_TABLE: r(stack.registry.streams.tableName),
      DELIVERY_STREAM_PREFIX: "IngestTest",
      DELIVERY_BUCKET_ARN: r(stack.storage.bucket.bucketArn),
      DELIVERY_ROLE_ARN: r(stack.provisioner.deliveryRole.roleArn),
      DELIVERY_LOG_GROUP: r(stack.provisioner.deliveryLogGroup.logGroupName),
      DELETION_QUEUE_URL: r(stack.provisioner.deletionQueue.queueUrl),
      REGISTRY_CACHE_TTL_SECONDS: "30",
      POWERTOOLS_SERVICE_NAME: "streaming-ingest-provisioner",
      POWERTOOLS_METRICS_NAMESPACE: "StreamingIngest",
      NODE_OPTIONS: "--enable-source-maps",
    });
  });

  it("manages this stack's delivery streams (the prefix) with exactly the six Firehose actions", () => {
    const firehose = statements.filter((s) => s.Action.some((action) => action.startsWith("firehose:")));
    expect(firehose).toHaveLength(1);
    expect(firehose[0]?.Action.sort()).toEqual([
      "firehose:CreateDeliveryStream",
      "firehose:DeleteDeliveryStream",
      "firehose:DescribeDeliveryStream",
      "firehose:ListTagsForDeliveryStream",
      "firehose:TagDeliveryStream",
      "firehose:UpdateDestination",
    ]);
    expect(firehose[0]?.Resource).toEqual([deliveryStreamsArn]);
  });

  it("may pass only the delivery role, and only to Firehose", () => {
    const passRole = statements.filter((s) => s.Action.includes("iam:PassRole"));
    expect(passRole).toEqual([
      {
        Effect: "Allow",
        Action: ["iam:PassRole"],
        Resource: [r(stack.provisioner.deliveryRole.roleArn)],
        Condition: { StringEquals: { "iam:PassedToService": "firehose.amazonaws.com" } },
      },
    ]);
  });

  it("reads and updates stream records, reads the table's stream, and sends to the deletion queue", () => {
    const streamsTable = r(stack.registry.streams.tableArn);
    expect(resourcesFor(statements, "dynamodb:GetItem")).toEqual([streamsTable]);
    expect(resourcesFor(statements, "dynamodb:UpdateItem")).toEqual([streamsTable]);
    expect(resourcesFor(statements, "dynamodb:GetRecords")).toEqual([
      r(stack.registry.streams.tableStreamArn),
    ]);
    expect(resourcesFor(statements, "sqs:SendMessage")).toEqual(
      expect.arrayContaining([r(stack.provisioner.deletionQueue.queueArn)]),
    );
    expect(resourcesFor(statements, "sqs:ReceiveMessage")).toEqual([
      r(stack.provisioner.deletionQueue.queueArn),
    ]);
    expect(allowedActions(statements).filter((action) => action.startsWith("dynamodb:"))).toEqual([
      "dynamodb:DescribeStream",
      "dynamodb:GetItem",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
      "dynamodb:ListStreams",
      "dynamodb:UpdateItem",
    ]);
  });

  it("has no wildcard action; Resource '*' only for dynamodb:ListStreams (no resource-level permissions)", () => {
    expectNoWildcards(statements, ["dynamodb:ListStreams"]);
  });

  it("consumes the streams table's DynamoDB stream in order, bisecting and reporting item failures", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: r(stack.registry.streams.tableStreamArn),
      FunctionName: r(stack.provisioner.function.functionName),
      StartingPosition: "TRIM_HORIZON",
      BatchSize: 10,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      DestinationConfig: { OnFailure: { Destination: r(stack.provisioner.failuresDlq.queueArn) } },
    });
  });

  it("consumes the deletion queue in batches of 10, reporting item failures", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: r(stack.provisioner.deletionQueue.queueArn),
      FunctionName: r(stack.provisioner.function.functionName),
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
  });
});

describe("Firehose delivery role", () => {
  const statements = roleOf(stack.provisioner.deliveryRole);
  const bucketArn = r(stack.storage.bucket.bucketArn);

  it("trusts only firehose.amazonaws.com with this account as ExternalId", () => {
    template.hasResourceProperties("AWS::IAM::Role", {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: "sts:AssumeRole",
            Effect: "Allow",
            Principal: { Service: "firehose.amazonaws.com" },
            Condition: { StringEquals: { "sts:ExternalId": { Ref: "AWS::AccountId" } } },
          },
        ],
      },
      Description: Match.stringLikeRegexp("Firehose"),
    });
  });

  it("may list the bucket and write objects under streams/ and errors/ only", () => {
    expect(allowedActions(statements)).toEqual([
      "logs:PutLogEvents",
      "s3:AbortMultipartUpload",
      "s3:GetBucketLocation",
      "s3:GetObject",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
      "s3:PutObject",
    ]);
    for (const action of ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]) {
      expect(resourcesFor(statements, action)).toEqual([bucketArn]);
    }
    const objects = sortedJson([
      { "Fn::Join": ["", [bucketArn, "/errors/*"]] },
      { "Fn::Join": ["", [bucketArn, "/streams/*"]] },
    ]);
    for (const action of ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]) {
      expect(sortedJson(resourcesFor(statements, action))).toEqual(objects);
    }
  });

  it("may put log events to the DestinationDelivery stream of its log group only", () => {
    expect(resourcesFor(statements, "logs:PutLogEvents")).toEqual([
      {
        "Fn::Join": [
          "",
          [
            "arn:",
            { Ref: "AWS::Partition" },
            ":logs:",
            { Ref: "AWS::Region" },
            ":",
            { Ref: "AWS::AccountId" },
            ":log-group:",
            r(stack.provisioner.deliveryLogGroup.logGroupName),
            ":log-stream:",
            {
              Ref: stack.getLogicalId(
                stack.provisioner.node.findChild("DeliveryLogStream").node.defaultChild as never,
              ),
            },
          ],
        ],
      },
    ]);
    expectNoWildcards(statements.filter((s) => !s.Action.includes("s3:PutObject")));
  });

  it("reports delivery errors to /aws/kinesisfirehose/<prefix>, log stream DestinationDelivery", () => {
    template.hasResourceProperties("AWS::Logs::LogGroup", {
      LogGroupName: "/aws/kinesisfirehose/IngestTest",
    });
    template.hasResourceProperties("AWS::Logs::LogStream", {
      LogGroupName: r(stack.provisioner.deliveryLogGroup.logGroupName),
      LogStreamName: "DestinationDelivery",
    });
  });
});

describe("provisioner queues", () => {
  const queueProps = (queue: { node: { defaultChild?: unknown } }) =>
    template.toJSON().Resources[stack.getLogicalId(queue.node.defaultChild as never)].Properties;

  it.each([
    ["deletion queue", () => stack.provisioner.deletionQueue],
    ["deletion DLQ", () => stack.provisioner.deletionDlq],
    ["provisioning-failures DLQ", () => stack.provisioner.failuresDlq],
  ])("the %s is SQS-encrypted, keeps messages 14 days and refuses non-TLS requests", (_name, queue) => {
    expect(queueProps(queue())).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties("AWS::SQS::QueuePolicy", {
      Queues: [r(queue().queueUrl)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ]),
      },
    });
  });

  it("moves deletion messages to the DLQ after 5 receives and hides them 6× the function timeout", () => {
    expect(queueProps(stack.provisioner.deletionQueue)).toMatchObject({
      RedrivePolicy: { deadLetterTargetArn: r(stack.provisioner.deletionDlq.queueArn), maxReceiveCount: 5 },
      VisibilityTimeout: 1800,
    });
  });
});

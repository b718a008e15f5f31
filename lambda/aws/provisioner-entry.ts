/**
 * The provisioner Lambda's entry (bundled by the stack's NodejsFunction): configuration, SDK clients, logger
 * and metrics are created once per container, on the first invocation, and reused by every later one.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { FirehoseClient } from "@aws-sdk/client-firehose";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { boundedRequests } from "../adapters/request-bounds.js";
import { METRICS_NAMESPACE, PROVISIONER_SERVICE } from "./metric-names.js";
import { readProvisionerConfig } from "./provisioner-config.js";
import { createProvisionerLambda, type ProvisionerLambda } from "./provisioner-lambda.js";

/** Bounds each SDK call, so a hung connection fails the record (and is retried) instead of the invocation. */
const requestHandler = boundedRequests(20_000, 5_000);

let lambda: ProvisionerLambda | undefined;

/** Throws ConfigError naming the variable when the environment is wrong: the function fails at once. */
function createFromEnvironment(): ProvisionerLambda {
  const config = readProvisionerConfig();
  return createProvisionerLambda({
    config,
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler }), {
      marshallOptions: { removeUndefinedValues: true },
    }),
    firehose: new FirehoseClient({ requestHandler }),
    // The queue URL's host is the region's SQS endpoint, which the client resolves itself; by default the SDK
    // would send to the URL's host instead, ignoring an endpoint override (AWS_ENDPOINT_URL_SQS) such as the
    // one `serve --emulate-aws` gives the bundle.
    sqs: new SQSClient({ requestHandler, useQueueUrlAsEndpoint: false }),
    logger: new Logger({ serviceName: PROVISIONER_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: PROVISIONER_SERVICE }),
  });
}

/** The function's handler: DynamoDB stream events of the streams table and SQS events of the deletion queue. */
export const handler: ProvisionerLambda = (event, context) => {
  lambda ??= createFromEnvironment();
  return lambda(event, context);
};

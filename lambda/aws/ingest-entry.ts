/**
 * The ingest Lambda's entry (bundled by the stack's NodejsFunction): configuration and SDK clients are created
 * once per container, on the first invocation, and reused by every later one.
 */

import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KMSClient } from "@aws-sdk/client-kms";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createFirehoseClient } from "../adapters/firehose-sink.js";
import { boundedRequests, INGEST_READ_ATTEMPTS, INGEST_READ_TIMEOUT_MS } from "../adapters/request-bounds.js";
import { readIngestConfig } from "./ingest-config.js";
import { createIngestLambda, type IngestLambda } from "./ingest-lambda.js";
import { INGEST_SERVICE, METRICS_NAMESPACE } from "./metric-names.js";

let lambda: IngestLambda | undefined;

/** Registry reads and the KMS key load: bounded, so a silent service ends as a 503, not a Lambda timeout. */
const readClientOptions = {
  maxAttempts: INGEST_READ_ATTEMPTS,
  requestHandler: boundedRequests(INGEST_READ_TIMEOUT_MS),
};

function createFromEnvironment(): IngestLambda {
  const config = readIngestConfig();
  return createIngestLambda({
    config,
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(readClientOptions)),
    firehose: createFirehoseClient(),
    kms: new KMSClient(readClientOptions),
    logger: new Logger({ serviceName: INGEST_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: INGEST_SERVICE }),
  });
}

export const handler: IngestLambda = (event, context) => {
  lambda ??= createFromEnvironment();
  return lambda(event, context);
};

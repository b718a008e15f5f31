#!/usr/bin/env node
/** The CDK app: one Streaming Ingest stack from `cdk.json` context, checked by cdk-nag's AwsSolutions pack. */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { readAppSettings } from "../lib/app-context.js";
import { InvalidPropError } from "../lib/prop-validation.js";
import { StreamingIngestStack } from "../lib/streaming-ingest-stack.js";

function main(): void {
  const app = new App();
  const settings = readAppSettings((key) => app.node.tryGetContext(key));
  new StreamingIngestStack(app, settings.stackName, {
    ...settings.props,
    description: "Streaming Ingest: HTTP API, Lambda, per-stream Firehose delivery streams to S3",
  });
  // cdk-nag v3 is a policy-validation plugin (v2 was an Aspect): an unacknowledged finding fails the synth.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}

try {
  main();
} catch (error) {
  // A wrong setting is the operator's to fix: one sentence naming it, not a stack trace.
  if (!(error instanceof InvalidPropError)) throw error;
  console.error(`Invalid Streaming Ingest setting: ${error.message}`);
  process.exitCode = 1;
}

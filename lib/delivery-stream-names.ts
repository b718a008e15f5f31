/**
 * Names derived from the delivery-stream prefix: the provisioner creates `${prefix}-${streamId}-${shard}` at
 * runtime, so IAM, logging and monitoring can only scope to the prefix, never to a fixed list of names.
 */
import { ArnFormat, Stack } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { assertMatches } from "./prop-validation.js";

/** Longest prefix: 40 + "-is-XXXXXXXX-NNN" stays within Firehose's 64-character delivery stream name limit. */
export const MAX_PREFIX_LENGTH = 40;

/** Log stream Firehose writes delivery errors to (the provisioner configures every delivery stream so). */
export { DELIVERY_LOG_STREAM } from "../lambda/adapters/delivery-stream-config.js";

/** Throws unless `prefix` can start a Firehose delivery stream name. */
export function validateDeliveryStreamPrefix(prop: string, prefix: string): void {
  assertMatches(
    prop,
    prefix,
    new RegExp(`^[A-Za-z0-9_.-]{1,${MAX_PREFIX_LENGTH}}$`),
    `use 1–${MAX_PREFIX_LENGTH} characters of A–Z, a–z, 0–9, "_", "." and "-" (Firehose's name alphabet)`,
  );
}

/** The default prefix: the stack name, cut to what a delivery stream name leaves room for. */
export function defaultDeliveryStreamPrefix(stackName: string): string {
  return stackName.slice(0, MAX_PREFIX_LENGTH);
}

/** `arn:<partition>:firehose:<region>:<account>:deliverystream/<prefix>-*`: every delivery stream of this stack. */
export function deliveryStreamArnPattern(scope: IConstruct, prefix: string): string {
  return Stack.of(scope).formatArn({
    service: "firehose",
    resource: "deliverystream",
    resourceName: `${prefix}-*`,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}

/** `/aws/kinesisfirehose/<prefix>`: the one log group all delivery streams of this stack report errors to. */
export function deliveryLogGroupName(prefix: string): string {
  return `/aws/kinesisfirehose/${prefix}`;
}

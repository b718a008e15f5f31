/**
 * The Firehose side of a stream: its delivery stream names, the fingerprint of its delivery settings, and the
 * exact CreateDeliveryStream / UpdateDestination inputs the provisioner sends. Pure: no I/O.
 */
import type {
  CreateDeliveryStreamInput,
  DeliveryStreamDescription,
  ExtendedS3DestinationDescription,
  ExtendedS3DestinationUpdate,
  UpdateDestinationInput,
} from "@aws-sdk/client-firehose";
import { STREAM_SETTING_BOUNDS } from "../core/stream-settings.js";
import type { Compression, PayloadType, StreamRecord } from "../core/types.js";

/** Where this stack's delivery streams write and log (the provisioner's configuration). */
export interface DeliveryTarget {
  /** Name prefix of every delivery stream of the stack (the IAM scope is `deliverystream/<prefix>-*`). */
  readonly prefix: string;
  readonly bucketArn: string;
  /** The role Firehose assumes to write the bucket. */
  readonly roleArn: string;
  /** CloudWatch Logs group of delivery errors. */
  readonly logGroup: string;
}

/** Firehose's rule for delivery stream names. */
export const DELIVERY_STREAM_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,64}$/;

/** Prefixes are ≤ 40 characters so that `<prefix>-is-XXXXXXXX-<shard>` always fits Firehose's 64. */
export const DELIVERY_PREFIX_PATTERN = /^[a-zA-Z0-9_.-]{1,40}$/;

/** The log stream, inside the delivery log group, that Firehose writes S3 delivery errors to. */
export const DELIVERY_LOG_STREAM = "DestinationDelivery";

/** The delivery stream of shard `shard` (0-based) of a stream. */
export function deliveryStreamName(prefix: string, streamId: string, shard: number): string {
  return `${prefix}-${streamId}-${shard}`;
}

/** The delivery streams a stream with `shards` shards uses, shard 0 first. */
export function deliveryStreamNames(prefix: string, streamId: string, shards: number): string[] {
  return Array.from({ length: shards }, (_, shard) => deliveryStreamName(prefix, streamId, shard));
}

/** Whether `name` is one of the delivery streams of `streamId` under `prefix` (any shard). */
export function isDeliveryStreamOf(prefix: string, streamId: string, name: string): boolean {
  const head = `${prefix}-${streamId}-`;
  return name.startsWith(head) && /^(0|[1-9][0-9]{0,3})$/.test(name.slice(head.length));
}

/** Firehose buffers whole MiB: the stream's buffer size rounded, within Firehose's 1–128. */
export function bufferSizeInMBs(bufferMiB: number): number {
  const { min, max } = STREAM_SETTING_BOUNDS.bufferMiB;
  return Math.min(max, Math.max(min, Math.round(bufferMiB)));
}

/**
 * The fingerprint of the settings a stream's delivery streams are built from (`delivery_applied`): equal
 * fingerprints mean nothing to change. Name, description, status and rate limits are not delivery settings.
 */
export function deliveryFingerprint(stream: StreamRecord): string {
  const { bufferMiB, bufferSeconds, compression, shards } = stream.delivery;
  return [stream.payload, stream.tenant, bufferSizeInMBs(bufferMiB), bufferSeconds, compression, shards].join(
    "|",
  );
}

/** `.ndjson` / `.cbor`, plus `.gz` when Firehose compresses the files. */
export function fileExtension(payload: PayloadType, compression: Compression): string {
  const base = payload === "json" ? ".ndjson" : ".cbor";
  return compression === "gzip" ? `${base}.gz` : base;
}

/** The destination settings the provisioner owns: what it creates, compares and updates. */
export interface DesiredDestination {
  readonly Prefix: string;
  readonly ErrorOutputPrefix: string;
  readonly BufferingHints: { readonly SizeInMBs: number; readonly IntervalInSeconds: number };
  readonly CompressionFormat: "UNCOMPRESSED" | "GZIP";
  readonly FileExtension: string;
  readonly CloudWatchLoggingOptions: {
    readonly Enabled: boolean;
    readonly LogGroupName: string;
    readonly LogStreamName: string;
  };
}

/** The S3 layout and batching of DESIGN.md, for one stream. */
export function desiredDestination(stream: StreamRecord, target: DeliveryTarget): DesiredDestination {
  const { bufferMiB, bufferSeconds, compression } = stream.delivery;
  return {
    Prefix: `streams/${stream.tenant}/${stream.id}/!{timestamp:yyyy/MM/dd/HH}/`,
    ErrorOutputPrefix: `errors/${stream.id}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`,
    BufferingHints: { SizeInMBs: bufferSizeInMBs(bufferMiB), IntervalInSeconds: bufferSeconds },
    CompressionFormat: compression === "gzip" ? "GZIP" : "UNCOMPRESSED",
    FileExtension: fileExtension(stream.payload, compression),
    CloudWatchLoggingOptions: {
      Enabled: true,
      LogGroupName: target.logGroup,
      LogStreamName: DELIVERY_LOG_STREAM,
    },
  };
}

/** The CreateDeliveryStream input of delivery stream `name` of `stream`. */
export function createDeliveryStreamInput(
  stream: StreamRecord,
  target: DeliveryTarget,
  name: string,
): CreateDeliveryStreamInput {
  const desired = desiredDestination(stream, target);
  return {
    DeliveryStreamName: name,
    DeliveryStreamType: "DirectPut",
    DeliveryStreamEncryptionConfigurationInput: { KeyType: "AWS_OWNED_CMK" },
    ExtendedS3DestinationConfiguration: {
      RoleARN: target.roleArn,
      BucketARN: target.bucketArn,
      ...copyOf(desired),
    },
    Tags: [
      { Key: "streaming-ingest:stream", Value: stream.id },
      { Key: "streaming-ingest:tenant", Value: stream.tenant },
    ],
  };
}

/**
 * The settings of `current` (from DescribeDeliveryStream) that differ from `desired`, by name; empty when the
 * destination is as wanted. Settings the provisioner does not own (role, bucket, processing) are not compared.
 */
export function destinationDifferences(
  current: ExtendedS3DestinationDescription,
  desired: DesiredDestination,
): string[] {
  const differences: string[] = [];
  const differs = (setting: string, actual: unknown, wanted: unknown) => {
    if (actual !== wanted) differences.push(setting);
  };
  differs("Prefix", current.Prefix ?? "", desired.Prefix);
  differs("ErrorOutputPrefix", current.ErrorOutputPrefix ?? "", desired.ErrorOutputPrefix);
  differs("BufferingHints.SizeInMBs", current.BufferingHints?.SizeInMBs, desired.BufferingHints.SizeInMBs);
  differs(
    "BufferingHints.IntervalInSeconds",
    current.BufferingHints?.IntervalInSeconds,
    desired.BufferingHints.IntervalInSeconds,
  );
  differs("CompressionFormat", current.CompressionFormat, desired.CompressionFormat);
  differs("FileExtension", current.FileExtension ?? "", desired.FileExtension);
  const logging = current.CloudWatchLoggingOptions;
  differs("CloudWatchLoggingOptions.Enabled", logging?.Enabled ?? false, true);
  differs(
    "CloudWatchLoggingOptions.LogGroupName",
    logging?.LogGroupName,
    desired.CloudWatchLoggingOptions.LogGroupName,
  );
  differs(
    "CloudWatchLoggingOptions.LogStreamName",
    logging?.LogStreamName,
    desired.CloudWatchLoggingOptions.LogStreamName,
  );
  return differences;
}

/**
 * The UpdateDestination input that brings delivery stream `current` to `desired`. The version id makes
 * Firehose refuse the update if someone changed the stream since it was described.
 */
export function updateDestinationInput(
  current: DeliveryStreamDescription,
  destinationId: string,
  desired: DesiredDestination,
): UpdateDestinationInput {
  const update: ExtendedS3DestinationUpdate = copyOf(desired);
  return {
    DeliveryStreamName: current.DeliveryStreamName,
    CurrentDeliveryStreamVersionId: current.VersionId,
    DestinationId: destinationId,
    ExtendedS3DestinationUpdate: update,
  };
}

/** A mutable deep copy: the SDK's input types are not readonly, and inputs must not share objects. */
function copyOf(desired: DesiredDestination) {
  return {
    ...desired,
    BufferingHints: { ...desired.BufferingHints },
    CloudWatchLoggingOptions: { ...desired.CloudWatchLoggingOptions },
  };
}

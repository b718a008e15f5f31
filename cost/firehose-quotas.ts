/**
 * Default throughput quotas of one Firehose stream with Direct PUT as its source: the combined quota for
 * PutRecord and PutRecordBatch calls. AWS raises them on request (Service Quotas / the Firehose limits form);
 * these are the defaults a new delivery stream gets.
 */

/** Where the numbers come from (section "Amazon Data Firehose quota", read on 2026-11-29). */
export const FIREHOSE_QUOTA_SOURCE = "https://docs.aws.amazon.com/firehose/latest/dev/limits.html";

export interface DirectPutQuota {
  /** PutRecord + PutRecordBatch calls per second. */
  readonly requestsPerSecond: number;
  /** Records per second (each entry of a PutRecordBatch counts). */
  readonly recordsPerSecond: number;
  /** Bytes per second of record data. */
  readonly bytesPerSecond: number;
}

const MiB = 1024 * 1024;

/** US East (N. Virginia), US West (Oregon) and Europe (Ireland). */
export const LARGE_REGION_QUOTA: DirectPutQuota = {
  requestsPerSecond: 2_000,
  recordsPerSecond: 500_000,
  bytesPerSecond: 5 * MiB,
};

/** Every other region. */
export const DEFAULT_REGION_QUOTA: DirectPutQuota = {
  requestsPerSecond: 1_000,
  recordsPerSecond: 100_000,
  bytesPerSecond: 1 * MiB,
};

/** The regions with the large quota. */
export const LARGE_QUOTA_REGIONS: readonly string[] = ["us-east-1", "us-west-2", "eu-west-1"];

/** An AWS region name such as `us-east-1` or `ap-southeast-5`. */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** The default Direct PUT quota of one delivery stream in `region`. */
export function directPutQuota(region: string): DirectPutQuota {
  return LARGE_QUOTA_REGIONS.includes(region) ? LARGE_REGION_QUOTA : DEFAULT_REGION_QUOTA;
}

/**
 * What the HTTP contract suite needs from a runtime, so that one suite runs unchanged against the local runtime
 * (`ingest serve`) and the AWS build emulated on loopback (`ingest serve --emulate-aws`). A difference between
 * the two runtimes is a bug to fix in a runtime, never a reason to fork a test.
 */
import type { ApiKeyRecord, Compression, PayloadType, StreamRecord } from "../../lambda/core/types.js";

/** The runtime under test. */
export type RuntimeName = "local" | "emulate-aws";

/** Settings of a stream created for a test (everything else is newStreamRecord's default). */
export interface StreamSpec {
  /** @default "acme" */
  readonly tenant?: string;
  readonly payload: PayloadType;
  /** @default "none" */
  readonly compression?: Compression;
}

export interface ContractTarget {
  readonly runtime: RuntimeName;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /**
   * The bucket root: batches land under `streams/<tenant>/<stream-id>/YYYY/MM/DD/HH/` as `.ndjson` or `.cbor`
   * (with `.gz` for gzip streams), exactly as in S3.
   */
  readonly bucketDir: string;
  /**
   * Creates a stream in the registry and returns once it accepts records (on AWS: once the provisioner has
   * created its delivery stream and marked it ACTIVE). Create streams before the first request that names
   * them: the registry cache remembers "no such stream".
   */
  createStream(spec: StreamSpec): Promise<StreamRecord>;
  /** Creates an active API key for `tenant` (default "acme"). */
  createKey(tenant?: string): Promise<ApiKeyRecord>;
  /**
   * Replaces a key record (to delete it or revoke its tokens). Do it before the key's first request: the
   * registry cache keeps what it read for the runtime's TTL.
   */
  updateKey(key: ApiKeyRecord): Promise<void>;
  /** A valid token for `key`, signed as this runtime's tokens are (local key / emulated KMS key). */
  tokenFor(key: ApiKeyRecord, days?: number): Promise<string>;
  /** A token with this runtime's issuer, audience and current kid, but signed by another key: only the signature is wrong. */
  foreignToken(key: ApiKeyRecord): Promise<string>;
  /** Delivers every accepted record now (seals local batches; flushes the emulated Firehose buffers). */
  flush(): Promise<void>;
  /**
   * A new stream whose requests are answered 429 with Retry-After (at the latest from its second request on)
   * until `restore`:
   * locally by its own rate limit (1 request/s, burst 1, on a clock the test does not move); on AWS because the
   * emulated Firehose throttles every PutRecord (the Lambda retries for its delivery budget, ~6 s, first).
   */
  throttledStream(spec: StreamSpec): Promise<{ stream: StreamRecord; restore(): Promise<void> }>;
  close(): Promise<void>;
}

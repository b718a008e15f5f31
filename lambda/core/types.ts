/** The data model (stream and API-key records) and the request/response shapes the core works on. */

export type PayloadType = "json" | "xml";
export type Compression = "none" | "gzip";

/** Per-stream batching settings (Firehose-like). */
export interface DeliverySettings {
  /** Seal a batch once it holds this many MiB. */
  readonly bufferMiB: number;
  /** Seal a batch once it is this many seconds old. */
  readonly bufferSeconds: number;
  readonly compression: Compression;
  /** Number of delivery streams (AWS) a stream spreads its records over. */
  readonly shards: number;
}

/** A stream as the registry holds it. */
export interface StreamRecord {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly description: string;
  readonly payload: PayloadType;
  readonly status: "active" | "disabled";
  readonly delivery: DeliverySettings;
  /** Sustained requests per second the stream accepts. */
  readonly rateLimitPerSecond: number;
  /** Requests that may arrive at once above the sustained rate. */
  readonly rateLimitBurst: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** AWS: names of the stream's Firehose delivery streams (one per shard). Empty locally. */
  readonly deliveryStreams: readonly string[];
  /** AWS: provisioning status of the delivery streams (`ACTIVE` when usable). */
  readonly deliveryStatus?: string;
}

/** An API key: the identity tokens are issued for. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly status: "active" | "deleted";
  readonly createdAt: string;
  /** Tokens issued (iat) before this instant are refused. ISO-8601, or undefined when never revoked. */
  readonly revokedBefore?: string;
}

/** One HTTP request as the core sees it, whatever the runtime. */
export interface IngestRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly requestId: string;
  /**
   * Reads the raw (still encoded) body. Rejects with PayloadTooLargeError as soon as more than `maxBytes`
   * arrive, without buffering the rest.
   */
  readBody(maxBytes: number): Promise<Uint8Array>;
}

/** One HTTP response; the body is always JSON. */
export interface IngestResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A record that passed every check, ready for a sink. */
export interface AcceptedRecord {
  readonly stream: StreamRecord;
  /** The bytes to append: an NDJSON line with its `\n`, or one CBOR data item. */
  readonly data: Uint8Array;
}

/** Records of one batch request that passed every check, stored all together or not at all. */
export interface AcceptedBatch {
  readonly stream: StreamRecord;
  /** NDJSON lines, each with its `\n`, in request order. */
  readonly records: readonly Uint8Array[];
}

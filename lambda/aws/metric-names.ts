/** CloudWatch metric names the Lambdas emit (Powertools EMF) and the stack's dashboard and alarms read. */

/** Namespace of every metric; the Lambdas get it as POWERTOOLS_METRICS_NAMESPACE. */
export const METRICS_NAMESPACE = "StreamingIngest";

/** `service` dimension values (POWERTOOLS_SERVICE_NAME) of the two functions. */
export const INGEST_SERVICE = "streaming-ingest";
export const PROVISIONER_SERVICE = "streaming-ingest-provisioner";

/** Emitted by the ingest Lambda, one data point per request unless noted. */
export const IngestMetric = {
  requests: "Requests",
  accepted: "Accepted",
  /** Bytes of accepted records as stored (NDJSON line or CBOR item). */
  acceptedBytes: "AcceptedBytes",
  /** 429 answers: the stage's or Firehose's throttling. */
  throttled: "Throttled",
  /** 5xx answers. */
  serverErrors: "ServerErrors",
  /** 4xx answers other than 429. */
  clientErrors: "ClientErrors",
  /** Every answer other than 2xx, with a `status` dimension (the HTTP status code). */
  rejected: "Rejected",
  /** PutRecord attempts that were retried. */
  deliveryRetries: "DeliveryRetries",
  /** Time from the first PutRecord attempt to Firehose's acknowledgement. */
  deliveryLatency: "DeliveryLatency",
} as const;

/** Emitted by the provisioner Lambda. */
export const ProvisionerMetric = {
  failures: "ProvisioningFailures",
  created: "DeliveryStreamsCreated",
  updated: "DeliveryStreamsUpdated",
  deleted: "DeliveryStreamsDeleted",
} as const;

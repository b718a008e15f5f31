/**
 * The Streaming Ingest TypeScript client: `import { IngestClient } from "streaming-ingest/client"`.
 * It has no dependencies beyond Node's built-ins and does not import the server's code.
 */
export {
  BATCH_PATH,
  DATA_PATH,
  type IngestRecord,
  MAX_BATCH_BYTES,
  MAX_BATCH_RECORDS,
} from "./body.js";
export {
  type BatchResult,
  IngestClient,
  type IngestClientOptions,
  type RetryEvent,
  type SendOptions,
  type SendResult,
} from "./client.js";
export {
  type IngestBatchLineError,
  type IngestBatchProgress,
  IngestError,
  IngestRejectedError,
  IngestTimeoutError,
  IngestUnavailableError,
} from "./errors.js";
export {
  DEFAULT_RETRY,
  isRetryableStatus,
  parseRetryAfter,
  RETRYABLE_STATUSES,
  type RetryPolicy,
} from "./retry.js";

/** Limits and defaults of the ingest contract, shared by both runtimes. */

/** Largest decoded request body, in bytes (254 KiB). */
export const MAX_RECORD_BYTES = 260_096;

/**
 * Largest body accepted on the wire when a Content-Encoding is used. A gzip stream of incompressible data
 * is a few hundred bytes longer than its content, so twice the decoded limit never refuses a real record.
 */
export const MAX_ENCODED_BODY_BYTES = 2 * MAX_RECORD_BYTES;

/** Deepest nesting of arrays/objects (JSON) or elements (XML) that a record may have. */
export const MAX_NESTING_DEPTH = 64;

/** Stream ids: `is-` and eight ASCII letters or digits. */
export const STREAM_ID_PATTERN = /^is-[A-Za-z0-9]{8}$/;

/** The data path prefix; the stream id follows it. */
export const DATA_PATH_PREFIX = "/stream/v0/data/";

/** Seconds a client is told to wait (Retry-After) when a dependency is unavailable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/** The batch path prefix; the stream id follows it. Takes an NDJSON body of JSON records, all-or-nothing. */
export const BATCH_PATH_PREFIX = "/stream/v0/batch/";

/** Most records (non-blank NDJSON lines) one batch request may hold. */
export const MAX_BATCH_RECORDS = 500;

/** Largest decoded batch body, in bytes (4 MiB). Each line is also held to MAX_RECORD_BYTES. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** Most bad lines a 400 `invalid_batch` lists; the message says how many more there were. */
export const MAX_LISTED_BATCH_ERRORS = 100;

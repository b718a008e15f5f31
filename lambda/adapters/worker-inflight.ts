/**
 * In-flight folders of cluster workers (`ingest serve --workers N`): each worker process writes its open
 * batches under `<root>/.inflight/@worker-<pid>/<tenant>/<stream-id>/`, so no two processes ever append to, seal
 * or recover the same file. `@` can never start a tenant name ([a-z0-9] first), so these folders never pass
 * for a tenant's, and the pid says which process owns one (a folder whose process is gone is recovered).
 */
import type { StreamRecord } from "../core/types.js";

/** Prefix of a worker's folder inside `.inflight`. */
export const WORKER_INFLIGHT_PREFIX = "@worker-";

/** What a FileSink needs to run as one worker of several. */
export interface FileSinkWorker {
  /** The worker's id (its pid): its folder is `.inflight/@worker-<id>`. [0-9] only, 1–10 digits. */
  readonly id: string;
  /**
   * Reserves the stream's next batch number, shared by every worker (the primary process hands them out and
   * makes each durable before answering), so batches of one stream never share a number.
   */
  reserveSequence(stream: Pick<StreamRecord, "id" | "tenant">): Promise<number>;
}

const WORKER_ID_PATTERN = /^[0-9]{1,10}$/;

/** `@worker-<id>`; throws on an id that is not 1–10 digits. */
export function workerInflightDirName(id: string): string {
  if (!WORKER_ID_PATTERN.test(id)) {
    throw new TypeError(`a file-sink worker id must be 1-10 digits (a pid); got "${id}"`);
  }
  return `${WORKER_INFLIGHT_PREFIX}${id}`;
}

/** The worker id (pid) a folder name inside `.inflight` belongs to, or undefined when it is not a worker's. */
export function parseWorkerInflightDirName(name: string): number | undefined {
  if (!name.startsWith(WORKER_INFLIGHT_PREFIX)) {
    return undefined;
  }
  const id = name.slice(WORKER_INFLIGHT_PREFIX.length);
  return WORKER_ID_PATTERN.test(id) ? Number(id) : undefined;
}

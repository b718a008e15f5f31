/**
 * Batches waiting to be sealed. A job stays here until it succeeds, so a failed seal (disk error) leaves its
 * batch in-flight and is retried by the next sealDue/flush; a job never runs twice at once.
 */
import type { Logger } from "../core/ports.js";
import type { SealOutcome } from "./batch-sealer.js";
import { errorCode } from "./sink-fs.js";

interface SealJob {
  readonly streamId: string;
  readonly seal: () => Promise<SealOutcome>;
  running: Promise<SealOutcome | undefined> | undefined;
}

export class SealJobs {
  private readonly jobs = new Set<SealJob>();

  constructor(private readonly logger: Logger) {}

  /** Number of batches not sealed yet (running or waiting for a retry). */
  get size(): number {
    return this.jobs.size;
  }

  /** Adds a job; `startNow` runs it in the background at once (a batch that just filled up). */
  add(streamId: string, seal: () => Promise<SealOutcome>, startNow: boolean): void {
    const job: SealJob = { streamId, seal, running: undefined };
    this.jobs.add(job);
    if (startNow) {
      void this.start(job);
    }
  }

  /** Runs every waiting job and joins the running ones; resolves to the outcomes of those that succeeded. */
  async runAll(): Promise<SealOutcome[]> {
    const outcomes = await Promise.all([...this.jobs].map((job) => this.start(job)));
    return outcomes.filter((outcome): outcome is SealOutcome => outcome !== undefined);
  }

  private start(job: SealJob): Promise<SealOutcome | undefined> {
    job.running ??= job.seal().then(
      (outcome) => {
        this.jobs.delete(job);
        if (outcome.kind !== "empty") {
          this.logger.info("file sink: batch sealed", { streamId: job.streamId, key: outcome.key });
        }
        return outcome;
      },
      (error: unknown) => {
        job.running = undefined;
        this.logger.error("file sink: could not seal batch; it stays in-flight and is retried", {
          streamId: job.streamId,
          code: errorCode(error),
        });
        return undefined;
      },
    );
    return job.running;
  }
}

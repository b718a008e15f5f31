/**
 * The small interfaces the delivery provisioner and the deferred deletions need from their runtime: metrics,
 * the time left in the invocation, and a sleep. The Lambda entry implements them.
 */

/** Counters of the provisioner (the Lambda entry maps them to CloudWatch metrics). */
export interface ProvisioningMetrics {
  /** A stream event or deletion message that could not be handled (retried, or needs an admin). */
  failed(): void;
  created(count: number): void;
  updated(count: number): void;
  deleted(count: number): void;
}

/** The time left to finish the current piece of work (a Lambda invocation). */
export interface Deadline {
  remainingTimeMs(): number;
}

/** Waits `ms` milliseconds; injectable so tests never wait. */
export type Sleep = (ms: number) => Promise<void>;

/** A sleep on a real timer (the Lambda's). */
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

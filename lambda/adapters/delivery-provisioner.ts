/**
 * The delivery provisioner: carries out the plan for one change of a stream item — creates or updates its
 * Firehose delivery streams, retires those no longer wanted, and writes the delivery status back on the item.
 */
import type { Clock, Logger } from "../core/ports.js";
import type { DeletionScheduler } from "./deferred-deletions.js";
import { planStreamChange, type StreamChange, type StreamChangePlan } from "./delivery-plan.js";
import type { DeliveryStatusStore } from "./delivery-status-store.js";
import { DeliverySetupError, type DeliveryStreams } from "./delivery-streams.js";
import type { Deadline, ProvisioningMetrics } from "./provisioning-ports.js";

/** What the provisioner works with; the Lambda assembly creates each once per container. */
export interface DeliveryProvisionerDeps {
  readonly streams: DeliveryStreams;
  readonly store: DeliveryStatusStore;
  readonly deletions: DeletionScheduler;
  /** Name prefix of this stack's delivery streams. */
  readonly prefix: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ProvisioningMetrics;
}

type ApplyPlan = Extract<StreamChangePlan, { kind: "apply" }>;
type RejectPlan = Extract<StreamChangePlan, { kind: "reject" }>;

/** Applies stream changes to Firehose and records the outcome on the stream item. */
export class DeliveryProvisioner {
  constructor(private readonly deps: DeliveryProvisionerDeps) {}

  /**
   * Handles one change. Resolves when the change is done with — applied, or recorded as FAILED because only an
   * admin can fix it; rejects when it must be retried (a transient error, or delivery streams not yet ACTIVE
   * within the deadline). Every step is idempotent, so a retry resumes where this attempt stopped.
   */
  async handle(change: StreamChange, deadline: Deadline): Promise<void> {
    const plan = planStreamChange(change, this.deps.prefix);
    try {
      await this.carryOut(plan, deadline);
    } catch (error) {
      this.deps.metrics.failed();
      this.deps.logger.error("stream change failed; it will be retried", {
        streamId: change.streamId,
        action: plan.kind,
        outcome: error instanceof Error ? `${error.name}: ${error.message}` : "error",
      });
      throw error;
    }
  }

  private async carryOut(plan: StreamChangePlan, deadline: Deadline): Promise<void> {
    switch (plan.kind) {
      case "skip":
        this.deps.logger.info("stream change needs nothing", {
          streamId: plan.streamId,
          action: "skip",
          outcome: plan.reason,
        });
        return;
      case "reject":
        return this.reject(plan);
      case "retire":
        return this.deps.deletions.schedule(plan.retirement);
      case "apply":
        return this.apply(plan, deadline);
    }
  }

  /** An item nobody can provision as it is: recorded as FAILED for the admin, never retried. */
  private async reject(plan: RejectPlan): Promise<void> {
    this.deps.metrics.failed();
    this.deps.logger.error("stream item cannot be provisioned", {
      streamId: plan.streamId,
      action: "reject",
      problem: plan.problem,
      outcome: "FAILED",
    });
    if (plan.recordFailure) await this.deps.store.markFailed(plan.streamId, plan.problem, this.now());
  }

  private async apply(plan: ApplyPlan, deadline: Deadline): Promise<void> {
    const { store, streams, logger, metrics } = this.deps;
    const streamId = plan.stream.id;
    const fields = { streamId, action: "apply", deliveryStreams: plan.deliveryStreams };
    // An ACTIVE stream keeps serving through its current delivery streams while shards or settings change.
    if (plan.markCreating && !(await store.markCreating(streamId, this.now()))) {
      logger.info("stream deleted meanwhile; its removal retires the delivery streams", {
        ...fields,
        outcome: "gone",
      });
      return;
    }
    try {
      await streams.converge(plan.stream, plan.deliveryStreams, deadline);
    } catch (error) {
      if (!(error instanceof DeliverySetupError)) throw error;
      metrics.failed();
      logger.error("delivery streams cannot be provisioned; an admin must act", {
        ...fields,
        problem: error.message,
        outcome: "FAILED",
      });
      await store.markFailed(streamId, error.message, this.now());
      return;
    }
    if (plan.retirement !== undefined) await this.deps.deletions.schedule(plan.retirement);
    const recorded = await store.markActive(streamId, plan.deliveryStreams, plan.fingerprint, this.now());
    logger.info("delivery streams active", { ...fields, outcome: recorded ? "ACTIVE" : "gone" });
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }
}

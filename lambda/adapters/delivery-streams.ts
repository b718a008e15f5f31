/**
 * Firehose work of the provisioner: bring a stream's delivery streams to their desired settings and wait until
 * they are ACTIVE, and delete a retired one. Every step is idempotent, so a retried event converges.
 */
import {
  CreateDeliveryStreamCommand,
  DeleteDeliveryStreamCommand,
  type DeliveryStreamDescription,
  DescribeDeliveryStreamCommand,
  type FirehoseClient,
  UpdateDestinationCommand,
} from "@aws-sdk/client-firehose";
import type { Logger } from "../core/ports.js";
import type { StreamRecord } from "../core/types.js";
import { awsErrorName } from "./aws-errors.js";
import {
  createDeliveryStreamInput,
  type DeliveryTarget,
  type DesiredDestination,
  desiredDestination,
  destinationDifferences,
  updateDestinationInput,
} from "./delivery-stream-config.js";
import type { Deadline, ProvisioningMetrics, Sleep } from "./provisioning-ports.js";

/** Polling of DescribeDeliveryStream while delivery streams are not ACTIVE: 2 s, doubling, at most 10 s. */
export const FIRST_POLL_MS = 2_000;
export const MAX_POLL_MS = 10_000;
/** Time kept free at the end of an invocation to record the outcome and answer the event source. */
export const RESERVED_MS = 15_000;

/** A problem only a person can fix (settings, quota, permissions); retrying the same event cannot help. */
export class DeliverySetupError extends Error {
  constructor(
    readonly deliveryStream: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "DeliverySetupError";
  }
}

/** Delivery streams not ACTIVE within the invocation's time; the event is retried and resumes. */
export class DeliveryNotReadyError extends Error {
  constructor(readonly pending: readonly string[]) {
    super(`delivery streams not ACTIVE in time: ${pending.join(", ")}`);
    this.name = "DeliveryNotReadyError";
  }
}

/** Where one delivery stream stands after a step. */
type StepOutcome = "active" | "pending";

/** This stack's delivery streams in Firehose: converge to desired settings, delete when retired. */
export class DeliveryStreams {
  constructor(
    private readonly firehose: FirehoseClient,
    private readonly target: DeliveryTarget,
    private readonly metrics: ProvisioningMetrics,
    private readonly logger: Logger,
    private readonly sleep: Sleep,
  ) {}

  /**
   * Creates missing delivery streams and updates those whose destination differs, then waits until all of
   * `names` are ACTIVE. Rejects with DeliverySetupError when a person must act, DeliveryNotReadyError when the
   * deadline comes first, and with the SDK's error for anything transient.
   */
  async converge(stream: StreamRecord, names: readonly string[], deadline: Deadline): Promise<void> {
    const desired = desiredDestination(stream, this.target);
    const pending = new Set(names);
    let delay = FIRST_POLL_MS;
    for (;;) {
      for (const name of [...pending]) {
        if ((await this.step(stream, name, desired)) === "active") pending.delete(name);
      }
      if (pending.size === 0) return;
      if (deadline.remainingTimeMs() - RESERVED_MS < delay) throw new DeliveryNotReadyError([...pending]);
      await this.sleep(delay);
      delay = Math.min(2 * delay, MAX_POLL_MS);
    }
  }

  /** Deletes a delivery stream; "absent" when it does not exist (already deleted counts as done). */
  async delete(name: string): Promise<"deleted" | "absent"> {
    try {
      await this.firehose.send(
        new DeleteDeliveryStreamCommand({ DeliveryStreamName: name, AllowForceDelete: false }),
      );
      return "deleted";
    } catch (error) {
      if (awsErrorName(error) === "ResourceNotFoundException") return "absent";
      throw error;
    }
  }

  /** Describes one delivery stream and does the one thing it needs next. */
  private async step(stream: StreamRecord, name: string, desired: DesiredDestination): Promise<StepOutcome> {
    let description: DeliveryStreamDescription | undefined;
    try {
      ({ DeliveryStreamDescription: description } = await this.firehose.send(
        new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }),
      ));
    } catch (error) {
      if (awsErrorName(error) !== "ResourceNotFoundException") throw setupErrorOr(error, name, "describe");
      await this.create(stream, name);
      return "pending";
    }
    const status = description?.DeliveryStreamStatus;
    if (description === undefined || status === "CREATING_FAILED" || status === "DELETING_FAILED") {
      const failure = description?.FailureDescription;
      const reason = failure === undefined ? "no reason given" : `${failure.Type}: ${failure.Details}`;
      throw new DeliverySetupError(
        name,
        `delivery stream ${name} is ${status ?? "undescribed"} (${reason}); delete it in the Firehose console, then edit the stream record to retry`,
      );
    }
    // CREATING, DELETING (a retired stream wanted again: re-created once gone), or a status new to this code.
    if (status !== "ACTIVE") return "pending";
    await this.updateIfChanged(stream.id, description, desired);
    return "active";
  }

  private async create(stream: StreamRecord, name: string): Promise<void> {
    try {
      await this.firehose.send(
        new CreateDeliveryStreamCommand(createDeliveryStreamInput(stream, this.target, name)),
      );
    } catch (error) {
      // Another attempt (a retried event) created it meanwhile: the next Describe sees it.
      if (awsErrorName(error) === "ResourceInUseException") return;
      throw setupErrorOr(error, name, "create");
    }
    this.metrics.created(1);
    this.logger.info("delivery stream created", {
      streamId: stream.id,
      action: "create",
      deliveryStreams: [name],
      outcome: "creating",
    });
  }

  /** UpdateDestination applies at once (the stream stays ACTIVE), so an updated stream is done. */
  private async updateIfChanged(
    streamId: string,
    description: DeliveryStreamDescription,
    desired: DesiredDestination,
  ): Promise<void> {
    const name = description.DeliveryStreamName ?? "?";
    const destination = description.Destinations?.[0];
    const current = destination?.ExtendedS3DestinationDescription;
    if (
      description.DeliveryStreamType !== "DirectPut" ||
      destination?.DestinationId === undefined ||
      !current
    ) {
      throw new DeliverySetupError(
        name,
        `delivery stream ${name} exists but is not a Direct PUT stream to S3 as this stack creates; delete it in the Firehose console, then edit the stream record to retry`,
      );
    }
    const differences = destinationDifferences(current, desired);
    if (differences.length === 0) return;
    try {
      await this.firehose.send(
        new UpdateDestinationCommand(updateDestinationInput(description, destination.DestinationId, desired)),
      );
    } catch (error) {
      throw setupErrorOr(error, name, "update");
    }
    this.metrics.updated(1);
    this.logger.info("delivery stream updated", {
      streamId,
      action: "update",
      deliveryStreams: [name],
      changed: differences,
      outcome: "updated",
    });
  }
}

/**
 * Firehose errors that only a person can fix, each with the fix. Everything else (throttling, 5xx, network,
 * ResourceInUse or ConcurrentModification during an update, timeouts) is transient and retried.
 */
const SETUP_PROBLEMS: Readonly<Record<string, (name: string, action: string, detail: string) => string>> = {
  InvalidArgumentException: (name, action, detail) =>
    `Firehose refused to ${action} delivery stream ${name}: ${detail}; fix the stream's delivery settings or the stack's delivery configuration, then edit the stream record to retry`,
  LimitExceededException: (name, action, detail) =>
    `cannot ${action} delivery stream ${name}: the account's quota of Firehose delivery streams in this region is reached (${detail}); request a higher "Delivery streams per Region" quota in Service Quotas or remove unused streams or shards, then edit the stream record to retry`,
  AccessDeniedException: (name, action, detail) =>
    `the provisioner may not ${action} delivery stream ${name} (${detail}); grant its role the Firehose actions on this stack's delivery streams and iam:PassRole on the delivery role, then edit the stream record to retry`,
  InvalidKMSResourceException: (name, action, detail) =>
    `Firehose cannot use the encryption key to ${action} delivery stream ${name} (${detail}); check the account's KMS settings for Firehose, then edit the stream record to retry`,
};

/** The DeliverySetupError for a non-retryable Firehose error, else the error itself. */
function setupErrorOr(error: unknown, name: string, action: string): unknown {
  const problem = SETUP_PROBLEMS[awsErrorName(error)];
  if (problem === undefined) return error;
  const detail = error instanceof Error && error.message !== "" ? error.message : awsErrorName(error);
  return new DeliverySetupError(name, problem(name, action, detail), { cause: error });
}

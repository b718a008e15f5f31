/**
 * An in-memory Firehose account behind aws-sdk-client-mock, for the provisioner tests: delivery streams are
 * CREATING for a few Describe calls, then ACTIVE; updates check the version id; errors are the SDK's own
 * exception types, injected per operation.
 */
import {
  ConcurrentModificationException,
  CreateDeliveryStreamCommand,
  type CreateDeliveryStreamInput,
  DeleteDeliveryStreamCommand,
  type DeliveryStreamStatus,
  DescribeDeliveryStreamCommand,
  type DescribeDeliveryStreamOutput,
  type ExtendedS3DestinationDescription,
  type FailureDescription,
  type FirehoseClient,
  FirehoseServiceException,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateDestinationCommand,
  type UpdateDestinationInput,
} from "@aws-sdk/client-firehose";
import type { AwsClientStub } from "aws-sdk-client-mock";
import { ACCOUNT, REGION } from "../helpers/aws-events.js";

export const DESTINATION_ID = "destinationId-000000000001";

type Operation = "create" | "describe" | "update" | "delete";

/** An error to throw, or a function that does something first (e.g. a concurrent create) and returns it. */
type Failure = unknown | (() => unknown);

/** One delivery stream of the fake account. */
export interface FakeDeliveryStream {
  status: DeliveryStreamStatus;
  version: number;
  /** Describe calls still answered CREATING. */
  creatingDescribes: number;
  readonly type: "DirectPut" | "KinesisStreamAsSource";
  destination: ExtendedS3DestinationDescription;
  failure?: FailureDescription;
}

/** An error as the SDK raises it for a service error it has no class for (e.g. throttling, access denied). */
export function serviceError(name: string, message: string, fault: "client" | "server" = "client") {
  return new FirehoseServiceException({ name, $fault: fault, message, $metadata: { httpStatusCode: 400 } });
}

export class FakeFirehose {
  readonly streams = new Map<string, FakeDeliveryStream>();
  /** Describe calls a newly created delivery stream answers CREATING before ACTIVE. */
  creatingDescribes = 2;
  private readonly failures: { operation: Operation; name: string | undefined; error: Failure }[] = [];

  constructor(readonly stub: AwsClientStub<FirehoseClient>) {
    stub.on(DescribeDeliveryStreamCommand).callsFake(async (input: { DeliveryStreamName: string }) => {
      this.failIfAsked("describe", input.DeliveryStreamName);
      return this.describe(input.DeliveryStreamName);
    });
    stub.on(CreateDeliveryStreamCommand).callsFake(async (input: CreateDeliveryStreamInput) => {
      this.failIfAsked("create", input.DeliveryStreamName);
      const name = input.DeliveryStreamName ?? "";
      if (this.streams.has(name)) {
        throw new ResourceInUseException({
          message: `Firehose ${name} under account ${ACCOUNT} already exists.`,
          $metadata: {},
        });
      }
      this.seed(input, "CREATING");
      return { DeliveryStreamARN: arn(name) };
    });
    stub.on(UpdateDestinationCommand).callsFake(async (input: UpdateDestinationInput) => {
      this.failIfAsked("update", input.DeliveryStreamName);
      const stream = this.existing(input.DeliveryStreamName ?? "");
      if (input.CurrentDeliveryStreamVersionId !== String(stream.version)) {
        throw new ConcurrentModificationException({ message: "version id mismatch", $metadata: {} });
      }
      const update = input.ExtendedS3DestinationUpdate ?? {};
      stream.destination = { ...stream.destination, ...update } as ExtendedS3DestinationDescription;
      stream.version += 1;
      return {};
    });
    stub.on(DeleteDeliveryStreamCommand).callsFake(async (input: { DeliveryStreamName: string }) => {
      this.failIfAsked("delete", input.DeliveryStreamName);
      const stream = this.existing(input.DeliveryStreamName);
      if (stream.status === "CREATING") {
        throw new ResourceInUseException({
          message: `${input.DeliveryStreamName} is being created`,
          $metadata: {},
        });
      }
      this.streams.delete(input.DeliveryStreamName);
      return {};
    });
  }

  /** Makes the next call of `operation` (on delivery stream `name`, or any) fail with `error`. */
  failNext(operation: Operation, error: Failure, name?: string): void {
    this.failures.push({ operation, name, error });
  }

  /** Adds a delivery stream as CreateDeliveryStream with `input` would have (ACTIVE unless told). */
  seed(input: CreateDeliveryStreamInput, status: DeliveryStreamStatus = "ACTIVE"): FakeDeliveryStream {
    const { RoleARN = "", BucketARN = "", ...settings } = input.ExtendedS3DestinationConfiguration ?? {};
    const stream: FakeDeliveryStream = {
      status,
      version: 1,
      creatingDescribes: status === "CREATING" ? this.creatingDescribes : 0,
      type: "DirectPut",
      destination: {
        RoleARN,
        BucketARN,
        BufferingHints: undefined,
        CompressionFormat: undefined,
        EncryptionConfiguration: { NoEncryptionConfig: "NoEncryption" },
        ...settings,
      },
    };
    this.streams.set(input.DeliveryStreamName ?? "", stream);
    return stream;
  }

  /** Calls of one operation so far, by delivery stream name. */
  calls(operation: Operation): string[] {
    const inputs = {
      create: () => this.stub.commandCalls(CreateDeliveryStreamCommand).map((call) => call.args[0].input),
      describe: () => this.stub.commandCalls(DescribeDeliveryStreamCommand).map((call) => call.args[0].input),
      update: () => this.stub.commandCalls(UpdateDestinationCommand).map((call) => call.args[0].input),
      delete: () => this.stub.commandCalls(DeleteDeliveryStreamCommand).map((call) => call.args[0].input),
    }[operation]();
    return inputs.map((input) => input.DeliveryStreamName ?? "");
  }

  private describe(name: string): DescribeDeliveryStreamOutput {
    const stream = this.existing(name);
    if (stream.status === "CREATING" && stream.creatingDescribes-- <= 0) stream.status = "ACTIVE";
    return {
      DeliveryStreamDescription: {
        DeliveryStreamName: name,
        DeliveryStreamARN: arn(name),
        DeliveryStreamStatus: stream.status,
        ...(stream.failure === undefined ? {} : { FailureDescription: stream.failure }),
        DeliveryStreamEncryptionConfiguration: { KeyType: "AWS_OWNED_CMK", Status: "ENABLED" },
        DeliveryStreamType: stream.type,
        VersionId: String(stream.version),
        CreateTimestamp: new Date("2026-11-29T09:00:00.000Z"),
        Source: { DirectPutSourceDescription: { ThroughputHintInMBs: 5 } },
        Destinations: [
          { DestinationId: DESTINATION_ID, ExtendedS3DestinationDescription: stream.destination },
        ],
        HasMoreDestinations: false,
      },
    };
  }

  private existing(name: string): FakeDeliveryStream {
    const stream = this.streams.get(name);
    if (stream === undefined) {
      throw new ResourceNotFoundException({
        message: `Firehose ${name} under account ${ACCOUNT} not found.`,
        $metadata: { httpStatusCode: 400 },
      });
    }
    return stream;
  }

  private failIfAsked(operation: Operation, name: string | undefined): void {
    const index = this.failures.findIndex(
      (failure) => failure.operation === operation && (failure.name === undefined || failure.name === name),
    );
    if (index < 0) return;
    const error = this.failures.splice(index, 1)[0]?.error;
    throw typeof error === "function" ? error() : error;
  }
}

function arn(name: string): string {
  return `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/${name}`;
}

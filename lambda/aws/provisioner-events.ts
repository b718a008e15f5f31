/**
 * The provisioner's two event sources, translated: DynamoDB stream records of the streams table become
 * StreamChanges (handled strictly in order), SQS messages of the deletion queue become message bodies.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type {
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  AttributeValue as EventAttributeValue,
  SQSBatchResponse,
  SQSEvent,
} from "aws-lambda";
import type { StreamChange } from "../adapters/delivery-plan.js";
import type { Item } from "../adapters/registry-items.js";

/** The events the provisioner Lambda is subscribed to. */
export type ProvisionerEvent = DynamoDBStreamEvent | SQSEvent;

/** An event of the deletion queue (its records come from SQS). */
export function isQueueEvent(event: ProvisionerEvent): event is SQSEvent {
  return event.Records[0]?.eventSource === "aws:sqs";
}

/** An event of the streams table's DynamoDB stream. */
export function isStreamEvent(event: ProvisionerEvent): event is DynamoDBStreamEvent {
  return event.Records[0]?.eventSource === "aws:dynamodb";
}

/**
 * The change a stream record reports, or why it cannot be read. Numbers become plain numbers even beyond the
 * safe-integer range (the SDK would throw), so an out-of-range hand edit is reported by validation, not lost.
 */
export function toStreamChange(record: DynamoDBRecord): StreamChange | string {
  const { eventName, dynamodb } = record;
  if (eventName !== "INSERT" && eventName !== "MODIFY" && eventName !== "REMOVE") {
    return `unknown eventName ${JSON.stringify(eventName)}`;
  }
  const streamId = dynamodb?.Keys?.id?.S;
  if (streamId === undefined || streamId === "") return "the record has no string key id";
  const newItem = toItem(dynamodb?.NewImage);
  const oldItem = toItem(dynamodb?.OldImage);
  return {
    eventName,
    streamId,
    ...(newItem === undefined ? {} : { newItem }),
    ...(oldItem === undefined ? {} : { oldItem }),
  };
}

function toItem(image: Record<string, EventAttributeValue> | undefined): Item | undefined {
  if (image === undefined) return undefined;
  // The event's AttributeValue JSON is the DynamoDB wire format that the SDK's type describes too.
  return unmarshall(image as Record<string, AttributeValue>, { wrapNumbers: Number });
}

/**
 * Handles stream records strictly in order and stops at the first that fails: its sequence number is the only
 * failure reported, so the event source retries from it and changes of one item are never reordered.
 */
export async function handleStreamRecords(
  records: readonly DynamoDBRecord[],
  handle: (record: DynamoDBRecord) => Promise<void>,
): Promise<DynamoDBBatchResponse> {
  for (const record of records) {
    try {
      await handle(record);
    } catch {
      return { batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? "" }] };
    }
  }
  return { batchItemFailures: [] };
}

/** Handles each message (their order does not matter) and reports those to be received again. */
export async function handleQueueMessages(
  event: SQSEvent,
  handle: (body: string, messageId: string) => Promise<void>,
): Promise<SQSBatchResponse> {
  const failed: string[] = [];
  for (const message of event.Records) {
    try {
      await handle(message.body, message.messageId);
    } catch {
      failed.push(message.messageId);
    }
  }
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
}

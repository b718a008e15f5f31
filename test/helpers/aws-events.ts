/**
 * DynamoDB stream and SQS events exactly as Lambda hands them to the provisioner: stream records with
 * AttributeValue JSON images (NEW_AND_OLD_IMAGES), SQS records with receipt handle and attributes.
 */
import { createHash } from "node:crypto";
import { marshall } from "@aws-sdk/util-dynamodb";
import type {
  Context,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  AttributeValue as EventAttributeValue,
  SQSEvent,
  SQSRecord,
} from "aws-lambda";

export const REGION = "eu-west-1";
export const ACCOUNT = "123456789012";
export const STREAMS_TABLE = "StreamingIngest-Streams-1A2B3C";
export const TABLE_STREAM_ARN = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${STREAMS_TABLE}/stream/2026-11-29T10:00:00.000`;
export const DELETION_QUEUE_NAME = "StreamingIngest-DeliveryDeletions-9XYZ";
export const DELETION_QUEUE_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${DELETION_QUEUE_NAME}`;

/** An item as the document client writes it (plain values; sets as Set). */
export type ItemImage = Record<string, unknown>;

let sequence = 4_421_584_500_000_000_017_450_439_091n;
let counter = 0;

/** The AttributeValue JSON of an item, as the event carries it. */
export function image(item: ItemImage): Record<string, EventAttributeValue> {
  return marshall(item, { removeUndefinedValues: true }) as Record<string, EventAttributeValue>;
}

/** One stream record; sequence numbers grow across calls like a shard's. */
export function streamRecord(
  eventName: "INSERT" | "MODIFY" | "REMOVE",
  images: { readonly newItem?: ItemImage; readonly oldItem?: ItemImage },
  at: number = Date.UTC(2026, 10, 29, 10, 0, 0),
): DynamoDBRecord {
  const id = (images.newItem ?? images.oldItem)?.id;
  if (typeof id !== "string") throw new Error("a stream record needs an item with a string id");
  sequence += 100_000_000n;
  counter += 1;
  const NewImage = images.newItem === undefined ? undefined : image(images.newItem);
  const OldImage = images.oldItem === undefined ? undefined : image(images.oldItem);
  const Keys = { id: { S: id } };
  return {
    eventID: createHash("md5").update(`event-${counter}`).digest("hex"),
    eventName,
    eventVersion: "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: REGION,
    dynamodb: {
      // Whole seconds since the epoch, as DynamoDB Streams reports it.
      ApproximateCreationDateTime: Math.floor(at / 1000),
      Keys,
      ...(NewImage === undefined ? {} : { NewImage }),
      ...(OldImage === undefined ? {} : { OldImage }),
      SequenceNumber: sequence.toString(),
      SizeBytes: JSON.stringify({ Keys, NewImage, OldImage }).length,
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
    eventSourceARN: TABLE_STREAM_ARN,
  };
}

export const insertRecord = (newItem: ItemImage) => streamRecord("INSERT", { newItem });
export const modifyRecord = (oldItem: ItemImage, newItem: ItemImage) =>
  streamRecord("MODIFY", { oldItem, newItem });
export const removeRecord = (oldItem: ItemImage) => streamRecord("REMOVE", { oldItem });

export function streamEvent(...records: DynamoDBRecord[]): DynamoDBStreamEvent {
  return { Records: records };
}

/** One SQS message of the deletion queue, as the event source mapping delivers it. */
export function sqsRecord(
  body: string,
  receiveCount = 1,
  sentAt = Date.UTC(2026, 10, 29, 10, 0, 0),
): SQSRecord {
  counter += 1;
  const messageId = `${hex(`message-${counter}`, 8)}-${hex(`a${counter}`, 4)}-4${hex(`b${counter}`, 3)}-8${hex(`c${counter}`, 3)}-${hex(`d${counter}`, 12)}`;
  return {
    messageId,
    receiptHandle: `AQEB${Buffer.from(`receipt-${messageId}`).toString("base64")}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: String(sentAt),
      SenderId: "AROAEXAMPLEROLEID:StreamingIngest-Provisioner",
      ApproximateFirstReceiveTimestamp: String(sentAt + 5),
    },
    messageAttributes: {},
    md5OfBody: createHash("md5").update(body).digest("hex"),
    eventSource: "aws:sqs",
    eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:${DELETION_QUEUE_NAME}`,
    awsRegion: REGION,
  };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A provisioner Lambda context whose remaining time is given by `remainingMs` (e.g. from a fake clock). */
export function provisionerContext(remainingMs: () => number): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "StreamingIngest-ProvisionerFunction",
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:StreamingIngest-ProvisionerFunction`,
    memoryLimitInMB: "256",
    awsRequestId: "9f3c1a52-2b7e-4c1d-8e55-0a1b2c3d4e5f",
    logGroupName: "/aws/lambda/StreamingIngest-ProvisionerFunction",
    logStreamName: "2026/11/29/[$LATEST]fedcba9876543210",
    getRemainingTimeInMillis: remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function hex(seed: string, length: number): string {
  return createHash("sha1").update(seed).digest("hex").slice(0, length);
}

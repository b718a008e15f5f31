/**
 * The provisioner's reads and writes of the streams table: the delivery attributes it owns (`delivery_*`),
 * written only to items that still exist, and the delivery streams a stream currently lists.
 */
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { awsErrorName } from "./aws-errors.js";

/** What a stream item says about its delivery streams right now. */
export type ListedDeliveryStreams =
  | { readonly kind: "absent" }
  | {
      readonly kind: "listed";
      readonly deliveryStreams: readonly string[];
      readonly shards: number | undefined;
    }
  /** `delivery_streams` holds something other than a list of strings (a hand edit). */
  | { readonly kind: "unreadable" };

/** The streams table as the provisioner uses it; it never writes the attributes admins own. */
export class DeliveryStatusStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Marks the stream's delivery as being created. False when the item no longer exists. */
  markCreating(streamId: string, now: Date): Promise<boolean> {
    return this.update(streamId, {
      set: { delivery_status: "CREATING", delivery_updated_at: now.toISOString() },
      remove: ["delivery_error"],
    });
  }

  /** Records the applied delivery streams and settings: the stream serves. False when the item is gone. */
  markActive(
    streamId: string,
    deliveryStreams: readonly string[],
    fingerprint: string,
    now: Date,
  ): Promise<boolean> {
    return this.update(streamId, {
      set: {
        delivery_streams: [...deliveryStreams],
        delivery_status: "ACTIVE",
        delivery_applied: fingerprint,
        delivery_updated_at: now.toISOString(),
      },
      remove: ["delivery_error"],
    });
  }

  /** Records why the delivery cannot be provisioned (an admin must act). False when the item is gone. */
  markFailed(streamId: string, problem: string, now: Date): Promise<boolean> {
    return this.update(streamId, {
      set: { delivery_status: "FAILED", delivery_error: problem, delivery_updated_at: now.toISOString() },
      remove: [],
    });
  }

  /** The delivery streams the stream item lists now (consistent read). */
  async listed(streamId: string): Promise<ListedDeliveryStreams> {
    const { Item: item } = await this.client.send(
      new GetCommand({
        TableName: this.table,
        Key: { id: streamId },
        ConsistentRead: true,
        ProjectionExpression: "#streams, #shards",
        ExpressionAttributeNames: { "#streams": "delivery_streams", "#shards": "shards" },
      }),
    );
    if (item === undefined) return { kind: "absent" };
    const value: unknown = item.delivery_streams ?? [];
    const list = value instanceof Set ? [...value] : value;
    if (!Array.isArray(list) || !list.every((name) => typeof name === "string"))
      return { kind: "unreadable" };
    const shards = typeof item.shards === "number" && Number.isInteger(item.shards) ? item.shards : undefined;
    return { kind: "listed", deliveryStreams: list, shards };
  }

  /**
   * Sets and removes attributes of an existing item only: a stream deleted meanwhile stays deleted (its REMOVE
   * event retires the delivery streams), so ConditionalCheckFailed answers false.
   */
  private async update(
    streamId: string,
    change: { readonly set: Record<string, unknown>; readonly remove: readonly string[] },
  ): Promise<boolean> {
    const names: Record<string, string> = { "#id": "id" };
    const values: Record<string, unknown> = {};
    const sets = Object.entries(change.set).map(([name, value], i) => {
      names[`#s${i}`] = name;
      values[`:s${i}`] = value;
      return `#s${i} = :s${i}`;
    });
    const removes = change.remove.map((name, i) => {
      names[`#r${i}`] = name;
      return `#r${i}`;
    });
    const expression = `SET ${sets.join(", ")}${removes.length > 0 ? ` REMOVE ${removes.join(", ")}` : ""}`;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: streamId },
          UpdateExpression: expression,
          ConditionExpression: "attribute_exists(#id)",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (awsErrorName(error) === "ConditionalCheckFailedException") return false;
      throw error;
    }
  }
}

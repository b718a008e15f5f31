/** Admin writes and listings of streams and API keys (the `ingest` CLI and first-run set-up use these). */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { ApiKeyRecord, StreamRecord } from "../core/types.js";
import { awsErrorName } from "./aws-errors.js";
import type { RegistryTables } from "./dynamo-registry.js";
import {
  apiKeyFromItem,
  apiKeyToItem,
  InvalidItemError,
  type Item,
  streamFromItem,
  streamToItem,
} from "./registry-items.js";

/** Records that could be read, and the items that could not (hand-edited mistakes), each with its problem. */
export interface Listing<T> {
  readonly records: T[];
  readonly invalid: { readonly id: string; readonly problem: string }[];
}

/** A create whose id is already taken. */
export class AlreadyExistsError extends Error {
  constructor(id: string) {
    super(`${id} already exists`);
    this.name = "AlreadyExistsError";
  }
}

export class RegistryAdmin {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: RegistryTables,
  ) {}

  async createStream(stream: StreamRecord): Promise<void> {
    await this.putNew(this.tables.streams, streamToItem(stream));
  }

  /**
   * Writes the admin-owned attributes of an existing stream (the caller read it first and changed what it meant
   * to). The delivery attributes the AWS provisioner writes (`delivery_*`) are left as they are, so an edit
   * never races with, or erases, the provisioner's status. Throws when the stream no longer exists.
   */
  async saveStream(stream: StreamRecord): Promise<void> {
    const { id, ...attributes } = streamToItem(stream);
    delete attributes.delivery_streams;
    delete attributes.delivery_status;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = Object.entries(attributes).map(([name, value], i) => {
      names[`#a${i}`] = name;
      values[`:v${i}`] = value;
      return `#a${i} = :v${i}`;
    });
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tables.streams,
          Key: { id },
          UpdateExpression: `SET ${sets.join(", ")}`,
          ConditionExpression: "attribute_exists(id)",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (awsErrorName(error) === "ConditionalCheckFailedException") {
        throw new Error(`stream ${String(id)} no longer exists`);
      }
      throw error;
    }
  }

  async getStream(id: string): Promise<StreamRecord | undefined> {
    const item = await this.getItem(this.tables.streams, id);
    return item === undefined ? undefined : streamFromItem(item);
  }

  async listStreams(tenant?: string): Promise<Listing<StreamRecord>> {
    return listing(await this.scan(this.tables.streams), streamFromItem, tenant);
  }

  /** Removes a stream's record; returns false when there was none. */
  async deleteStream(id: string): Promise<boolean> {
    return this.deleteItem(this.tables.streams, id);
  }

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    await this.putNew(this.tables.apiKeys, apiKeyToItem(key));
  }

  async saveApiKey(key: ApiKeyRecord): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tables.apiKeys, Item: apiKeyToItem(key) }));
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const item = await this.getItem(this.tables.apiKeys, id);
    return item === undefined ? undefined : apiKeyFromItem(item);
  }

  async listApiKeys(tenant?: string): Promise<Listing<ApiKeyRecord>> {
    return listing(await this.scan(this.tables.apiKeys), apiKeyFromItem, tenant);
  }

  private async putNew(table: string, item: Item): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({ TableName: table, Item: item, ConditionExpression: "attribute_not_exists(id)" }),
      );
    } catch (error) {
      if (awsErrorName(error) === "ConditionalCheckFailedException") {
        throw new AlreadyExistsError(String(item.id));
      }
      throw error;
    }
  }

  private async getItem(table: string, id: string): Promise<Item | undefined> {
    const output = await this.client.send(
      new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }),
    );
    return output.Item;
  }

  private async deleteItem(table: string, id: string): Promise<boolean> {
    const output = await this.client.send(
      new DeleteCommand({ TableName: table, Key: { id }, ReturnValues: "ALL_OLD" }),
    );
    return output.Attributes !== undefined;
  }

  private async scan(table: string): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const output = await this.client.send(
        new ScanCommand({ TableName: table, ExclusiveStartKey: startKey }),
      );
      items.push(...(output.Items ?? []));
      startKey = output.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }
}

/** Maps items to records (one tenant's, if given), oldest first; a broken item is listed, not fatal. */
function listing<T extends { tenant: string; createdAt: string }>(
  items: Item[],
  fromItem: (item: Item) => T,
  tenant: string | undefined,
): Listing<T> {
  const records: T[] = [];
  const invalid: { id: string; problem: string }[] = [];
  for (const item of items) {
    try {
      const record = fromItem(item);
      if (tenant === undefined || record.tenant === tenant) records.push(record);
    } catch (error) {
      if (!(error instanceof InvalidItemError)) throw error;
      if (tenant === undefined || item.tenant === tenant)
        invalid.push({ id: error.itemId, problem: error.message });
    }
  }
  records.sort((a, b) => a.tenant.localeCompare(b.tenant) || a.createdAt.localeCompare(b.createdAt));
  return { records, invalid };
}

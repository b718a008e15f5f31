/** The StreamRegistry port on DynamoDB: the same code reads the embedded store locally and DynamoDB on AWS. */
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { ServiceUnavailableError } from "../core/errors.js";
import type { Logger, StreamRegistry } from "../core/ports.js";
import type { ApiKeyRecord, StreamRecord } from "../core/types.js";
import { apiKeyFromItem, InvalidItemError, type Item, streamFromItem } from "./registry-items.js";

/** Table names. Locally fixed; on AWS given by the stack. */
export interface RegistryTables {
  readonly streams: string;
  readonly apiKeys: string;
  /** Idempotency-Keys (partition key `pk`): created with the others by the embedded store when named. */
  readonly idempotency?: string;
}

export const LOCAL_REGISTRY_TABLES: RegistryTables = {
  streams: "ingest-streams",
  apiKeys: "ingest-api-keys",
  idempotency: "ingest-idempotency",
};

/** Seconds a client waits before retrying a request that hit a broken registry item (an admin must fix it). */
const INVALID_ITEM_RETRY_AFTER_SECONDS = 30;

export class DynamoRegistry implements StreamRegistry {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: RegistryTables,
    private readonly logger: Logger,
  ) {}

  getStream(id: string): Promise<StreamRecord | undefined> {
    return this.read(this.tables.streams, id, streamFromItem);
  }

  getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.read(this.tables.apiKeys, id, apiKeyFromItem);
  }

  private async read<T>(table: string, id: string, fromItem: (item: Item) => T): Promise<T | undefined> {
    let item: Item | undefined;
    try {
      const output = await this.client.send(
        new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }),
      );
      item = output.Item;
    } catch (error) {
      throw new ServiceUnavailableError(
        "the stream registry is unavailable; retry shortly",
        1,
        "registry_unavailable",
        {
          cause: error,
        },
      );
    }
    if (item === undefined) return undefined;
    try {
      return fromItem(item);
    } catch (error) {
      if (!(error instanceof InvalidItemError)) throw error;
      // The item names the rule it breaks; logging it helps the admin and holds no record content.
      this.logger.error("invalid registry item", { table, id, problem: error.message });
      throw new ServiceUnavailableError(
        `${id} cannot be used: its registry record is invalid (${error.message}); an admin must fix it`,
        INVALID_ITEM_RETRY_AFTER_SECONDS,
        "registry_record_invalid",
      );
    }
  }
}

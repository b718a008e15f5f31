/**
 * The embedded registry: dynalite (the DynamoDB API on LevelDB files) started in this process on a loopback
 * port, so the runtime, the CLI and any DynamoDB tool speak the same API to the same store.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import dynalite from "dynalite";
import { Level } from "level";
import type { RegistryTables } from "../adapters/dynamo-registry.js";
import { boundedRequests } from "../adapters/request-bounds.js";

export interface EmbeddedRegistry {
  /** `http://127.0.0.1:<port>`: point any DynamoDB client here (any region, any credentials). */
  readonly endpoint: string;
  readonly client: DynamoDBDocumentClient;
  close(): Promise<void>;
}

/**
 * A document client for a registry endpoint: short timeouts, so a hung store becomes a 503 quickly
 * (`boundedRequests`: without throwOnRequestTimeout the SDK only logs a warning and waits forever).
 */
export function registryClient(
  endpoint: string,
  bounds: { readonly requestTimeoutMs?: number; readonly connectionTimeoutMs?: number } = {},
): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    endpoint,
    region: "local",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 2,
    requestHandler: boundedRequests(bounds.requestTimeoutMs ?? 2000, bounds.connectionTimeoutMs ?? 1000),
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** The store is held by another process (LevelDB allows one). */
export class RegistryLockedError extends Error {
  constructor(path: string, options?: ErrorOptions) {
    super(
      `the registry store at ${path} is in use by another process (a running server or ingest command); stop it or use its endpoint`,
      options,
    );
    this.name = "RegistryLockedError";
  }
}

/** Starts dynalite on `path`, listening on `host:port` (0 picks a free port), and creates missing tables. */
export async function startEmbeddedRegistry(
  path: string,
  tables: RegistryTables,
  host = "127.0.0.1",
  port = 0,
): Promise<EmbeddedRegistry> {
  await assertStoreFree(path);
  const server: Server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port: boundPort } = server.address() as AddressInfo;
  const endpoint = `http://${host}:${boundPort}`;
  const client = registryClient(endpoint);
  const close = () =>
    new Promise<void>((resolve) => {
      client.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  try {
    await ensureTables(client, tables);
  } catch (error) {
    await close();
    throw error;
  }
  return { endpoint, client, close };
}

/**
 * dynalite opens its LevelDB lazily and a lock failure surfaces as an unhandled error event that ends the
 * process, so the lock is probed first: open and close the store once.
 */
async function assertStoreFree(path: string): Promise<void> {
  const probe = new Level(path);
  try {
    await probe.open();
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    if (cause?.code === "LEVEL_LOCKED") throw new RegistryLockedError(path, { cause: error });
    throw error;
  } finally {
    await probe.close();
  }
}

/**
 * Creates the stream and API-key tables (key: `id`, a string) and, when named, the idempotency table (key: `pk`,
 * a string) if they do not exist.
 */
export async function ensureTables(client: DynamoDBDocumentClient, tables: RegistryTables): Promise<void> {
  const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
  const wanted: [string, string][] = [
    [tables.streams, "id"],
    [tables.apiKeys, "id"],
  ];
  if (tables.idempotency !== undefined) wanted.push([tables.idempotency, "pk"]);
  for (const [name, key] of wanted) {
    if (existing.has(name)) continue;
    await client.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: [{ AttributeName: key, AttributeType: "S" }],
        KeySchema: [{ AttributeName: key, KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  }
}

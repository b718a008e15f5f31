/** The DynamoDB registry adapters against the real embedded store (dynalite on LevelDB in a tmp dir). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { DynamoRegistry, LOCAL_REGISTRY_TABLES } from "../../lambda/adapters/dynamo-registry.js";
import { AlreadyExistsError, RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import { ServiceUnavailableError } from "../../lambda/core/errors.js";
import type { StreamRecord } from "../../lambda/core/types.js";
import {
  type EmbeddedRegistry,
  RegistryLockedError,
  registryClient,
  startEmbeddedRegistry,
} from "../../lambda/local/embedded-registry.js";
import { CollectingLogger } from "../helpers/local-runtime.js";

const stream: StreamRecord = {
  id: "is-Registr1",
  tenant: "acme",
  name: "orders",
  description: "d",
  payload: "json",
  status: "active",
  delivery: { bufferMiB: 2.5, bufferSeconds: 60, compression: "gzip", shards: 2 },
  rateLimitPerSecond: 100,
  rateLimitBurst: 200,
  createdAt: "2026-11-29T10:00:00.000Z",
  updatedAt: "2026-11-29T10:00:00.000Z",
  deliveryStreams: [],
};

describe("DynamoDB registry on the embedded store", () => {
  let dir: string;
  let store: EmbeddedRegistry;
  let admin: RegistryAdmin;
  let registry: DynamoRegistry;
  const logger = new CollectingLogger();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ingest-reg-"));
    store = await startEmbeddedRegistry(join(dir, "registry"), LOCAL_REGISTRY_TABLES);
    admin = new RegistryAdmin(store.client, LOCAL_REGISTRY_TABLES);
    registry = new DynamoRegistry(store.client, LOCAL_REGISTRY_TABLES, logger);
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("round-trips a stream and an API key through their items", async () => {
    await admin.createStream(stream);
    expect(await registry.getStream(stream.id)).toEqual(stream);
    const key = { id: "ik-Registr1", tenant: "acme", name: "k", status: "active" as const, createdAt: "x" };
    await admin.createApiKey(key);
    expect(await registry.getApiKey(key.id)).toEqual(key);
    expect(await registry.getStream("is-Missing0")).toBeUndefined();
  });

  it("refuses to create an id that exists", async () => {
    await expect(admin.createStream(stream)).rejects.toBeInstanceOf(AlreadyExistsError);
  });

  it("answers 503 registry_record_invalid for a hand-broken item, and lists it as invalid", async () => {
    await store.client.send(
      new PutCommand({
        TableName: LOCAL_REGISTRY_TABLES.streams,
        Item: { id: "is-Broken01", tenant: "acme", payload: "csv" },
      }),
    );
    const error = await registry.getStream("is-Broken01").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({ status: 503, code: "registry_record_invalid", retryAfterSeconds: 30 });
    const listing = await admin.listStreams("acme");
    expect(listing.records.map((s) => s.id)).toContain(stream.id);
    expect(listing.invalid).toEqual([{ id: "is-Broken01", problem: expect.stringContaining("payload") }]);
  });

  it("refuses a second process on the same store with a clear error", async () => {
    await expect(startEmbeddedRegistry(join(dir, "registry"), LOCAL_REGISTRY_TABLES)).rejects.toBeInstanceOf(
      RegistryLockedError,
    );
  });

  it("answers 503 registry_unavailable when the store does not answer", async () => {
    const client = registryClient("http://127.0.0.1:9"); // discard port: nothing listens
    const down = new DynamoRegistry(client, LOCAL_REGISTRY_TABLES, logger);
    await expect(down.getStream(stream.id)).rejects.toMatchObject({
      status: 503,
      code: "registry_unavailable",
    });
    client.destroy();
  });
});

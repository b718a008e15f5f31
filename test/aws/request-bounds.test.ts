/**
 * The Lambdas' SDK clients give up on a silent service: a DynamoDB endpoint that accepts the connection and
 * never answers ends as the registry's 503, not as a request hanging until the Lambda times out.
 */

import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoRegistry } from "../../lambda/adapters/dynamo-registry.js";
import { boundedRequests } from "../../lambda/adapters/request-bounds.js";
import { ServiceUnavailableError } from "../../lambda/core/errors.js";
import { CollectingLogger } from "../helpers/in-memory-ports.js";
import { rejectedWith } from "../helpers/thrown.js";

let silent: Server;
let endpoint: string;
const sockets: Socket[] = [];
let requestsSeen = 0;

beforeAll(async () => {
  // Reads the request and never answers, like a service that stopped responding mid-connection.
  silent = createServer((socket) => {
    sockets.push(socket);
    socket.on("data", () => {
      requestsSeen += 1;
    });
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

it("abandons a registry read that gets no answer and reports the registry unavailable", async () => {
  const client = new DynamoDBClient({
    endpoint,
    region: "eu-west-1",
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" },
    maxAttempts: 2,
    requestHandler: boundedRequests(150),
  });
  const registry = new DynamoRegistry(
    DynamoDBDocumentClient.from(client),
    { streams: "streams", apiKeys: "keys" },
    new CollectingLogger(),
  );
  const error = await rejectedWith(registry.getStream("is-Silent01"), ServiceUnavailableError);
  expect(error.code).toBe("registry_unavailable");
  expect(requestsSeen).toBeGreaterThanOrEqual(1);
  client.destroy();
});

/**
 * A loopback HTTP endpoint that answers the three services the ingest Lambda calls, in their JSON wire
 * protocols (DynamoDB: JSON 1.0, KMS and Firehose: JSON 1.1), from fixed in-memory data. Point the bundle's SDK
 * at it with AWS_ENDPOINT_URL_DYNAMODB / _KMS / _FIREHOSE. It answers at once: the benchmark measures the
 * Lambda's own work, not the services' latency.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { marshall } from "@aws-sdk/util-dynamodb";

export interface LoopbackAwsData {
  /** Table name → item id → item (plain values, as the document client returns them). */
  readonly tables: Readonly<Record<string, Readonly<Record<string, Record<string, unknown>>>>>;
  /** The KMS public key (SPKI, DER) returned for every key id. */
  readonly publicKeySpki: Uint8Array;
}

export interface LoopbackAws {
  readonly endpoint: string;
  /** Calls answered so far, by `X-Amz-Target`. */
  readonly calls: Map<string, number>;
  close(): Promise<void>;
}

class UnexpectedCallError extends Error {}

function answer(data: LoopbackAwsData, target: string, body: Record<string, unknown>): unknown {
  switch (target) {
    case "DynamoDB_20120810.GetItem": {
      const table = data.tables[String(body.TableName)];
      const key = (body.Key as { id?: { S?: string } } | undefined)?.id?.S;
      const item = table === undefined || key === undefined ? undefined : table[key];
      return item === undefined ? {} : { Item: marshall(item, { removeUndefinedValues: true }) };
    }
    case "TrentService.GetPublicKey":
      return {
        KeyId: body.KeyId,
        PublicKey: Buffer.from(data.publicKeySpki).toString("base64"),
        KeySpec: "ECC_NIST_P256",
        KeyUsage: "SIGN_VERIFY",
        SigningAlgorithms: ["ECDSA_SHA_256"],
      };
    case "Firehose_20150804.PutRecord":
      return { RecordId: "49546986683135544286507457936321625675700192471156785154", Encrypted: false };
    case "Firehose_20150804.PutRecordBatch": {
      const records = Array.isArray(body.Records) ? body.Records : [];
      return {
        FailedPutCount: 0,
        Encrypted: false,
        RequestResponses: records.map((_, index) => ({ RecordId: `bench-${index}` })),
      };
    }
    default:
      throw new UnexpectedCallError(`unexpected AWS call ${target}`);
  }
}

/** Starts the endpoint on 127.0.0.1 (any free port). */
export async function startLoopbackAws(data: LoopbackAwsData): Promise<LoopbackAws> {
  const calls = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"]);
      calls.set(target, (calls.get(target) ?? 0) + 1);
      const contentType = target.startsWith("DynamoDB")
        ? "application/x-amz-json-1.0"
        : "application/x-amz-json-1.1";
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
        const text = JSON.stringify(answer(data, target, body));
        res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
        res.end(text);
      } catch (error) {
        const text = JSON.stringify({ __type: "ValidationException", message: String(error) });
        res.writeHead(400, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
        res.end(text);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

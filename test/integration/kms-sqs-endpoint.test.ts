/**
 * The emulated KMS + SQS endpoint through the real SDK clients (GetPublicKey, SendMessage), the key files
 * behind it, and the SQS event source mapping (QueueConsumers) driven by an injected clock: delays, the SQS
 * event shape, batch item failures, visibility timeouts, the dead-letter list, and state kept across restarts.
 */
import { createHash, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetPublicKeyCommand, KMSClient, NotFoundException } from "@aws-sdk/client-kms";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { loadKmsJwks } from "../../lambda/adapters/kms-public-keys.js";
import { KmsKeyError } from "../../lambda/adapters/kms-signer.js";
import { KmsTokenVerifier } from "../../lambda/adapters/kms-token-verifier.js";
import { InsecureKeyFileError, KeyObjectSigner } from "../../lambda/adapters/local-signer.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import {
  EmulatedKmsKeys,
  EmulatedQueues,
  type KmsSqsEndpoint,
  QueueConsumers,
  type QueueSpec,
  startKmsSqsEndpoint,
} from "../../lambda/local/emulate-aws/kms-sqs-endpoint.js";
import { makeApiKey } from "../helpers/in-memory-ports.js";
import { CollectingLogger } from "../helpers/local-runtime.js";

const REGION = "eu-west-1";
const ACCOUNT = "123456789012";
const KEY_ID = "0b1c2d3e-4f50-4172-a394-a5b6c7d8e9f0";
const OTHER_KEY_ID = "9f8e7d6c-5b4a-4392-a817-0f1e2d3c4b5a";
const QUEUE_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/Emulated-Deletions`;
const QUEUE_SPEC: QueueSpec = { url: QUEUE_URL, visibilityTimeoutSeconds: 30, maxReceiveCount: 3 };
const CREDENTIALS = { accessKeyId: "AKIAEMULATEDTEST0001", secretAccessKey: "dummy-secret" };

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kms-sqs-endpoint-"));
  dirs.push(dir);
  return dir;
}

/** A clock the test moves. */
class TestClock {
  time = 1_800_000_000_000;
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<string, unknown>;
  md5OfBody: string;
  eventSource: string;
  eventSourceARN: string;
  awsRegion: string;
}

/** The queue's function: records the events, answers with the queued answers, then handles everything. */
class Recorder {
  readonly events: { Records: SqsRecord[] }[] = [];
  readonly answers: ((event: { Records: SqsRecord[] }) => unknown)[] = [];
  otherwise: (event: { Records: SqsRecord[] }) => unknown = () => ({ batchItemFailures: [] });
  readonly invoke = async (event: unknown): Promise<unknown> => {
    const copy = structuredClone(event) as { Records: SqsRecord[] };
    this.events.push(copy);
    return (this.answers.shift() ?? this.otherwise)(copy);
  };
  get records(): SqsRecord[] {
    return this.events.flatMap((e) => e.Records);
  }
}

interface Emulation {
  readonly dir: string;
  readonly keys: EmulatedKmsKeys;
  readonly queues: EmulatedQueues;
  readonly endpoint: KmsSqsEndpoint;
  readonly clock: TestClock;
  readonly logger: CollectingLogger;
  readonly kms: KMSClient;
  readonly sqs: SQSClient;
  readonly sent: string[];
}

async function start(dir = tempDir(), clock = new TestClock()): Promise<Emulation> {
  const logger = new CollectingLogger();
  const keys = await EmulatedKmsKeys.open(join(dir, "kms"), [KEY_ID, OTHER_KEY_ID], REGION, ACCOUNT);
  const queues = new EmulatedQueues(join(dir, "sqs"), [QUEUE_SPEC]);
  const sent: string[] = [];
  const endpoint = await startKmsSqsEndpoint({
    keys,
    queues,
    now: clock.now,
    onSend: (url) => sent.push(url),
    logger,
  });
  closers.push(() => endpoint.close());
  const kms = new KMSClient({ endpoint: endpoint.endpoint, region: REGION, credentials: CREDENTIALS });
  const sqs = new SQSClient({ endpoint: endpoint.endpoint, region: REGION, credentials: CREDENTIALS });
  closers.push(async () => {
    kms.destroy();
    sqs.destroy();
  });
  return { dir, keys, queues, endpoint, clock, logger, kms, sqs, sent };
}

function consumers(emulation: Emulation, recorder: Recorder, batchSize = 10): QueueConsumers {
  const queueConsumers = new QueueConsumers(
    emulation.queues,
    [{ url: QUEUE_URL, batchSize, invoke: recorder.invoke }],
    REGION,
    emulation.logger,
    emulation.clock.now,
  );
  closers.push(() => queueConsumers.close());
  return queueConsumers;
}

function privateKeyOf(keys: EmulatedKmsKeys, keyId: string): KeyObject {
  const key = keys.privateKey(keyId);
  if (key === undefined) throw new Error(`no key ${keyId}`);
  return key;
}

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error("expected a rejection, the call succeeded");
}

function spki(key: KeyObject): string {
  return createPublicKey(key).export({ format: "der", type: "spki" }).toString("base64");
}

function queueState(dir: string): {
  messages: unknown[];
  deadLetters: { messageId: string; body: string }[];
} {
  return JSON.parse(readFileSync(join(dir, "sqs", "Emulated-Deletions.json"), "utf8"));
}

describe("emulated KMS", () => {
  it("GetPublicKey answers by key id and by key ARN with an SPKI that verifies the private key's signatures", async () => {
    const { kms, keys } = await start();
    const data = Buffer.from("header.payload");
    const signature = sign("sha256", data, privateKeyOf(keys, KEY_ID));
    const byId = await kms.send(new GetPublicKeyCommand({ KeyId: KEY_ID }));
    const byArn = await kms.send(new GetPublicKeyCommand({ KeyId: keys.arn(KEY_ID) }));
    for (const answer of [byId, byArn]) {
      expect(answer).toMatchObject({
        KeyId: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${KEY_ID}`,
        KeySpec: "ECC_NIST_P256",
        KeyUsage: "SIGN_VERIFY",
        SigningAlgorithms: ["ECDSA_SHA_256"],
      });
      const publicKey = createPublicKey({
        key: Buffer.from(answer.PublicKey ?? new Uint8Array()),
        format: "der",
        type: "spki",
      });
      expect(verify("sha256", data, publicKey, signature)).toBe(true);
      expect(verify("sha256", Buffer.from("tampered"), publicKey, signature)).toBe(false);
    }
    // Each key has its own key pair.
    const other = await kms.send(new GetPublicKeyCommand({ KeyId: OTHER_KEY_ID }));
    expect(Buffer.from(other.PublicKey ?? new Uint8Array()).toString("base64")).not.toBe(
      Buffer.from(byId.PublicKey ?? new Uint8Array()).toString("base64"),
    );
  });

  it("serves the keys the Lambda's loader and KmsTokenVerifier use: a token signed with the private key verifies", async () => {
    const { kms, keys, logger } = await start();
    const arn = keys.arn(KEY_ID);
    const jwks = await loadKmsJwks(kms, [arn]);
    const publicJwk = createPublicKey(privateKeyOf(keys, KEY_ID)).export({ format: "jwk" });
    expect(jwks.keys).toEqual([
      { kty: "EC", crv: "P-256", x: publicJwk.x, y: publicJwk.y, kid: KEY_ID, alg: "ES256", use: "sig" },
    ]);

    const clock = { now: () => Date.now() };
    const verifier = new KmsTokenVerifier({
      kms,
      keyArns: [arn],
      issuer: "urn:test:issuer",
      audience: "streaming-ingest",
      clock,
      logger,
    });
    await verifier.ensureLoaded();
    const key = makeApiKey();
    const issued = await issueAccessToken({
      issuer: "urn:test:issuer",
      audience: "streaming-ingest",
      signer: new KeyObjectSigner(KEY_ID, privateKeyOf(keys, KEY_ID)),
      key,
      days: 1,
      clock,
    });
    expect(verifier.verify(issued.token)).toMatchObject({ keyId: key.id, tenant: key.tenant });
    // A token of the other key does not verify against this one.
    const forged = await issueAccessToken({
      issuer: "urn:test:issuer",
      audience: "streaming-ingest",
      signer: new KeyObjectSigner(KEY_ID, privateKeyOf(keys, OTHER_KEY_ID)),
      key,
      days: 1,
      clock,
    });
    expect(() => verifier.verify(forged.token)).toThrow();
  });

  it("answers NotFoundException for a key it does not have", async () => {
    const { kms, logger } = await start();
    const missing = "11111111-2222-4333-a444-555555555555";
    const error = await rejection(kms.send(new GetPublicKeyCommand({ KeyId: missing })));
    expect(error).toBeInstanceOf(NotFoundException);
    expect(error.name).toBe("NotFoundException");
    expect(error.message).toBe(`Key '${missing}' does not exist`);
    // The Lambda's loader explains it with the key's ARN.
    const loading = await rejection(loadKmsJwks(kms, [`arn:aws:kms:${REGION}:${ACCOUNT}:key/${missing}`]));
    expect(loading).toBeInstanceOf(KmsKeyError);
    expect(logger.lines.map((l) => JSON.parse(l))).toContainEqual({
      level: "warn",
      message: "emulated KMS/SQS refused a call",
      target: "TrentService.GetPublicKey",
      errorType: "NotFoundException",
    });
  });

  it("keeps its keys in private files: the same key pair after a restart", async () => {
    const dir = tempDir();
    const first = await EmulatedKmsKeys.open(join(dir, "kms"), [KEY_ID], REGION, ACCOUNT);
    const file = first.keyFile(KEY_ID);
    expect(file).toBe(join(dir, "kms", `${KEY_ID}.private.pem`));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = await EmulatedKmsKeys.open(join(dir, "kms"), [KEY_ID], REGION, ACCOUNT);
    expect(spki(privateKeyOf(second, KEY_ID))).toBe(spki(privateKeyOf(first, KEY_ID)));
    // And through the endpoint.
    const emulation = await start(dir);
    const answer = await emulation.kms.send(new GetPublicKeyCommand({ KeyId: KEY_ID }));
    expect(Buffer.from(answer.PublicKey ?? new Uint8Array()).toString("base64")).toBe(
      spki(privateKeyOf(first, KEY_ID)),
    );
    // A fresh directory gets another key.
    const elsewhere = await EmulatedKmsKeys.open(join(tempDir(), "kms"), [KEY_ID], REGION, ACCOUNT);
    expect(spki(privateKeyOf(elsewhere, KEY_ID))).not.toBe(spki(privateKeyOf(first, KEY_ID)));
  });

  it("refuses a key file others may read, and a key directory others may write", async () => {
    const dir = tempDir();
    const keys = await EmulatedKmsKeys.open(join(dir, "kms"), [KEY_ID], REGION, ACCOUNT);
    chmodSync(keys.keyFile(KEY_ID), 0o644);
    const error = await rejection(EmulatedKmsKeys.open(join(dir, "kms"), [KEY_ID], REGION, ACCOUNT));
    expect(error).toBeInstanceOf(InsecureKeyFileError);
    expect(error.message).toContain(`chmod 600 ${keys.keyFile(KEY_ID)}`);
    chmodSync(keys.keyFile(KEY_ID), 0o600);
    await EmulatedKmsKeys.open(join(dir, "kms"), [KEY_ID], REGION, ACCOUNT);
    chmodSync(join(dir, "kms"), 0o777);
    try {
      const dirError = await rejection(EmulatedKmsKeys.open(join(dir, "kms"), [KEY_ID], REGION, ACCOUNT));
      expect(dirError).toBeInstanceOf(InsecureKeyFileError);
      expect(dirError.message).toContain(`chmod 700 ${join(dir, "kms")}`);
    } finally {
      chmodSync(join(dir, "kms"), 0o700);
    }
  });
});

describe("emulated SQS", () => {
  it("SendMessage answers a message id and an MD5 of the body the SDK validates", async () => {
    const { sqs, queues, sent } = await start();
    const body = JSON.stringify({ stream: "is-Abc12345", note: "ünïcödé ✓" });
    const answer = await sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: body }));
    expect(answer.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.MD5OfMessageBody).toBe(createHash("md5").update(body, "utf8").digest("hex"));
    expect(queues.depth(QUEUE_URL)).toBe(1);
    expect(sent).toEqual([QUEUE_URL]);
  });

  it("(control) the SDK does reject a SendMessage answer whose MD5 is wrong", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
      res.end(JSON.stringify({ MessageId: "m-1", MD5OfMessageBody: "0".repeat(32) }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const sqs = new SQSClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: REGION,
      credentials: CREDENTIALS,
    });
    try {
      const error = await rejection(
        sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: "x" })),
      );
      expect(error.message).toBe("InvalidChecksumError");
    } finally {
      sqs.destroy();
    }
  });

  it("refuses an unknown queue", async () => {
    const { sqs, queues } = await start();
    const error = await rejection(
      sqs.send(
        new SendMessageCommand({
          QueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/Nope`,
          MessageBody: "x",
        }),
      ),
    );
    expect(error.name).toMatch(/QueueDoesNotExist/);
    expect(error.message).toBe("The specified queue does not exist.");
    expect(queues.depth(QUEUE_URL)).toBe(0);
  });

  it("refuses DelaySeconds over 900 and accepts 900", async () => {
    const { sqs, queues } = await start();
    const error = await rejection(
      sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: "x", DelaySeconds: 901 })),
    );
    expect(error.name).toMatch(/InvalidParameterValue/);
    expect(error.message).toBe("DelaySeconds must be 0 to 900.");
    expect(queues.depth(QUEUE_URL)).toBe(0);
    await sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: "x", DelaySeconds: 900 }));
    expect(queues.depth(QUEUE_URL)).toBe(1);
  });

  it("delivers a delayed message when its delay is over, not before, as an SQS event", async () => {
    const emulation = await start();
    const recorder = new Recorder();
    const consumer = consumers(emulation, recorder);
    const sentAt = emulation.clock.time;
    const { MessageId } = await emulation.sqs.send(
      new SendMessageCommand({
        QueueUrl: QUEUE_URL,
        MessageBody: '{"delete":"is-Abc12345"}',
        DelaySeconds: 60,
      }),
    );
    await consumer.deliverDue();
    emulation.clock.advance(59_999);
    await consumer.deliverDue();
    expect(recorder.events).toEqual([]);
    emulation.clock.advance(1);
    await consumer.deliverDue();
    expect(recorder.events).toEqual([
      {
        Records: [
          {
            messageId: MessageId,
            receiptHandle: expect.any(String),
            body: '{"delete":"is-Abc12345"}',
            attributes: {
              ApproximateReceiveCount: "1",
              SentTimestamp: String(sentAt),
              SenderId: expect.any(String),
              ApproximateFirstReceiveTimestamp: String(sentAt + 60_000),
            },
            messageAttributes: {},
            md5OfBody: createHash("md5").update('{"delete":"is-Abc12345"}').digest("hex"),
            eventSource: "aws:sqs",
            eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:Emulated-Deletions`,
            awsRegion: REGION,
          },
        ],
      },
    ]);
    // Handled: gone from the queue, not delivered again.
    expect(emulation.queues.depth(QUEUE_URL)).toBe(0);
    emulation.clock.advance(3_600_000);
    await consumer.deliverDue();
    expect(recorder.events).toHaveLength(1);
  });

  it("delivers in batches of the mapping's batch size", async () => {
    const emulation = await start();
    const recorder = new Recorder();
    for (const body of ["one", "two", "three"]) {
      await emulation.sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: body }));
    }
    await consumers(emulation, recorder, 2).deliverDue();
    expect(recorder.events.map((e) => e.Records.map((r) => r.body))).toEqual([["one", "two"], ["three"]]);
  });

  it("redelivers a failed message only after the visibility timeout, with its receive count", async () => {
    const emulation = await start();
    const recorder = new Recorder();
    const consumer = consumers(emulation, recorder);
    for (const body of ["fails", "works"]) {
      await emulation.sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: body }));
    }
    recorder.answers.push((event) => ({
      batchItemFailures: event.Records.filter((r) => r.body === "fails").map((r) => ({
        itemIdentifier: r.messageId,
      })),
    }));
    await consumer.deliverDue();
    expect(recorder.records.map((r) => r.body)).toEqual(["fails", "works"]);
    expect(emulation.queues.depth(QUEUE_URL)).toBe(1);
    emulation.clock.advance(29_999);
    await consumer.deliverDue();
    expect(recorder.events).toHaveLength(1);
    emulation.clock.advance(1);
    await consumer.deliverDue();
    expect(recorder.events).toHaveLength(2);
    const retry = recorder.events[1]?.Records ?? [];
    expect(retry.map((r) => [r.body, r.attributes.ApproximateReceiveCount])).toEqual([["fails", "2"]]);
    expect(retry[0]?.messageId).toBe(recorder.events[0]?.Records[0]?.messageId);
    expect(emulation.queues.depth(QUEUE_URL)).toBe(0);
  });

  it("redelivers the whole batch after the visibility timeout when the function throws", async () => {
    const emulation = await start();
    const recorder = new Recorder();
    const consumer = consumers(emulation, recorder);
    for (const body of ["a", "b"]) {
      await emulation.sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: body }));
    }
    recorder.answers.push(() => {
      throw new Error("function error");
    });
    await consumer.deliverDue();
    expect(emulation.queues.depth(QUEUE_URL)).toBe(2);
    emulation.clock.advance(30_000);
    await consumer.deliverDue();
    expect(recorder.events.map((e) => e.Records.map((r) => r.body))).toEqual([
      ["a", "b"],
      ["a", "b"],
    ]);
    expect(emulation.queues.depth(QUEUE_URL)).toBe(0);
  });

  // AWS treats a failure naming a message that is not in the batch as a failure of the whole batch.
  it("treats a batch item failure naming an unknown message as a failure of the whole batch", async () => {
    const emulation = await start();
    const recorder = new Recorder();
    const consumer = consumers(emulation, recorder);
    await emulation.sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: "kept" }));
    recorder.answers.push(() => ({ batchItemFailures: [{ itemIdentifier: "not-a-message-of-this-batch" }] }));
    await consumer.deliverDue();
    expect(emulation.queues.depth(QUEUE_URL)).toBe(1);
  });

  it("moves a message to the dead-letter list after maxReceiveCount receives, and logs it", async () => {
    const emulation = await start();
    const recorder = new Recorder();
    recorder.otherwise = (event) => ({
      batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })),
    });
    const consumer = consumers(emulation, recorder);
    const { MessageId } = await emulation.sqs.send(
      new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: "poison" }),
    );
    await consumer.deliverDue();
    const deadLetterLog = {
      level: "error",
      message: "emulated SQS moved messages to the dead-letter list",
      queue: "Emulated-Deletions",
      count: 1,
    };
    for (let receive = 2; receive <= 3; receive++) {
      expect(emulation.logger.lines.map((l) => JSON.parse(l))).not.toContainEqual(deadLetterLog);
      expect(queueState(emulation.dir).deadLetters).toEqual([]);
      emulation.clock.advance(30_000);
      await consumer.deliverDue();
    }
    expect(recorder.records.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(["1", "2", "3"]);
    expect(emulation.queues.depth(QUEUE_URL)).toBe(0);
    expect(queueState(emulation.dir).deadLetters).toEqual([
      expect.objectContaining({ messageId: MessageId, body: "poison", receiveCount: 3 }),
    ]);
    expect(emulation.logger.lines.map((l) => JSON.parse(l))).toContainEqual(deadLetterLog);
    emulation.clock.advance(3_600_000);
    await consumer.deliverDue();
    expect(recorder.events).toHaveLength(3);
  });

  it("keeps the queue's messages across a restart (a new EmulatedQueues on the same directory)", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const before = await start(dir, clock);
    const { MessageId } = await before.sqs.send(
      new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: "survives", DelaySeconds: 10 }),
    );
    const failing = new Recorder();
    await before.sqs.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: "in flight" }));
    failing.otherwise = (event) => ({
      batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })),
    });
    await consumers(before, failing).deliverDue();
    expect(failing.records.map((r) => r.body)).toEqual(["in flight"]);

    const queues = new EmulatedQueues(join(dir, "sqs"), [QUEUE_SPEC]);
    expect(queues.depth(QUEUE_URL)).toBe(2);
    const recorder = new Recorder();
    const after = new QueueConsumers(
      queues,
      [{ url: QUEUE_URL, batchSize: 10, invoke: recorder.invoke }],
      REGION,
      new CollectingLogger(),
      clock.now,
    );
    clock.advance(10_000);
    await after.deliverDue();
    expect(recorder.records.map((r) => [r.messageId, r.body])).toEqual([[MessageId, "survives"]]);
    clock.advance(20_000);
    await after.deliverDue();
    // The in-flight message kept its receive count and its invisibility.
    expect(recorder.records.map((r) => [r.body, r.attributes.ApproximateReceiveCount])).toEqual([
      ["survives", "1"],
      ["in flight", "2"],
    ]);
    expect(queues.depth(QUEUE_URL)).toBe(0);
  });
});

describe("the endpoint's protocol", () => {
  const call = (endpoint: string, target: string, body: string, headers: Record<string, string> = {}) =>
    fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target, ...headers },
      body,
    });

  it("refuses a request without an Authorization header", async () => {
    const { endpoint, logger } = await start();
    const body = JSON.stringify({ KeyId: KEY_ID });
    const refused = await call(endpoint.endpoint, "TrentService.GetPublicKey", body);
    expect(refused.status).toBe(400);
    expect(refused.headers.get("x-amzn-errortype")).toBe("MissingAuthenticationTokenException");
    expect(await refused.json()).toEqual({
      __type: "MissingAuthenticationTokenException",
      message: "Missing Authentication Token",
    });
    const sqsRefused = await call(
      endpoint.endpoint,
      "AmazonSQS.SendMessage",
      JSON.stringify({ QueueUrl: QUEUE_URL, MessageBody: "x" }),
    );
    expect(sqsRefused.status).toBe(400);
    expect(sqsRefused.headers.get("content-type")).toBe("application/x-amz-json-1.0");
    expect(logger.lines.map((l) => JSON.parse(l))).toContainEqual({
      level: "warn",
      message: "emulated KMS/SQS refused a call",
      target: "TrentService.GetPublicKey",
      errorType: "MissingAuthenticationTokenException",
    });
    // (control) the same request with any Authorization header is answered.
    const answered = await call(endpoint.endpoint, "TrentService.GetPublicKey", body, {
      authorization: "AWS4-HMAC-SHA256 Credential=any",
    });
    expect(answered.status).toBe(200);
  });

  it("answers an unknown operation and a malformed body with service errors", async () => {
    const { endpoint } = await start();
    const auth = { authorization: "AWS4-HMAC-SHA256 Credential=any" };
    const unknown = await call(endpoint.endpoint, "TrentService.Sign", "{}", auth);
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get("x-amzn-errortype")).toBe("UnknownOperationException");
    const malformed = await call(endpoint.endpoint, "TrentService.GetPublicKey", "{not json", auth);
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get("x-amzn-errortype")).toBe("SerializationException");
  });
});

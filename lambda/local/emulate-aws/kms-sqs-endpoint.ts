/**
 * KMS and SQS on one loopback endpoint, in their real wire protocols, for the emulated AWS build:
 *
 * - KMS (AWS JSON 1.1, `X-Amz-Target: TrentService.GetPublicKey`): the public half of each of the stack's token
 *   signing keys, which are local P-256 keys here (`EmulatedKmsKeys`). The ingest Lambda's real KMSClient loads
 *   them through `AWS_ENDPOINT_URL_KMS`, exactly as on AWS.
 * - SQS (AWS JSON 1.0, `X-Amz-Target: AmazonSQS.SendMessage`): the stack's queues, with DelaySeconds, each message
 *   kept in a state file until its consumer (an event source mapping of the template) has handled it.
 *   `QueueConsumers` delivers due messages to the function as SQS events and honours batch item failures: a
 *   failed message becomes visible again after the queue's visibility timeout and goes to the dead-letter list
 *   after `maxReceiveCount` receives.
 *
 * SigV4 signatures are not verified (any credentials do), but an Authorization header is required.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
} from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { assertPrivateDirectory, assertPrivateKeyFile } from "../../adapters/local-signer.js";
import { StateFile } from "../../adapters/sink-fs.js";
import type { Logger } from "../../core/ports.js";

type Json = Record<string, unknown>;

/**
 * The stack's KMS keys, each a local P-256 key file `<dir>/<key-id>.private.pem` (mode 0600, in a directory only
 * its owner may write), created on first use and refused, like the local signing keys, when others may read it.
 */
export class EmulatedKmsKeys {
  private constructor(
    private readonly dir: string,
    private readonly keys: ReadonlyMap<string, KeyObject>,
    private readonly region: string,
    private readonly account: string,
  ) {}

  static async open(
    dir: string,
    keyIds: Iterable<string>,
    region: string,
    account: string,
  ): Promise<EmulatedKmsKeys> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await assertPrivateDirectory(dir);
    const keys = new Map<string, KeyObject>();
    for (const keyId of keyIds) keys.set(keyId, await loadOrCreateKey(join(dir, `${keyId}.private.pem`)));
    return new EmulatedKmsKeys(dir, keys, region, account);
  }

  /** The file holding a key's private half. */
  keyFile(keyId: string): string {
    return join(this.dir, `${keyId}.private.pem`);
  }

  /** The private key of `keyId` (a key id, or a key ARN of this region and account), or undefined. */
  privateKey(keyIdOrArn: string): KeyObject | undefined {
    if (!keyIdOrArn.startsWith("arn:")) return this.keys.get(keyIdOrArn);
    const keyId = keyIdOrArn.slice(keyIdOrArn.lastIndexOf("/") + 1);
    return keyIdOrArn === this.arn(keyId) ? this.keys.get(keyId) : undefined;
  }

  arn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.account}:key/${keyId}`;
  }
}

async function loadOrCreateKey(file: string): Promise<KeyObject> {
  try {
    await assertPrivateKeyFile(file);
    return createPrivateKey(await readFile(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await writeFile(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
  return privateKey;
}

/** A queue of the stack. */
export interface QueueSpec {
  readonly url: string;
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message goes to the dead-letter list. @default unlimited */
  readonly maxReceiveCount?: number;
}

interface StoredMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5: string;
  readonly sentAt: number;
  visibleAt: number;
  receiveCount: number;
}

interface QueueState {
  messages: StoredMessage[];
  deadLetters: StoredMessage[];
}

/**
 * The stack's queues: messages in memory and in `<dir>/<queue-name>.json`, rewritten durably on every change
 * (a SendMessage is answered once its message is on disk).
 */
export class EmulatedQueues {
  private readonly queues = new Map<string, { spec: QueueSpec; state: QueueState; file: StateFile }>();

  constructor(dir: string, specs: readonly QueueSpec[]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const spec of specs) {
      const file = join(dir, `${spec.url.slice(spec.url.lastIndexOf("/") + 1)}.json`);
      let state: QueueState = { messages: [], deadLetters: [] };
      try {
        state = JSON.parse(readFileSync(file, "utf8")) as QueueState;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
      // The state object is kept (only its fields change), so the file renders it as it is at each save.
      const saved = state;
      this.queues.set(spec.url, {
        spec,
        state,
        file: new StateFile(file, () => JSON.stringify(saved), 0o600),
      });
    }
  }

  has(url: string): boolean {
    return this.queues.has(url);
  }

  async send(url: string, body: string, delaySeconds: number, now: number): Promise<StoredMessage> {
    const queue = this.queue(url);
    const message: StoredMessage = {
      messageId: randomUUID(),
      body,
      md5: createHash("md5").update(body, "utf8").digest("hex"),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    };
    queue.state.messages.push(message);
    await queue.file.save();
    return message;
  }

  /** Up to `max` visible messages, now invisible for the visibility timeout (their receive count goes up). */
  async receive(url: string, max: number, now: number): Promise<StoredMessage[]> {
    const queue = this.queue(url);
    const due = queue.state.messages.filter((m) => m.visibleAt <= now).slice(0, max);
    for (const message of due) {
      message.receiveCount++;
      message.visibleAt = now + queue.spec.visibilityTimeoutSeconds * 1000;
    }
    if (due.length > 0) await queue.file.save();
    return due;
  }

  /** Removes handled messages; failed ones past maxReceiveCount move to the dead-letter list. */
  async settle(url: string, handled: readonly string[], failed: readonly string[]): Promise<StoredMessage[]> {
    const queue = this.queue(url);
    const done = new Set(handled);
    const max = queue.spec.maxReceiveCount;
    const dead = queue.state.messages.filter(
      (m) => failed.includes(m.messageId) && max !== undefined && m.receiveCount >= max,
    );
    const gone = new Set([...done, ...dead.map((m) => m.messageId)]);
    queue.state.messages = queue.state.messages.filter((m) => !gone.has(m.messageId));
    queue.state.deadLetters.push(...dead);
    await queue.file.save();
    return dead;
  }

  /** Messages waiting (visible or not) in `url`. */
  depth(url: string): number {
    return this.queue(url).state.messages.length;
  }

  /** When the next message of `url` becomes visible, or undefined. */
  nextVisibleAt(url: string): number | undefined {
    const times = this.queue(url).state.messages.map((m) => m.visibleAt);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  private queue(url: string) {
    const queue = this.queues.get(url);
    if (queue === undefined) throw new Error(`no emulated queue ${url}`);
    return queue;
  }
}

/** A service error in the JSON protocols. */
class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface KmsSqsEndpoint {
  /** `http://127.0.0.1:<port>`: the endpoint override for KMS and SQS clients. */
  readonly endpoint: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

/** Starts the KMS + SQS endpoint on a free loopback port. */
export async function startKmsSqsEndpoint(options: {
  readonly keys: EmulatedKmsKeys;
  readonly queues: EmulatedQueues;
  readonly now?: () => number;
  /** Called after a message was sent (consumers check for work). */
  readonly onSend?: (queueUrl: string) => void;
  readonly logger: Logger;
}): Promise<KmsSqsEndpoint> {
  const now = options.now ?? Date.now;
  const answer = async (target: string, body: Json): Promise<Json> => {
    switch (target) {
      case "TrentService.GetPublicKey": {
        const keyId = String(body.KeyId ?? "");
        const key = options.keys.privateKey(keyId);
        if (key === undefined) throw new ServiceError("NotFoundException", `Key '${keyId}' does not exist`);
        const id = keyId.slice(keyId.lastIndexOf("/") + 1);
        return {
          KeyId: options.keys.arn(id),
          PublicKey: createPublicKey(key).export({ format: "der", type: "spki" }).toString("base64"),
          KeySpec: "ECC_NIST_P256",
          CustomerMasterKeySpec: "ECC_NIST_P256",
          KeyUsage: "SIGN_VERIFY",
          SigningAlgorithms: ["ECDSA_SHA_256"],
        };
      }
      case "AmazonSQS.SendMessage": {
        const url = String(body.QueueUrl ?? "");
        if (!options.queues.has(url)) {
          throw new ServiceError(
            "com.amazonaws.sqs#QueueDoesNotExist",
            "The specified queue does not exist.",
          );
        }
        const delay = body.DelaySeconds === undefined ? 0 : Number(body.DelaySeconds);
        if (!Number.isInteger(delay) || delay < 0 || delay > 900) {
          throw new ServiceError("com.amazonaws.sqs#InvalidParameterValue", "DelaySeconds must be 0 to 900.");
        }
        const message = await options.queues.send(url, String(body.MessageBody ?? ""), delay, now());
        options.onSend?.(url);
        return { MessageId: message.messageId, MD5OfMessageBody: message.md5 };
      }
      default:
        throw new ServiceError("UnknownOperationException", `the emulation does not answer ${target}`);
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", async () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      const contentType = target.startsWith("AmazonSQS.")
        ? "application/x-amz-json-1.0"
        : "application/x-amz-json-1.1";
      try {
        if (req.headers.authorization === undefined) {
          throw new ServiceError("MissingAuthenticationTokenException", "Missing Authentication Token");
        }
        if (size > MAX_BODY_BYTES) throw new ServiceError("ValidationException", "request too large");
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Json;
        const result = await answer(target, body);
        res.writeHead(200, { "content-type": contentType, "x-amzn-requestid": randomUUID() });
        res.end(JSON.stringify(result));
      } catch (error) {
        const e =
          error instanceof ServiceError
            ? error
            : error instanceof SyntaxError
              ? new ServiceError("SerializationException", "malformed request body")
              : new ServiceError("InternalFailure", "the emulation could not store the change", 500);
        options.logger.warn("emulated KMS/SQS refused a call", { target, errorType: e.type });
        res.writeHead(e.status, {
          "content-type": contentType,
          "x-amzn-errortype": e.type,
          "x-amzn-requestid": randomUUID(),
        });
        res.end(JSON.stringify({ __type: e.type, message: e.message }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Invokes a function with an event; rejects when the invocation fails. */
export type InvokeFunction = (event: unknown) => Promise<unknown>;

/**
 * SQS event source mappings: delivers visible messages of each queue to its function in batches, as the
 * Lambda service's pollers do, and settles them by the batch item failures the function reports.
 */
export class QueueConsumers {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly queues: EmulatedQueues,
    private readonly consumers: readonly {
      readonly url: string;
      readonly batchSize: number;
      readonly invoke: InvokeFunction;
    }[],
    private readonly region: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Polls every `everyMs` (real time). */
  start(everyMs = 1000): void {
    this.timer = setInterval(() => void this.deliverDue(), everyMs);
    this.timer.unref();
  }

  /** Delivers every message visible now; resolves when their batches are settled. */
  deliverDue(): Promise<void> {
    this.running ??= this.deliverAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
  }

  private async deliverAll(): Promise<void> {
    for (const consumer of this.consumers) {
      for (;;) {
        const batch = await this.queues.receive(consumer.url, consumer.batchSize, this.now());
        if (batch.length === 0) break;
        const queueName = consumer.url.slice(consumer.url.lastIndexOf("/") + 1);
        const account = consumer.url.split("/").at(-2);
        const event = {
          Records: batch.map((m) => ({
            messageId: m.messageId,
            receiptHandle: `${m.messageId}#${m.receiveCount}`,
            body: m.body,
            attributes: {
              ApproximateReceiveCount: String(m.receiveCount),
              SentTimestamp: String(m.sentAt),
              SenderId: "EMULATED",
              ApproximateFirstReceiveTimestamp: String(this.now()),
            },
            messageAttributes: {},
            md5OfBody: m.md5,
            eventSource: "aws:sqs",
            eventSourceARN: `arn:aws:sqs:${this.region}:${account}:${queueName}`,
            awsRegion: this.region,
          })),
        };
        let failed: string[];
        try {
          const result = (await consumer.invoke(event)) as {
            batchItemFailures?: { itemIdentifier: string }[];
          };
          failed = (result?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
        } catch {
          failed = batch.map((m) => m.messageId);
        }
        // As the event source mapping does: a failure naming no message of the batch fails the whole batch.
        const ids = batch.map((m) => m.messageId);
        if (failed.some((id) => !ids.includes(id))) failed = ids;
        const handled = ids.filter((id) => !failed.includes(id));
        const dead = await this.queues.settle(consumer.url, handled, failed);
        if (dead.length > 0) {
          this.logger.error("emulated SQS moved messages to the dead-letter list", {
            queue: queueName,
            count: dead.length,
          });
        }
      }
    }
  }
}

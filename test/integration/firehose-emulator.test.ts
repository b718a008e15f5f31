/**
 * The loopback Firehose emulator against the real clients: the provisioner's DeliveryStreams and the ingest
 * Lambda's FirehoseSink (its client built by createFirehoseClient, pointed at the emulator with
 * AWS_ENDPOINT_URL_FIREHOSE) send real SDK requests; objects land under a temporary bucket directory.
 */
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  ConcurrentModificationException,
  CreateDeliveryStreamCommand,
  DeleteDeliveryStreamCommand,
  DescribeDeliveryStreamCommand,
  FirehoseClient,
  PutRecordBatchCommand,
  PutRecordCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  UpdateDestinationCommand,
} from "@aws-sdk/client-firehose";
import {
  createDeliveryStreamInput,
  type DeliveryTarget,
  deliveryStreamName,
} from "../../lambda/adapters/delivery-stream-config.js";
import { DeliveryStreams } from "../../lambda/adapters/delivery-streams.js";
import { createFirehoseClient, FirehoseSink } from "../../lambda/adapters/firehose-sink.js";
import type { Logger } from "../../lambda/core/ports.js";
import type { StreamRecord } from "../../lambda/core/types.js";
import {
  EMULATED_DESTINATION_ID,
  evaluatePrefix,
  type FirehoseEmulator,
  startFirehoseEmulator,
} from "../../lambda/local/firehose-emulator.js";
import { makeStream } from "../helpers/in-memory-ports.js";

const TARGET: DeliveryTarget = {
  prefix: "EmuTest",
  bucketArn: "arn:aws:s3:::emutest-bucket",
  roleArn: "arn:aws:iam::123456789012:role/EmuTest-DeliveryRole",
  logGroup: "/aws/kinesisfirehose/EmuTest",
};
const START = Date.UTC(2026, 10, 29, 13, 45, 7);
const ENV_KEYS = ["AWS_ENDPOINT_URL_FIREHOSE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] as const;
const saved = ENV_KEYS.map((key) => [key, process.env[key]] as const);
const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const noMetrics = {
  failed: () => undefined,
  created: () => undefined,
  updated: () => undefined,
  deleted: () => undefined,
};

let dir: string;
let now = START;
let emulator: FirehoseEmulator;
let client: FirehoseClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "firehose-emulator-"));
  emulator = await startFirehoseEmulator({
    bucketDir: dir,
    clock: { now: () => now },
    creatingMs: 2_000,
    checkEveryMs: 20,
  });
  process.env.AWS_ENDPOINT_URL_FIREHOSE = emulator.endpoint;
  process.env.AWS_ACCESS_KEY_ID = "AKIDEMULATOR";
  process.env.AWS_SECRET_ACCESS_KEY = "emulator-secret";
  client = new FirehoseClient({
    region: "us-east-1",
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator-secret" },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  await emulator.close();
  for (const [key, value] of saved) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  emulator.faults.reset();
  await emulator.flush();
});

/** A stream of the registry and its shard-0 delivery stream, created by the real provisioner code. */
async function provision(
  id: string,
  delivery: Partial<StreamRecord["delivery"]> = {},
): Promise<StreamRecord> {
  const name = deliveryStreamName(TARGET.prefix, id, 0);
  const base = makeStream({ id });
  const stream = makeStream({
    id,
    delivery: { ...base.delivery, ...delivery },
    deliveryStreams: [name],
    deliveryStatus: "ACTIVE",
  });
  const provisioner = new DeliveryStreams(client, TARGET, noMetrics, silent, async (ms) => {
    now += ms;
  });
  await provisioner.converge(stream, [name], { remainingTimeMs: () => 900_000 });
  return stream;
}

function sink(budgetMs = 400, attemptTimeoutMs = 3000): FirehoseSink {
  return new FirehoseSink({
    client: createFirehoseClient({ region: "us-east-1", attemptTimeoutMs }),
    logger: silent,
    budgetMs,
    random: () => 0.5,
  });
}

const line = (text: string) => Buffer.from(`${text}\n`);
const read = (key: string) => readFileSync(join(dir, ...key.split("/")));

describe("the Firehose emulator with the real clients", () => {
  it("is provisioned like Firehose and delivers PutRecord and PutRecordBatch to the object the README names", async () => {
    now = START;
    const id = "is-Emu00001";
    const name = deliveryStreamName(TARGET.prefix, id, 0);
    // A new delivery stream is CREATING for 2 s of the injected clock: it takes no records, updates or deletes.
    const early = deliveryStreamName(TARGET.prefix, "is-Emu00000", 0);
    await client.send(
      new CreateDeliveryStreamCommand(createDeliveryStreamInput(makeStream(), TARGET, early)),
    );
    const creating = await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: early }));
    expect(creating.DeliveryStreamDescription?.DeliveryStreamStatus).toBe("CREATING");
    const notYet = { DeliveryStreamName: early };
    await expect(
      client.send(new PutRecordCommand({ ...notYet, Record: { Data: Uint8Array.of(1) } })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(client.send(new DeleteDeliveryStreamCommand(notYet))).rejects.toBeInstanceOf(
      ResourceInUseException,
    );

    // The provisioner creates its own, polls after its first 2 s sleep (on the injected clock): ACTIVE.
    const stream = await provision(id, { compression: "gzip" });
    expect(now).toBe(START + 2_000);
    await client.send(new DeleteDeliveryStreamCommand(notYet));
    await expect(client.send(new DescribeDeliveryStreamCommand(notYet))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
    const { DeliveryStreamDescription: description } = await client.send(
      new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }),
    );
    expect(description).toMatchObject({
      DeliveryStreamStatus: "ACTIVE",
      DeliveryStreamType: "DirectPut",
      VersionId: "1",
      Destinations: [
        {
          DestinationId: EMULATED_DESTINATION_ID,
          ExtendedS3DestinationDescription: {
            Prefix: `streams/acme/${id}/!{timestamp:yyyy/MM/dd/HH}/`,
            ErrorOutputPrefix: `errors/${id}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`,
            BufferingHints: { SizeInMBs: 5, IntervalInSeconds: 300 },
            CompressionFormat: "GZIP",
            FileExtension: ".ndjson.gz",
          },
        },
      ],
    });

    const firehose = sink();
    await firehose.put({ stream, data: line('{"n":1}') });
    await firehose.putBatch({ stream, records: [line('{"n":2}'), line('{"n":3,"s":"ü"}')] });
    const keys = await emulator.flush();
    expect(keys).toHaveLength(1);
    const key = keys[0] as string;
    expect(key).toMatch(
      new RegExp(
        `^streams/acme/${id}/2026/11/29/13/${name}-1-2026-11-29-13-45-09-[0-9a-f-]{36}\\.ndjson\\.gz$`,
      ),
    );
    expect(gunzipSync(read(key)).toString("utf8")).toBe('{"n":1}\n{"n":2}\n{"n":3,"s":"ü"}\n');
    expect(readdirSync(join(dir, ".firehose-emulator-tmp"))).toEqual([]);

    // Changed settings: the provisioner's UpdateDestination bumps the version, which names the next object.
    const updated = { ...stream, delivery: { ...stream.delivery, compression: "none" as const } };
    await new DeliveryStreams(client, TARGET, noMetrics, silent, async () => undefined).converge(
      updated,
      [name],
      { remainingTimeMs: () => 900_000 },
    );
    await firehose.put({ stream: updated, data: line('{"n":4}') });
    const [plain] = await emulator.flush();
    expect(plain).toMatch(new RegExp(`/${name}-2-2026-11-29-13-45-09-[0-9a-f-]{36}\\.ndjson$`));
    expect(read(plain as string).toString("utf8")).toBe('{"n":4}\n');
  });

  it("answers errors in the JSON 1.1 shape the SDK maps to its exception classes", async () => {
    const stream = await provision("is-Emu00002");
    const name = stream.deliveryStreams[0] as string;
    const input = createDeliveryStreamInput(stream, TARGET, name);
    await expect(client.send(new CreateDeliveryStreamCommand(input))).rejects.toBeInstanceOf(
      ResourceInUseException,
    );
    await expect(
      client.send(
        new UpdateDestinationCommand({
          DeliveryStreamName: name,
          CurrentDeliveryStreamVersionId: "7",
          DestinationId: EMULATED_DESTINATION_ID,
          ExtendedS3DestinationUpdate: { Prefix: "x/" },
        }),
      ),
    ).rejects.toBeInstanceOf(ConcurrentModificationException);
    const missing = { DeliveryStreamName: "EmuTest-nope-0" };
    await expect(client.send(new DescribeDeliveryStreamCommand(missing))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
    await expect(
      client.send(new PutRecordCommand({ ...missing, Record: { Data: Uint8Array.of(1) } })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);

    emulator.faults.throttleNext(1);
    const slowDown = await client
      .send(new PutRecordCommand({ DeliveryStreamName: name, Record: { Data: Uint8Array.of(1) } }))
      .catch((error: unknown) => error);
    expect(slowDown).toBeInstanceOf(ServiceUnavailableException);
    expect(slowDown).toMatchObject({ message: "Slow down.", $metadata: { httpStatusCode: 503 } });

    const raw = (headers: Record<string, string>) =>
      fetch(emulator.endpoint, { method: "POST", headers, body: "{}" }).then(async (response) => ({
        status: response.status,
        type: response.headers.get("x-amzn-errortype"),
        body: (await response.json()) as unknown,
      }));
    const json = { "content-type": "application/x-amz-json-1.1" };
    expect(
      await raw({ ...json, authorization: "AWS4-HMAC-SHA256 x", "x-amz-target": "Firehose_20150804.Nope" }),
    ).toEqual({
      status: 400,
      type: "UnknownOperationException",
      body: { __type: "UnknownOperationException", message: "unknown operation Firehose_20150804.Nope" },
    });
    expect(await raw({ ...json, "x-amz-target": "Firehose_20150804.PutRecord" })).toMatchObject({
      status: 403,
      type: "MissingAuthenticationTokenException",
    });
    expect(
      evaluatePrefix(
        `errors/x/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`,
        new Date(START),
        "processing-failed",
      ),
    ).toBe("errors/x/processing-failed/2026/11/29/");
  });

  it("maps throttling to the sink's 429 and service errors and slow answers to its 503", async () => {
    const stream = await provision("is-Emu00003");
    const record = { stream, data: line('{"n":1}') };

    emulator.faults.throttleNext(2);
    await sink().put(record);

    emulator.faults.throttleNext(1_000);
    await expect(sink().put(record)).rejects.toMatchObject({
      status: 429,
      code: "delivery_throttled",
      retryAfterSeconds: 1,
    });
    emulator.faults.reset();

    emulator.faults.unavailableNext(1_000);
    await expect(sink().putBatch({ stream, records: [line('{"n":2}')] })).rejects.toMatchObject({
      status: 503,
      code: "delivery_unavailable",
    });
    emulator.faults.reset();

    emulator.faults.delayMs = 300;
    await expect(sink(250, 100).put(record)).rejects.toMatchObject({
      status: 503,
      code: "delivery_unavailable",
    });
    // The abandoned slow attempts still land once the emulator answers them ("may or may not be stored").
    await new Promise((resolve) => setTimeout(resolve, 400));
    emulator.faults.delayMs = 0;

    const keys = await emulator.flush();
    expect(keys).toHaveLength(1);
    // The throttled-then-accepted put and the slow attempts; nothing from the throttled or failed ones.
    expect(read(keys[0] as string).toString("utf8")).toMatch(/^\{"n":1\}\n(\{"n":1\}\n)+$/);
  });

  it("retries only the PutRecordBatch entries Firehose failed", async () => {
    const stream = await provision("is-Emu00004");
    // 400 KiB lines: packed two to a Firehose record, so six lines are three entries.
    const lines = Array.from({ length: 6 }, (_, n) => line(`{"n":${n},"pad":"${"x".repeat(400 * 1024)}"}`));
    // The second entry of the first call fails; every entry the emulator receives passes the predicate once.
    let received = 0;
    emulator.faults.failBatchEntries(() => ++received === 2);
    let retries = 0;
    const firehose = new FirehoseSink({
      client: createFirehoseClient({ region: "us-east-1" }),
      logger: silent,
      budgetMs: 2_000,
      random: () => 0.5,
      onRetry: () => {
        retries += 1;
      },
    });
    await firehose.putBatch({ stream, records: lines });
    expect(retries).toBe(1);
    expect(received).toBe(4);
    const [key] = await emulator.flush();
    const content = read(key as string).toString("utf8");
    const landed = content.split("\n").filter((text) => text !== "");
    expect(landed.sort()).toEqual(lines.map((bytes) => bytes.toString("utf8").trimEnd()).sort());
  });

  it("seals a buffer by its size and by its age without a flush", async () => {
    now = START;
    const stream = await provision("is-Emu00005", { bufferMiB: 1, bufferSeconds: 60 });
    const big = line(`"${"y".repeat(600 * 1024)}"`);
    const firehose = sink();
    await firehose.put({ stream, data: big });
    await firehose.put({ stream, data: big });
    await firehose.put({ stream, data: line('"small"') });
    const prefix = join(dir, "streams", "acme", "is-Emu00005", "2026", "11", "29", "13");
    const files = () => (existsSync(prefix) ? readdirSync(prefix) : []);
    await waitFor(() => files().length === 1);
    now += 60_000;
    await waitFor(() => files().length === 2);
    const keys = await emulator.flush();
    expect(keys).toHaveLength(2);
    expect(read(keys[0] as string).equals(Buffer.concat([big, big]))).toBe(true);
    expect(read(keys[1] as string).toString("utf8")).toBe('"small"\n');
  });
});

/**
 * With a stateDir: delivery streams and acknowledged records survive restarts and crashes. Each test starts
 * emulators on its own bucket and state folders; a "crash" is close() without flush() plus, where needed, the
 * files a crash would leave behind. Records are plain (UNCOMPRESSED) lines, so an object is their concatenation.
 */
describe("the Firehose emulator with a stateDir", () => {
  interface Running {
    readonly emulator: FirehoseEmulator;
    readonly client: FirehoseClient;
  }
  let root: string;
  let running: Running[] = [];
  const bucket = () => join(root, "bucket");
  const buffers = () => join(root, "state", "buffers");
  const journalOf = (name: string) => join(buffers(), `${name}.journal`);
  const frame = (record: Buffer) => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(record.byteLength);
    return Buffer.concat([header, record]);
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "firehose-emulator-state-"));
  });

  afterEach(async () => {
    for (const instance of running) await stop(instance);
    running = [];
    rmSync(root, { recursive: true, force: true });
  });

  async function start(): Promise<Running> {
    const started = await startFirehoseEmulator({
      bucketDir: bucket(),
      stateDir: join(root, "state"),
      clock: { now: () => START },
      checkEveryMs: 20,
    });
    const instance = {
      emulator: started,
      client: new FirehoseClient({
        region: "us-east-1",
        endpoint: started.endpoint,
        credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator-secret" },
        maxAttempts: 1,
      }),
    };
    running.push(instance);
    return instance;
  }

  /** Stops without flushing: what is buffered stays in the journal, as after a crash. */
  async function stop(instance: Running): Promise<void> {
    running = running.filter((other) => other !== instance);
    instance.client.destroy();
    await instance.emulator.close();
  }

  async function create(
    { client }: Running,
    id: string,
    delivery: Partial<StreamRecord["delivery"]> = {},
  ): Promise<string> {
    const name = deliveryStreamName(TARGET.prefix, id, 0);
    const base = makeStream({ id });
    const stream = makeStream({ id, delivery: { ...base.delivery, ...delivery } });
    await client.send(new CreateDeliveryStreamCommand(createDeliveryStreamInput(stream, TARGET, name)));
    return name;
  }

  const put = ({ client }: Running, name: string, data: Buffer) =>
    client.send(new PutRecordCommand({ DeliveryStreamName: name, Record: { Data: data } }));
  const putBatch = async ({ client }: Running, name: string, records: readonly Buffer[]) => {
    const result = await client.send(
      new PutRecordBatchCommand({ DeliveryStreamName: name, Records: records.map((Data) => ({ Data })) }),
    );
    expect(result.FailedPutCount).toBe(0);
  };
  const content = (key: string) => readFileSync(join(bucket(), ...key.split("/"))).toString("utf8");
  /** Every object in the bucket (not the temp folder). */
  const objects = () =>
    existsSync(bucket())
      ? (readdirSync(bucket(), { recursive: true }) as string[]).filter(
          (path) => !path.startsWith(".firehose-emulator-tmp") && statSync(join(bucket(), path)).isFile(),
        )
      : [];
  const describeStream = async ({ client }: Running, name: string) =>
    (await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: name })))
      .DeliveryStreamDescription;

  it("keeps its delivery streams, their configuration and version across a restart", async () => {
    const first = await start();
    const kept = await create(first, "is-Dur00001", { compression: "gzip" });
    const gone = await create(first, "is-Dur00002");
    await first.client.send(
      new UpdateDestinationCommand({
        DeliveryStreamName: kept,
        CurrentDeliveryStreamVersionId: "1",
        DestinationId: EMULATED_DESTINATION_ID,
        ExtendedS3DestinationUpdate: {
          Prefix: "moved/!{timestamp:yyyy}/",
          BufferingHints: { SizeInMBs: 2, IntervalInSeconds: 120 },
        },
      }),
    );
    await first.client.send(new DeleteDeliveryStreamCommand({ DeliveryStreamName: gone }));
    const before = await describeStream(first, kept);
    expect(before).toMatchObject({
      VersionId: "2",
      DeliveryStreamStatus: "ACTIVE",
      Destinations: [
        {
          ExtendedS3DestinationDescription: {
            Prefix: "moved/!{timestamp:yyyy}/",
            BufferingHints: { SizeInMBs: 2, IntervalInSeconds: 120 },
            CompressionFormat: "GZIP",
          },
        },
      ],
    });
    await stop(first);

    const second = await start();
    expect(await describeStream(second, kept)).toEqual(before);
    await expect(
      second.client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: gone })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    // The version carries on: an update against the old one is refused.
    await expect(
      second.client.send(
        new UpdateDestinationCommand({
          DeliveryStreamName: kept,
          CurrentDeliveryStreamVersionId: "1",
          DestinationId: EMULATED_DESTINATION_ID,
          ExtendedS3DestinationUpdate: { Prefix: "x/" },
        }),
      ),
    ).rejects.toBeInstanceOf(ConcurrentModificationException);
  });

  it("delivers records acknowledged before a close without flush exactly once, in order, after a restart", async () => {
    const first = await start();
    const name = await create(first, "is-Dur00003");
    await put(first, name, line("r1"));
    await putBatch(first, name, [line("r2"), line("r3")]);
    await put(first, name, line("r4"));
    await stop(first);
    expect(objects()).toEqual([]);
    expect(statSync(journalOf(name)).size).toBe(4 * (4 + 3));

    const second = await start();
    const keys = await second.emulator.flush();
    expect(keys).toHaveLength(1);
    expect(content(keys[0] as string)).toBe("r1\nr2\nr3\nr4\n");
    expect(await second.emulator.flush()).toEqual([]);
    expect(readdirSync(buffers())).toEqual([]);
    // The journal carries on after the restart.
    await put(second, name, line("r5"));
    const [next] = await second.emulator.flush();
    expect(content(next as string)).toBe("r5\n");
    expect(objects()).toHaveLength(2);
  });

  it.each([
    [
      "a length prefix without its bytes",
      Buffer.concat([Buffer.from([0, 0, 0, 100]), Buffer.from("partial")]),
    ],
    ["garbage shorter than a length prefix", Buffer.from([0xde, 0xad, 0xbe])],
  ])("ignores and cuts off a torn journal tail (%s)", async (_, tail) => {
    const first = await start();
    const name = await create(first, "is-Dur00004");
    await put(first, name, line("r1"));
    await put(first, name, line("r2"));
    await stop(first);
    const whole = statSync(journalOf(name)).size;
    appendFileSync(journalOf(name), tail);

    const second = await start();
    expect(statSync(journalOf(name)).size).toBe(whole);
    // Appended after the cut, not after the garbage (where a later replay would never reach it).
    await put(second, name, line("r3"));
    await stop(second);

    const third = await start();
    const keys = await third.emulator.flush();
    expect(keys).toHaveLength(1);
    expect(content(keys[0] as string)).toBe("r1\nr2\nr3\n");
  });

  it("never delivers again after a restart what was delivered before it, by size or by flush", async () => {
    const first = await start();
    const name = await create(first, "is-Dur00005", { bufferMiB: 1 });
    const big = (n: number) => line(`"${String(n).repeat(600 * 1024)}"`);
    // One batch fills the buffer at its second record: sealed there, the third goes to a fresh journal.
    await putBatch(first, name, [big(1), big(2), line("small")]);
    await put(first, name, line("flushed"));
    const sealed = await first.emulator.flush();
    expect(sealed).toHaveLength(2);
    expect(content(sealed[0] as string)).toBe(Buffer.concat([big(1), big(2)]).toString("utf8"));
    expect(content(sealed[1] as string)).toBe("small\nflushed\n");
    await put(first, name, line("late"));
    await stop(first);

    const second = await start();
    const keys = await second.emulator.flush();
    expect(keys).toHaveLength(1);
    expect(content(keys[0] as string)).toBe("late\n");
    await stop(second);

    const third = await start();
    expect(await third.emulator.flush()).toEqual([]);
    expect(objects()).toHaveLength(3);
  });

  it("re-delivers records whose .delivering file outlived their object (a crash), losing none", async () => {
    const first = await start();
    const name = await create(first, "is-Dur00006");
    await put(first, name, line("r1"));
    await put(first, name, line("r2"));
    const journal = readFileSync(journalOf(name));
    const [delivered] = await first.emulator.flush();
    expect(content(delivered as string)).toBe("r1\nr2\n");
    await put(first, name, line("r3"));
    await stop(first);
    // A crash after the object was written but before its `.delivering` file was removed leaves this.
    writeFileSync(join(buffers(), `${name}.1.delivering`), journal);

    const second = await start();
    const keys = await second.emulator.flush();
    expect(keys).toHaveLength(1);
    // r1 and r2 a second time (Firehose is at-least-once too), then r3 once; nothing lost.
    expect(content(keys[0] as string)).toBe("r1\nr2\nr3\n");
    expect(readdirSync(buffers())).toEqual([]);
    await stop(second);
    const third = await start();
    expect(await third.emulator.flush()).toEqual([]);
  });

  it("journals concurrent requests before answering them", async () => {
    const first = await start();
    const name = await create(first, "is-Dur00007");
    const records = Array.from({ length: 40 }, (_, n) => line(`{"n":${n}}`));
    await Promise.all(records.map((record) => put(first, name, record)));
    await stop(first);
    const journal = readFileSync(journalOf(name));
    expect(journal.byteLength).toBe(records.reduce((sum, record) => sum + frame(record).byteLength, 0));

    const second = await start();
    const [key] = await second.emulator.flush();
    const lines = content(key as string)
      .split("\n")
      .filter((text) => text !== "");
    expect(lines.sort()).toEqual(records.map((record) => record.toString("utf8").trimEnd()).sort());
  });

  it("delivers the buffer of a deleted delivery stream, then drops its journal", async () => {
    const first = await start();
    const name = await create(first, "is-Dur00008");
    await put(first, name, line("r1"));
    await putBatch(first, name, [line("r2")]);
    await first.client.send(new DeleteDeliveryStreamCommand({ DeliveryStreamName: name }));
    const keys = await first.emulator.flush();
    expect(keys).toHaveLength(1);
    expect(content(keys[0] as string)).toBe("r1\nr2\n");
    expect(readdirSync(buffers())).toEqual([]);
    await stop(first);

    const second = await start();
    await expect(describeStream(second, name)).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(await second.emulator.flush()).toEqual([]);
    // The name is free again, with an empty buffer.
    await create(second, "is-Dur00008");
    expect(await second.emulator.flush()).toEqual([]);
    expect(objects()).toHaveLength(1);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Batches on AWS: NDJSON lines packed into as few Firehose records as possible (≤ 1,000 KiB, lines never
 * split), PutRecordBatch calls within Firehose's limits, only failed entries retried inside the put budget,
 * and never a resolve unless every entry was acknowledged. FirehoseClient mocked with aws-sdk-client-mock.
 */
import {
  FirehoseClient,
  FirehoseServiceException,
  PutRecordBatchCommand,
  type PutRecordBatchCommandOutput,
  PutRecordCommand,
  ServiceUnavailableException,
} from "@aws-sdk/client-firehose";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { MAX_FIREHOSE_RECORD_BYTES, packLines, splitCalls } from "../../lambda/adapters/firehose-batch.js";
import {
  createFirehoseClient,
  type DeliveryAttempt,
  type DeliveryConfirmed,
  FirehoseSink,
} from "../../lambda/adapters/firehose-sink.js";
import { IngestError, InternalError } from "../../lambda/core/errors.js";
import type { AcceptedBatch } from "../../lambda/core/types.js";
import { CollectingLogger, FakeClock, makeStream } from "../helpers/in-memory-ports.js";
import { rejectedWith } from "../helpers/thrown.js";

const DS = ["ingest-is-AbCDefGH-0", "ingest-is-AbCDefGH-1"] as const;
const SECRET = "zebra-payload-7f3a";

/** An NDJSON line `{"i":<i>,"p":"x…"}\n` of exactly `size` bytes. */
function line(i: number, size = 40): Buffer {
  const bare = `{"i":${i},"p":""}\n`;
  return Buffer.from(`{"i":${i},"p":"${"x".repeat(size - Buffer.byteLength(bare))}"}\n`);
}
const lines = (count: number, size?: number) => Array.from({ length: count }, (_, i) => line(i, size));
/** Byte equality without jest's element-by-element diff (slow on megabyte buffers). */
const same = (a: Uint8Array | undefined, b: Uint8Array): boolean =>
  a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

function batch(records: readonly Uint8Array[], deliveryStreams: readonly string[] = [DS[0]]): AcceptedBatch {
  return { stream: makeStream({ deliveryStatus: "ACTIVE", deliveryStreams }), records };
}

const meta = (httpStatusCode: number) => ({ httpStatusCode, attempts: 1, totalRetryDelay: 0 });
const slowDown = () => new ServiceUnavailableException({ message: "Slow down.", $metadata: meta(503) });
const sdkError = (name: string, $fault: "client" | "server", status: number) =>
  new FirehoseServiceException({ name, $fault, $metadata: meta(status), message: `${name} happened` });

/** A PutRecordBatch answer for `count` entries; `failures` maps entry index → ErrorCode. */
function answer(count: number, failures: Record<number, string> = {}): PutRecordBatchCommandOutput {
  return {
    $metadata: meta(200),
    FailedPutCount: Object.keys(failures).length,
    Encrypted: true,
    RequestResponses: Array.from({ length: count }, (_, i) =>
      failures[i] === undefined
        ? { RecordId: `rec-${i}` }
        : { ErrorCode: failures[i], ErrorMessage: `failed: ${SECRET}` },
    ),
  };
}

/** Answers every call: all entries acknowledged except those whose data `fails` picks. */
function answering(fails: (data: Uint8Array) => string | undefined = () => undefined) {
  return (input: { Records?: { Data?: Uint8Array }[] }) => {
    const records = input.Records ?? [];
    const failures: Record<number, string> = {};
    records.forEach((record, i) => {
      const code = fails(record.Data ?? new Uint8Array());
      if (code !== undefined) failures[i] = code;
    });
    return Promise.resolve(answer(records.length, failures));
  };
}

function harness(budgetMs?: number) {
  const clock = new FakeClock();
  const logger = new CollectingLogger();
  const retries: DeliveryAttempt[] = [];
  const confirmed: DeliveryConfirmed[] = [];
  const sink = new FirehoseSink({
    client: createFirehoseClient({ region: "eu-west-1" }),
    logger,
    clock,
    random: () => 0.5,
    sleep: async (ms) => {
      clock.advance(ms);
    },
    onRetry: (attempt) => retries.push(attempt),
    onConfirmed: (c) => confirmed.push(c),
    ...(budgetMs === undefined ? {} : { budgetMs }),
  });
  return { sink, clock, logger, retries, confirmed, start: clock.now() };
}

let firehose: AwsClientStub<FirehoseClient>;
beforeEach(() => {
  firehose = mockClient(FirehoseClient);
});
afterEach(() => firehose.restore());

const calls = () => firehose.commandCalls(PutRecordBatchCommand);
const sentRecords = (i: number) =>
  (calls()[i]?.args[0].input.Records ?? []).map((record) => Buffer.from(record.Data ?? []));

describe("packLines", () => {
  it("packs small lines into one record, in order, byte for byte", () => {
    const input = lines(500, 100);
    const packed = packLines(input);
    expect(packed).toHaveLength(1);
    expect(same(packed[0], Buffer.concat(input))).toBe(true);
  });

  it("fills each record up to 1,000 KiB (1,024,000 bytes) and never splits a line", () => {
    const input = lines(10, 200_000);
    const packed = packLines(input);
    expect(packed.map((record) => record.byteLength)).toEqual([1_000_000, 1_000_000]);
    expect(same(Buffer.concat(packed), Buffer.concat(input))).toBe(true);
    for (const record of packed) {
      expect(Buffer.from(record).toString("utf8").endsWith("\n")).toBe(true);
    }
  });

  it("puts lines that add up to exactly the limit in one record, one byte more starts another", () => {
    expect(MAX_FIREHOSE_RECORD_BYTES).toBe(1_024_000);
    expect(packLines([line(0, 512_000), line(1, 512_000)])).toHaveLength(1);
    expect(packLines([line(0, 512_000), line(1, 512_001)])).toHaveLength(2);
  });

  it("uses the fewest records an order-keeping packing can (greedy fill)", () => {
    // 260,096-byte lines (the record limit): 3 fit in 1,024,000; 31 of them need ceil(31 / 3) records.
    const full = new Uint8Array(260_096).fill(0x20);
    expect(packLines(Array.from({ length: 31 }, () => full))).toHaveLength(11);
  });
});

describe("splitCalls", () => {
  it("keeps each PutRecordBatch call within 500 records", () => {
    const records = Array.from({ length: 1001 }, () => new Uint8Array(10));
    expect(splitCalls(records).map((call) => call.length)).toEqual([500, 500, 1]);
  });

  it("keeps each call within 4 MiB of record data", () => {
    const records = Array.from({ length: 5 }, () => new Uint8Array(1_024_000));
    expect(splitCalls(records).map((call) => call.length)).toEqual([4, 1]);
  });
});

describe("FirehoseSink.putBatch", () => {
  it("sends 100 small lines as one packed record in one PutRecordBatch and confirms once", async () => {
    firehose.on(PutRecordBatchCommand).callsFake(answering());
    const h = harness();
    const input = lines(100);
    await h.sink.putBatch(batch(input));
    expect(calls()).toHaveLength(1);
    expect(calls()[0]?.args[0].input.DeliveryStreamName).toBe(DS[0]);
    expect(sentRecords(0)).toHaveLength(1);
    expect(same(sentRecords(0)[0], Buffer.concat(input))).toBe(true);
    expect(firehose.commandCalls(PutRecordCommand)).toHaveLength(0);
    expect(h.confirmed).toEqual([{ deliveryStream: DS[0], attempts: 1, latencyMs: 0, bytes: 4000 }]);
  });

  it("retries only the entries Firehose failed, then confirms", async () => {
    const input = lines(6, 400_000); // 2 lines per record: 3 records
    let failNext = true;
    firehose.on(PutRecordBatchCommand).callsFake(
      answering((data) => {
        if (!failNext || !Buffer.from(data).equals(Buffer.concat([input[2], input[3]] as Buffer[]))) return;
        failNext = false;
        return "ServiceUnavailableException";
      }),
    );
    const h = harness();
    await h.sink.putBatch(batch(input));
    expect(calls()).toHaveLength(2);
    expect(sentRecords(0)).toHaveLength(3);
    expect(sentRecords(1)).toHaveLength(1);
    expect(same(sentRecords(1)[0], Buffer.concat([input[2], input[3]] as Buffer[]))).toBe(true);
    expect(h.retries).toEqual([{ deliveryStream: DS[0], attempt: 1, reason: "throttled", delayMs: 12 }]);
    expect(h.confirmed[0]?.attempts).toBe(2);
  });

  it("retries a whole call that failed (throttled), then confirms", async () => {
    firehose.on(PutRecordBatchCommand).rejectsOnce(slowDown()).callsFake(answering());
    const h = harness();
    await h.sink.putBatch(batch(lines(3)));
    expect(calls()).toHaveLength(2);
    expect(sentRecords(1)).toEqual(sentRecords(0));
  });

  it("answers 429 delivery_throttled with Retry-After once throttled entries outlast the budget, never resolving", async () => {
    const input = lines(4, 600_000); // one line per record
    const first = input[0] as Buffer;
    firehose
      .on(PutRecordBatchCommand)
      .callsFake(
        answering((data) => (Buffer.from(data).equals(first) ? undefined : "ServiceUnavailableException")),
      );
    const h = harness();
    const error = await rejectedWith(h.sink.putBatch(batch(input)), IngestError);
    expect({ status: error.status, code: error.code, retryAfter: error.retryAfterSeconds }).toEqual({
      status: 429,
      code: "delivery_throttled",
      retryAfter: 1,
    });
    expect(h.clock.now() - h.start).toBeLessThanOrEqual(6000);
    expect(h.confirmed).toEqual([]);
    // The acknowledged entry is never sent again; each retry carries only the 3 still failing.
    expect(sentRecords(0)).toHaveLength(4);
    for (let i = 1; i < calls().length; i++) expect(sentRecords(i)).toHaveLength(3);
    expect(calls().length).toBeGreaterThan(2);
  });

  it("answers 503 delivery_unavailable when entries keep failing with InternalFailure", async () => {
    firehose.on(PutRecordBatchCommand).callsFake(answering(() => "InternalFailure"));
    const h = harness();
    const error = await rejectedWith(h.sink.putBatch(batch(lines(2))), IngestError);
    expect({ status: error.status, code: error.code, retryAfter: error.retryAfterSeconds }).toEqual({
      status: 503,
      code: "delivery_unavailable",
      retryAfter: 1,
    });
  });

  it("answers 503 (not 429) when throttled and unavailable entries fail together", async () => {
    const input = lines(2, 600_000);
    firehose
      .on(PutRecordBatchCommand)
      .callsFake(
        answering((data) =>
          Buffer.from(data).equals(input[0] as Buffer) ? "ServiceUnavailableException" : "InternalFailure",
        ),
      );
    const error = await rejectedWith(harness().sink.putBatch(batch(input)), IngestError);
    expect(error.status).toBe(503);
  });

  it("answers 503 delivery_misconfigured at once for a KMS entry error", async () => {
    firehose.on(PutRecordBatchCommand).callsFake(answering(() => "KMS.AccessDeniedException"));
    const h = harness();
    const error = await rejectedWith(h.sink.putBatch(batch(lines(2))), IngestError);
    expect({ status: error.status, code: error.code, retryAfter: error.retryAfterSeconds }).toEqual({
      status: 503,
      code: "delivery_misconfigured",
      retryAfter: 60,
    });
    expect(calls()).toHaveLength(1);
  });

  it("answers 500 when an entry comes back with neither RecordId nor ErrorCode", async () => {
    firehose
      .on(PutRecordBatchCommand)
      .resolves({ $metadata: meta(200), FailedPutCount: 0, RequestResponses: [{}] });
    await rejectedWith(harness().sink.putBatch(batch(lines(2))), InternalError);
  });

  it("answers 500 when Firehose answers for fewer entries than it was sent", async () => {
    firehose.on(PutRecordBatchCommand).resolves(answer(1));
    const input = lines(2, 600_000);
    await rejectedWith(harness().sink.putBatch(batch(input)), InternalError);
  });

  it("moves to another delivery stream of the stream when one is not found", async () => {
    firehose
      .on(PutRecordBatchCommand)
      .rejectsOnce(sdkError("ResourceNotFoundException", "client", 400))
      .callsFake(answering());
    const h = harness();
    await h.sink.putBatch(batch(lines(2), DS));
    const names = calls().map((call) => call.args[0].input.DeliveryStreamName);
    expect(names).toHaveLength(2);
    expect(names[0]).not.toBe(names[1]);
  });

  it("answers 503 delivery_unavailable when an attempt never answers within the budget", async () => {
    firehose.on(PutRecordBatchCommand).callsFake(() => new Promise(() => undefined));
    const h = harness();
    const error = await rejectedWith(h.sink.putBatch(batch(lines(2))), IngestError);
    expect({ status: error.status, code: error.code }).toEqual({ status: 503, code: "delivery_unavailable" });
    expect(error.message).toContain("may or may not be stored");
  });

  it("answers 503 delivery_not_ready without calling Firehose while the delivery streams are being created", async () => {
    const h = harness();
    const stream = makeStream({ deliveryStatus: "CREATING", deliveryStreams: [] });
    const error = await rejectedWith(h.sink.putBatch({ stream, records: lines(1) }), IngestError);
    expect({ status: error.status, code: error.code }).toEqual({ status: 503, code: "delivery_not_ready" });
    expect(calls()).toHaveLength(0);
  });

  it("never logs record content or Firehose's entry messages", async () => {
    firehose.on(PutRecordBatchCommand).callsFake(answering(() => "ServiceUnavailableException"));
    const h = harness(200);
    const input = [Buffer.from(`{"secret":"${SECRET}"}\n`)];
    await rejectedWith(h.sink.putBatch(batch(input)), IngestError);
    expect(h.logger.entries.length).toBeGreaterThan(0);
    expect(h.logger.text()).not.toContain(SECRET);
  });
});

/**
 * FirehoseSink against a real FirehoseClient mocked with aws-sdk-client-mock, on a fake clock whose injected
 * sleep advances it: delivery, shards, retries with backoff inside the budget, timeouts, logs, and a property over failure scripts.
 */
import {
  FirehoseClient,
  FirehoseServiceException,
  InvalidArgumentException,
  PutRecordCommand,
  ServiceUnavailableException,
} from "@aws-sdk/client-firehose";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import { retryWindowMs } from "../../lambda/adapters/firehose-batch.js";
import { DeliveryBudgetExceededError } from "../../lambda/adapters/firehose-errors.js";
import {
  createFirehoseClient,
  type DeliveryAttempt,
  type DeliveryConfirmed,
  FirehoseSink,
  type FirehoseSinkOptions,
} from "../../lambda/adapters/firehose-sink.js";
import {
  IngestError,
  InternalError,
  ServiceUnavailableError,
  ThrottledError,
} from "../../lambda/core/errors.js";
import type { AcceptedRecord } from "../../lambda/core/types.js";
import { CollectingLogger, deferred, FakeClock, makeStream } from "../helpers/in-memory-ports.js";
import { rejectedWith } from "../helpers/thrown.js";

const DS = ["ingest-is-AbCDefGH-0", "ingest-is-AbCDefGH-1", "ingest-is-AbCDefGH-2"] as const;
const PAYLOAD = "zebra-payload-7f3a";
const JSON_LINE = new TextEncoder().encode(`{"secret":"${PAYLOAD}"}\n`);
const ACK = { RecordId: "rec-1", Encrypted: true };

const meta = (httpStatusCode: number) => ({ httpStatusCode, attempts: 1, totalRetryDelay: 0 });
const slowDown = () => new ServiceUnavailableException({ message: "Slow down.", $metadata: meta(503) });
const sdkError = (name: string, $fault: "client" | "server", status: number) =>
  new FirehoseServiceException({ name, $fault, $metadata: meta(status), message: `${name} happened` });
const nodeError = (message: string, props: Record<string, unknown>) =>
  Object.assign(new Error(message), props);
const timeoutError = () => nodeError("request timed out", { name: "TimeoutError", code: "ETIMEDOUT" });

function record(deliveryStreams: readonly string[] = [DS[0]], data = JSON_LINE): AcceptedRecord {
  return { stream: makeStream({ deliveryStatus: "ACTIVE", deliveryStreams }), data };
}

/** A sink on a fake clock; `random` plays the scripted values, then 0.5. */
function harness(options: Partial<FirehoseSinkOptions> & { randoms?: number[] } = {}) {
  const clock = new FakeClock();
  const logger = new CollectingLogger();
  const sleeps: { at: number; ms: number }[] = [];
  const retries: DeliveryAttempt[] = [];
  const confirmed: DeliveryConfirmed[] = [];
  const randoms = [...(options.randoms ?? [])];
  const sink = new FirehoseSink({
    client: createFirehoseClient({ region: "eu-west-1" }),
    logger,
    clock,
    random: () => randoms.shift() ?? 0.5,
    sleep: async (ms) => {
      sleeps.push({ at: clock.now(), ms });
      clock.advance(ms);
    },
    onRetry: (attempt) => retries.push(attempt),
    onConfirmed: (c) => confirmed.push(c),
    ...options,
  });
  return { sink, clock, logger, sleeps, retries, confirmed, start: clock.now() };
}

let firehose: AwsClientStub<FirehoseClient>;
beforeEach(() => {
  firehose = mockClient(FirehoseClient);
});
afterEach(() => firehose.restore());

const calls = () => firehose.commandCalls(PutRecordCommand);
const sentTo = () => calls().map((call) => call.args[0].input.DeliveryStreamName);
/** The AbortSignal the sink gave the i-th send. */
function signalOf(i: number): AbortSignal {
  const options = (calls()[i]?.args as unknown[] | undefined)?.[1] as
    | { abortSignal?: AbortSignal }
    | undefined;
  if (options?.abortSignal === undefined) throw new Error(`send ${i} got no abortSignal`);
  return options.abortSignal;
}

describe("FirehoseSink delivery", () => {
  it("sends the NDJSON line unchanged, with its \\n, and confirms once Firehose answered", async () => {
    firehose.on(PutRecordCommand).resolves(ACK);
    const h = harness();
    await h.sink.put(record());
    expect(calls()).toHaveLength(1);
    const input = calls()[0]?.args[0].input;
    expect(input?.DeliveryStreamName).toBe(DS[0]);
    expect(Buffer.from(input?.Record?.Data ?? []).toString("utf8")).toBe(`{"secret":"${PAYLOAD}"}\n`);
    expect(h.confirmed).toEqual([
      { deliveryStream: DS[0], attempts: 1, latencyMs: 0, bytes: JSON_LINE.length },
    ]);
    expect(h.sleeps).toEqual([]);
  });

  it("sends a CBOR item byte for byte, with no delimiter", async () => {
    firehose.on(PutRecordCommand).resolves(ACK);
    const cbor = Uint8Array.from([0xa1, 0x61, 0x61, 0x01]);
    await harness().sink.put(record([DS[0]], cbor));
    expect(Array.from(calls()[0]?.args[0].input.Record?.Data ?? [])).toEqual([0xa1, 0x61, 0x61, 0x01]);
  });

  it("stays pending until Firehose answers", async () => {
    const answer = deferred<typeof ACK>();
    firehose.on(PutRecordCommand).callsFake(() => answer.promise);
    const h = harness({ sleep: () => new Promise(() => undefined) });
    let settled = false;
    const put = h.sink.put(record()).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    answer.resolve(ACK);
    await put;
    expect(h.confirmed).toHaveLength(1);
  });

  it("answers 500 when Firehose answers without a RecordId", async () => {
    firehose.on(PutRecordCommand).resolves({});
    const error = await rejectedWith(harness().sink.put(record()), InternalError);
    expect((error.cause as Error).name).toBe("MissingRecordIdError");
  });

  it.each([
    [0, DS[0]],
    [0.34, DS[1]],
    [0.999, DS[2]],
    [1, DS[2]],
  ])("spreads records over the shards: random %p picks %s", async (random, expected) => {
    firehose.on(PutRecordCommand).resolves(ACK);
    await harness({ randoms: [random] }).sink.put(record(DS));
    expect(sentTo()).toEqual([expected]);
  });

  it("reaches every shard with uniformly drawn values", async () => {
    firehose.on(PutRecordCommand).resolves(ACK);
    const h = harness({ randoms: [0.1, 0.5, 0.9, 0.2, 0.6, 0.95] });
    for (let i = 0; i < 6; i++) await h.sink.put(record(DS));
    expect(sentTo()).toEqual([DS[0], DS[1], DS[2], DS[0], DS[1], DS[2]]);
  });
});

describe("FirehoseSink retries", () => {
  it("retries Firehose's throttling with jittered, growing backoff and confirms on the third attempt", async () => {
    firehose.on(PutRecordCommand).rejectsOnce(slowDown()).rejectsOnce(slowDown()).resolves(ACK);
    const h = harness({ randoms: [0.999, 0.999] });
    await h.sink.put(record());
    expect(calls()).toHaveLength(3);
    expect(h.retries).toEqual([
      { deliveryStream: DS[0], attempt: 1, reason: "throttled", delayMs: 24 },
      { deliveryStream: DS[0], attempt: 2, reason: "throttled", delayMs: 49 },
    ]);
    expect(h.sleeps.map((s) => s.ms)).toEqual([24, 49]);
    expect(h.confirmed).toEqual([
      { deliveryStream: DS[0], attempts: 3, latencyMs: 73, bytes: JSON_LINE.length },
    ]);
  });

  it("draws each delay within [0, cap), the cap doubling from 25 ms up to 1 s", async () => {
    firehose.on(PutRecordCommand).rejects(slowDown());
    const h = harness({ random: () => 0.999_999, budgetMs: 60_000 });
    await rejectedWith(h.sink.put(record()), ThrottledError);
    // random → 1 draws each delay at the top of its cap: 25, 50, 100 … 1000 ms.
    expect(h.retries.slice(0, 8).map((r) => r.delayMs)).toEqual([24, 49, 99, 199, 399, 799, 999, 999]);
  });

  it("answers 429 delivery_throttled with Retry-After 1 when throttling outlasts the budget", async () => {
    firehose.on(PutRecordCommand).rejects(slowDown());
    const h = harness();
    const error = await rejectedWith(h.sink.put(record()), ThrottledError);
    expect(error).toBeInstanceOf(IngestError);
    expect([error.status, error.code, error.retryAfterSeconds]).toEqual([429, "delivery_throttled", 1]);
    const attempts = calls().length;
    expect(error.message).toBe(
      `Firehose delivery stream ${DS[0]} is over its throughput quota; ${attempts} attempts in ${(h.clock.now() - h.start).toLocaleString("en-US")} ms: retry after 1 s`,
    );
    expect((error.cause as Error).name).toBe("ServiceUnavailableException");
    expect(attempts).toBe(h.retries.length + 1);
    expect(h.clock.now() - h.start).toBeLessThan(6000);
    for (const sleep of h.sleeps) expect(sleep.at + sleep.ms).toBeLessThan(h.start + 6000);
  });

  it("sends nothing more when a backoff timer wakes past the budget (a late real timer)", async () => {
    firehose.on(PutRecordCommand).rejects(slowDown());
    const clock = new FakeClock();
    const h = harness({ clock, sleep: async (ms) => clock.advance(ms + 6000) });
    await rejectedWith(h.sink.put(record()), ThrottledError);
    expect(calls()).toHaveLength(1);
  });

  it("stops after 50 attempts when random never backs off", async () => {
    firehose.on(PutRecordCommand).rejects(slowDown());
    const h = harness({ random: () => 0 });
    await rejectedWith(h.sink.put(record()), ThrottledError);
    expect(calls()).toHaveLength(50);
  });

  it.each([
    ["InternalFailure", sdkError("InternalFailure", "server", 500)],
    ["HTTP 500", sdkError("InternalServerError", "server", 500)],
    ["ECONNRESET", nodeError("read ECONNRESET", { code: "ECONNRESET" })],
  ])("retries %s as unavailable and confirms", async (_label, error) => {
    firehose.on(PutRecordCommand).rejectsOnce(error).resolves(ACK);
    const h = harness();
    await h.sink.put(record());
    expect(h.retries.map((r) => r.reason)).toEqual(["unavailable"]);
    expect(h.confirmed[0]?.attempts).toBe(2);
  });

  it("answers 503 delivery_unavailable with Retry-After 1 when Firehose stays unavailable", async () => {
    firehose.on(PutRecordCommand).rejects(sdkError("InternalFailure", "server", 500));
    const h = harness();
    const error = await rejectedWith(h.sink.put(record()), ServiceUnavailableError);
    expect([error.code, error.retryAfterSeconds]).toEqual(["delivery_unavailable", 1]);
    expect(error.message).toMatch(
      new RegExp(`^Firehose delivery stream ${DS[0]} is unavailable; \\d+ attempts`),
    );
    expect((error.cause as Error).name).toBe("InternalFailure");
  });
});

describe("FirehoseSink timeouts", () => {
  it("aborts an attempt that never answers at the end of the budget and answers 503", async () => {
    firehose.on(PutRecordCommand).callsFake(() => new Promise(() => undefined));
    const h = harness();
    const error = await rejectedWith(h.sink.put(record()), ServiceUnavailableError);
    expect(signalOf(0).aborted).toBe(true);
    expect([error.code, error.retryAfterSeconds]).toEqual(["delivery_unavailable", 1]);
    expect(error.message).toBe(
      `no acknowledgement from Firehose within the 6,000 ms budget (delivery stream ${DS[0]}, 1 attempt); the record may or may not be stored: retry`,
    );
    expect(error.cause).toBeInstanceOf(DeliveryBudgetExceededError);
    expect(h.clock.now() - h.start).toBe(6000);
  });

  it("bounds a later attempt by what is left of the budget", async () => {
    firehose
      .on(PutRecordCommand)
      .rejectsOnce(slowDown())
      .callsFake(() => new Promise(() => undefined));
    const h = harness({ randoms: [0.4], budgetMs: 500 });
    await rejectedWith(h.sink.put(record()), ServiceUnavailableError);
    expect(h.sleeps.map((s) => s.ms)).toEqual([10, 490]);
    expect(signalOf(0).aborted).toBe(false);
    expect(signalOf(1).aborted).toBe(true);
  });

  it("retries the SDK's TimeoutError and confirms", async () => {
    firehose.on(PutRecordCommand).rejectsOnce(timeoutError()).resolves(ACK);
    const h = harness();
    await h.sink.put(record());
    expect(h.retries.map((r) => r.reason)).toEqual(["timeout"]);
  });

  it("answers 503 saying the record may be stored when every attempt times out", async () => {
    firehose.on(PutRecordCommand).rejects(timeoutError());
    const error = await rejectedWith(harness().sink.put(record()), ServiceUnavailableError);
    expect(error.code).toBe("delivery_unavailable");
    expect(error.message).toContain("did not answer in time");
    expect(error.message).toContain("may or may not be stored");
  });
});

describe("FirehoseSink logs and callbacks", () => {
  it("logs one warn per retry with the delivery stream, attempt, reason and delay", async () => {
    firehose.on(PutRecordCommand).rejectsOnce(slowDown()).rejectsOnce(timeoutError()).resolves(ACK);
    const h = harness({ randoms: [0.5, 0.5] });
    await h.sink.put(record());
    expect(h.logger.entries.map((e) => [e.level, e.fields])).toEqual([
      [
        "warn",
        expect.objectContaining({ deliveryStream: DS[0], attempt: 1, reason: "throttled", delayMs: 12 }),
      ],
      [
        "warn",
        expect.objectContaining({ deliveryStream: DS[0], attempt: 2, reason: "timeout", delayMs: 25 }),
      ],
    ]);
  });

  it("never logs the record, even when an error message quotes it", async () => {
    const quoting = (name: string) => sdkError(name, "client", 400);
    for (const error of [
      quoting("ThrottlingException"),
      quoting("AccessDeniedException"),
      quoting("Other"),
    ]) {
      error.message = `rejected ${PAYLOAD}`;
      firehose.reset();
      firehose.on(PutRecordCommand).rejects(error);
      const h = harness({ budgetMs: 200 });
      await h.sink.put(record()).catch(() => undefined);
      expect(h.logger.entries.length).toBeGreaterThan(0);
      expect(h.logger.text()).not.toContain(PAYLOAD);
    }
  });

  it("still confirms the record when a metrics callback throws", async () => {
    firehose.on(PutRecordCommand).rejectsOnce(slowDown()).resolves(ACK);
    const fail = () => {
      throw new Error("metrics down");
    };
    const h = harness({ onRetry: fail, onConfirmed: fail });
    await expect(h.sink.put(record())).resolves.toBeUndefined();
    expect(h.logger.entries.filter((e) => e.level === "error")).toHaveLength(2);
  });

  it("refuses a budget that is not a positive number", () => {
    expect(() => harness({ budgetMs: 0 })).toThrow(/budgetMs must be a positive number/);
  });
});

type Step =
  | { readonly kind: "ok" | "throttled" | "unavailable" | "timeout" | "invalid"; readonly latencyMs: number }
  | { readonly kind: "hang" };
const STATUS: Record<Exclude<Step["kind"], "ok">, number> = {
  throttled: 429,
  unavailable: 503,
  timeout: 503,
  hang: 503,
  invalid: 500,
};
function failureOf(kind: Step["kind"]): Error {
  if (kind === "throttled") return slowDown();
  if (kind === "unavailable") return sdkError("InternalFailure", "server", 500);
  if (kind === "timeout") return timeoutError();
  return new InvalidArgumentException({ message: "bad", $metadata: meta(400) });
}

describe("FirehoseSink properties", () => {
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      kind: fc.constantFrom("ok", "throttled", "unavailable", "timeout", "invalid"),
      // Mostly quick replies (so retries use up the budget), sometimes slow ones (so the budget cuts them off).
      latencyMs: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 2500 })),
    }),
    fc.constant({ kind: "hang" } as const),
  );

  it("resolves on a timely success or rejects with the last failure's status, always within the budget", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 12 }),
        fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 10_000 })),
        fc.infiniteStream(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
        async (script, budgetMs, randoms) => {
          firehose.reset();
          const clock = new FakeClock();
          const start = clock.now();
          const sendTimes: number[] = [];
          const sleepEnds: number[] = [];
          const played: Step[] = [];
          firehose.on(PutRecordCommand).callsFake(() => {
            sendTimes.push(clock.now());
            const next = script[Math.min(played.length, script.length - 1)] as Step;
            played.push(next);
            // A reply due at or past the deadline never arrives in time: the budget timer wins the race.
            if (next.kind === "hang" || clock.now() + next.latencyMs >= start + budgetMs) {
              return new Promise(() => undefined);
            }
            clock.advance(next.latencyMs);
            return next.kind === "ok" ? Promise.resolve(ACK) : Promise.reject(failureOf(next.kind));
          });
          const sink = new FirehoseSink({
            client: createFirehoseClient({ region: "eu-west-1" }),
            logger: new CollectingLogger(),
            clock,
            budgetMs,
            random: () => randoms.next().value,
            sleep: async (ms) => {
              sleepEnds.push(clock.now() + ms);
              clock.advance(ms);
            },
          });
          const outcome = await sink.put(record()).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(clock.now() - start).toBeLessThanOrEqual(budgetMs);
          for (const at of sendTimes) expect(at).toBeLessThan(start + budgetMs);
          // A retry leaves itself a window to be answered in, so throttling is not turned into "no answer".
          for (const at of sendTimes.slice(1))
            expect(at + retryWindowMs(budgetMs)).toBeLessThan(start + budgetMs);
          for (const end of sleepEnds) expect(end).toBeLessThanOrEqual(start + budgetMs);
          // Only the last send may have met a success or a failure that is not retried.
          expect(played.slice(0, -1).filter((p) => p.kind === "ok" || p.kind === "invalid")).toEqual([]);
          const last = played[played.length - 1] as Step;
          const lastAt = sendTimes[sendTimes.length - 1] ?? start;
          const lastInTime = last.kind !== "hang" && lastAt + last.latencyMs < start + budgetMs;
          if (last.kind === "ok" && lastInTime) {
            expect(outcome).toBeUndefined();
            return;
          }
          expect(outcome).toBeInstanceOf(IngestError);
          const expected = lastInTime ? STATUS[last.kind as keyof typeof STATUS] : 503;
          expect((outcome as IngestError).status).toBe(expected);
        },
      ),
      { numRuns: 300, seed: 20_240_305 },
    );
  });
});

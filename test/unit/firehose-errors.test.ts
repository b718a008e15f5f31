/**
 * How the Firehose sink reads failures and what it answers: the classification table, readiness (assertReady),
 * failures that end a put at once, the final error messages, and createFirehoseClient on a local endpoint.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  FirehoseClient,
  FirehoseServiceException,
  InvalidArgumentException,
  InvalidKMSResourceException,
  PutRecordCommand,
  ResourceNotFoundException,
  ServiceUnavailableException,
} from "@aws-sdk/client-firehose";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import {
  classifyFailure,
  DeliveryBudgetExceededError,
  errorName,
  exhaustedError,
  type FailureKind,
} from "../../lambda/adapters/firehose-errors.js";
import {
  createFirehoseClient,
  type DeliveryConfirmed,
  FirehoseSink,
} from "../../lambda/adapters/firehose-sink.js";
import { InternalError, ServiceUnavailableError, ThrottledError } from "../../lambda/core/errors.js";
import type { StreamRecord } from "../../lambda/core/types.js";
import { CollectingLogger, FakeClock, makeStream, STREAM_ID } from "../helpers/in-memory-ports.js";
import { rejectedWith, thrownBy } from "../helpers/thrown.js";

const meta = (httpStatusCode: number) => ({ httpStatusCode, attempts: 1, totalRetryDelay: 0 });
const sdkError = (name: string, $fault: "client" | "server", status: number) =>
  new FirehoseServiceException({ name, $fault, $metadata: meta(status), message: `${name} happened` });
const nodeError = (message: string, props: Record<string, unknown>) =>
  Object.assign(new Error(message), props);

/** Every failure the sink must tell apart, grouped by what it means. */
const FAILURES: Record<FailureKind, [string, unknown][]> = {
  throttled: [
    [
      "Firehose's 'Slow down.'",
      new ServiceUnavailableException({ message: "Slow down.", $metadata: meta(503) }),
    ],
    ["ThrottlingException", sdkError("ThrottlingException", "client", 400)],
    ["LimitExceededException", sdkError("LimitExceededException", "client", 400)],
    ["any HTTP 429", sdkError("Whatever", "client", 429)],
    [
      "$retryable.throttling",
      Object.assign(sdkError("X", "client", 400), { $retryable: { throttling: true } }),
    ],
  ],
  not_found: [
    ["ResourceNotFoundException", new ResourceNotFoundException({ message: "-", $metadata: meta(400) })],
  ],
  misconfigured: [
    ["InvalidKMSResourceException", new InvalidKMSResourceException({ message: "-", $metadata: meta(400) })],
    ["AccessDeniedException", sdkError("AccessDeniedException", "client", 400)],
    ["any HTTP 403", sdkError("Forbidden", "client", 403)],
  ],
  timeout: [
    ["TimeoutError", nodeError("timed out", { name: "TimeoutError" })],
    ["RequestTimeout", sdkError("RequestTimeout", "client", 408)],
    ["ETIMEDOUT", nodeError("connect ETIMEDOUT", { code: "ETIMEDOUT" })],
    ["AbortError", nodeError("aborted", { name: "AbortError" })],
  ],
  unavailable: [
    ["InternalFailure", sdkError("InternalFailure", "server", 500)],
    ["ServiceException", sdkError("ServiceException", "client", 400)],
    ["any 5xx", sdkError("Unknown", "client", 504)],
    ["$fault server", sdkError("Odd", "server", 0)],
    ["ECONNRESET", nodeError("read ECONNRESET", { code: "ECONNRESET" })],
    ["ECONNREFUSED", nodeError("connect ECONNREFUSED", { code: "ECONNREFUSED" })],
    ["EPIPE", nodeError("write EPIPE", { code: "EPIPE" })],
    ["EAI_AGAIN", nodeError("getaddrinfo EAI_AGAIN", { code: "EAI_AGAIN" })],
    ["ENOTFOUND", nodeError("getaddrinfo ENOTFOUND", { code: "ENOTFOUND" })],
    ["socket hang up without a code", nodeError("socket hang up", {})],
    ["a Node error from another realm (not instanceof Error)", { name: "Error", code: "ECONNRESET" }],
  ],
  rejected: [
    ["InvalidArgumentException", new InvalidArgumentException({ message: "-", $metadata: meta(400) })],
    ["ValidationException", sdkError("ValidationException", "client", 400)],
    ["a TypeError", new TypeError("bug")],
    ["a thrown string", "boom"],
    ["undefined", undefined],
  ],
};

describe("classifyFailure", () => {
  const table = Object.entries(FAILURES).flatMap(([kind, cases]) =>
    cases.map(([label, error]) => [label, kind, error] as const),
  );
  it.each(table)("reads %s as %s", (_label, kind, error) => {
    expect(classifyFailure(error)).toBe(kind);
  });
});

describe("FirehoseSink.assertReady", () => {
  const sink = new FirehoseSink({
    client: createFirehoseClient({ region: "eu-west-1" }),
    logger: new CollectingLogger(),
  });
  const notReady = (overrides: Partial<StreamRecord>) =>
    thrownBy(() => sink.assertReady(makeStream(overrides)), ServiceUnavailableError);

  it("accepts an ACTIVE stream with delivery streams", () => {
    expect(() =>
      sink.assertReady(makeStream({ deliveryStatus: "ACTIVE", deliveryStreams: ["d-0"] })),
    ).not.toThrow();
  });

  it("answers 503 delivery_not_ready, Retry-After 30, while the delivery streams are CREATING", () => {
    const error = notReady({ deliveryStatus: "CREATING", deliveryStreams: ["d-0"] });
    expect([error.status, error.code, error.retryAfterSeconds]).toEqual([503, "delivery_not_ready", 30]);
    expect(error.message).toBe(
      `stream ${STREAM_ID} has no delivery stream ready yet (status CREATING); it is being set up: retry in 30 s`,
    );
  });

  it("answers Retry-After 60 and points the admin at delivery_error when provisioning FAILED", () => {
    const error = notReady({ deliveryStatus: "FAILED", deliveryStreams: [] });
    expect([error.code, error.retryAfterSeconds]).toEqual(["delivery_not_ready", 60]);
    expect(error.message).toContain(STREAM_ID);
    expect(error.message).toContain("an admin must check the stream's delivery_error");
  });

  it("refuses a put for a stream that is not ready, without calling Firehose", async () => {
    const firehose = mockClient(FirehoseClient);
    const stream = makeStream({ deliveryStatus: "CREATING", deliveryStreams: ["d-0"] });
    const error = await rejectedWith(sink.put({ stream, data: Uint8Array.of(1) }), ServiceUnavailableError);
    expect(error.code).toBe("delivery_not_ready");
    expect(firehose.commandCalls(PutRecordCommand)).toHaveLength(0);
    firehose.restore();
  });

  it.each<[string, Partial<StreamRecord>]>([
    ["ACTIVE but listing no delivery stream", { deliveryStatus: "ACTIVE", deliveryStreams: [] }],
    ["without any delivery status", { deliveryStreams: ["d-0"] }],
  ])("answers delivery_not_ready with Retry-After 30 for a stream %s", (_label, overrides) => {
    const error = notReady(overrides);
    expect([error.code, error.retryAfterSeconds]).toEqual(["delivery_not_ready", 30]);
  });
});

describe("FirehoseSink failures that are not retried", () => {
  const DS = ["d-0", "d-1", "d-2"];
  let firehose: AwsClientStub<FirehoseClient>;
  beforeEach(() => {
    firehose = mockClient(FirehoseClient);
  });
  afterEach(() => firehose.restore());

  const sentTo = () => firehose.commandCalls(PutRecordCommand).map((c) => c.args[0].input.DeliveryStreamName);
  const record = (deliveryStreams = DS.slice(0, 1)) => ({
    stream: makeStream({ deliveryStatus: "ACTIVE", deliveryStreams }),
    data: new TextEncoder().encode('{"a":1}\n'),
  });
  /** A sink whose `random` always answers 0 (the first delivery stream) and whose clock never moves by itself. */
  function harness() {
    const clock = new FakeClock();
    const logger = new CollectingLogger();
    const sleeps: number[] = [];
    const confirmed: DeliveryConfirmed[] = [];
    const sink = new FirehoseSink({
      client: createFirehoseClient({ region: "eu-west-1" }),
      logger,
      clock,
      random: () => 0,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock.advance(ms);
      },
      onConfirmed: (c) => confirmed.push(c),
    });
    return { sink, logger, sleeps, confirmed };
  }
  const failWith = (error: unknown) => firehose.on(PutRecordCommand).callsFake(() => Promise.reject(error));
  const notFound = () => new ResourceNotFoundException({ message: "-", $metadata: meta(400) });

  it("answers 503 delivery_not_ready (Retry-After 30) when its only delivery stream is not found", async () => {
    failWith(notFound());
    const error = await rejectedWith(harness().sink.put(record()), ServiceUnavailableError);
    expect([error.code, error.retryAfterSeconds]).toEqual(["delivery_not_ready", 30]);
    expect(error.message).toContain("Firehose does not know d-0");
    expect(sentTo()).toEqual(["d-0"]);
  });

  it("moves on to another delivery stream at once when one is not found", async () => {
    firehose.on(PutRecordCommand, { DeliveryStreamName: "d-0" }).rejects(notFound());
    firehose.on(PutRecordCommand, { DeliveryStreamName: "d-1" }).resolves({ RecordId: "r" });
    const h = harness();
    await h.sink.put(record(DS.slice(0, 2)));
    expect(sentTo()).toEqual(["d-0", "d-1"]);
    expect(h.sleeps).toEqual([]);
    expect(h.confirmed).toEqual([expect.objectContaining({ deliveryStream: "d-1", attempts: 2 })]);
  });

  it("answers delivery_not_ready once none of the delivery streams is found, trying each once", async () => {
    failWith(notFound());
    const error = await rejectedWith(harness().sink.put(record(DS)), ServiceUnavailableError);
    expect(error.code).toBe("delivery_not_ready");
    expect(sentTo().sort()).toEqual(DS);
  });

  it.each(FAILURES.misconfigured)(
    "answers 503 delivery_misconfigured (Retry-After 60) on %s",
    async (_l, cause) => {
      failWith(cause);
      const h = harness();
      const error = await rejectedWith(h.sink.put(record()), ServiceUnavailableError);
      expect([error.code, error.retryAfterSeconds, error.cause]).toEqual([
        "delivery_misconfigured",
        60,
        cause,
      ]);
      expect(sentTo()).toHaveLength(1);
      expect(h.logger.entries.map((e) => [e.level, e.fields?.deliveryStream, e.fields?.errorName])).toEqual([
        ["error", "d-0", errorName(cause)],
      ]);
    },
  );

  it.each(FAILURES.rejected)("answers 500 without retrying on %s, keeping the cause", async (_l, cause) => {
    failWith(cause);
    const h = harness();
    const error = await rejectedWith(h.sink.put(record()), InternalError);
    expect(error.cause).toBe(cause);
    expect(sentTo()).toHaveLength(1);
    expect(h.logger.entries.map((e) => [e.level, e.fields?.errorName])).toEqual([
      ["error", errorName(cause)],
    ]);
  });
});

describe("exhaustedError", () => {
  const summary = { deliveryStream: "d-0", attempts: 1, elapsedMs: 1234.4, budgetMs: 6000 };

  it("renders 429 delivery_throttled that keeps its cause and reads as retryable", () => {
    const cause = new Error("slow down");
    const error = exhaustedError("throttled", summary, cause);
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(
      "Firehose delivery stream d-0 is over its throughput quota; 1 attempt in 1,234 ms: retry after 1 s",
    );
    expect(error.toResponseBody()).toEqual({
      error: { code: "delivery_throttled", message: error.message, retryable: true },
    });
  });

  it("says a budget overrun may have stored the record", () => {
    const error = exhaustedError(
      "timeout",
      { ...summary, attempts: 3 },
      new DeliveryBudgetExceededError(6000),
    );
    expect(error.message).toBe(
      "no acknowledgement from Firehose within the 6,000 ms budget (delivery stream d-0, 3 attempts); the record may or may not be stored: retry",
    );
  });
});

describe("createFirehoseClient", () => {
  let server: Server;
  let requests = 0;
  let mode: "hang" | "slow-down" = "hang";
  const ENV_KEYS = ["AWS_ENDPOINT_URL_FIREHOSE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"];
  const saved = ENV_KEYS.map((key) => [key, process.env[key]] as const);

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests += 1;
      request.resume();
      if (mode === "slow-down") {
        response.writeHead(503, { "content-type": "application/x-amz-json-1.1" });
        response.end(JSON.stringify({ __type: "ServiceUnavailableException", message: "Slow down." }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    // The SDK's endpoint override and static credentials; nothing leaves the machine.
    process.env.AWS_ENDPOINT_URL_FIREHOSE = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.AWS_ACCESS_KEY_ID = "AKIDLOCALTEST";
    process.env.AWS_SECRET_ACCESS_KEY = "local-test-secret";
  });

  afterAll(async () => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    requests = 0;
  });

  const put = (attemptTimeoutMs: number) => {
    const client = createFirehoseClient({ region: "eu-west-1", attemptTimeoutMs });
    const command = new PutRecordCommand({ DeliveryStreamName: "d-0", Record: { Data: Uint8Array.of(1) } });
    return client
      .send(command)
      .then(
        () => undefined,
        (error: unknown) => error,
      )
      .finally(() => client.destroy());
  };

  it("takes the region from its option or the environment and leaves retries to the sink", async () => {
    const client = createFirehoseClient({ region: "eu-central-1" });
    expect(await client.config.region()).toBe("eu-central-1");
    expect(await client.config.maxAttempts()).toBe(1);
    process.env.AWS_REGION = "ap-southeast-2";
    expect(await createFirehoseClient().config.region()).toBe("ap-southeast-2");
  });

  it("ends an unanswered request after attemptTimeoutMs with a TimeoutError, sent once", async () => {
    mode = "hang";
    const error = await put(150);
    expect(classifyFailure(error)).toBe("timeout");
    expect(requests).toBe(1);
  });

  it("reads Firehose's real 'Slow down.' answer as throttling, sent once", async () => {
    mode = "slow-down";
    const error = await put(2000);
    expect((error as Error).name).toBe("ServiceUnavailableException");
    expect(classifyFailure(error)).toBe("throttled");
    expect(requests).toBe(1);
  });

  it("refuses an attempt timeout that is not a positive number", () => {
    expect(() => createFirehoseClient({ attemptTimeoutMs: -1 })).toThrow(
      /attemptTimeoutMs must be a positive/,
    );
  });
});

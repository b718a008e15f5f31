/**
 * LambdaContainers running real bundles (plain CommonJS fixtures written to a temp dir) in their own Node
 * processes: results, event and context, environment, errors, timeouts, crashes, init errors, warm reuse, the
 * concurrency limit, the function's log file and shutdown. Handlers that must wait are held by a loopback
 * "gate" the test controls (they connect, and run on when the test answers), never by a sleep.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AssemblyFunction } from "../../lambda/local/emulate-aws/cloud-assembly.js";
import {
  LambdaContainers,
  type LambdaContainersOptions,
  LambdaInvocationError,
} from "../../lambda/local/emulate-aws/lambda-containers.js";
import { CollectingLogger } from "../helpers/local-runtime.js";

const REGION = "eu-west-1";
const ACCOUNT = "123456789012";

/** The fixture bundle: one handler, what it does chosen by `event.action`. */
const HANDLER_JS = `"use strict";
const net = require("node:net");
let invocations = 0;
const loadedAt = Date.now();
exports.handler = async (event, context) => {
  invocations++;
  switch (event.action) {
    case "echo": {
      const first = context.getRemainingTimeInMillis();
      const until = Date.now() + 15;
      while (Date.now() < until) {} // time passes inside the handler
      const second = context.getRemainingTimeInMillis();
      return {
        event,
        context: {
          awsRequestId: context.awsRequestId,
          functionName: context.functionName,
          functionVersion: context.functionVersion,
          invokedFunctionArn: context.invokedFunctionArn,
          memoryLimitInMB: context.memoryLimitInMB,
          logGroupName: context.logGroupName,
          logStreamName: context.logStreamName,
        },
        remaining: [first, second],
        env: process.env,
        cwd: process.cwd(),
        pid: process.pid,
        invocations,
        loadedAt,
      };
    }
    case "throw": {
      const error = new Error("the handler failed: " + event.detail);
      error.name = "ValidationFailure";
      throw error;
    }
    case "undefined":
      return undefined;
    case "hang":
      return new Promise(() => undefined);
    case "exit":
      process.exit(3);
    case "log":
      console.log("FUNCTION-STDOUT-MARK " + context.awsRequestId);
      console.error("FUNCTION-STDERR-MARK " + context.awsRequestId);
      return "logged";
    case "gate":
      // Waits until the test answers on its gate; tells it which request and process this is.
      return new Promise((resolve, reject) => {
        const socket = net.connect(event.port, "127.0.0.1", () => socket.write(event.tag + " " + process.pid + "\\n"));
        socket.on("error", reject);
        socket.once("data", () => {
          socket.end();
          resolve({ tag: event.tag, pid: process.pid });
        });
      });
    default:
      throw new Error("unknown action " + event.action);
  }
};
`;

const dirs: string[] = [];
const pools: LambdaContainers[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lambda-containers-"));
  dirs.push(dir);
  return dir;
}

/** Writes a bundle directory holding `index.js`. */
function bundle(source = HANDLER_JS): string {
  const codeDir = join(tempDir(), "asset.fixture");
  mkdirSync(codeDir);
  writeFileSync(join(codeDir, "index.js"), source);
  return codeDir;
}

function fixtureFunction(overrides: Partial<AssemblyFunction> = {}): AssemblyFunction {
  return {
    logicalId: "FixtureFn",
    name: "Fixture-Function",
    codeDir: overrides.codeDir ?? bundle(),
    handler: "index.handler",
    timeoutSeconds: 5,
    memoryMb: 256,
    environment: {},
    ...overrides,
  };
}

function pool(
  fn: AssemblyFunction = fixtureFunction(),
  options: Partial<LambdaContainersOptions> = {},
): { pool: LambdaContainers; logger: CollectingLogger } {
  const logger = new CollectingLogger();
  const containers = new LambdaContainers({
    fn,
    platformEnvironment: {},
    workDir: join(tempDir(), "work"),
    logger,
    region: REGION,
    account: ACCOUNT,
    ...options,
  });
  pools.push(containers);
  return { pool: containers, logger };
}

/** What the "echo" action answers. */
interface Echo {
  event: unknown;
  context: Record<string, unknown>;
  remaining: [number, number];
  env: Record<string, string>;
  cwd: string;
  pid: number;
  invocations: number;
  loadedAt: number;
}

/** The LambdaInvocationError `promise` rejects with (fails the test for anything else). */
async function invocationError(promise: Promise<unknown>): Promise<LambdaInvocationError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(LambdaInvocationError);
    return error as LambdaInvocationError;
  }
  throw new Error("expected the invocation to fail, it succeeded");
}

/**
 * A loopback server handlers connect to and wait on. It counts who is waiting (and the most at once), and
 * lets them go when the test says.
 */
class Gate {
  private readonly server: Server;
  private readonly waiting: Socket[] = [];
  private arrivals = 0;
  private watchers: { count: number; resolve: () => void }[] = [];
  /** The most handlers waiting at the same time. */
  maxWaiting = 0;
  /** The tags of the handlers that arrived, in order. */
  readonly tags: string[] = [];

  constructor() {
    this.server = createServer((socket) => {
      socket.setEncoding("utf8");
      socket.once("data", (line: string) => {
        this.tags.push(line.split(" ")[0] ?? "");
        this.waiting.push(socket);
        this.arrivals++;
        this.maxWaiting = Math.max(this.maxWaiting, this.waiting.length);
        this.watchers = this.watchers.filter((w) => {
          if (this.arrivals < w.count) return true;
          w.resolve();
          return false;
        });
      });
      socket.on("error", () => undefined);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  /** Resolves once `count` handlers in all have arrived. */
  arrived(count: number): Promise<void> {
    if (this.arrivals >= count) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ count, resolve }));
  }

  get waitingNow(): number {
    return this.waiting.length;
  }

  /** Lets every waiting handler go. */
  release(): void {
    for (const socket of this.waiting.splice(0)) socket.write("go\n");
  }

  close(): Promise<void> {
    for (const socket of this.waiting.splice(0)) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe("LambdaContainers", () => {
  it("returns the handler's result (undefined as null)", async () => {
    const { pool: fn } = pool();
    const echo = (await fn.invoke({ action: "echo", value: [1, "two", { three: 3 }] })) as Echo;
    expect(echo.event).toEqual({ action: "echo", value: [1, "two", { three: 3 }] });
    expect(await fn.invoke({ action: "undefined" })).toBeNull();
  });

  it("passes the event and a Lambda context: request id, function name, ARN, memory, remaining time", async () => {
    const { pool: fn } = pool(fixtureFunction({ timeoutSeconds: 7, memoryMb: 512 }));
    const echo = (await fn.invoke({ action: "echo" }, "req-0001")) as Echo;
    expect(echo.context).toEqual({
      awsRequestId: "req-0001",
      functionName: "Fixture-Function",
      functionVersion: "$LATEST",
      invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:Fixture-Function`,
      memoryLimitInMB: "512",
      logGroupName: "/aws/lambda/Fixture-Function",
      logStreamName: expect.stringMatching(/^emulated\/\[\$LATEST\][0-9a-f]{32}$/),
    });
    const [first, second] = echo.remaining;
    expect(first).toBeLessThanOrEqual(7000);
    expect(first).toBeGreaterThan(0);
    expect(second).toBeLessThan(first);
    // Without a request id, each invocation gets a fresh UUID.
    const a = (await fn.invoke({ action: "echo" })) as Echo;
    const b = (await fn.invoke({ action: "echo" })) as Echo;
    expect(a.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.context.awsRequestId).not.toBe(a.context.awsRequestId);
  });

  it("runs the handler in its bundle directory with the platform's and the function's environment", async () => {
    process.env.LAMBDA_CONTAINERS_TEST_PARENT_ONLY = "must-not-leak";
    try {
      const fn = fixtureFunction({
        environment: { SHARED: "from-function", OWN: "function-only" },
        memoryMb: 1024,
      });
      const { pool: containers } = pool(fn, {
        platformEnvironment: { SHARED: "from-platform", AWS_REGION: REGION, PLATFORM_ONLY: "platform" },
      });
      const echo = (await containers.invoke({ action: "echo" })) as Echo;
      expect(echo.env).toMatchObject({
        SHARED: "from-function",
        OWN: "function-only",
        PLATFORM_ONLY: "platform",
        AWS_REGION: REGION,
        AWS_LAMBDA_FUNCTION_NAME: "Fixture-Function",
        AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1024",
        AWS_LAMBDA_LOG_GROUP_NAME: "/aws/lambda/Fixture-Function",
        AWS_EXECUTION_ENV: expect.stringMatching(/^AWS_Lambda_nodejs/),
        LAMBDA_TASK_ROOT: fn.codeDir,
        _HANDLER: "index.handler",
        TZ: ":UTC",
      });
      expect(echo.env.LAMBDA_CONTAINERS_TEST_PARENT_ONLY).toBeUndefined();
      expect(echo.cwd).toBe(fn.codeDir);
    } finally {
      delete process.env.LAMBDA_CONTAINERS_TEST_PARENT_ONLY;
    }
  });

  it("loads the handler the function names (file and export)", async () => {
    const codeDir = bundle("exports.other = async () => 'wrong';\n");
    writeFileSync(join(codeDir, "main.js"), "exports.run = async (event) => ({ ran: event.n * 2 });\n");
    const { pool: fn } = pool(fixtureFunction({ codeDir, handler: "main.run" }));
    expect(await fn.invoke({ n: 21 })).toEqual({ ran: 42 });
  });

  it("rejects with a LambdaInvocationError carrying the thrown error's type and message, and logs it", async () => {
    const { pool: fn, logger } = pool();
    const error = await invocationError(fn.invoke({ action: "throw", detail: "bad input" }, "req-throw"));
    expect(error.errorType).toBe("ValidationFailure");
    expect(error.message).toBe("the handler failed: bad input");
    expect(error.name).toBe("LambdaInvocationError");
    expect(logger.lines.map((l) => JSON.parse(l))).toContainEqual({
      level: "warn",
      message: "function invocation failed",
      function: "Fixture-Function",
      requestId: "req-throw",
      errorType: "ValidationFailure",
    });
    // A thrown error does not cost the container.
    expect(((await fn.invoke({ action: "echo" })) as Echo).invocations).toBe(2);
    expect(fn.coldStarts).toBe(1);
  });

  it("kills a handler that outlives the function's timeout; the next invocation gets a fresh container", async () => {
    const { pool: fn } = pool(fixtureFunction({ timeoutSeconds: 1 }));
    const before = (await fn.invoke({ action: "echo" })) as Echo;
    expect(fn.coldStarts).toBe(1);
    const error = await invocationError(fn.invoke({ action: "hang" }));
    expect(error.errorType).toBe("Sandbox.Timedout");
    expect(error.message).toBe("Task timed out after 1.00 seconds");
    const after = (await fn.invoke({ action: "echo" })) as Echo;
    expect(fn.coldStarts).toBe(2);
    expect(after.pid).not.toBe(before.pid);
    expect(after.invocations).toBe(1);
  });

  it("rejects with Runtime.ExitError when the handler exits the process, and recovers", async () => {
    const { pool: fn } = pool();
    const error = await invocationError(fn.invoke({ action: "exit" }));
    expect(error.errorType).toBe("Runtime.ExitError");
    expect(error.message).toBe("the function's container exited (code 3)");
    expect(((await fn.invoke({ action: "echo" })) as Echo).invocations).toBe(1);
    expect(fn.coldStarts).toBe(2);
  });

  it("recovers from a crash even when the crashed container was its only one (concurrency 1)", async () => {
    const { pool: fn } = pool(fixtureFunction(), { concurrency: 1 });
    expect((await invocationError(fn.invoke({ action: "exit" }))).errorType).toBe("Runtime.ExitError");
    expect(((await fn.invoke({ action: "echo" })) as Echo).invocations).toBe(1);
  });

  it("rejects with Runtime.ImportModuleError when the bundle throws while loading", async () => {
    const { pool: fn } = pool(
      fixtureFunction({ codeDir: bundle('throw new Error("cannot load: missing dependency");\n') }),
    );
    const error = await invocationError(fn.invoke({}));
    expect(error.errorType).toBe("Runtime.ImportModuleError");
    expect(error.message).toBe("cannot load: missing dependency");
  });

  it("rejects with Runtime.ImportModuleError when the bundle exports no such handler", async () => {
    const { pool: fn } = pool(fixtureFunction({ codeDir: bundle("exports.other = async () => 1;\n") }));
    const error = await invocationError(fn.invoke({}));
    expect(error.errorType).toBe("Runtime.ImportModuleError");
    expect(error.message).toBe("the bundle exports no function handler");
  });

  it("reuses a warm container: one cold start, module state kept between invocations", async () => {
    const { pool: fn } = pool();
    const first = (await fn.invoke({ action: "echo" })) as Echo;
    const second = (await fn.invoke({ action: "echo" })) as Echo;
    expect(fn.coldStarts).toBe(1);
    expect(second.pid).toBe(first.pid);
    expect(second.loadedAt).toBe(first.loadedAt);
    expect([first.invocations, second.invocations]).toEqual([1, 2]);
  });

  it("runs at most `concurrency` containers; further invocations wait for one and reuse it", async () => {
    const gate = new Gate();
    try {
      const port = await gate.listen();
      const { pool: fn } = pool(fixtureFunction(), { concurrency: 2 });
      const results = ["a", "b", "c", "d"].map((tag) => fn.invoke({ action: "gate", port, tag }));
      expect(fn.coldStarts).toBe(2);
      await gate.arrived(2);
      expect(gate.waitingNow).toBe(2);
      gate.release();
      await gate.arrived(4);
      gate.release();
      const answers = (await Promise.all(results)) as { tag: string; pid: number }[];
      expect(answers.map((a) => a.tag)).toEqual(["a", "b", "c", "d"]);
      expect(new Set(answers.map((a) => a.pid)).size).toBe(2);
      expect(gate.maxWaiting).toBe(2);
      expect(fn.coldStarts).toBe(2);
      expect([...gate.tags.slice(0, 2)].sort()).toEqual(["a", "b"]);
    } finally {
      await gate.close();
    }
  });

  it("writes the function's stdout and stderr to its log file, not to the caller's output", async () => {
    const { pool: fn } = pool();
    const written: string[] = [];
    const stdout = jest.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
      written.push(String(chunk));
      return true;
    });
    const stderr = jest.spyOn(process.stderr, "write").mockImplementation((chunk: unknown) => {
      written.push(String(chunk));
      return true;
    });
    try {
      expect(await fn.invoke({ action: "log" }, "req-log")).toBe("logged");
      await fn.close();
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    const log = readFileSync(fn.logFile, "utf8");
    expect(log).toContain("FUNCTION-STDOUT-MARK req-log");
    expect(log).toContain("FUNCTION-STDERR-MARK req-log");
    expect(written.join("")).not.toContain("FUNCTION-");
  });

  it("close() kills running containers: a running invocation fails, later ones are refused", async () => {
    const gate = new Gate();
    try {
      const port = await gate.listen();
      const { pool: fn } = pool();
      const running = invocationError(fn.invoke({ action: "gate", port, tag: "running" }));
      await gate.arrived(1);
      await fn.close();
      const error = await running;
      expect(error.errorType).toBe("Runtime.ExitError");
      expect(error.message).toBe("the function's container exited (SIGKILL)");
      const refused = await invocationError(fn.invoke({ action: "echo" }));
      expect(refused.errorType).toBe("Emulator.Closed");
      expect(fn.coldStarts).toBe(1);
    } finally {
      await gate.close();
    }
  });

  // A timed-out container frees its place at once, so the next invocation gets a fresh container even when
  // the killed process has not exited yet (0.2 s function timeout keeps this short).
  it("serves the next invocation after a timeout that freed the only slot (concurrency 1)", async () => {
    const { pool: fn } = pool(fixtureFunction({ timeoutSeconds: 0.2 }), { concurrency: 1 });
    expect((await invocationError(fn.invoke({ action: "hang" }))).errorType).toBe("Sandbox.Timedout");
    expect(((await fn.invoke({ action: "echo" })) as Echo).invocations).toBe(1);
    expect(fn.coldStarts).toBe(2);
  }, 2000);

  // Invocations still waiting for a container are refused by close(), not left pending.
  it("close() rejects invocations still waiting for a container", async () => {
    const gate = new Gate();
    try {
      const port = await gate.listen();
      const { pool: fn } = pool(fixtureFunction(), { concurrency: 1 });
      const running = fn.invoke({ action: "gate", port, tag: "running" });
      let queuedOutcome = "pending";
      const queued = fn.invoke({ action: "echo" }).then(
        () => {
          queuedOutcome = "resolved";
        },
        (error: unknown) => {
          queuedOutcome = error instanceof LambdaInvocationError ? error.errorType : "other error";
        },
      );
      await gate.arrived(1);
      await fn.close();
      expect((await invocationError(running)).errorType).toBe("Runtime.ExitError");
      // Everything close() set in motion has run by the next turn of the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      expect(queuedOutcome).toBe("Emulator.Closed");
      await queued;
    } finally {
      await gate.close();
    }
  });
});

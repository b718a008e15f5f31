/**
 * Runs a bundled Lambda function the way the Lambda service does, on this machine: each container is a
 * long-lived Node process that loads the bundle once (its cold start) and then handles one invocation at a
 * time, with the function's environment, a Lambda context (request id, remaining time) and the function's
 * timeout. Containers are started on demand up to a concurrency limit and reused while warm; one that times
 * out or crashes is discarded, like a Lambda sandbox. The function's own log lines (stdout and stderr) go to a
 * log file, never to the caller.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, type WriteStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../core/ports.js";
import type { AssemblyFunction } from "./cloud-assembly.js";

/** The runtime interface client of a container: loads the bundle, answers invocations over IPC. */
const BOOTSTRAP = `"use strict";
const path = require("node:path");
const [file, name] = process.env._HANDLER.split(".");
let handler;
try {
  handler = require(path.join(process.env.LAMBDA_TASK_ROOT, file + ".js"))[name];
  if (typeof handler !== "function") throw new Error("the bundle exports no function " + name);
} catch (error) {
  process.send({ type: "init-error", errorType: error && error.name, errorMessage: error && error.message });
  process.exit(1);
}
process.on("message", async (message) => {
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: "$LATEST",
    invokedFunctionArn: message.functionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: message.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done() {}, fail() {}, succeed() {},
  };
  try {
    const result = await handler(message.event, context);
    process.send({ type: "result", id: message.id, result: result === undefined ? null : result });
  } catch (error) {
    process.send({ type: "error", id: message.id, errorType: (error && error.name) || "Error", errorMessage: String(error && error.message) });
  }
});
process.send({ type: "ready" });
`;

function closedError(): LambdaInvocationError {
  return new LambdaInvocationError("Emulator.Closed", "the emulated function is shut down");
}

/** The function failed: it threw, timed out, or its container died (API Gateway answers 500). */
export class LambdaInvocationError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
  ) {
    super(message);
    this.name = "LambdaInvocationError";
  }
}

export interface LambdaContainersOptions {
  readonly fn: AssemblyFunction;
  /** Variables the emulation adds (region, credentials, endpoint overrides); the function's own win. */
  readonly platformEnvironment: Readonly<Record<string, string>>;
  /** Where the bootstrap and the function's log file are written. */
  readonly workDir: string;
  /** Containers running at once; further invocations wait for one. @default 4 */
  readonly concurrency?: number;
  readonly logger: Logger;
  readonly region: string;
  readonly account: string;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/** Lambda's limit on a container's initialization (loading the bundle). */
const INIT_TIMEOUT_MS = 10_000;

/** One sandbox: a child process and its current invocation. */
class Container {
  private pending: Pending | undefined;
  private readonly ready: Promise<void>;
  /** Resolves once the process has ended and its output is drained. */
  readonly gone: Promise<void>;
  dead = false;
  /** Whether it still counts against the pool's concurrency. */
  counted = true;

  constructor(
    private readonly child: ChildProcess,
    onDead: (container: Container) => void,
  ) {
    let drained: () => void = () => undefined;
    this.gone = new Promise<void>((resolve) => {
      drained = resolve;
    });
    child.once("close", () => drained());
    this.ready = new Promise<void>((resolve, reject) => {
      child.on(
        "message",
        (message: { type: string; result?: unknown; errorType?: string; errorMessage?: string }) => {
          if (message.type === "ready") return resolve();
          if (message.type === "init-error") {
            return reject(
              new LambdaInvocationError("Runtime.ImportModuleError", String(message.errorMessage)),
            );
          }
          const pending = this.pending;
          this.pending = undefined;
          if (message.type === "result") pending?.resolve(message.result);
          else
            pending?.reject(
              new LambdaInvocationError(String(message.errorType), String(message.errorMessage)),
            );
        },
      );
      let ended = false;
      const end = (error: LambdaInvocationError) => {
        if (ended) return;
        ended = true;
        this.dead = true;
        reject(error);
        this.pending?.reject(error);
        this.pending = undefined;
        onDead(this);
      };
      // A process that cannot be started (or whose IPC channel fails) ends like one that exited; Node may or
      // may not emit "exit" (or "close") after "error".
      child.on("error", (error) => {
        child.kill("SIGKILL");
        drained();
        end(
          new LambdaInvocationError("Runtime.ExitError", `the function's container failed: ${error.message}`),
        );
      });
      child.on("exit", (code, signal) =>
        end(
          new LambdaInvocationError(
            "Runtime.ExitError",
            `the function's container exited (${signal ?? `code ${code}`})`,
          ),
        ),
      );
    });
    // An init failure is reported by invoke(); this keeps it from being an unhandled rejection meanwhile.
    this.ready.catch(() => undefined);
  }

  /**
   * Runs one invocation: initialization (at most 10 s, as on Lambda) first on a cold container, then the
   * handler with `timeoutMs`; past it the container is killed, as Lambda ends a timed-out sandbox.
   */
  async invoke(message: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    await this.within(this.ready, INIT_TIMEOUT_MS, "Sandbox.Timedout", "Init timed out");
    // The deadline starts with the handler (after initialization), for the kill timer and the context alike.
    const deadline = Date.now() + timeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.kill();
        reject(
          new LambdaInvocationError(
            "Sandbox.Timedout",
            `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
          ),
        );
      }, timeoutMs);
      this.pending = {
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      try {
        this.child.send({ ...message, deadline });
      } catch (error) {
        this.pending?.reject(
          new LambdaInvocationError(
            "Runtime.ExitError",
            `the function's container is gone: ${(error as Error).message}`,
          ),
        );
        this.pending = undefined;
      }
    });
  }

  private async within(work: Promise<void>, ms: number, errorType: string, message: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(new LambdaInvocationError(errorType, message));
      }, ms);
    });
    try {
      await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.dead = true;
    this.child.kill("SIGKILL");
  }
}

/** The containers of one function. */
export class LambdaContainers {
  private readonly idle: Container[] = [];
  private readonly all = new Set<Container>();
  private readonly waiting: { resolve(container: Container): void; reject(error: Error): void }[] = [];
  private readonly log: WriteStream;
  private readonly bootstrap: string;
  private readonly concurrency: number;
  /** Containers counted against the concurrency: started, and not known dead. */
  private live = 0;
  private closed = false;
  private started = 0;

  constructor(private readonly options: LambdaContainersOptions) {
    mkdirSync(options.workDir, { recursive: true, mode: 0o700 });
    this.bootstrap = join(options.workDir, "bootstrap.js");
    writeFileSync(this.bootstrap, BOOTSTRAP);
    this.log = createWriteStream(join(options.workDir, "function.log"), { flags: "a", mode: 0o600 });
    this.concurrency = options.concurrency ?? 4;
  }

  /** Where the function's own log lines go. */
  get logFile(): string {
    return join(this.options.workDir, "function.log");
  }

  /** How many containers have been started (cold starts). */
  get coldStarts(): number {
    return this.started;
  }

  /** Invokes the function with `event`; rejects with LambdaInvocationError when it fails. */
  async invoke(event: unknown, requestId: string = randomUUID()): Promise<unknown> {
    const { fn } = this.options;
    const container = await this.acquire();
    try {
      return await container.invoke(
        {
          id: requestId,
          requestId,
          event,
          functionArn: `arn:aws:lambda:${this.options.region}:${this.options.account}:function:${fn.name}`,
        },
        fn.timeoutSeconds * 1000,
      );
    } catch (error) {
      if (error instanceof LambdaInvocationError) {
        this.options.logger.warn("function invocation failed", {
          function: fn.name,
          requestId,
          errorType: error.errorType,
        });
      }
      throw error;
    } finally {
      this.release(container);
    }
  }

  /** Stops every container: a running invocation fails, and so does every one still waiting for a container. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(closedError());
    const containers = [...this.all];
    for (const container of containers) container.kill();
    await Promise.all(containers.map((container) => container.gone));
    await new Promise<void>((resolve) => this.log.end(resolve));
  }

  private async acquire(): Promise<Container> {
    if (this.closed) throw closedError();
    for (let container = this.idle.pop(); container !== undefined; container = this.idle.pop()) {
      if (!container.dead) return container;
    }
    if (this.live < this.concurrency) return this.start();
    return new Promise<Container>((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(container: Container): void {
    if (this.closed) return;
    if (container.dead) {
      // Killed (timeout) or crashed: it stops counting now, and a waiter gets a fresh container.
      this.uncount(container);
      return;
    }
    const next = this.waiting.shift();
    if (next !== undefined) next.resolve(container);
    else this.idle.push(container);
  }

  /** A dead container frees its place (once); a waiter, if any, gets a new container. */
  private uncount(container: Container): void {
    if (!container.counted) return;
    container.counted = false;
    this.live--;
    if (this.closed || this.live >= this.concurrency) return;
    const next = this.waiting.shift();
    if (next !== undefined) next.resolve(this.start());
  }

  private start(): Container {
    const { fn } = this.options;
    this.started++;
    const [file = "index", name = "handler"] = fn.handler.split(".");
    const memory = Math.max(64, Math.floor(fn.memoryMb * 0.9));
    const child = spawn(process.execPath, [`--max-old-space-size=${memory}`, this.bootstrap], {
      cwd: fn.codeDir,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        TZ: ":UTC",
        LANG: "en_US.UTF-8",
        ...this.options.platformEnvironment,
        _HANDLER: `${file}.${name}`,
        LAMBDA_TASK_ROOT: fn.codeDir,
        AWS_EXECUTION_ENV: "AWS_Lambda_nodejs24.x",
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
        AWS_LAMBDA_LOG_STREAM_NAME: `emulated/[$LATEST]${randomUUID().replace(/-/g, "")}`,
        ...fn.environment,
      },
    });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    const container = new Container(child, (dead) => {
      this.all.delete(dead);
      // An idle container that crashed, or a busy one whose invocation release() has not seen yet.
      this.uncount(dead);
    });
    this.all.add(container);
    this.live++;
    return container;
  }
}

/**
 * Starts a benchmark server in a child process (so the load generator and the server do not share an event
 * loop) and talks to it over IPC: its announced info, requests such as `memory` and `flush`, and a clean stop.
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import type { MemorySample, ReadyMessage, ReplyMessage } from "./protocol.js";

export interface ServerProcess<T> {
  readonly pid: number;
  readonly info: T;
  request<R>(type: string, args?: unknown): Promise<R>;
  memory(): Promise<MemorySample>;
  resetPeak(): Promise<MemorySample>;
  /** Asks the server to stop (it may close cleanly), then kills it if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Kills the server at once (SIGKILL) and waits for it to exit. */
  kill(): Promise<void>;
}

export interface StartOptions {
  /** Extra `node` flags, e.g. `--cpu-prof`. */
  readonly execArgv?: readonly string[];
  /** @default 30,000 ms */
  readonly startTimeoutMs?: number;
}

/** `entry` is a file name in this folder, e.g. `bare-server.js`. */
export function startServerProcess<T>(
  entry: string,
  args: readonly string[],
  options: StartOptions = {},
): Promise<ServerProcess<T>> {
  const child = fork(join(__dirname, entry), [...args], {
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    execArgv: [...(options.execArgv ?? [])],
    serialization: "json",
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${entry} did not start within ${options.startTimeoutMs ?? 30_000} ms; stderr: ${stderr}`),
      );
    }, options.startTimeoutMs ?? 30_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code} before it was ready; stderr: ${stderr}`));
    };
    child.once("exit", onExit);
    child.once("message", (message: ReadyMessage<T>) => {
      clearTimeout(timer);
      child.off("exit", onExit);
      if (message.type !== "ready") {
        child.kill("SIGKILL");
        reject(new Error(`${entry} sent ${JSON.stringify(message)} instead of ready`));
        return;
      }
      resolve(wrap(child, message.info, exited, () => stderr));
    });
  });
}

function wrap<T>(
  child: ChildProcess,
  info: T,
  exited: Promise<number | null>,
  stderr: () => string,
): ServerProcess<T> {
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  child.on("message", (message: ReplyMessage) => {
    const waiter = pending.get(message.id);
    if (waiter === undefined) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(new Error(message.error ?? "request failed"));
  });
  void exited.then((code) => {
    for (const waiter of pending.values()) {
      waiter.reject(new Error(`server process exited (${code}); stderr: ${stderr()}`));
    }
    pending.clear();
  });
  const request = <R>(type: string, args?: unknown): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      if (child.exitCode !== null || !child.connected) {
        reject(new Error(`server process is not running; stderr: ${stderr()}`));
        return;
      }
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, type, args });
    });
  return {
    pid: child.pid ?? -1,
    info,
    request,
    memory: () => request<MemorySample>("memory"),
    resetPeak: () => request<MemorySample>("reset-peak"),
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ id: 0, type: "stop" });
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

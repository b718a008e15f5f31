/**
 * The IPC protocol between a benchmark and the server it runs in a child process: the child announces itself
 * with a `ready` message, then answers requests (`{id, type}` → `{id, ok, value | error}`).
 */

/** Sent once by the child when it listens. */
export interface ReadyMessage<T> {
  readonly type: "ready";
  readonly info: T;
}

export interface RequestMessage {
  readonly id: number;
  readonly type: string;
  readonly args?: unknown;
}

export interface ReplyMessage {
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

/** Memory of the server process, in bytes. */
export interface MemorySample {
  readonly rss: number;
  /** Highest RSS since the last `reset-peak` (the kernel's VmHWM on Linux, else sampled every 50 ms). */
  readonly peakRss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

export type Handler = (args: unknown) => unknown | Promise<unknown>;

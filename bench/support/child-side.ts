/**
 * The child-process half of a benchmark server: memory sampling, the request loop over IPC and the `ready`
 * announcement. Used by the server entries in this folder, never by the parent.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Handler, MemorySample, ReadyMessage, ReplyMessage, RequestMessage } from "./protocol.js";

/**
 * Tracks peak RSS: the kernel's VmHWM, reset through /proc/self/clear_refs (Linux); elsewhere a 50 ms sampler
 * (which costs a little CPU, so it runs only where the kernel cannot tell).
 */
export class PeakRss {
  private peak = process.memoryUsage.rss();
  private readonly hwmResettable: boolean;

  constructor() {
    this.hwmResettable = resetKernelPeak();
    if (!this.hwmResettable) {
      setInterval(() => {
        const rss = process.memoryUsage.rss();
        if (rss > this.peak) this.peak = rss;
      }, 50).unref();
    }
  }

  reset(): void {
    this.peak = process.memoryUsage.rss();
    if (this.hwmResettable) resetKernelPeak();
  }

  sample(): MemorySample {
    const usage = process.memoryUsage();
    const hwm = this.hwmResettable ? kernelPeak() : undefined;
    return {
      rss: usage.rss,
      peakRss: Math.max(this.peak, usage.rss, hwm ?? 0),
      heapUsed: usage.heapUsed,
      external: usage.external,
      arrayBuffers: usage.arrayBuffers,
    };
  }
}

function resetKernelPeak(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return kernelPeak() !== undefined;
  } catch {
    return false;
  }
}

function kernelPeak(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Announces `info` to the parent and answers its requests with `handlers` (plus `memory` and `reset-peak`). */
export function serveParent<T>(info: T, handlers: Record<string, Handler>): void {
  const send = process.send?.bind(process);
  if (send === undefined)
    throw new Error("this entry must be started by the bench runner (with an IPC channel)");
  const peak = new PeakRss();
  const all: Record<string, Handler> = {
    memory: () => peak.sample(),
    "reset-peak": () => {
      peak.reset();
      return peak.sample();
    },
    ...handlers,
  };
  process.on("message", (message: RequestMessage) => {
    const handler = all[message.type];
    const reply = (body: Omit<ReplyMessage, "id">) => send({ id: message.id, ...body });
    if (handler === undefined) {
      reply({ ok: false, error: `unknown request ${message.type}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.args))
      .then(
        (value) => reply({ ok: true, value }),
        (error: unknown) =>
          reply({ ok: false, error: error instanceof Error ? error.message : String(error) }),
      );
  });
  // The parent going away (crash, Ctrl-C) must not leave a server running.
  process.on("disconnect", () => process.exit(0));
  const ready: ReadyMessage<T> = { type: "ready", info };
  send(ready);
}

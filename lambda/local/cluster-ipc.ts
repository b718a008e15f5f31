/**
 * Calls between the primary and its workers over the cluster IPC channel: `call(op, arg)` resolves with what
 * the other side's handler returned, or rejects with its error message. Messages carry ids and stream ids,
 * never tokens, keys or record content.
 */

interface CallMessage {
  readonly ingest: "call";
  readonly id: number;
  readonly op: string;
  readonly arg?: unknown;
}

interface ReplyMessage {
  readonly ingest: "reply";
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

/** A one-way notice (a worker's `ready`, `failed`). */
export interface EventMessage {
  readonly ingest: "event";
  readonly name: string;
  readonly data?: Record<string, unknown>;
}

type IpcMessage = CallMessage | ReplyMessage | EventMessage;

/** Something that can send on the channel: `process` in a worker, a `cluster.Worker` in the primary. */
export interface IpcChannel {
  send(message: unknown, callback?: (error: Error | null) => void): unknown;
  on(event: "message", listener: (message: unknown) => void): unknown;
}

export type IpcHandler = (arg: unknown) => Promise<unknown>;

export class IpcPeer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private closedReason: string | undefined;

  constructor(
    private readonly channel: IpcChannel,
    private readonly handlers: Readonly<Record<string, IpcHandler>>,
    private readonly onEvent: (event: EventMessage) => void = () => undefined,
  ) {
    channel.on("message", (message) => this.receive(message));
  }

  /** Calls `op` on the other side. Rejects once the channel is closed (see `close`). */
  call(op: string, arg?: unknown): Promise<unknown> {
    if (this.closedReason !== undefined) return Promise.reject(new Error(this.closedReason));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ ingest: "call", id, op, arg });
    });
  }

  /** Sends a notice; `sent` runs once it left this process (or could not be sent). */
  event(name: string, data?: Record<string, unknown>, sent?: () => void): void {
    if (sent === undefined) {
      this.post({ ingest: "event", name, data });
      return;
    }
    try {
      this.channel.send({ ingest: "event", name, data }, () => sent());
    } catch {
      sent();
    }
  }

  /** Rejects every pending call and any later one with `reason` (the other process is gone). */
  close(reason: string): void {
    this.closedReason ??= reason;
    for (const [id, { reject }] of this.pending) {
      this.pending.delete(id);
      reject(new Error(reason));
    }
  }

  private post(message: IpcMessage): void {
    try {
      this.channel.send(message);
    } catch (error) {
      // The channel closed under us; the 'disconnect'/'exit' handlers close this peer.
      if (message.ingest === "call") this.settle(message.id, false, undefined, String(error));
    }
  }

  private receive(raw: unknown): void {
    if (typeof raw !== "object" || raw === null || !("ingest" in raw)) return;
    const message = raw as IpcMessage;
    if (message.ingest === "reply") {
      this.settle(message.id, message.ok, message.value, message.error);
    } else if (message.ingest === "event") {
      this.onEvent(message);
    } else if (message.ingest === "call") {
      const handler = Object.hasOwn(this.handlers, message.op) ? this.handlers[message.op] : undefined;
      const done = (ok: boolean, value?: unknown, error?: string) =>
        this.post({ ingest: "reply", id: message.id, ok, value, error });
      if (handler === undefined) {
        done(false, undefined, `no such operation: ${message.op}`);
        return;
      }
      handler(message.arg).then(
        (value) => done(true, value),
        (error: unknown) => done(false, undefined, error instanceof Error ? error.message : String(error)),
      );
    }
  }

  private settle(id: number, ok: boolean, value: unknown, error: string | undefined): void {
    const waiter = this.pending.get(id);
    if (waiter === undefined) return;
    this.pending.delete(id);
    if (ok) waiter.resolve(value);
    else waiter.reject(new Error(error ?? "the call failed"));
  }
}

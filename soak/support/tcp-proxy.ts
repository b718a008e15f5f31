/**
 * A loopback TCP proxy whose behaviour a test switches at any moment, to put a real network fault between a
 * client and its server: `pass` forwards, `refuse` resets every connection (the server is down), `stall`
 * swallows every byte sent (the server hangs), so the client's own timeouts must fire.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export type ProxyMode = "pass" | "refuse" | "stall";

export interface TcpProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  mode: ProxyMode;
  /** Where connections go; may be set after start (before the first connection). */
  target: { host: string; port: number } | undefined;
  /** Connections reset or stalled since start. */
  readonly faulted: number;
  close(): Promise<void>;
}

export async function startTcpProxy(): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let faulted = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
  };
  const server: Server = createServer((client) => {
    track(client);
    if (proxy.mode === "refuse" || proxy.target === undefined) {
      faulted++;
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(proxy.target);
    track(upstream);
    client.on("data", (chunk) => {
      if (proxy.mode === "pass") {
        upstream.write(chunk);
      } else if (proxy.mode === "refuse") {
        faulted++;
        client.resetAndDestroy();
        upstream.destroy();
      } else {
        faulted++; // stall: the request never reaches the server and nothing comes back
      }
    });
    upstream.on("data", (chunk) => {
      if (proxy.mode === "pass") client.write(chunk);
    });
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no port");
  const proxy: TcpProxy = {
    url: `http://127.0.0.1:${address.port}`,
    mode: "pass",
    target: undefined,
    get faulted() {
      return faulted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}

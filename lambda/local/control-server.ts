/**
 * The control endpoint of a running server, on loopback only and behind a random bearer secret: lets the CLI
 * ask for a flush (seal every open batch) without touching files the server owns.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../core/ports.js";

export interface ControlActions {
  flush(): Promise<string[]>;
}

export interface RunningControlServer {
  readonly url: string;
  readonly secret: string;
  close(): Promise<void>;
}

export async function startControlServer(
  actions: ControlActions,
  logger: Logger,
): Promise<RunningControlServer> {
  const secret = randomBytes(24).toString("base64url");
  const expected = Buffer.from(`Bearer ${secret}`);
  const server: Server = createServer((req, res) => {
    const given = Buffer.from(req.headers.authorization ?? "");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    req.resume();
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return send(401, { error: "unauthorized" });
    if (req.method === "POST" && req.url === "/flush") {
      actions.flush().then(
        (sealed) => send(200, { sealed }),
        (error: unknown) => {
          logger.error("flush failed", { errorName: error instanceof Error ? error.name : typeof error });
          send(503, { error: "flush failed; see the server log" });
        },
      );
      return;
    }
    send(404, { error: "no such control action" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    secret,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The control endpoint of a running server, on loopback only and behind a random bearer secret: lets the CLI
 * ask the server to act on what it owns (seal every open batch, reload the signing keys) instead of touching
 * its files behind its back.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../core/ports.js";

/** Each action answers with a JSON document; a rejection becomes a 503 (its cause is logged, not sent). */
export interface ControlActions {
  /** `POST /flush`: seals every open batch. */
  flush(): Promise<{ sealed: string[] }>;
  /** `POST /reload-signing-keys`: re-reads the signing keys, so new kids verify and removed ones stop. */
  reloadSigningKeys(): Promise<{ kids: string[] }>;
}

const ROUTES = {
  "/flush": "flush",
  "/reload-signing-keys": "reloadSigningKeys",
} as const satisfies Record<string, keyof ControlActions>;

type ControlPath = keyof typeof ROUTES;

function isControlPath(path: string | undefined): path is ControlPath {
  return path !== undefined && Object.hasOwn(ROUTES, path);
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
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return send(401, { error: "unauthorized" });
    }
    if (req.method !== "POST" || !isControlPath(req.url))
      return send(404, { error: "no such control action" });
    const action = ROUTES[req.url];
    actions[action]().then(
      (result) => send(200, result),
      (error: unknown) => {
        logger.error(`control action ${action} failed`, {
          errorName: error instanceof Error ? error.name : typeof error,
        });
        send(503, { error: `${action} failed; see the server log` });
      },
    );
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

/** Calls an action of the server described by a run state; throws with a readable message on failure. */
export async function callControlAction(
  server: { readonly controlUrl: string; readonly controlSecret: string; readonly pid: number },
  path: ControlPath,
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${server.controlUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.controlSecret}` },
    });
  } catch (error) {
    throw new Error(`the server (pid ${server.pid}) did not answer on its control port: ${String(error)}`);
  }
  const body = (await response.json()) as { error?: string };
  if (!response.ok) throw new Error(body.error ?? `control action failed with ${response.status}`);
  return body;
}

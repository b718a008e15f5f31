/**
 * The baseline of the HTTP benchmarks: a bare node:http server that reads the whole body and answers 202 with a
 * small JSON body — no auth, no validation, no disk. Started by the bench runner as a child process.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { serveParent } from "./child-side.js";

export interface BareServerInfo {
  readonly url: string;
}

const body = JSON.stringify({
  status: "accepted",
  stream: "is-Baseline",
  request_id: "00000000-0000-4000-8000-000000000000",
});
const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    Buffer.concat(chunks);
    res.writeHead(202, headers);
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  serveParent<BareServerInfo>(
    { url: `http://127.0.0.1:${port}` },
    {
      stop: () => {
        server.close();
        server.closeAllConnections();
        setImmediate(() => process.exit(0));
        return true;
      },
    },
  );
});

/** A small HTTP client for tests: real requests over loopback, with full control of headers and bodies. */
import { request } from "node:http";

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body parsed as JSON (every response of the API is JSON). */
  readonly json: Record<string, unknown>;
}

export interface HttpRequest {
  readonly method?: string;
  readonly headers?: Record<string, string | number>;
  /** A Buffer/string is sent as is with Content-Length; an array of chunks is sent chunked. */
  readonly body?: string | Uint8Array | readonly (string | Uint8Array)[];
}

export function send(url: string, req: HttpRequest = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...req.headers };
    const chunked = Array.isArray(req.body);
    if (!chunked && req.body !== undefined && headers["content-length"] === undefined) {
      headers["content-length"] = Buffer.byteLength(req.body as string | Uint8Array);
    }
    const r = request(url, { method: req.method ?? "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: Record<string, unknown> = {};
        try {
          json = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
        } catch {
          json = { unparsed: text };
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on("error", reject);
    });
    r.on("error", reject);
    if (chunked) {
      for (const chunk of req.body as (string | Uint8Array)[]) r.write(chunk);
      r.end();
    } else {
      r.end(req.body as string | Uint8Array | undefined);
    }
  });
}

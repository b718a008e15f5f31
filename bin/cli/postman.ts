/**
 * `ingest postman [--stream ID] [--base-url URL] > collection.json`: a Postman v2.1 collection of the API, with
 * variables for the base URL, tenant, token and stream id, and requests in the documentation's shape.
 */
import type { Command } from "commander";
import { readLiveRunState } from "../../lambda/local/run-state.js";
import { SAMPLE_JSON_RECORD, SAMPLE_XML_RECORD } from "./banner.js";
import { CliError, type GlobalOptions, layoutOf, withRegistry } from "./context.js";

interface PostmanFlags {
  stream?: string;
  baseUrl?: string;
}

const SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";
const DEFAULT_LOCAL_URL = "http://127.0.0.1:8080";
const SAMPLE_BATCH = [
  '{"email":"justin.case@example.com","loyalty_id":"00501","order_total":125.50}',
  '{"email":"jane.doe@example.com","loyalty_id":"00502","order_total":19.99}',
].join("\n");

export interface CollectionInput {
  readonly baseUrl: string;
  readonly tenant: string;
  readonly streamId: string;
  /** The payload type of `streamId` when it is known, to say which requests fit it. */
  readonly payload?: "json" | "xml";
}

export function registerPostmanCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("postman")
    .description("print a Postman v2.1 collection of the API (variables: baseUrl, tenant, token, streamId)")
    .option("--stream <id>", "fill in this stream's id and tenant")
    .option(
      "--base-url <url>",
      "the API's URL (default: the stack's ApiUrl with --stack, the running server's, else http://127.0.0.1:8080)",
    )
    .action(async (flags: PostmanFlags) => {
      const options = globals();
      const baseUrl = await baseUrlOf(options, flags.baseUrl);
      let input: CollectionInput = { baseUrl, tenant: "demo", streamId: "is-AbCDefGH" };
      if (flags.stream !== undefined) {
        const id = flags.stream;
        const stream = await withRegistry(options, (admin) => admin.getStream(id));
        if (stream === undefined) throw new CliError(`no stream ${id}`);
        input = { baseUrl, tenant: stream.tenant, streamId: stream.id, payload: stream.payload };
      }
      options.stdout(`${JSON.stringify(postmanCollection(input), null, 2)}\n`);
    });
}

async function baseUrlOf(options: GlobalOptions, given: string | undefined): Promise<string> {
  if (given !== undefined) {
    let url: URL;
    try {
      url = new URL(given);
    } catch {
      throw new CliError(`--base-url must be an http(s) URL; got ${JSON.stringify(given)}`, 2);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new CliError(`--base-url must be an http(s) URL; got ${JSON.stringify(given)}`, 2);
    }
    return given.replace(/\/+$/, "");
  }
  if (options.stack !== undefined) return (await options.stack.outputs()).apiUrl;
  return (await readLiveRunState(layoutOf(options).runState))?.apiUrl ?? DEFAULT_LOCAL_URL;
}

/** The collection: one request per route of the contract, each with a saved example answer. */
export function postmanCollection(input: CollectionInput): Record<string, unknown> {
  const fits = (payload: "json" | "xml") =>
    input.payload === undefined || input.payload === payload
      ? ""
      : ` Stream ${input.streamId} takes ${input.payload.toUpperCase()}: set streamId to a ${payload.toUpperCase()} stream for this one.`;
  return {
    info: {
      name: "Streaming Ingest",
      description:
        "Send records to the Streaming Ingest API. Set the collection variable `token` to an access token (`ingest tokens issue --key <key-id> --days N`; never commit it), `tenant` to its tenant and `streamId` to a stream of that tenant. A 202 means the record is durable. Retry 429, 500, 503 and 504 after `Retry-After`; never retry other 4xx. The full contract: GET {{baseUrl}}/openapi.json.",
      schema: SCHEMA,
    },
    auth: { type: "bearer", bearer: [{ key: "token", value: "{{token}}", type: "string" }] },
    variable: [
      { key: "baseUrl", value: input.baseUrl, type: "string" },
      { key: "tenant", value: input.tenant, type: "string" },
      { key: "token", value: "", type: "string" },
      { key: "streamId", value: input.streamId, type: "string" },
    ],
    item: [
      recordRequest(
        "Send a JSON record",
        `One JSON object per request, at most 260,096 bytes.${fits("json")}`,
        "data",
        "application/json",
        SAMPLE_JSON_RECORD,
        "json",
      ),
      recordRequest(
        "Send an XML record",
        `One XML document per request (no DOCTYPE), at most 260,096 bytes; stored as one CBOR map.${fits("xml")}`,
        "data",
        "application/xml",
        SAMPLE_XML_RECORD,
        "xml",
      ),
      recordRequest(
        "Send a batch of JSON records",
        `NDJSON, one JSON object per line: up to 500 records and 4 MiB, all or nothing.${fits("json")}`,
        "batch",
        "application/x-ndjson",
        SAMPLE_BATCH,
        "text",
      ),
      {
        name: "Health",
        request: {
          auth: { type: "noauth" },
          method: "GET",
          header: [],
          url: url(["health"]),
          description: '200 {"status":"ok"} while the API is up.',
        },
        response: [],
      },
    ],
  };
}

function recordRequest(
  name: string,
  description: string,
  route: "data" | "batch",
  contentType: string,
  body: string,
  language: "json" | "xml" | "text",
): Record<string, unknown> {
  const request = {
    method: "POST",
    header: [
      { key: "X-Amperity-Tenant", value: "{{tenant}}", type: "text" },
      { key: "Content-Type", value: contentType, type: "text" },
    ],
    body: { mode: "raw", raw: body, options: { raw: { language } } },
    url: url(["stream", "v0", route, "{{streamId}}"]),
    description,
  };
  const accepted: Record<string, unknown> = {
    status: "accepted",
    stream: "{{streamId}}",
    request_id: "6f1c7e0a-2d5b-4c8e-9a57-3f0d3c1b2a90",
  };
  if (route === "batch") accepted.records = 2;
  return {
    name,
    request,
    response: [
      {
        name: "202 Accepted",
        originalRequest: request,
        status: "Accepted",
        code: 202,
        _postman_previewlanguage: "json",
        header: [{ key: "Content-Type", value: "application/json; charset=utf-8" }],
        body: JSON.stringify(accepted, null, 2),
      },
    ],
  };
}

function url(path: string[]): Record<string, unknown> {
  return { raw: `{{baseUrl}}/${path.join("/")}`, host: ["{{baseUrl}}"], path };
}

/** What `ingest serve` prints: where things are, and ready-to-paste curl commands in the documentation's shape. */
import { relative } from "node:path";
import type { StreamRecord } from "../../lambda/core/types.js";

export interface BannerInput {
  readonly apiUrl: string;
  readonly registryEndpoint: string;
  readonly dataDir: string;
  readonly streams: readonly StreamRecord[];
  /** A token printed this once (first start); otherwise the banner shows how to issue one. */
  readonly token?: { readonly value: string; readonly keyId: string; readonly expiresAt: string };
  readonly keyIdHint?: string;
  /** Worker processes serving the port (`--workers`). @default 1 */
  readonly workers?: number;
  /** Set for `serve --emulate-aws`: what runs, and where its tables, files and logs are. */
  readonly emulation?: {
    readonly stackName: string;
    readonly cloudAssembly: string;
    readonly tables: { readonly streams: string; readonly apiKeys: string };
    readonly bucketDir: string;
    readonly functionLog: string;
    readonly concurrency: number;
  };
}

export const SAMPLE_JSON_RECORD = ` {
    "email": "justin.case@example.com",
    "first_name": "Justin",
    "last_name": "Case",
    "loyalty_id": "00501",
    "order_total": 125.50
  }`;

export const SAMPLE_XML_RECORD = `<?xml version="1.0" encoding="UTF-8"?>
<records>
  <record>
    <email>justin.case@example.com</email>
    <first_name>Justin</first_name>
    <loyalty_id>00501</loyalty_id>
  </record>
</records>`;

/**
 * The curl command for one record, in the documentation's shape. `token` is a token, or a shell variable such
 * as `$TOKEN`: that header is then double-quoted, or the shell would send the variable's name.
 */
export function curlCommand(apiUrl: string, stream: StreamRecord, token: string): string {
  const json = stream.payload === "json";
  const quote = token.startsWith("$") ? '"' : "'";
  return [
    `curl -X POST '${apiUrl}/stream/v0/data/${stream.id}' \\`,
    `  -H 'X-Amperity-Tenant: ${stream.tenant}' \\`,
    `  -H 'Content-Type: ${json ? "application/json" : "application/xml"}' \\`,
    `  -H ${quote}Authorization: Bearer ${token}${quote} \\`,
    `  -d '${json ? SAMPLE_JSON_RECORD : SAMPLE_XML_RECORD}'`,
  ].join("\n");
}

export function banner(input: BannerInput): string {
  const shown = relative(process.cwd(), input.dataDir);
  const dataDir = shown === "" ? "." : shown.startsWith("..") ? input.dataDir : shown;
  const shownPath = (path: string) => {
    const r = relative(process.cwd(), path);
    return r === "" ? "." : r.startsWith("..") ? path : r;
  };
  const emulation = input.emulation;
  const lines =
    emulation === undefined
      ? [
          "Streaming Ingest is running (local mode).",
          `  API              ${input.apiUrl}   (POST /stream/v0/data/<id> and /stream/v0/batch/<id>; GET /openapi.json)`,
          `  processes        ${(input.workers ?? 1) === 1 ? "1 (--workers 1)" : `${input.workers} workers and a primary (--workers)`}`,
          `  registry         ${input.registryEndpoint}   (DynamoDB API: tables ingest-streams, ingest-api-keys)`,
          `  data directory   ${dataDir}`,
          "",
        ]
      : [
          `Streaming Ingest is running the AWS build of stack ${emulation.stackName} from ${emulation.cloudAssembly} (--emulate-aws).`,
          `  API              ${input.apiUrl}   (emulated API Gateway → the bundled ingest Lambda, ${emulation.concurrency} containers)`,
          `  registry         ${input.registryEndpoint}   (DynamoDB API: tables ${emulation.tables.streams}, ${emulation.tables.apiKeys})`,
          `  bucket           ${shownPath(emulation.bucketDir)}   (what Firehose writes to S3)`,
          `  Lambda log       ${shownPath(emulation.functionLog)}`,
          `  data directory   ${dataDir}   (the emulated account's state is under aws/)`,
          "",
        ];
  // JSON first: it is the preferred payload type.
  const active = input.streams
    .filter((s) => s.status === "active")
    .sort((a, b) => (a.payload === b.payload ? 0 : a.payload === "json" ? -1 : 1));
  if (input.token !== undefined) {
    lines.push(
      `First start: created tenant "demo" with a JSON stream, an XML stream, API key ${input.token.keyId}`,
      `and an access token valid until ${input.token.expiresAt}. The token is shown this once and stored nowhere.`,
      "",
    );
  } else {
    lines.push(
      "Get an access token (printed once, stored nowhere) and put it in $TOKEN:",
      `  export TOKEN=$(npm run -s ingest -- tokens issue --key ${input.keyIdHint ?? "<key-id>"} --days 7 --json | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')`,
      "",
    );
  }
  const token = input.token?.value ?? "$TOKEN";
  for (const stream of active.slice(0, 2)) {
    lines.push(
      `Send ${stream.payload === "xml" ? "an" : "a"} ${stream.payload.toUpperCase()} record to ${stream.id} (${stream.name}); expect 202:`,
      "",
    );
    lines.push(curlCommand(input.apiUrl, stream, token), "");
  }
  if (active.length === 0)
    lines.push("No active stream: create one with `npm run ingest -- streams create --help`.", "");
  if (emulation === undefined) {
    lines.push(
      "A 202 means the record is on disk and fsynced. Batches are sealed by size or age (defaults 5 MiB / 300 s),",
      "or now with:   npm run ingest -- flush",
      `Sealed files:  ${dataDir}/objects/streams/<tenant>/<stream-id>/YYYY/MM/DD/HH/*.ndjson | *.cbor`,
      "Read them:     npm run ingest -- read <file-or-folder> [--format csv --flatten]",
      "Stop with Ctrl-C (open batches are sealed first).",
    );
  } else {
    lines.push(
      "A 202 means the emulated Firehose acknowledged the record (it keeps it in a journal until delivered).",
      "It delivers by each stream's buffer size or seconds (defaults 5 MiB / 300 s), or now with:",
      "               npm run ingest -- flush",
      `Objects:       ${shownPath(emulation.bucketDir)}/streams/<tenant>/<stream-id>/YYYY/MM/DD/HH/*.ndjson | *.cbor`,
      "Read them:     npm run ingest -- read <file-or-folder> [--format csv --flatten]",
      "A new stream takes records once the provisioner has made its delivery stream ACTIVE (a few seconds):",
      "               npm run ingest -- streams list   (DELIVERY column)",
      "Stop with Ctrl-C (buffered records are delivered first).",
    );
  }
  return lines.join("\n");
}

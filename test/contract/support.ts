/**
 * Shared pieces of the HTTP contract suite: the documentation's example bodies, requests as a client sends them,
 * the documented response shapes, and reading back what a target delivered to its bucket directory.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { decodeMultiple } from "cbor-x";
import type { StreamRecord } from "../../lambda/core/types.js";
import { filesUnder } from "../helpers/files.js";
import { type HttpResult, send } from "../helpers/http.js";
import type { ContractTarget } from "./target.js";

/** README "Quick start" / "Sending records": the curl example's `-d` body, leading space and `125.50` included. */
export const DOC_JSON_BODY = ` {
    "email": "justin.case@example.com",
    "first_name": "Justin",
    "last_name": "Case",
    "loyalty_id": "00501",
    "order_total": 125.50
  }`;

/** The stored NDJSON line of DOC_JSON_BODY: minified, the number as sent. */
export const DOC_JSON_LINE =
  '{"email":"justin.case@example.com","first_name":"Justin","last_name":"Case","loyalty_id":"00501","order_total":125.50}';

/** An XML document in the documentation's shape (README "Sending records", XML streams). */
export const DOC_XML_BODY = `<?xml version="1.0" encoding="UTF-8"?>
<records>
  <record>
    <email>justin.case@example.com</email>
    <first_name>Justin</first_name>
    <loyalty_id>00501</loyalty_id>
  </record>
  <record>
    <email>jane.doe@example.com</email>
    <first_name>Jane</first_name>
    <loyalty_id>00502</loyalty_id>
  </record>
</records>`;

export const DOC_XML_RECORD = {
  records: {
    record: [
      { email: "justin.case@example.com", first_name: "Justin", loyalty_id: "00501" },
      { email: "jane.doe@example.com", first_name: "Jane", loyalty_id: "00502" },
    ],
  },
};

/** README "Sending records": the sentence's example, repeated siblings as an array, zips as strings. */
export const DOC_XML_SENTENCE_BODY =
  "<records><record><zip>00501</zip></record><record><zip>00502</zip></record></records>";
export const DOC_XML_SENTENCE_RECORD = { records: { record: [{ zip: "00501" }, { zip: "00502" }] } };

/** README "Sending batches": the two lines of records.ndjson, sent with `--data-binary` (newline-terminated). */
export const DOC_BATCH_LINES = [
  '{"email":"justin.case@example.com","loyalty_id":"00501","order_total":125.50}',
  '{"email":"jane.doe@example.com","loyalty_id":"00502","order_total":19.99}',
];

/** README "Sending batches": the body whose lines 2 and 4 are bad. */
export const DOC_BAD_BATCH =
  '{"email":"a@example.com"}\n{"email":"b@example.com",}\n{"n":1}\n[1,2]\n{"n":2}\n';

export const MIB = 1024 * 1024;
/** The single-record limit, 254 KiB. */
export const MAX_RECORD_BYTES = 260_096;

export type Endpoint = "data" | "batch";

export interface PostOptions {
  readonly token?: string | undefined;
  /** @default the stream's tenant; `null` leaves the header out */
  readonly tenant?: string | null;
  /** @default application/json (data) or application/x-ndjson (batch); `null` leaves the header out */
  readonly contentType?: string | null;
  readonly headers?: Record<string, string>;
  readonly body: string | Uint8Array | readonly (string | Uint8Array)[];
}

export function streamUrl(target: ContractTarget, endpoint: Endpoint, streamId: string): string {
  return `${target.url}/stream/v0/${endpoint}/${streamId}`;
}

/** A POST as a client sends it: bearer token, tenant header, content type. */
export function post(
  target: ContractTarget,
  endpoint: Endpoint,
  stream: Pick<StreamRecord, "id" | "tenant">,
  options: PostOptions,
): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const tenant = options.tenant === undefined ? stream.tenant : options.tenant;
  if (tenant !== null) headers["x-amperity-tenant"] = tenant;
  const contentType =
    options.contentType === undefined
      ? endpoint === "batch"
        ? "application/x-ndjson"
        : "application/json"
      : options.contentType;
  if (contentType !== null) headers["content-type"] = contentType;
  return send(streamUrl(target, endpoint, stream.id), {
    headers: { ...headers, ...options.headers },
    body: options.body,
  });
}

/** The header's single value (node gives arrays only for set-cookie). */
export function header(res: HttpResult, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

/** Every response is JSON with an x-request-id (README "Status codes"). */
export function expectJsonWithRequestId(res: HttpResult): string {
  expect(header(res, "content-type")).toMatch(/^application\/json(;|$)/);
  const requestId = header(res, "x-request-id");
  expect(requestId).toMatch(/^\S+$/);
  return requestId ?? "";
}

/** 202 exactly as documented: `{"status":"accepted","stream":…,"request_id":…}` (+ `records` for a batch). */
export function expectAccepted(res: HttpResult, streamId: string, records?: number): void {
  expect({ status: res.status, body: res.text }).toEqual({ status: 202, body: expect.any(String) });
  const requestId = expectJsonWithRequestId(res);
  const expected: Record<string, unknown> = { status: "accepted", stream: streamId, request_id: requestId };
  if (records !== undefined) expected.records = records;
  // The exact text: field order as documented, nothing more.
  expect(res.text).toBe(JSON.stringify(expected));
}

/** An error as documented: `{"error":{"code","message","retryable"}}` with the status's retry flag. */
export function expectError(
  res: HttpResult,
  status: number,
  code: string | readonly string[],
  extra: Record<string, unknown> = {},
): { code: string; message: string } {
  expect({ status: res.status, body: res.json }).toEqual({
    status,
    body: {
      error: {
        code: typeof code === "string" ? code : expect.any(String),
        message: expect.stringMatching(/\S/),
        retryable: status === 429 || status >= 500,
        ...extra,
      },
    },
  });
  const error = res.json.error as { code: string; message: string };
  if (typeof code !== "string") expect(code).toContain(error.code);
  expectJsonWithRequestId(res);
  return error;
}

/** `Retry-After` in whole seconds, as 429 and 503 promise. */
export function expectRetryAfter(res: HttpResult): void {
  expect(header(res, "retry-after")).toMatch(/^[1-9]\d*$/);
}

/** What a client expects to find delivered: the stored text of each accepted record, per stream. */
export class Ledger {
  private readonly expected = new Map<string, string[]>();

  /** Records `items` as stored for `streamId` (NDJSON lines, or CBOR items as `canonical` JSON). */
  add(streamId: string, ...items: string[]): void {
    this.expected.set(streamId, [...(this.expected.get(streamId) ?? []), ...items]);
  }

  /** Every record accepted for the stream so far, as a sorted multiset. */
  of(streamId: string): string[] {
    return [...(this.expected.get(streamId) ?? [])].sort();
  }
}

export interface DeliveredFile {
  /** Relative to `streams/<tenant>/<stream-id>/`. */
  readonly path: string;
  /** NDJSON lines (without `\n`), or CBOR items as `canonical` JSON. */
  readonly items: string[];
}

/**
 * Reads every file delivered for `stream` under `bucketDir/streams/<tenant>/<stream-id>/`, checking the layout
 * and format the README documents: `YYYY/MM/DD/HH/` folders of a plausible UTC hour (from `since` to now), the
 * extension of the stream's payload and compression, NDJSON lines minified and `\n`-terminated, CBOR maps.
 * File names beyond the extension are the runtime's own (Firehose names them differently) and not checked.
 */
export function deliveredFiles(target: ContractTarget, stream: StreamRecord, since: number): DeliveredFile[] {
  const root = join(target.bucketDir, "streams", stream.tenant, stream.id);
  const ext = `${stream.payload === "json" ? "ndjson" : "cbor"}${stream.delivery.compression === "gzip" ? ".gz" : ""}`;
  const firstHour = Math.floor(since / 3_600_000) * 3_600_000;
  return filesUnder(root).map((path) => {
    const match = /^(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/[^/]+$/.exec(path);
    expect({ path, layout: match !== null, ext: path.endsWith(`.${ext}`) }).toEqual({
      path,
      layout: true,
      ext: true,
    });
    const [, y, mo, d, h] = match ?? [];
    const hour = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h));
    expect(hour).toBeGreaterThanOrEqual(firstHour);
    expect(hour).toBeLessThanOrEqual(Date.now());
    const raw = readFileSync(join(root, path));
    const bytes = stream.delivery.compression === "gzip" ? gunzipSync(raw) : raw;
    return { path, items: stream.payload === "json" ? ndjsonLines(bytes, path) : cborItems(bytes) };
  });
}

/** Every record delivered for the stream, as a sorted multiset (order across files is the runtime's). */
export async function delivered(
  target: ContractTarget,
  stream: StreamRecord,
  since: number,
): Promise<string[]> {
  await target.flush();
  return deliveredFiles(target, stream, since)
    .flatMap((file) => file.items)
    .sort();
}

function ndjsonLines(bytes: Buffer, path: string): string[] {
  const text = bytes.toString("utf8");
  expect({ path, endsWithNewline: text.endsWith("\n") }).toEqual({ path, endsWithNewline: true });
  const lines = text.slice(0, -1).split("\n");
  for (const line of lines) {
    // One JSON object per line (that it is minified and exact is checked against the ledger).
    expect(line).toMatch(/^\{.*\}$/);
  }
  return lines;
}

function cborItems(bytes: Buffer): string[] {
  const items: string[] = [];
  decodeMultiple(bytes, (item: unknown) => {
    expect(item).toEqual(expect.any(Object));
    expect(Array.isArray(item)).toBe(false);
    items.push(canonical(item));
  });
  return items;
}

/** JSON with object keys sorted, to compare decoded CBOR items as a multiset. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** `count` JSON lines `{"n": <from+i>, "total": 1.50}` (with spaces, stored minified). */
export function ndjson(count: number, from = 0): string {
  return Array.from({ length: count }, (_, i) => `{"n": ${from + i}, "total": 1.50}`).join("\n");
}

/** The stored form of ndjson(count, from). */
export function ndjsonStored(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => `{"n":${from + i},"total":1.50}`);
}

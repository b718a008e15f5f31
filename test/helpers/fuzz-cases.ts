/**
 * HTTP fuzz cases against a running ingest server, shared by the fast jest test (test/integration/http-fuzz)
 * and the long soak (soak/fuzz.soak.ts). A case is a whole request as bytes, written to a raw socket (so it
 * can be malformed in any way) and then half-closed; its outcome is the server's first response, or how the
 * connection ended without one. No jest imports here: the soak builds and runs this file with plain node.
 */
import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { Decoder } from "cbor-x";
import fc from "fast-check";
import { jsonRecord, orderedForm, type XmlModelValue, xmlRecord } from "./record-models.js";

/** Where to send: the server and, per payload type, one active stream with a valid token. */
export interface FuzzTarget {
  readonly host: string;
  readonly port: number;
  readonly tenant: string;
  readonly json: { readonly streamId: string; readonly token: string };
  readonly xml: { readonly streamId: string; readonly token: string };
}

/**
 * Statuses the API documents for bad or hostile input, plus 200 (health) and 202 (valid record). 503 (over the
 * concurrency bound) and 429 (rate limit) are documented too but cannot be caused by one request's content:
 * the fuzzers stay far below both bounds, so either one would be a finding. 408 is the server cutting off a
 * client that sent too little; 431 oversized headers. 411/417/5xx are never legitimate here.
 */
export const ALLOWED_STATUSES: ReadonlySet<number> = new Set([
  200, 202, 400, 401, 403, 404, 405, 408, 413, 415, 431,
]);

/** What a case must land if it is answered 202. */
export type Landing =
  | { readonly stream: "json"; readonly line: string }
  | { readonly stream: "xml"; readonly value: Map<string, XmlModelValue> };

export interface FuzzCase {
  /** Which generator made it (reported per family). */
  readonly family: string;
  /** The request bytes, written in this many chunks. */
  readonly chunks: readonly Uint8Array[];
  /** When the case is a request the API must accept: it must be answered 202 and land this. */
  readonly mustAccept?: Landing;
  /** What a 202 to this case would land (valid body to the right stream); undefined: a 202 is a finding. */
  readonly landing?: Landing;
  /** HEAD requests get no body. */
  readonly head: boolean;
}

export type FuzzOutcome =
  | {
      readonly kind: "response";
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: string;
      readonly ms: number;
    }
  | { readonly kind: "closed"; readonly ms: number; readonly error?: string }
  | { readonly kind: "hang"; readonly ms: number };

// ------------------------------------------------------------------------------------------------------------
// Building blocks
// ------------------------------------------------------------------------------------------------------------

const enc = (s: string) => Buffer.from(s, "latin1");
const utf8 = (s: string) => Buffer.from(s, "utf8");

/** A header line's value bytes; the name and value are written as is (latin1), so anything can be sent. */
type Header = readonly [name: string, value: string];

interface BodySpec {
  readonly kind: string;
  readonly bytes: Uint8Array;
  /** Content-Encoding to declare (undefined: none). */
  readonly encoding?: string;
  /** Whether `bytes` are gzip data (a valid record is accepted only when that matches the declaration). */
  readonly gzipped?: boolean;
  readonly landing?: Landing;
  /** The stream this body is valid for. */
  readonly validFor?: "json" | "xml";
}

const LIMIT = 260_096;

/** The record the malformed-HTTP cases carry. */
const A1: Landing = { stream: "json", line: '{"a":1}' };

function gzipOf(bytes: Uint8Array): Buffer {
  return gzipSync(bytes);
}

/** Bodies: valid records (plain and gzip), and every kind of bad input. */
function bodies(): fc.Arbitrary<BodySpec> {
  const validJson = jsonRecord.map(
    (r): BodySpec => ({
      kind: "json",
      bytes: utf8(r.text),
      landing: { stream: "json", line: r.compact },
      validFor: "json",
    }),
  );
  const validXml = xmlRecord.map(
    (r): BodySpec => ({
      kind: "xml",
      bytes: utf8(r.text),
      landing: { stream: "xml", value: r.expected },
      validFor: "xml",
    }),
  );
  const gzipped = fc.tuple(fc.oneof(validJson, validXml), fc.constantFrom("gzip", "x-gzip", "GZIP")).map(
    ([b, encoding]): BodySpec => ({
      ...b,
      kind: `${b.kind}+gzip`,
      bytes: gzipOf(b.bytes),
      encoding,
      gzipped: true,
    }),
  );
  const invalid: fc.Arbitrary<BodySpec> = fc.oneof(
    // random bytes, made invalid for sure by a leading byte no record starts with
    fc
      .uint8Array({ maxLength: 3000 })
      .map((b) => ({ kind: "random-bytes", bytes: Buffer.concat([enc("\x01"), b]) })),
    // invalid UTF-8 inside an otherwise valid object
    fc
      .constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82])
      .map((bad) => ({
        kind: "invalid-utf8",
        bytes: Buffer.concat([enc('{"a":"'), Buffer.from(bad), enc('"}')]),
      })),
    fc.constantFrom(
      { kind: "empty", bytes: Buffer.alloc(0) },
      { kind: "tiny", bytes: enc("{") },
      { kind: "tiny", bytes: enc("<") },
      { kind: "ndjson", bytes: enc('{"a":1}\n{"a":2}\n') },
      { kind: "json-array", bytes: enc("[1,2]") },
      { kind: "deep-json", bytes: enc(`{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}`) },
      { kind: "deep-json", bytes: enc(`{"a":${"[".repeat(100_000)}`) },
      { kind: "deep-xml", bytes: enc(`${"<a>".repeat(50_000)}${"</a>".repeat(50_000)}`) },
      { kind: "xml-doctype", bytes: enc('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>') },
      {
        kind: "xml-laughs",
        bytes: enc(
          `<!DOCTYPE l [<!ENTITY a "aaaa">${Array.from({ length: 9 }, (_, i) => `<!ENTITY a${i} "${`&a${i ? i - 1 : ""};`.repeat(10)}">`).join("")}]><l>&a8;</l>`,
        ),
      },
      {
        kind: "xml-attrs",
        bytes: enc(`<e${Array.from({ length: 20_000 }, (_, i) => ` a${i}=""`).join("")}/>`),
      },
      { kind: "xml-pi-only", bytes: enc('<?xml version="1.0"?><?pi data?>') },
      { kind: "bom-only", bytes: Buffer.from([0xef, 0xbb, 0xbf]) },
    ),
    // over the limit, plain or as a gzip bomb
    fc.constantFrom(LIMIT + 1, LIMIT + 4096, 3 * LIMIT).map((n) => ({
      kind: "huge",
      bytes: Buffer.concat([enc('{"a":"'), Buffer.alloc(n, 0x61), enc('"}')]),
    })),
    fc.constant({
      kind: "gzip-bomb",
      bytes: gzipOf(Buffer.concat([enc('{"a":"'), Buffer.alloc(4 * 1024 * 1024, 0x61), enc('"}')])),
      encoding: "gzip",
    }),
    // truncated or garbled gzip of a valid record
    fc.tuple(validJson, fc.nat(), fc.nat(255), fc.boolean()).map(([b, at, byte, truncate]): BodySpec => {
      const z = gzipOf(b.bytes);
      const i = at % z.length;
      const bytes = truncate ? z.subarray(0, i) : Buffer.from(z);
      if (!truncate) bytes[i] = (bytes[i] ?? 0) ^ (byte | 1);
      // A flipped byte in the gzip header's free fields (MTIME, XFL, OS) still inflates to the record; the
      // CRC-32 and length trailer catch any other change. Such a body is a valid record.
      let inflated: Buffer | undefined;
      try {
        inflated = gunzipSync(bytes);
      } catch {
        inflated = undefined;
      }
      const still = inflated !== undefined && Buffer.compare(inflated, Buffer.from(b.bytes)) === 0;
      return {
        kind: truncate ? "gzip-truncated" : "gzip-garbled",
        bytes,
        encoding: "gzip",
        ...(still ? { landing: b.landing, validFor: "json" as const, gzipped: true } : {}),
      };
    }),
    // gzip declared, not gzip sent; or gzip sent, not declared
    validJson.map((b): BodySpec => ({ ...b, kind: "gzip-declared-plain", encoding: "gzip" })),
    validJson.map(
      (b): BodySpec => ({ ...b, kind: "gzip-undeclared", bytes: gzipOf(b.bytes), gzipped: true }),
    ),
  );
  return fc.oneof(
    { weight: 5, arbitrary: validJson },
    { weight: 3, arbitrary: validXml },
    { weight: 2, arbitrary: gzipped },
    { weight: 8, arbitrary: invalid },
  );
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
/** Header values: printable, with obs-text and the odd tab; never CR/LF (those are framing cases). */
const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n\0]/g, "")),
  fc.constantFrom(
    "",
    " ",
    "\t",
    "\xff\xfe",
    "a".repeat(200),
    "%00",
    ["$", "{jndi:x}"].join(""),
    "..\\..\\etc",
  ),
);

// ------------------------------------------------------------------------------------------------------------
// Well-formed requests with hostile parts
// ------------------------------------------------------------------------------------------------------------

interface RequestModel {
  readonly method: string;
  readonly path: string;
  readonly version: string;
  readonly headers: readonly Header[];
  readonly body: BodySpec;
  readonly framing: "length" | "chunked" | "none" | "length-short" | "length-long" | "length-and-chunked";
  readonly chunkSizes: readonly number[];
  readonly landing?: Landing;
  readonly mustAccept?: Landing;
}

function requestModel(target: FuzzTarget): fc.Arbitrary<RequestModel> {
  const streamChoice = fc.constantFrom("json", "xml", "json", "xml", "other");
  const methods = fc.oneof(
    { weight: 12, arbitrary: fc.constant("POST") },
    { weight: 4, arbitrary: fc.constantFrom("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE") },
    { weight: 1, arbitrary: fc.constantFrom("post", "PROPFIND", "M-SEARCH", "BREW", "CONNECT") },
    { weight: 1, arbitrary: token },
  );
  return fc
    .record({
      method: methods,
      stream: streamChoice,
      pathKind: fc.constantFrom(
        "data",
        "data",
        "data",
        "data",
        "data",
        "data-query",
        "data-encoded",
        "health",
        "other-stream",
        "bad-id",
        "random",
        "long",
        "absolute",
        "asterisk",
        "traversal",
      ),
      randomPath: fc.webPath(),
      version: fc.constantFrom("HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"),
      auth: fc.constantFrom(
        "valid",
        "valid",
        "valid",
        "valid",
        "missing",
        "garbage",
        "wrong-scheme",
        "duplicated",
        "other",
      ),
      tenant: fc.constantFrom("right", "right", "right", "right", "missing", "wrong", "duplicated", "empty"),
      contentType: fc.constantFrom(
        "right",
        "right",
        "right",
        "right",
        "right-charset",
        "missing",
        "wrong",
        "bad-charset",
        "duplicated",
        "random",
      ),
      randomContentType: headerValue,
      body: bodies(),
      encodingOverride: fc.constantFrom(
        undefined,
        undefined,
        undefined,
        undefined,
        "identity",
        "br",
        "gzip, gzip",
        "deflate",
        "duplicated",
      ),
      framing: fc.constantFrom(
        "length",
        "length",
        "length",
        "chunked",
        "chunked",
        "none",
        "length-short",
        "length-long",
        "length-and-chunked",
      ),
      extra: fc.array(fc.tuple(token, headerValue), { maxLength: 6 }),
      host: fc.constantFrom("present", "present", "present", "missing", "duplicated"),
      expect: fc.constantFrom(undefined, undefined, undefined, "100-continue", "something-else"),
      connection: fc.constantFrom(undefined, "close", "keep-alive", "upgrade"),
      upperCaseNames: fc.boolean(),
      chunkSizes: fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 4 }),
    })
    .map((m): RequestModel => {
      const stream = m.stream === "json" ? target.json : m.stream === "xml" ? target.xml : undefined;
      const streamId = stream?.streamId ?? "is-Nope0000";
      let path: string;
      switch (m.pathKind) {
        case "data":
          path = `/stream/v0/data/${streamId}`;
          break;
        case "data-query":
          path = `/stream/v0/data/${streamId}?x=1&y=%ZZ`;
          break;
        case "data-encoded":
          path = `/stream/v0/data/${encodeURIComponent(streamId).replace("-", "%2D")}`;
          break;
        case "health":
          path = "/health";
          break;
        case "other-stream":
          path = "/stream/v0/data/is-Zz9Zz9Zz";
          break;
        case "bad-id":
          path = "/stream/v0/data/%E0%A4%A";
          break;
        case "random":
          path = m.randomPath.startsWith("/") ? m.randomPath : `/${m.randomPath}`;
          break;
        case "long":
          path = `/stream/v0/data/${"x".repeat(8000)}`;
          break;
        case "absolute":
          path = `http://ingest.example/stream/v0/data/${streamId}`;
          break;
        case "asterisk":
          path = "*";
          break;
        default:
          path = "/stream/v0/data/../data/./is-AbCDefGH/..%2F..%2Fetc";
      }
      const headers: Header[] = [];
      if (m.host !== "missing") headers.push(["Host", "ingest.example"]);
      if (m.host === "duplicated") headers.push(["Host", "other.example"]);
      const good = stream?.token ?? target.json.token;
      if (m.auth === "valid") headers.push(["Authorization", `Bearer ${good}`]);
      else if (m.auth === "garbage") headers.push(["Authorization", "Bearer eyJ.not.a-token"]);
      else if (m.auth === "wrong-scheme") headers.push(["Authorization", `Basic ${good}`]);
      else if (m.auth === "duplicated") {
        headers.push(["Authorization", `Bearer ${good}`], ["Authorization", "Bearer x.y.z"]);
      } else if (m.auth === "other") headers.push(["Authorization", `Bearer ${good.slice(0, -4)}AAAA`]);
      if (m.tenant === "right") headers.push(["X-Amperity-Tenant", target.tenant]);
      else if (m.tenant === "wrong") headers.push(["X-Amperity-Tenant", "globex"]);
      else if (m.tenant === "duplicated") {
        headers.push(["X-Amperity-Tenant", target.tenant], ["X-Amperity-Tenant", target.tenant]);
      } else if (m.tenant === "empty") headers.push(["X-Amperity-Tenant", ""]);
      const rightType = m.stream === "xml" ? "application/xml" : "application/json";
      if (m.contentType === "right") headers.push(["Content-Type", rightType]);
      else if (m.contentType === "right-charset")
        headers.push(["Content-Type", `${rightType}; charset=UTF-8`]);
      else if (m.contentType === "wrong")
        headers.push(["Content-Type", m.stream === "xml" ? "application/json" : "text/xml"]);
      else if (m.contentType === "bad-charset")
        headers.push(["Content-Type", `${rightType}; charset=latin1`]);
      else if (m.contentType === "duplicated") {
        headers.push(["Content-Type", rightType], ["Content-Type", "text/plain"]);
      } else if (m.contentType === "random") headers.push(["Content-Type", m.randomContentType]);
      const declaredEncoding = m.encodingOverride ?? m.body.encoding;
      if (declaredEncoding === "duplicated") {
        headers.push(["Content-Encoding", "gzip"], ["Content-Encoding", "gzip"]);
      } else if (declaredEncoding !== undefined) headers.push(["Content-Encoding", declaredEncoding]);
      if (m.expect !== undefined) headers.push(["Expect", m.expect]);
      if (m.connection !== undefined) headers.push(["Connection", m.connection]);
      if (m.connection === "upgrade") headers.push(["Upgrade", "websocket"]);
      for (const [name, value] of m.extra) {
        // the framing and routing headers are the model's to decide
        if (
          /^(content-length|transfer-encoding|host|expect|connection|upgrade|content-encoding)$/i.test(name)
        )
          continue;
        headers.push([name, value]);
      }
      const named = m.upperCaseNames ? headers.map(([n, v]) => [n.toUpperCase(), v] as const) : headers;

      // A 202 is correct only when every part is right: then the request must be accepted.
      const declared = m.encodingOverride ?? m.body.encoding;
      const encodingMatches = m.body.gzipped
        ? declared !== undefined && ["gzip", "x-gzip"].includes(declared.toLowerCase())
        : declared === undefined || declared === "identity";
      const framingSound =
        m.framing === "length" ||
        m.framing === "chunked" ||
        (m.framing === "none" && m.body.bytes.length === 0);
      const landing =
        stream !== undefined &&
        m.body.validFor === m.stream &&
        m.body.landing !== undefined &&
        encodingMatches &&
        framingSound
          ? m.body.landing
          : undefined;
      const allRight =
        landing !== undefined &&
        m.method === "POST" &&
        m.pathKind.startsWith("data") &&
        m.pathKind !== "data-encoded" &&
        m.version === "HTTP/1.1" &&
        m.auth === "valid" &&
        m.tenant === "right" &&
        (m.contentType === "right" || m.contentType === "right-charset") &&
        m.host !== "duplicated" &&
        m.expect !== "100-continue";
      return {
        method: m.method,
        path,
        version: m.version,
        headers: named,
        body: m.body,
        framing: m.framing,
        chunkSizes: m.chunkSizes,
        // A 202 may only happen for a valid record sent to its own stream (other parts may still be fine).
        landing: landing !== undefined && m.pathKind.startsWith("data") ? landing : undefined,
        mustAccept: allRight ? landing : undefined,
      };
    });
}

/** Frames a request model as bytes. */
function frame(model: RequestModel): Uint8Array {
  const head = [`${model.method} ${model.path} ${model.version}`];
  for (const [name, value] of model.headers) head.push(`${name}: ${value}`);
  const body = model.body.bytes;
  let payload: Uint8Array = body;
  switch (model.framing) {
    case "length":
      head.push(`Content-Length: ${body.length}`);
      break;
    case "length-short": {
      // Cut inside the first token, so what the server reads is never a whole record.
      const first = Buffer.from(body).findIndex((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
      head.push(`Content-Length: ${Math.max(0, Math.min(body.length - 1, first + 1))}`);
      break;
    }
    case "length-long":
      head.push(`Content-Length: ${body.length + 10}`);
      break;
    case "length-and-chunked":
      head.push(`Content-Length: ${body.length}`, "Transfer-Encoding: chunked");
      payload = chunked(body, model.chunkSizes);
      break;
    case "chunked":
      head.push("Transfer-Encoding: chunked");
      payload = chunked(body, model.chunkSizes);
      break;
    case "none":
      break;
  }
  return Buffer.concat([enc(`${head.join("\r\n")}\r\n\r\n`), payload]);
}

function chunked(body: Uint8Array, sizes: readonly number[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  let n = 0;
  while (at < body.length) {
    const size = Math.min(sizes[n++ % sizes.length] ?? 1024, body.length - at);
    parts.push(enc(`${size.toString(16)}\r\n`), Buffer.from(body.subarray(at, at + size)), enc("\r\n"));
    at += size;
  }
  parts.push(enc("0\r\n\r\n"));
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------------------------------------------------
// Malformed HTTP
// ------------------------------------------------------------------------------------------------------------

function malformed(
  target: FuzzTarget,
): fc.Arbitrary<{ family: string; bytes: Uint8Array; landing?: Landing }> {
  const validHead =
    `POST /stream/v0/data/${target.json.streamId} HTTP/1.1\r\nHost: x\r\n` +
    `Authorization: Bearer ${target.json.token}\r\nX-Amperity-Tenant: ${target.tenant}\r\n` +
    "Content-Type: application/json\r\n";
  const fixed = fc.constantFrom(
    ["garbage-line", "HELLO\r\n\r\n"],
    ["http2-preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
    ["no-version", "GET /health\r\n\r\n"],
    ["bad-version", "GET /health HTTP/9.9\r\nHost: x\r\n\r\n"],
    ["lf-only", "GET /health HTTP/1.1\nHost: x\n\n"],
    ["space-before-colon", "GET /health HTTP/1.1\r\nHost : x\r\n\r\n"],
    ["obs-fold", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"],
    ["nul-in-header", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"],
    [
      "cl-and-te",
      `${validHead}Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n`,
    ],
    ["cl-conflict", `${validHead}Content-Length: 7\r\nContent-Length: 8\r\n\r\n{"a":1} `],
    ["cl-list", `${validHead}Content-Length: 7, 8\r\n\r\n{"a":1} `],
    ["cl-negative", `${validHead}Content-Length: -1\r\n\r\n{"a":1}`],
    ["cl-nonnumeric", `${validHead}Content-Length: seven\r\n\r\n{"a":1}`],
    ["cl-huge", `${validHead}Content-Length: 99999999999999999999\r\n\r\n{"a":1}`],
    ["cl-large", `${validHead}Content-Length: 1000000000\r\n\r\n{"a":1}`],
    ["te-unknown", `${validHead}Transfer-Encoding: gzip\r\n\r\n{"a":1}`],
    ["te-chunked-twice", `${validHead}Transfer-Encoding: chunked, chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n`],
    ["te-bad-chunk", `${validHead}Transfer-Encoding: chunked\r\n\r\nzz\r\n{"a":1}\r\n0\r\n\r\n`],
    ["te-chunk-too-long", `${validHead}Transfer-Encoding: chunked\r\n\r\n3\r\n{"a":1}\r\n0\r\n\r\n`],
    ["te-huge-chunk", `${validHead}Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{"a":1}`],
    ["te-no-terminator", `${validHead}Transfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n`],
    [
      "te-chunk-ext",
      `${validHead}Transfer-Encoding: chunked\r\n\r\n7;${"x".repeat(5000)}\r\n{"a":1}\r\n0\r\n\r\n`,
    ],
    ["header-overflow", `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`],
    [
      "many-headers",
      `GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: v`).join("\r\n")}\r\n\r\n`,
    ],
    [
      "pipelined",
      "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\nJUNK\r\n\r\n",
    ],
    ["head-truncated", "POST /stream/v0/data/is-AbCDefGH HTTP/1.1\r\nHost: x\r\nContent-Le"],
    ["empty", ""],
    [
      "request-smuggle",
      `${validHead}Content-Length: 4\r\nTransfer-Encoding : chunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n`,
    ],
  );
  const validRequest = `${validHead}Content-Length: 7\r\n\r\n{"a":1}`;
  const mutated = fc
    .tuple(
      fc.constantFrom(validRequest, `GET /health HTTP/1.1\r\nHost: x\r\n\r\n`),
      fc.array(fc.tuple(fc.constantFrom("flip", "insert", "delete", "truncate"), fc.nat(), fc.nat(255)), {
        minLength: 1,
        maxLength: 4,
      }),
    )
    .map(([text, mutations]) => {
      let b = Buffer.from(text, "latin1");
      for (const [kind, n, byte] of mutations) {
        // Only the head is mutated, so a mutation that still parses can only land the body as sent.
        const headEnd = b.indexOf("\r\n\r\n");
        const at = n % ((headEnd === -1 ? b.length : headEnd + 4) + 1);
        if (kind === "flip" && at < b.length) b[at] = (b[at] ?? 0) ^ (byte | 1);
        else if (kind === "insert")
          b = Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at)]);
        else if (kind === "delete") b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        else if (kind === "truncate") b = b.subarray(0, at);
      }
      return { family: "mutated-request", bytes: b, landing: A1 };
    });
  return fc.oneof(
    {
      weight: 2,
      arbitrary: fixed.map(([family = "", text = ""]) => ({
        family,
        bytes: enc(text),
        // a long chunk extension is valid HTTP: the record inside is a valid one
        ...(family === "te-chunk-ext" ? { landing: A1 } : {}),
      })),
    },
    { weight: 3, arbitrary: mutated },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 2000 }).map((bytes) => ({ family: "random-bytes", bytes })),
    },
  );
}

// ------------------------------------------------------------------------------------------------------------
// Cases
// ------------------------------------------------------------------------------------------------------------

/** Splits bytes into up to four chunks at the given offsets (the server must not care how bytes arrive). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const offsets = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort(
    (a, b) => a - b,
  );
  const out: Uint8Array[] = [];
  let at = 0;
  for (const o of offsets) {
    if (o > at) out.push(bytes.subarray(at, o));
    at = Math.max(at, o);
  }
  out.push(bytes.subarray(at));
  return out;
}

/** Every kind of case, weighted: mostly well-formed requests with hostile parts, then malformed HTTP. */
export function fuzzCase(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const cuts = fc.array(fc.nat(), { maxLength: 3 });
  const wellFormed = fc.tuple(requestModel(target), cuts).map(
    ([model, at]): FuzzCase => ({
      family: `request:${model.body.kind}`,
      chunks: split(frame(model), at),
      head: model.method === "HEAD",
      ...(model.landing === undefined ? {} : { landing: model.landing }),
      ...(model.mustAccept === undefined ? {} : { mustAccept: model.mustAccept }),
    }),
  );
  const broken = fc.tuple(malformed(target), cuts).map(
    ([m, at]): FuzzCase => ({
      family: `http:${m.family}`,
      chunks: split(m.bytes, at),
      head: false,
      ...(m.landing === undefined ? {} : { landing: m.landing }),
    }),
  );
  return fc.oneof(
    { weight: 2, arbitrary: validRequest(target) },
    { weight: 4, arbitrary: wellFormed },
    { weight: 1, arbitrary: broken },
  );
}

/** A request every part of which is right, varied only in ways a server must not care about: must be 202. */
function validRequest(target: FuzzTarget): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      xml: fc.boolean(),
      json: jsonRecord,
      doc: xmlRecord,
      gzip: fc.constantFrom(undefined, undefined, "gzip", "x-gzip"),
      contentType: fc.constantFrom("plain", "charset", "quoted-charset", "text/xml"),
      chunked: fc.boolean(),
      chunkSizes: fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 4 }),
      upper: fc.boolean(),
      query: fc.boolean(),
      connection: fc.constantFrom(undefined, "close", "keep-alive"),
      extra: fc.array(
        fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,10}$/), fc.stringMatching(/^[ -~]{0,30}$/)),
        {
          maxLength: 4,
        },
      ),
      cuts: fc.array(fc.nat(), { maxLength: 3 }),
    })
    .map((v): FuzzCase => {
      const stream = v.xml ? target.xml : target.json;
      const landing: Landing = v.xml
        ? { stream: "xml", value: v.doc.expected }
        : { stream: "json", line: v.json.compact };
      const plain = utf8(v.xml ? v.doc.text : v.json.text);
      const body = v.gzip === undefined ? plain : gzipOf(plain);
      const media =
        v.xml && v.contentType === "text/xml" ? "text/xml" : v.xml ? "application/xml" : "application/json";
      const contentType =
        v.contentType === "charset"
          ? `${media}; charset=utf-8`
          : v.contentType === "quoted-charset"
            ? `${media};charset="UTF-8"`
            : media;
      const headers: Header[] = [
        ["Host", "ingest.example"],
        ["Authorization", `Bearer ${stream.token}`],
        ["X-Amperity-Tenant", target.tenant],
        ["Content-Type", contentType],
        ...v.extra.map(([n, value]) => [n, value] as const),
      ];
      if (v.gzip !== undefined) headers.push(["Content-Encoding", v.gzip]);
      if (v.connection !== undefined) headers.push(["Connection", v.connection]);
      const model: RequestModel = {
        method: "POST",
        path: `/stream/v0/data/${stream.streamId}${v.query ? "?source=fuzz&x=%ZZ" : ""}`,
        version: "HTTP/1.1",
        headers: v.upper ? headers.map(([n, value]) => [n.toUpperCase(), value] as const) : headers,
        body: { kind: v.xml ? "xml" : "json", bytes: body },
        framing: v.chunked ? "chunked" : "length",
        chunkSizes: v.chunkSizes,
      };
      return {
        family: `valid:${v.xml ? "xml" : "json"}${v.gzip ? "+gzip" : ""}${v.chunked ? "+chunked" : ""}`,
        chunks: split(frame(model), v.cuts),
        head: false,
        landing,
        mustAccept: landing,
      };
    });
}

// ------------------------------------------------------------------------------------------------------------
// Running a case and judging its outcome
// ------------------------------------------------------------------------------------------------------------

/**
 * Writes the case on a new connection, half-closes it, and resolves with the first final response (a 100
 * Continue is skipped), or with how the connection ended. `hangMs` bounds the wait.
 */
export function runCase(target: FuzzTarget, c: FuzzCase, hangMs = 10_000): Promise<FuzzOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(target.port, target.host);
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (outcome: FuzzOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: "hang", ms: performance.now() - started }), hangMs);
    const tryParse = () => {
      for (;;) {
        const end = received.indexOf("\r\n\r\n");
        if (end === -1) return;
        const head = received.subarray(0, end).toString("latin1");
        const [statusLine = "", ...lines] = head.split("\r\n");
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? Number.NaN);
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(":");
          if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        if (status === 100) {
          received = received.subarray(end + 4);
          continue;
        }
        const length = c.head ? 0 : Number(headers["content-length"] ?? Number.NaN);
        if (Number.isNaN(length)) {
          // no Content-Length: the body runs to the close (or a chunked body we do not decode)
          return;
        }
        if (received.length < end + 4 + length) return;
        const body = received.subarray(end + 4, end + 4 + length).toString("utf8");
        finish({ kind: "response", status, headers, body, ms: performance.now() - started });
        return;
      }
    };
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      tryParse();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A server that stops reading a too-large body may reset; judge what was received before it.
      tryParse();
      finish({ kind: "closed", ms: performance.now() - started, error: error.code ?? error.message });
    });
    socket.on("close", () => {
      tryParse();
      if (!done && received.length > 0) {
        const text = received.toString("latin1");
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? Number.NaN);
        finish({ kind: "response", status, headers: {}, body: text, ms: performance.now() - started });
      }
      finish({ kind: "closed", ms: performance.now() - started });
    });
    socket.once("connect", () => {
      for (const chunk of c.chunks) socket.write(chunk);
      socket.end();
    });
  });
}

/** Everything wrong with an outcome, or an empty list. Never fails on the content of a valid refusal. */
export function problemsWith(c: FuzzCase, outcome: FuzzOutcome): string[] {
  if (outcome.kind === "hang") return [`no answer within ${Math.round(outcome.ms)} ms`];
  if (outcome.kind === "closed") {
    // Closing without an answer is only fine when there was nothing to answer.
    // (RFC 9112 §2.2: empty lines before a request line are ignored, so CR/LF alone is nothing.)
    const sent = Buffer.concat(c.chunks.map((chunk) => Buffer.from(chunk)));
    const nothing = sent.every((b) => b === 0x0d || b === 0x0a);
    return nothing
      ? []
      : [`connection closed without a response${outcome.error ? ` (${outcome.error})` : ""}`];
  }
  const problems: string[] = [];
  const { status, headers, body } = outcome;
  if (!ALLOWED_STATUSES.has(status)) problems.push(`status ${status} is not in the documented set`);
  if (status === 202 && c.landing === undefined)
    problems.push("202 for a request that should not be accepted");
  if (c.mustAccept !== undefined && status !== 202) {
    problems.push(`a valid request was answered ${status}: ${body.slice(0, 200)}`);
  }
  if (headers["x-request-id"] === undefined) problems.push("no x-request-id header");
  if (!c.head) {
    try {
      const parsed = JSON.parse(body) as { error?: { code?: unknown }; status?: unknown };
      if (status >= 400 && typeof parsed.error?.code !== "string") problems.push("error body without a code");
    } catch {
      problems.push(`body is not JSON: ${JSON.stringify(body.slice(0, 80))}`);
    }
  }
  return problems;
}

/** The request's head (up to 1,500 characters, tokens masked) and body length, for a failure report. */
export function describeCase(target: FuzzTarget, c: FuzzCase): string {
  const bytes = Buffer.concat(c.chunks.map((x) => Buffer.from(x)));
  const end = bytes.indexOf("\r\n\r\n");
  const head = bytes
    .subarray(0, end === -1 ? 1500 : Math.min(end, 1500))
    .toString("latin1")
    .replaceAll(target.json.token, "<json-token>")
    .replaceAll(target.xml.token, "<xml-token>")
    // tampered copies of a token still hold its header and claims: never print any credential
    .replace(/(authorization:\s*\S+\s)[^\r\n]*/gi, "$1<credential>");
  return `${JSON.stringify(head)} + ${end === -1 ? 0 : bytes.length - end - 4} body bytes in ${c.chunks.length} chunk(s)`;
}

/** Per-family tallies for reporting. */
export class FuzzTally {
  readonly statuses = new Map<string, number>();
  readonly families = new Map<string, number>();
  readonly problems: { family: string; problem: string; bytes: string }[] = [];
  readonly landed: Landing[] = [];
  /** A few families seen per status, to explain the rare ones (408, 431…). */
  readonly familiesByStatus = new Map<string, Set<string>>();
  cases = 0;
  maxMs = 0;

  record(c: FuzzCase, outcome: FuzzOutcome): string[] {
    this.cases++;
    this.families.set(c.family, (this.families.get(c.family) ?? 0) + 1);
    const key = outcome.kind === "response" ? String(outcome.status) : outcome.kind;
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
    const families = this.familiesByStatus.get(key) ?? new Set<string>();
    if (families.size < 6) families.add(c.family);
    this.familiesByStatus.set(key, families);
    this.maxMs = Math.max(this.maxMs, outcome.ms);
    if (outcome.kind === "response" && outcome.status === 202 && c.landing !== undefined) {
      this.landed.push(c.landing);
    }
    const problems = problemsWith(c, outcome);
    for (const problem of problems) {
      if (this.problems.length < 50) {
        const bytes = Buffer.concat(c.chunks.map((x) => Buffer.from(x)));
        this.problems.push({ family: c.family, problem, bytes: bytes.subarray(0, 300).toString("latin1") });
      }
    }
    return problems;
  }

  statusSummary(): string {
    return [...this.statuses.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([s, n]) => `${s}×${n}`)
      .join(" ");
  }
}

// ------------------------------------------------------------------------------------------------------------
// What landed
// ------------------------------------------------------------------------------------------------------------

/** Every file under `dir` (recursively), as absolute paths; none if it is missing. */
function filesBelow(dir: string): string[] {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? filesBelow(join(dir, e.name)) : [join(dir, e.name)]));
}

/**
 * Compares what the server stored for the two fuzz streams (sealed objects under `objectsDir/streams`) with
 * what the 202-answered cases should have landed: the same NDJSON lines byte for byte, the same CBOR values
 * (decoded with cbor-x, key order included), as multisets. Returns the problems found.
 */
export function checkLandings(objectsDir: string, target: FuzzTarget, landed: readonly Landing[]): string[] {
  const files = filesBelow(join(objectsDir, "streams"));
  const read = (f: string) => (f.endsWith(".gz") ? gunzipSync(readFileSync(f)) : readFileSync(f));
  const storedLines = files
    .filter((f) => f.includes(`/${target.json.streamId}/`))
    .flatMap((f) => read(f).toString("utf8").split("\n").slice(0, -1));
  const storedValues: string[] = [];
  const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
  for (const f of files.filter((name) => name.includes(`/${target.xml.streamId}/`))) {
    decoder.decodeMultiple(read(f), (value: unknown) => {
      storedValues.push(JSON.stringify(orderedForm(value)));
    });
  }
  const expectedLines = landed.flatMap((l) => (l.stream === "json" ? [l.line] : []));
  const expectedValues = landed.flatMap((l) =>
    l.stream === "xml" ? [JSON.stringify(orderedForm(l.value))] : [],
  );
  return [
    ...multisetDifference("NDJSON line", storedLines, expectedLines),
    ...multisetDifference("CBOR item", storedValues, expectedValues),
  ];
}

function multisetDifference(what: string, stored: readonly string[], expected: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const s of expected) counts.set(s, (counts.get(s) ?? 0) + 1);
  const problems: string[] = [];
  for (const s of stored) {
    const n = counts.get(s) ?? 0;
    if (n === 0) problems.push(`stored ${what} no 202 asked for: ${s.slice(0, 200)}`);
    else counts.set(s, n - 1);
  }
  for (const [s, n] of counts)
    if (n > 0) problems.push(`${what} answered 202 but not stored (×${n}): ${s.slice(0, 200)}`);
  if (stored.length !== expected.length)
    problems.push(`${stored.length} ${what}s stored, ${expected.length} accepted`);
  return problems.slice(0, 20);
}

/**
 * `core-cpu`: the handler core alone, no HTTP. The real IngestHandler with in-memory ports (one stream and one
 * API key, the real JwksTokenVerifier with a real ES256 token, a sink that confirms at once) answers requests
 * built the way the local http-entry builds them, one after another. The baseline is JSON.parse +
 * JSON.stringify of a body of the same size, measured in the same rounds, interleaved with the subject.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import type { Jwks } from "aws-jwt-verify/jwk";
import { JwksTokenVerifier } from "../lambda/adapters/jwt-verifier.js";
import { KeyObjectSigner } from "../lambda/adapters/local-signer.js";
import { issueAccessToken } from "../lambda/core/access-token.js";
import { IngestHandler } from "../lambda/core/handler.js";
import { type Logger, type RecordSink, type StreamRegistry, systemClock } from "../lambda/core/ports.js";
import type { ApiKeyRecord, IngestRequest, PayloadType, StreamRecord } from "../lambda/core/types.js";
import type { BenchCheck, BenchContext, Benchmark, BenchResult } from "./harness.js";
import { type OrderLine, orderRecord } from "./support/payloads.js";

const TENANT = "bench";
const KEY_ID = "ik-benchbenchbench01";
const ISSUER = "urn:streaming-ingest:bench";
const AUDIENCE = "streaming-ingest";
const KID = "bench-key-1";

/** One measured case: a body and the payload type of the stream it is posted to. */
interface Case {
  readonly name: string;
  readonly payload: PayloadType;
  readonly body: Buffer;
  /** The baseline's input: a JSON document of (about) the same byte size. */
  readonly baselineBody: Buffer;
}

/** Mean, median and 99th percentile of per-request samples, in microseconds. */
export interface SampleSummary {
  readonly count: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

/** Summarizes nanosecond samples as microseconds (nearest-rank percentiles). */
export function summarize(samplesNs: readonly number[]): SampleSummary {
  if (samplesNs.length === 0) return { count: 0, meanUs: Number.NaN, p50Us: Number.NaN, p99Us: Number.NaN };
  const sorted = [...samplesNs].sort((a, b) => a - b);
  const rank = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  const total = sorted.reduce((sum, value) => sum + value, 0);
  return {
    count: sorted.length,
    meanUs: total / sorted.length / 1000,
    p50Us: rank(0.5) / 1000,
    p99Us: rank(0.99) / 1000,
  };
}

// ---- payloads: one order record, rendered as JSON or XML, grown by order lines to a target size ----

function toJson(value: Record<string, unknown>): string {
  return JSON.stringify(value);
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Elements for keys, repeated elements for arrays, the SKU as an attribute (so attributes are parsed too). */
function toXml(value: Record<string, unknown>): string {
  const parts: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n<order>\n'];
  for (const [key, field] of Object.entries(value)) {
    if (key === "items") {
      parts.push("  <items>\n");
      for (const line of field as OrderLine[]) {
        parts.push(
          `    <item sku="${line.sku}"><name>${xmlEscape(line.name)}</name><qty>${line.qty}</qty>` +
            `<price>${line.price}</price><zip>${line.zip}</zip></item>\n`,
        );
      }
      parts.push("  </items>\n");
    } else {
      parts.push(`  <${key}>${xmlEscape(String(field))}</${key}>\n`);
    }
  }
  parts.push("</order>\n");
  return parts.join("");
}

/** The smallest order whose rendering is at least `bytes` long (a record of ~`bytes` bytes). */
function sized(render: (value: Record<string, unknown>) => string, bytes: number): Buffer {
  const length = (lines: number) => Buffer.byteLength(render(orderRecord(lines)));
  const base = length(0);
  let lines = Math.max(0, Math.floor((bytes - base) / Math.max(1, (length(100) - base) / 100)));
  while (length(lines) < bytes) lines += 1;
  while (lines > 0 && length(lines - 1) >= bytes) lines -= 1;
  return Buffer.from(render(orderRecord(lines)), "utf8");
}

/** A JSON document of about `bytes` bytes: the baseline's input for a body of that size. */
function jsonOfSize(bytes: number): Buffer {
  return sized(toJson, bytes);
}

export function benchCases(): Case[] {
  // Small JSON: the README's example record with one order line (~300 B).
  const smallJson = sized(toJson, 300);
  const largeJson = sized(toJson, 200 * 1024);
  const smallXml = sized(toXml, 1024);
  const largeXml = sized(toXml, 200 * 1024);
  return [
    { name: "small JSON", payload: "json", body: smallJson, baselineBody: smallJson },
    { name: "large JSON", payload: "json", body: largeJson, baselineBody: largeJson },
    { name: "small XML", payload: "xml", body: smallXml, baselineBody: jsonOfSize(smallXml.length) },
    { name: "large XML", payload: "xml", body: largeXml, baselineBody: jsonOfSize(largeXml.length) },
  ];
}

// ---- in-memory ports ----

function stream(id: string, payload: PayloadType): StreamRecord {
  return {
    id,
    tenant: TENANT,
    name: `bench ${payload}`,
    description: "core-cpu benchmark",
    payload,
    status: "active",
    delivery: { bufferMiB: 5, bufferSeconds: 300, compression: "none", shards: 1 },
    rateLimitPerSecond: 1_000_000,
    rateLimitBurst: 1_000_000,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    deliveryStreams: [],
  };
}

const STREAMS: Readonly<Record<PayloadType, StreamRecord>> = {
  json: stream("is-BenchJsn", "json"),
  xml: stream("is-BenchXml", "xml"),
};

const API_KEY: ApiKeyRecord = {
  id: KEY_ID,
  tenant: TENANT,
  name: "bench",
  status: "active",
  createdAt: "2026-01-01T00:00:00.000Z",
};

/** A registry that already holds everything (as the cached registry does when warm). */
const registry: StreamRegistry = {
  getStream: async (id) => Object.values(STREAMS).find((candidate) => candidate.id === id),
  getApiKey: async (id) => (id === KEY_ID ? API_KEY : undefined),
};

/** Confirms at once; keeps only a byte count (so the encoded record is not optimized away). */
class CountingSink implements RecordSink {
  bytes = 0;
  async put(record: { readonly data: Uint8Array }): Promise<void> {
    this.bytes += record.data.byteLength;
  }
}

const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function realToken(): Promise<{ token: string; jwks: Jwks }> {
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = pair.publicKey.export({ format: "jwk" });
  const jwks: Jwks = {
    keys: [
      { kty: "EC", crv: "P-256", x: String(jwk.x), y: String(jwk.y), kid: KID, alg: "ES256", use: "sig" },
    ],
  };
  const { token } = await issueAccessToken({
    issuer: ISSUER,
    audience: AUDIENCE,
    signer: new KeyObjectSigner(KID, pair.privateKey),
    key: API_KEY,
    days: 1,
    clock: systemClock,
  });
  return { token, jwks };
}

/** The request the local http-entry would build for this POST: lower-cased headers, a body read at once. */
function request(token: string, testCase: Case): IngestRequest {
  const streamId = STREAMS[testCase.payload].id;
  return {
    method: "POST",
    path: `/stream/v0/data/${streamId}`,
    headers: {
      host: "127.0.0.1:8080",
      "user-agent": "bench/1.0",
      accept: "*/*",
      authorization: `Bearer ${token}`,
      "x-amperity-tenant": TENANT,
      "content-type": testCase.payload === "json" ? "application/json" : "application/xml",
      "content-length": String(testCase.body.length),
    },
    requestId: randomUUID(),
    readBody: async (maxBytes) => {
      if (testCase.body.length > maxBytes) throw new Error("bench body over the limit");
      return testCase.body;
    },
  };
}

// ---- measurement ----

interface Timing {
  readonly warmupMs: number;
  readonly rounds: number;
  /** Per round, for subject and baseline each. */
  readonly sliceMs: number;
}

const DEFAULT_TIMING: Timing = { warmupMs: 1000, rounds: 10, sliceMs: 400 };
const QUICK_TIMING: Timing = { warmupMs: 250, rounds: 5, sliceMs: 200 };

/** CPU time (user + system, all threads) and calls, summed over the measured slices. */
interface CpuTally {
  cpuUs: number;
  calls: number;
}

/**
 * Runs `op` back to back for about `ms`, pushing one wall-clock sample (ns) per call into `samples` and adding
 * the process's CPU time to `cpu` when given. CPU time leaves out the time other processes had the core (this
 * machine is shared), which wall-clock samples include.
 */
async function timeSlice(
  ms: number,
  op: () => Promise<unknown> | unknown,
  samples?: number[],
  cpu?: CpuTally,
): Promise<void> {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  const cpuStart = process.cpuUsage();
  let calls = 0;
  for (;;) {
    const start = process.hrtime.bigint();
    await op();
    const stop = process.hrtime.bigint();
    calls += 1;
    samples?.push(Number(stop - start));
    if (stop >= end) break;
  }
  if (cpu !== undefined) {
    const used = process.cpuUsage(cpuStart);
    cpu.cpuUs += used.user + used.system;
    cpu.calls += calls;
  }
}

interface CaseResult {
  readonly testCase: Case;
  readonly subject: SampleSummary;
  readonly baseline: SampleSummary;
  /** Mean CPU µs per call. */
  readonly subjectCpuUs: number;
  readonly baselineCpuUs: number;
}

async function measureCase(
  handler: IngestHandler,
  token: string,
  testCase: Case,
  timing: Timing,
): Promise<CaseResult> {
  let statusProblem: number | undefined;
  const subject = async () => {
    const response = await handler.handle(request(token, testCase));
    if (response.status !== 202) statusProblem = response.status;
  };
  let sinkhole = 0;
  const baseline = () => {
    sinkhole += JSON.stringify(JSON.parse(testCase.baselineBody.toString("utf8"))).length;
  };
  await timeSlice(timing.warmupMs, subject);
  await timeSlice(timing.warmupMs, baseline);
  if (statusProblem !== undefined) throw new Error(`${testCase.name}: the handler answered ${statusProblem}`);
  const subjectSamples: number[] = [];
  const baselineSamples: number[] = [];
  const subjectCpu: CpuTally = { cpuUs: 0, calls: 0 };
  const baselineCpu: CpuTally = { cpuUs: 0, calls: 0 };
  for (let round = 0; round < timing.rounds; round += 1) {
    await timeSlice(timing.sliceMs, subject, subjectSamples, subjectCpu);
    await timeSlice(timing.sliceMs, baseline, baselineSamples, baselineCpu);
  }
  if (statusProblem !== undefined) throw new Error(`${testCase.name}: the handler answered ${statusProblem}`);
  if (sinkhole === 0) throw new Error("baseline produced nothing");
  return {
    testCase,
    subject: summarize(subjectSamples),
    baseline: summarize(baselineSamples),
    subjectCpuUs: subjectCpu.cpuUs / subjectCpu.calls,
    baselineCpuUs: baselineCpu.cpuUs / baselineCpu.calls,
  };
}

const round1 = (value: number) => Math.round(value * 10) / 10;
const round2 = (value: number) => Math.round(value * 100) / 100;

export const benchmark: Benchmark = {
  name: "core-cpu",
  title: "Handler core alone (no HTTP): µs per request vs JSON.parse+JSON.stringify of the same size",
  async run(context: BenchContext): Promise<BenchResult> {
    const timing = context.quick ? QUICK_TIMING : DEFAULT_TIMING;
    const { token, jwks } = await realToken();
    const sink = new CountingSink();
    const verifier = new JwksTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks, clock: systemClock });
    const handler = new IngestHandler({ registry, sink, verifier, clock: systemClock, logger: silentLogger });
    const results: CaseResult[] = [];
    for (const testCase of benchCases()) {
      context.log(`core-cpu: ${testCase.name} (${testCase.body.length} B)`);
      results.push(await measureCase(handler, token, testCase, timing));
    }
    const byName = (name: string) => results.find((result) => result.testCase.name === name);
    const checks: BenchCheck[] = [];
    const smallJson = byName("small JSON");
    const smallXml = byName("small XML");
    if (smallJson !== undefined) {
      checks.push({
        name: "small JSON: handler core CPU per request (mean)",
        actual: round1(smallJson.subjectCpuUs),
        target: 50,
        comparison: "<=",
        unit: "µs",
      });
    }
    if (smallXml !== undefined) {
      checks.push({
        name: "small XML: handler core CPU per request (mean)",
        actual: round1(smallXml.subjectCpuUs),
        target: 200,
        comparison: "<=",
        unit: "µs",
      });
    }
    return {
      tables: [
        {
          title: "Handler core per request (µs) vs baseline JSON.parse+JSON.stringify",
          columns: [
            "case",
            "body bytes",
            "requests",
            "core CPU mean",
            "core wall mean",
            "core wall p50",
            "core wall p99",
            "baseline bytes",
            "baseline CPU mean",
            "baseline wall p50",
            "baseline wall p99",
            "core / baseline (CPU mean)",
          ],
          rows: results.map(({ testCase, subject, baseline, subjectCpuUs, baselineCpuUs }) => [
            testCase.name,
            testCase.body.length,
            subject.count,
            round1(subjectCpuUs),
            round1(subject.meanUs),
            round1(subject.p50Us),
            round1(subject.p99Us),
            testCase.baselineBody.length,
            round1(baselineCpuUs),
            round1(baseline.p50Us),
            round1(baseline.p99Us),
            `${round2(subjectCpuUs / baselineCpuUs)}×`,
          ]),
        },
      ],
      checks,
      notes: [
        "Subject: IngestHandler.handle() with in-memory ports: registry holding one stream and key, the real " +
          "JwksTokenVerifier (ES256 token; its cache checks the signature once), a sink that confirms at once, " +
          "requests built like lambda/local/http-entry.ts builds them. Includes routing, auth, content-type, " +
          "validation and encoding (JSON → NDJSON line, XML → CBOR), the delivery-timeout timer and the response.",
        "Baseline: Buffer → UTF-8 string → JSON.parse → JSON.stringify, one call per sample. For JSON cases it " +
          "runs on the very same body; for XML cases on a JSON document of the same byte size (same record " +
          "generator), so the ratio says what the core costs over the cheapest handling of that many bytes.",
        `Timing: ${timing.warmupMs} ms warm-up each, then ${timing.rounds} rounds of ${timing.sliceMs} ms ` +
          "subject / baseline interleaved; one request at a time, process.hrtime.bigint() per request (wall). " +
          "CPU mean = process.cpuUsage() (user + system, GC threads included) over the rounds ÷ requests: on a " +
          "shared machine the wall mean and p99 also hold the time other processes had the core, so the " +
          "targets are checked on the CPU mean.",
      ],
    };
  },
};

/**
 * The AWS build (`ingest serve --emulate-aws`) as a contract-suite target: the stack is synthesized with its
 * Lambdas bundled by esbuild (as `cdk deploy` would), and the emulation runs those bundles in their own
 * processes behind the API Gateway front, with the emulated DynamoDB, KMS, SQS and Firehose. Streams are
 * provisioned by the real provisioner bundle (a few seconds each: its first Firehose poll waits 2 s).
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyObjectSigner } from "../../lambda/adapters/local-signer.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { newStreamRecord, STREAM_DEFAULTS } from "../../lambda/core/stream-settings.js";
import type { ApiKeyRecord, StreamRecord } from "../../lambda/core/types.js";
import { type EmulatedAws, startEmulatedAws } from "../../lambda/local/emulate-aws/emulated-aws.js";
import { synthesizeStack } from "../helpers/cdk.js";
import { CollectingLogger } from "../helpers/local-runtime.js";
import type { ContractTarget, StreamSpec } from "./target.js";

let assemblyDir: string | undefined;

/** The stack synthesized with bundled Lambdas, once per test file. */
export function bundledAssembly(): string {
  assemblyDir ??= synthesizeStack({}, "ContractStack", { bundle: true }).app.outdir;
  return assemblyDir;
}

let counter = 0;

/** Starts the emulation on `dir` (default: a fresh data directory); `logger` collects its log lines. */
export async function startEmulation(
  logger = new CollectingLogger(),
  dir = mkdtempSync(join(tmpdir(), "ingest-emulated-")),
): Promise<{ emulation: EmulatedAws; dir: string }> {
  const emulation = await startEmulatedAws({
    dataDir: dir,
    cloudAssemblyDir: bundledAssembly(),
    host: "127.0.0.1",
    port: 0,
    registryPort: 0,
    logger,
    runState: false,
    concurrency: 2,
  });
  return { emulation, dir };
}

/** A stream record as `ingest streams create` makes it, with a fresh id. */
export function streamRecord(spec: StreamSpec, overrides: Partial<StreamRecord> = {}): StreamRecord {
  counter++;
  return {
    ...newStreamRecord({
      id: `is-Emu${String(counter).padStart(5, "0")}`,
      tenant: spec.tenant ?? "acme",
      name: `emulated stream ${counter}`,
      payload: spec.payload,
      now: new Date().toISOString(),
    }),
    delivery: {
      bufferMiB: STREAM_DEFAULTS.bufferMiB,
      bufferSeconds: STREAM_DEFAULTS.bufferSeconds,
      compression: spec.compression ?? "none",
      shards: STREAM_DEFAULTS.shards,
    },
    ...overrides,
  };
}

export async function startEmulatedTarget(): Promise<ContractTarget> {
  const { emulation, dir } = await startEmulation();
  const sign = async (key: ApiKeyRecord, signer: KeyObjectSigner, days = 1) =>
    (
      await issueAccessToken({
        issuer: emulation.tokens.issuer,
        audience: emulation.tokens.audience,
        signer,
        key,
        days,
        clock: { now: () => Date.now() },
      })
    ).token;
  const createStream = async (spec: StreamSpec) => {
    const stream = streamRecord(spec);
    await emulation.admin.createStream(stream);
    const provisioned = await emulation.waitForDelivery(stream.id);
    if (provisioned.deliveryStatus !== "ACTIVE") {
      throw new Error(`stream ${stream.id} was not provisioned: ${provisioned.deliveryStatus}`);
    }
    return provisioned;
  };
  return {
    runtime: "emulate-aws",
    url: emulation.url,
    bucketDir: emulation.bucketDir,
    createStream,
    async createKey(tenant = "acme") {
      counter++;
      const key: ApiKeyRecord = {
        id: `ik-emukey${counter}`,
        tenant,
        name: "contract",
        status: "active",
        createdAt: new Date().toISOString(),
      };
      await emulation.admin.createApiKey(key);
      return key;
    },
    updateKey: (key) => emulation.admin.saveApiKey(key),
    tokenFor: (key, days) => sign(key, emulation.tokens.signer, days),
    foreignToken(key) {
      // The stack's own key id, issuer and audience: only the signature is wrong.
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      return sign(key, new KeyObjectSigner(emulation.tokens.signer.keyId, privateKey));
    },
    async flush() {
      await emulation.flush();
    },
    async throttledStream(spec) {
      const stream = await createStream(spec);
      // Every Firehose call answers "Slow down." until restored: the Lambda retries for its budget, then 429s.
      emulation.firehose.faults.throttleNext(Number.MAX_SAFE_INTEGER);
      return { stream, restore: async () => emulation.firehose.faults.reset() };
    },
    async close() {
      await emulation.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

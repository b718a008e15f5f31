/**
 * The local runtime (`ingest serve`) as a contract-suite target: the real runtime in this process on a fresh data
 * directory and free ports, with a manual clock that never moves (so a rate limit never refills and nothing is
 * sealed by age) and sealing only on `flush()`.
 */
import { generateKeyPairSync } from "node:crypto";
import { KeyObjectSigner } from "../../lambda/adapters/local-signer.js";
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { STREAM_DEFAULTS } from "../../lambda/core/stream-settings.js";
import type { StreamRecord } from "../../lambda/core/types.js";
import { startTestRuntime } from "../helpers/local-runtime.js";
import type { ContractTarget, StreamSpec } from "./target.js";

export async function startLocalTarget(): Promise<ContractTarget> {
  const t = await startTestRuntime();
  const { runtime, clock } = t;
  /** Issued on the earlier of both clocks: aws-jwt-verify checks nbf on the system clock, the runtime on its own. */
  const tokenClock = { now: () => Math.min(Date.now(), clock.now()) };
  const streamOverrides = (spec: StreamSpec): Partial<StreamRecord> => ({
    tenant: spec.tenant ?? "acme",
    payload: spec.payload,
    delivery: {
      bufferMiB: STREAM_DEFAULTS.bufferMiB,
      bufferSeconds: STREAM_DEFAULTS.bufferSeconds,
      compression: spec.compression ?? "none",
      shards: STREAM_DEFAULTS.shards,
    },
  });
  return {
    runtime: "local",
    url: runtime.url,
    bucketDir: runtime.layout.objects,
    createStream: (spec) => t.createStream(streamOverrides(spec)),
    createKey: (tenant) => t.createKey(tenant),
    updateKey: (key) => runtime.admin.saveApiKey(key),
    tokenFor: (key, days) => t.tokenFor(key, days),
    async foreignToken(key) {
      // The runtime's own kid, issuer and audience: only the signature is wrong.
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const issued = await issueAccessToken({
        issuer: runtime.deployment.issuer,
        audience: runtime.deployment.audience,
        signer: new KeyObjectSigner(runtime.keys.signer.keyId, privateKey),
        key,
        days: 1,
        clock: tokenClock,
      });
      return issued.token;
    },
    async flush() {
      await runtime.flush();
    },
    async throttledStream(spec) {
      // One request, then none: the manual clock never moves, so the bucket never refills.
      const stream = await t.createStream({
        ...streamOverrides(spec),
        rateLimitPerSecond: 1,
        rateLimitBurst: 1,
      });
      return { stream, restore: async () => {} };
    },
    close: () => t.stop(),
  };
}

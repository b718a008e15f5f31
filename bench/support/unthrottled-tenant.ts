/**
 * A tenant for load on a running local runtime: streams whose rate limit is raised to the maximum (the default
 * 10,000 requests/s would throttle the load itself: benchmarks and soaks measure the server, not the limit), one
 * API key, and a day-long token for it. Used by the benchmark server and the faults soak.
 */
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { systemClock } from "../../lambda/core/ports.js";
import { newStreamRecord } from "../../lambda/core/stream-settings.js";
import type { ApiKeyRecord, PayloadType, StreamRecord } from "../../lambda/core/types.js";
import type { LocalRuntime } from "../../lambda/local/runtime.js";

export interface UnthrottledTenant {
  readonly key: ApiKeyRecord;
  readonly token: string;
}

export async function createUnthrottledTenant(
  runtime: LocalRuntime,
  tenant: string,
  keyId: string,
  streams: readonly { readonly id: string; readonly name: string; readonly payload: PayloadType }[],
): Promise<UnthrottledTenant> {
  const now = new Date().toISOString();
  for (const { id, name, payload } of streams) {
    const record: StreamRecord = {
      ...newStreamRecord({ id, tenant, name, payload, now }),
      rateLimitPerSecond: 1_000_000,
      rateLimitBurst: 1_000_000,
    };
    await runtime.admin.createStream(record);
  }
  const key: ApiKeyRecord = { id: keyId, tenant, name: tenant, status: "active", createdAt: now };
  await runtime.admin.createApiKey(key);
  const { token } = await issueAccessToken({
    ...runtime.deployment,
    signer: runtime.keys.signer,
    key,
    days: 1,
    clock: systemClock,
  });
  return { key, token };
}

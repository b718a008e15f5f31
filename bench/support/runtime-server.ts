/**
 * The subject of the HTTP benchmarks: the real local runtime (`startLocalRuntime`, exactly what `ingest serve`
 * runs: embedded registry, real ES256 tokens, durable file sink with fsync before 202), started in a child
 * process with a JSON, a large-JSON and an XML stream, one API key and a token, announced to the parent.
 *
 * `node runtime-server.js --data-dir DIR [--slow-disk-bytes-per-s N --slow-sync-ms N] [--max-concurrent N]`
 */
import { issueAccessToken } from "../../lambda/core/access-token.js";
import { systemClock } from "../../lambda/core/ports.js";
import { newStreamRecord } from "../../lambda/core/stream-settings.js";
import type { ApiKeyRecord, PayloadType, StreamRecord } from "../../lambda/core/types.js";
import { JsonLinesLogger } from "../../lambda/local/logger.js";
import { startLocalRuntime } from "../../lambda/local/runtime.js";
import { serveParent } from "./child-side.js";
import { slowDisk } from "./slow-disk.js";

export const BENCH_TENANT = "bench";

export interface RuntimeServerInfo {
  readonly url: string;
  readonly dataDir: string;
  readonly tenant: string;
  readonly token: string;
  readonly streams: { readonly json: string; readonly largeJson: string; readonly xml: string };
}

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

async function main(): Promise<void> {
  const dataDir = flag("--data-dir");
  if (dataDir === undefined) throw new Error("--data-dir is required");
  const bytesPerSecond = flag("--slow-disk-bytes-per-s");
  const maxConcurrent = flag("--max-concurrent");
  const runtime = await startLocalRuntime({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    registryPort: 0,
    logger: new JsonLinesLogger("error"),
    ...(bytesPerSecond === undefined
      ? {}
      : {
          sinkFs: slowDisk({
            bytesPerSecond: Number(bytesPerSecond),
            syncMs: Number(flag("--slow-sync-ms") ?? "0"),
          }),
        }),
    ...(maxConcurrent === undefined ? {} : { maxConcurrentRequests: Number(maxConcurrent) }),
  });
  const now = new Date().toISOString();
  const stream = async (id: string, payload: PayloadType): Promise<string> => {
    const record: StreamRecord = {
      ...newStreamRecord({ id, tenant: BENCH_TENANT, name: id, payload, now }),
      // The default 10,000 requests/s would throttle the benchmark itself; it measures the server, not the limit.
      rateLimitPerSecond: 1_000_000,
      rateLimitBurst: 1_000_000,
    };
    await runtime.admin.createStream(record);
    return id;
  };
  const streams = {
    json: await stream("is-BenchJS1", "json"),
    largeJson: await stream("is-BenchJS2", "json"),
    xml: await stream("is-BenchXML", "xml"),
  };
  const key: ApiKeyRecord = {
    id: "ik-benchmark000001",
    tenant: BENCH_TENANT,
    name: "bench",
    status: "active",
    createdAt: now,
  };
  await runtime.admin.createApiKey(key);
  const { token } = await issueAccessToken({
    ...runtime.deployment,
    signer: runtime.keys.signer,
    key,
    days: 1,
    clock: systemClock,
  });
  serveParent<RuntimeServerInfo>(
    { url: runtime.url, dataDir: runtime.layout.root, tenant: BENCH_TENANT, token, streams },
    {
      flush: async () => (await runtime.flush()).length,
      stop: () => {
        void runtime.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
        return true;
      },
    },
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `runtime-server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});

import { JsonLinesLogger } from "../../lambda/local/logger.js";
import { startLocalRuntime } from "../../lambda/local/runtime.js";
import { serveParent } from "./child-side.js";
import { slowDisk } from "./slow-disk.js";
import { createUnthrottledTenant } from "./unthrottled-tenant.js";

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
  const { token } = await createUnthrottledTenant(runtime, BENCH_TENANT, "ik-benchmark000001", [
    { id: "is-BenchJS1", name: "is-BenchJS1", payload: "json" },
    { id: "is-BenchJS2", name: "is-BenchJS2", payload: "json" },
    { id: "is-BenchXML", name: "is-BenchXML", payload: "xml" },
  ]);
  const streams = { json: "is-BenchJS1", largeJson: "is-BenchJS2", xml: "is-BenchXML" };
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

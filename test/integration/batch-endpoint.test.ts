/**
 * The batch endpoint on the real local runtime over HTTP on loopback: what only the local runtime has, or what
 * needs its manual clock. A batch takes one token of the stream's rate limit however many records it holds, and
 * the local sink seals the open file first when a batch does not fit in it (a batch is never split across files).
 * The batch endpoint's HTTP contract both runtimes share (202 with `records`, order, gzip, numbered 400 lines,
 * 413 limits, 415, 401/404/405, nothing stored on a refusal) is test/contract/batch.test.ts, run against the local
 * runtime and `--emulate-aws` alike.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { filesUnder } from "../helpers/files.js";
import { send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

function headersFor(token: string, contentType = "application/x-ndjson"): Record<string, string> {
  return { authorization: `Bearer ${token}`, "x-amperity-tenant": "acme", "content-type": contentType };
}

const ndjson = (count: number, from = 0, pad = "") =>
  Array.from({ length: count }, (_, i) => `{"n":${from + i},"pad":"${pad}"}`).join("\n");

describe("batch endpoint over HTTP (local runtime only)", () => {
  let t: TestRuntime;
  const batchUrl = (streamId: string) => `${t.runtime.url}/stream/v0/batch/${streamId}`;

  /** The `n` of every line of each sealed file of the stream, file by file (in file-name order). */
  function sealedFiles(streamId: string): number[][] {
    const root = join(t.runtime.layout.objects, "streams");
    return filesUnder(root)
      .filter((file) => file.includes(`/${streamId}/`))
      .map((file) =>
        readFileSync(join(root, file), "utf8")
          .split("\n")
          .slice(0, -1)
          .map((line) => (JSON.parse(line) as { n: number }).n),
      );
  }

  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => {
    await t.stop();
  });

  it("takes one token of the rate limit per batch, however many records it holds", async () => {
    const { stream, token } = await t.ready({ rateLimitPerSecond: 1, rateLimitBurst: 2 });
    const batch = () => send(batchUrl(stream.id), { headers: headersFor(token), body: ndjson(300) });
    expect((await batch()).json).toMatchObject({ status: "accepted", records: 300 });
    expect((await batch()).status).toBe(202);
    const throttled = await batch();
    expect(throttled.status).toBe(429);
    expect(throttled.headers["retry-after"]).toBe("1");
    expect((throttled.json.error as { code: string }).code).toBe("throttled");
    t.clock.advance(1000);
    expect((await batch()).status).toBe(202);
  });

  it("seals the open file first when a batch does not fit in it, and gives a batch over the buffer size a file of its own", async () => {
    const { stream, token } = await t.ready({
      delivery: { bufferMiB: 1, bufferSeconds: 900, compression: "none", shards: 1 },
    });
    const pad = "y".repeat(10_000);
    const post = (body: string) => send(batchUrl(stream.id), { headers: headersFor(token), body });
    // 60 × ~10 KB fill ~600 KB of the 1 MiB file; the next 60 (~600 KB) do not fit in the rest of it.
    expect((await post(ndjson(60, 0, pad))).status).toBe(202);
    expect((await post(ndjson(60, 100, pad))).status).toBe(202);
    // 120 × ~10 KB is more than the whole buffer: a file of its own.
    expect((await post(ndjson(120, 200, pad))).status).toBe(202);
    await t.runtime.sink.sealDue();
    await t.runtime.flush();
    const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
    expect(sealedFiles(stream.id)).toEqual([range(0, 60), range(100, 60), range(200, 120)]);
  });
});

/**
 * The API description on the real local server: GET /openapi.json serves docs/openapi.json, and the collection
 * `ingest postman` prints runs in Postman's own runtime (newman) and lands the documentation's records.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import newman, { type NewmanRunSummary } from "newman";
import document from "../../docs/openapi.json";
import { runCli } from "../helpers/cli.js";
import { filesUnder } from "../helpers/files.js";
import { send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

function runCollection(collection: unknown, variables: Record<string, string>): Promise<NewmanRunSummary> {
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: collection as never,
        envVar: Object.entries(variables).map(([key, value]) => ({ key, value })),
        reporters: [],
      },
      (error, summary) => (error ? reject(error) : resolve(summary)),
    );
  });
}

/** Every stored line of a JSON stream, in file order. */
function storedLines(t: TestRuntime, streamId: string): string[] {
  const dir = join(t.runtime.layout.objects, "streams", "acme", streamId);
  return filesUnder(dir).flatMap((file) => readFileSync(join(dir, file), "utf8").split("\n").filter(Boolean));
}

const statusByName = (summary: NewmanRunSummary) =>
  Object.fromEntries(summary.run.executions.map((e) => [e.item.name, e.response?.code]));

describe("API description", () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(() => t.stop());

  it("serves docs/openapi.json at GET /openapi.json, and only GET and HEAD", async () => {
    const got = await send(`${t.runtime.url}/openapi.json`, { method: "GET" });
    expect(got.status).toBe(200);
    expect(got.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(got.json).toEqual(document);
    expect((await send(`${t.runtime.url}/openapi.json`, { method: "HEAD" })).status).toBe(200);
    const post = await send(`${t.runtime.url}/openapi.json`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("exports a v2.1 collection that sends the documentation's JSON, XML and batch requests", async () => {
    const json = await t.ready();
    const xml = await t.ready({ payload: "xml" });
    const exported = await runCli(t.dir, [
      "postman",
      "--stream",
      json.stream.id,
      "--base-url",
      t.runtime.url,
    ]);
    expect(exported.code).toBe(0);
    const collection = JSON.parse(exported.stdout) as {
      info: { schema: string };
      variable: { key: string; value: string }[];
    };
    expect(collection.info.schema).toBe(
      "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
    );
    expect(Object.fromEntries(collection.variable.map((v) => [v.key, v.value]))).toEqual({
      baseUrl: t.runtime.url,
      tenant: "acme",
      token: "",
      streamId: json.stream.id,
    });

    const onJson = await runCollection(collection, { token: json.token });
    expect(statusByName(onJson)).toEqual({
      "Send a JSON record": 202,
      "Send an XML record": 415,
      "Send a batch of JSON records": 202,
      Health: 200,
    });
    const onXml = await runCollection(collection, { token: xml.token, streamId: xml.stream.id });
    expect(statusByName(onXml)["Send an XML record"]).toBe(202);
    const withoutToken = await runCollection(collection, {});
    expect(statusByName(withoutToken)["Send a JSON record"]).toBe(401);

    await t.runtime.flush();
    const lines = storedLines(t, json.stream.id);
    expect(lines).toEqual([
      '{"email":"justin.case@example.com","first_name":"Justin","last_name":"Case","loyalty_id":"00501","order_total":125.50}',
      '{"email":"justin.case@example.com","loyalty_id":"00501","order_total":125.50}',
      '{"email":"jane.doe@example.com","loyalty_id":"00502","order_total":19.99}',
    ]);
  });

  it("refuses an unknown stream and a bad base URL with one clear line", async () => {
    expect(await runCli(t.dir, ["postman", "--stream", "is-NoSuchId"])).toMatchObject({
      code: 1,
      stderr: "error: no stream is-NoSuchId\n",
    });
    expect((await runCli(t.dir, ["postman", "--base-url", "ftp://x"])).code).toBe(2);
  });
});

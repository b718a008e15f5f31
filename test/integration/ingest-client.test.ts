/**
 * The TypeScript client against the real local runtime: objects, JSON text, XML and gzip land as stored
 * records; batches are split and stored; refusals are typed and never retried.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeMultiple } from "cbor-x";
import { IngestClient, IngestRejectedError } from "../../client/index.js";
import { filesUnder } from "../helpers/files.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

describe("IngestClient against the local runtime", () => {
  let t: TestRuntime;
  const clients: IngestClient[] = [];

  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await t.stop();
  });

  function clientFor(token: string, options: { gzip?: boolean } = {}) {
    const retries: unknown[] = [];
    const client = new IngestClient({
      baseUrl: t.runtime.url,
      tenant: "acme",
      token,
      ...options,
      onRetry: (e) => retries.push(e),
    });
    clients.push(client);
    return { client, retries };
  }

  /** Every stored line (NDJSON) or item (CBOR) of one stream, after sealing. */
  async function stored(streamId: string): Promise<unknown[]> {
    await t.runtime.flush();
    const root = join(t.runtime.layout.objects, "streams");
    const out: unknown[] = [];
    for (const file of filesUnder(root).filter((f) => f.includes(`/${streamId}/`))) {
      const bytes = readFileSync(join(root, file));
      if (file.endsWith(".cbor")) decodeMultiple(bytes, (v: unknown) => void out.push(v));
      else out.push(...bytes.toString("utf8").split("\n").filter(Boolean));
    }
    return out;
  }

  it("stores objects, JSON texts (lexemes kept) and gzipped records", async () => {
    const { stream, token } = await t.ready();
    const { client, retries } = clientFor(token);
    const result = await client.send(stream.id, { id: "o-1", total: 12.5 });
    expect(result).toMatchObject({ status: 202, stream: stream.id, attempts: 1, duplicate: false });
    expect(result.requestId).toMatch(/./);
    await client.send(stream.id, '{ "id": "o-2", "big": 12345678901234567890, "price": 1.50 }');
    await clientFor(token, { gzip: true }).client.send(stream.id, { id: "o-3", note: "x".repeat(2000) });
    expect(retries).toEqual([]);
    const lines = (await stored(stream.id)) as string[];
    expect(lines.sort()).toEqual(
      [
        '{"id":"o-1","total":12.5}',
        '{"id":"o-2","big":12345678901234567890,"price":1.50}',
        JSON.stringify({ id: "o-3", note: "x".repeat(2000) }),
      ].sort(),
    );
  });

  it("sends XML text as application/xml to an XML stream", async () => {
    const { stream, token } = await t.ready({ payload: "xml" });
    const { client } = clientFor(token);
    await client.send(stream.id, ' <order id="o-4"><zip>00501</zip></order>');
    expect(await stored(stream.id)).toEqual([{ order: { "@id": "o-4", zip: "00501" } }]);
  });

  it("types refusals and never retries them: 401 bad token, 404 unknown stream, 415 wrong type, 400", async () => {
    const { stream, token } = await t.ready();
    const badToken = `${token.slice(0, -4)}AAAA`;
    const cases: [string, string, unknown, number][] = [
      [badToken, stream.id, { a: 1 }, 401],
      [token, "is-NoSuch00", { a: 1 }, 404],
      [token, stream.id, "<a/>", 415],
      [token, stream.id, "[1,2]", 400],
    ];
    for (const [useToken, id, record, status] of cases) {
      const { client, retries } = clientFor(useToken);
      const thrown = await client.send(id, record as object).catch((e: unknown) => e);
      expect(thrown).toBeInstanceOf(IngestRejectedError);
      expect(thrown).toMatchObject({ status });
      const rejected = thrown as IngestRejectedError;
      expect(rejected.code).toMatch(/^[a-z_]+$/);
      expect(rejected.requestId).toMatch(/./);
      expect(`${rejected.message} ${rejected.stack}`).not.toContain(token.slice(-20));
      expect(retries).toEqual([]);
    }
  });

  it("sends 1,200 records as three batch requests and stores every one", async () => {
    const { stream, token } = await t.ready();
    const { client } = clientFor(token, { gzip: true });
    const records = Array.from({ length: 1200 }, (_, i) => ({ i }));
    const result = await client.sendBatch(stream.id, records);
    expect(result).toMatchObject({ records: 1200, requests: 3, attempts: 3 });
    const lines = (await stored(stream.id)) as string[];
    expect(lines).toHaveLength(1200);
    expect(new Set(lines)).toEqual(new Set(records.map((r) => JSON.stringify(r))));
  });

  it("maps the server's invalid_batch lines to record indexes; nothing of that request is stored", async () => {
    const { stream, token } = await t.ready();
    const { client } = clientFor(token);
    const records: (object | string)[] = Array.from({ length: 600 }, (_, i) => ({ i }));
    records[510] = "{not json";
    records[599] = "[1]";
    const thrown = await client.sendBatch(stream.id, records).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(IngestRejectedError);
    const rejected = thrown as IngestRejectedError;
    expect(rejected).toMatchObject({ status: 400, code: "invalid_batch" });
    expect(rejected.lines.map((l) => [l.index, l.code])).toEqual([
      [510, "invalid_json"],
      [599, "not_an_object"],
    ]);
    expect(rejected.batch).toEqual({ acceptedRecords: 500, failedFrom: 500, failedTo: 600 });
    expect(await stored(stream.id)).toHaveLength(500);
  });
});

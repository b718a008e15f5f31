/**
 * `ingest read` on what the real local runtime stored: JSON and XML records posted over HTTP, sealed, then
 * read back from the objects folder as JSON lines and as CSV, flattened or not, with the built CLI.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { runCli } from "../helpers/cli.js";
import { send } from "../helpers/http.js";
import { startTestRuntime, type TestRuntime } from "../helpers/local-runtime.js";

describe("ingest read", () => {
  let t: TestRuntime;
  let objects: string;

  beforeAll(async () => {
    t = await startTestRuntime();
    objects = t.runtime.layout.objects;
    const json = await t.ready();
    const xml = await t.ready({ payload: "xml", delivery: { ...json.stream.delivery, compression: "gzip" } });
    const post = (target: typeof json, contentType: string, body: string) =>
      send(t.dataUrl(target.stream.id), {
        headers: {
          authorization: `Bearer ${target.token}`,
          "x-amperity-tenant": target.stream.tenant,
          "content-type": contentType,
        },
        body,
      });
    for (const body of [
      '{"id":"o-1","total":12.50,"big":12345678901234567890,"customer":{"name":"Ann, \\"the\\" buyer","zip":"00501"},"items":[{"sku":"A","qty":2},{"sku":"B"}]}',
      '{"id":"o-2","note":"","gift":null,"items":[]}',
    ]) {
      expect((await post(json, "application/json", body)).status).toBe(202);
    }
    expect(
      (await post(xml, "application/xml", '<order id="o-3"><line>1</line><line>2</line></order>')).status,
    ).toBe(202);
    await t.runtime.flush();
  });

  afterAll(() => t.stop());

  it("prints every record of a folder as JSON lines, numbers exactly as stored", async () => {
    const result = await runCli(t.dir, ["read", objects]);
    expect(result.stderr).toBe("");
    expect(result.stdout.split("\n").filter(Boolean).sort()).toEqual(
      [
        '{"id":"o-1","total":12.50,"big":12345678901234567890,"customer":{"name":"Ann, \\"the\\" buyer","zip":"00501"},"items":[{"sku":"A","qty":2},{"sku":"B"}]}',
        '{"id":"o-2","note":"","gift":null,"items":[]}',
        '{"order":{"@id":"o-3","line":["1","2"]}}',
      ].sort(),
    );
  });

  it("writes CSV with flattened columns: dotted objects, indexed arrays, quoting, null apart from empty", async () => {
    const jsonDir = join(objects, "streams", "acme");
    const result = await runCli(t.dir, ["read", jsonDir, "--format", "csv", "--flatten"]);
    expect(result.stderr).toBe("");
    const [header, ...rows] = result.stdout.trimEnd().split("\n");
    const columns = header?.split(",") ?? [];
    for (const name of [
      "id",
      "total",
      "big",
      "customer.name",
      "customer.zip",
      "items.0.sku",
      "items.0.qty",
    ]) {
      expect(columns).toContain(name);
    }
    expect(columns).toEqual(expect.arrayContaining(["items.1.sku", "note", "gift", "items", "order.@id"]));
    const row = (id: string) => {
      const line = rows.find((r) => r.includes(id)) ?? "";
      return Object.fromEntries(columns.map((c, i) => [c, splitCsv(line)[i]]));
    };
    expect(row("o-1")).toMatchObject({
      total: "12.50",
      big: "12345678901234567890",
      "customer.name": '"Ann, ""the"" buyer"',
      "customer.zip": "00501",
      "items.1.sku": "B",
      note: "",
    });
    expect(row("o-2")).toMatchObject({ note: '""', gift: "", items: "[]", "items.0.sku": "" });
    expect(row("o-3")).toMatchObject({ "order.@id": "o-3", "order.line.0": "1", "order.line.1": "2" });
  });

  it("keeps nested values as JSON text in CSV without --flatten", async () => {
    const result = await runCli(t.dir, ["read", objects, "--format", "csv"]);
    expect(result.stdout.split("\n")[0]).toBe("id,total,big,customer,items,note,gift,order");
    expect(result.stdout).toContain('"[{""sku"":""A"",""qty"":2},{""sku"":""B""}]"');
  });

  it("refuses a bad format, an empty folder and a damaged file with one clear line", async () => {
    const badFormat = await runCli(t.dir, ["read", objects, "--format", "xlsx"]);
    expect(badFormat).toMatchObject({
      code: 2,
      stderr: 'error: --format must be jsonl or csv; got "xlsx"\n',
    });
    const empty = await runCli(t.dir, ["read", join(t.dir, "registry")]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("no batch files");
    const damaged = join(t.dir, "damaged.ndjson");
    writeFileSync(damaged, '{"a":1}\n{"a":\n');
    const result = await runCli(t.dir, ["read", damaged, "--format", "csv"]);
    expect(result).toMatchObject({ code: 1, stdout: "" });
    expect(result.stderr).toMatch(/^error: .*damaged\.ndjson: line 2 is not JSON/);
    const badGzip = join(t.dir, "bad.ndjson.gz");
    writeFileSync(badGzip, gzipSync('{"a":1}\n').subarray(0, 10));
    expect((await runCli(t.dir, ["read", badGzip])).stderr).toContain("not valid gzip");
  });
});

/** Splits one CSV row into its raw fields (quotes kept), enough for these assertions. */
function splitCsv(line: string): string[] {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (const char of line) {
    if (char === '"') quoted = !quoted;
    if (char === "," && !quoted) {
      fields.push(field);
      field = "";
    } else field += char;
  }
  fields.push(field);
  return fields;
}

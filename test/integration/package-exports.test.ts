/** The client is importable by the package's name, from CommonJS and ES modules, with its type declarations. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(__dirname, "..", "..");
const run = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: "utf8" }).trim();

describe("package exports", () => {
  it("resolves streaming-ingest/client to the built client, with .d.ts files beside it", () => {
    expect(
      run(["-e", "import('streaming-ingest/client').then((m) => console.log(typeof m.IngestClient))"]),
    ).toBe("function");
    expect(
      run(["-e", "const m = require('streaming-ingest/client'); console.log(Object.keys(m).sort().join())"]),
    ).toContain("IngestRejectedError");
    expect(existsSync(join(root, "dist", "client", "index.d.ts"))).toBe(true);
  });
});

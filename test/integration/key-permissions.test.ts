/** `ingest serve` refuses to start on a signing key file that group or others may read, saying how to fix it. */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateSigningKeys } from "../../lambda/adapters/local-signer.js";
import { dataDirLayout } from "../../lambda/local/data-dir.js";
import { runCli } from "../helpers/cli.js";

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "ingest-keyperm-"));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

it("ingest serve exits 1 naming the world-readable key file and the chmod that fixes it", async () => {
  const keysDir = dataDirLayout(dataDir).keys;
  const { kids } = await loadOrCreateSigningKeys(keysDir);
  const file = join(keysDir, `${kids[0]}.private.pem`);
  chmodSync(file, 0o644);
  const result = await runCli(dataDir, ["serve", "--port", "0", "--registry-port", "0", "--no-demo"]);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe("");
  expect(result.stderr).toMatch(/^error: signing key file /);
  expect(result.stderr).toContain(`signing key file ${file} has mode 0644`);
  expect(result.stderr).toContain(`run \`chmod 600 ${file}\``);
  // The message is one line and shows no key material.
  expect(result.stderr.trim().split("\n")).toHaveLength(1);
  expect(result.stderr).not.toContain("PRIVATE KEY");
});

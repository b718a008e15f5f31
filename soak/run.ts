/**
 * `node dist/soak/run.js [names...] [--quick] [--markdown FILE]` — runs the soaks in dist/soak/*.soak.js
 * (all of them, or those named), prints one table (soak | scenario | volume tried | result | ok) and exits 1
 * if any row is not ok or a soak throws. Progress goes to stderr, the table to stdout.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseRunnerArgs } from "../bench/support/runner-args.js";
import type { Soak } from "./harness.js";
import { formatMarkdownTable, formatTextTable, type TableRow } from "./support/table.js";

async function loadSoaks(directory: string): Promise<Soak[]> {
  const files = (await readdir(directory)).filter((file) => file.endsWith(".soak.js")).sort();
  const soaks: Soak[] = [];
  for (const file of files) {
    const module = (await import(pathToFileURL(join(directory, file)).href)) as { soak?: Soak };
    if (module.soak === undefined) throw new Error(`${file} does not export "soak"`);
    soaks.push(module.soak);
  }
  return soaks;
}

async function main(): Promise<number> {
  // Soaks that touch the registry in-process load the AWS SDK; keep its Node 20 notice out of the output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const options = parseRunnerArgs(process.argv.slice(2), "dist/soak/run.js");
  const available = await loadSoaks(__dirname);
  const unknown = options.names.filter((name) => !available.some((soak) => soak.name === name));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown soak(s): ${unknown.join(", ")}; available: ${available.map((s) => s.name).join(", ")}\n`,
    );
    return 2;
  }
  const selected =
    options.names.length === 0 ? available : available.filter((soak) => options.names.includes(soak.name));
  const rows: TableRow[] = [];
  const started = Date.now();
  for (const soak of selected) {
    const tmpDir = await mkdtemp(join(tmpdir(), `soak-${soak.name}-`));
    const soakStarted = Date.now();
    process.stderr.write(`# ${soak.name}: ${soak.title}${options.quick ? " (quick)" : ""}\n`);
    try {
      const result = await soak.run({
        quick: options.quick,
        tmpDir,
        log: (line) => process.stderr.write(`  [${soak.name}] ${line}\n`),
      });
      for (const row of result.rows) rows.push({ soak: soak.name, ...row });
      if (result.rows.length === 0) {
        rows.push({
          soak: soak.name,
          scenario: "(no rows)",
          volume: "-",
          result: "reported nothing",
          ok: false,
        });
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      rows.push({ soak: soak.name, scenario: "(threw)", volume: "-", result: message, ok: false });
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
    process.stderr.write(`# ${soak.name}: ${((Date.now() - soakStarted) / 1000).toFixed(1)} s\n`);
  }
  const failed = rows.filter((row) => !row.ok).length;
  process.stdout.write(`${formatTextTable(rows)}\n\n`);
  process.stdout.write(
    `${rows.length} rows, ${failed} not ok, ${((Date.now() - started) / 1000).toFixed(1)} s` +
      `${options.quick ? " (quick)" : ""}\n`,
  );
  if (options.markdown !== undefined) {
    await writeFile(options.markdown, `${formatMarkdownTable(rows)}\n`);
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    // Exit explicitly: a soak that leaks a handle must not keep the runner alive after its table.
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`soak runner failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

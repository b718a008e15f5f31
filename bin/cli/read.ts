/**
 * `ingest read FILE|DIR… [--format jsonl|csv] [--flatten]`: prints batch files (NDJSON, CBOR sequences, either
 * gzipped) as JSON lines or CSV, optionally flattening nested objects and arrays into columns.
 */
import type { Command } from "commander";
import { stringify } from "csv-stringify/sync";
import { type BatchFileRef, findBatchFiles, readBatchFile } from "./batch-files.js";
import { CliError, type GlobalOptions, refuseStack } from "./context.js";
import { type RecordValue, toCell, toColumns, toJson } from "./record-values.js";

interface ReadFlags {
  format: string;
  flatten?: boolean;
}

/** Output is written in chunks of about this many characters. */
const CHUNK = 64 * 1024;

export function registerReadCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("read <paths...>")
    .description(
      "print batch files (.ndjson, .cbor, optionally .gz; or every one under a folder) as JSON lines or CSV",
    )
    .option(
      "--format <format>",
      "jsonl (one JSON object per line) or csv (a header, then one row per record)",
      "jsonl",
    )
    .option("--flatten", "nested objects become dotted columns (a.b), arrays indexed ones (items.0.sku)")
    .action(async (paths: string[], flags: ReadFlags) => {
      const options = globals();
      refuseStack(
        options,
        "read",
        "it reads local files; on AWS download them first (aws s3 cp --recursive s3://<the stack's DeliveryBucketName output>/streams/<tenant>/<stream-id>/ .) and read those",
      );
      if (flags.format !== "jsonl" && flags.format !== "csv") {
        throw new CliError(`--format must be jsonl or csv; got ${JSON.stringify(flags.format)}`, 2);
      }
      const files: BatchFileRef[] = [];
      for (const path of paths) files.push(...(await findBatchFiles(path)));
      if (files.length === 0)
        throw new CliError(`no batch files (.ndjson, .cbor, .gz) under ${paths.join(", ")}`);
      const out = new ChunkedOutput(options.stdout);
      if (flags.format === "csv") await writeCsv(files, flags.flatten === true, out);
      else await writeJsonLines(files, flags.flatten === true, out);
      out.end();
    });
}

async function writeJsonLines(files: readonly BatchFileRef[], flatten: boolean, out: ChunkedOutput) {
  for (const file of files) {
    for (const record of await readBatchFile(file)) {
      if (!flatten) {
        out.write(`${record.json}\n`);
        continue;
      }
      const columns = columnsOf(file, record.value, true);
      out.write(
        `{${[...columns].map(([name, value]) => `${JSON.stringify(name)}:${toJson(value)}`).join(",")}}\n`,
      );
    }
  }
}

/**
 * Two passes, so memory stays bounded by one file: the first collects every column (in first-seen order), the
 * second writes the header and one row per record, empty where a record lacks a column.
 */
async function writeCsv(files: readonly BatchFileRef[], flatten: boolean, out: ChunkedOutput) {
  const names = new Set<string>();
  for (const file of files) {
    for (const record of await readBatchFile(file)) {
      for (const name of columnsOf(file, record.value, flatten).keys()) names.add(name);
    }
  }
  const header = [...names];
  out.write(stringify([header]));
  for (const file of files) {
    const rows = (await readBatchFile(file)).map((record) => {
      const columns = columnsOf(file, record.value, flatten);
      return header.map((name) => toCell(columns.get(name)));
    });
    // null is an empty cell; an empty string is written "" so the two stay apart.
    for (let i = 0; i < rows.length; i += 500) {
      out.write(
        stringify(rows.slice(i, i + 500), {
          cast: { string: (value) => (value === "" ? { value, quoted_empty: true } : value) },
        }),
      );
    }
  }
}

function columnsOf(file: BatchFileRef, value: () => RecordValue, flatten: boolean): Map<string, RecordValue> {
  try {
    return toColumns(value(), flatten);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${file.path}: ${(error as Error).message}`);
  }
}

class ChunkedOutput {
  private buffer = "";

  constructor(private readonly sink: (chunk: string) => void) {}

  write(text: string): void {
    this.buffer += text;
    if (this.buffer.length >= CHUNK) this.end();
  }

  end(): void {
    if (this.buffer !== "") this.sink(this.buffer);
    this.buffer = "";
  }
}

/** `ingest read FILE`: prints an NDJSON or CBOR-sequence batch file (optionally .gz) as JSON lines. */
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { Decoder } from "cbor-x";
import type { Command } from "commander";
import { CliError, type GlobalOptions, refuseStack } from "./context.js";

export function registerReadCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("read <file>")
    .description("print a batch file (.ndjson, .cbor, optionally .gz) as JSON lines")
    .action(async (file: string) => {
      const options = globals();
      refuseStack(
        options,
        "read",
        "it reads a local file; on AWS download one first (aws s3 cp s3://<the stack's DeliveryBucketName output>/streams/<tenant>/<stream-id>/… .) and read that",
      );
      let bytes: Buffer = await readFile(file).catch((error: NodeJS.ErrnoException) => {
        throw new CliError(`cannot read ${file}: ${error.code ?? error.message}`);
      });
      let name = file;
      if (name.endsWith(".gz")) {
        bytes = gunzipSync(bytes);
        name = name.slice(0, -3);
      }
      if (name.endsWith(".ndjson")) {
        options.stdout(bytes);
      } else if (name.endsWith(".cbor")) {
        for (const line of cborSequenceToJsonLines(bytes)) options.stdout(`${line}\n`);
      } else {
        throw new CliError(`${file}: expected a .ndjson or .cbor batch file (optionally .gz)`, 2);
      }
    });
}

/**
 * Maps stay Maps while decoding: cbor-x's default object mode renames a `__proto__` key (to `__proto_`), which
 * would misreport the data. Object.fromEntries then defines every key as an own property, that one included.
 */
const cborDecoder = new Decoder({ mapsAsObjects: false, useRecords: false });

/** Decodes a CBOR sequence (RFC 8742) into one JSON text per data item. */
export function cborSequenceToJsonLines(bytes: Uint8Array): string[] {
  const lines: string[] = [];
  try {
    cborDecoder.decodeMultiple(bytes, (value: unknown) => {
      lines.push(JSON.stringify(value, (_key, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v)));
    });
  } catch (error) {
    throw new CliError(
      `not a valid CBOR sequence after ${lines.length} item(s): ${(error as Error).message}`,
    );
  }
  return lines;
}

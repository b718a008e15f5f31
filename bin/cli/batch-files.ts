/**
 * Finding and reading batch files for `ingest read`: a file, or every batch file under a folder (in path order,
 * which is time order within a stream), each as records that keep their stored text.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Decoder } from "cbor-x";
import { CliError } from "./context.js";
import { fromCbor, parseJsonLine, type RecordValue, toJson } from "./record-values.js";

export interface BatchFileRef {
  readonly path: string;
  readonly format: "ndjson" | "cbor";
  readonly gzip: boolean;
}

/** One stored record: its JSON text (an NDJSON line as stored; a CBOR item as JSON) and its parsed value. */
export interface StoredRecord {
  readonly json: string;
  value(): RecordValue;
}

const BATCH_FILE = /\.(ndjson|cbor)(\.gz)?$/;

/** The batch files `target` names: itself, or those under it (hidden folders such as `.inflight` skipped). */
export async function findBatchFiles(target: string): Promise<BatchFileRef[]> {
  const info = await stat(target).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${target}: ${error.code ?? error.message}`);
  });
  if (!info.isDirectory()) {
    const ref = classify(target);
    if (ref === undefined) {
      throw new CliError(
        `${target}: expected a .ndjson or .cbor batch file (optionally .gz), or a folder`,
        2,
      );
    }
    return [ref];
  }
  const found: BatchFileRef[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const ref = classify(path);
        if (ref !== undefined) found.push(ref);
      }
    }
  };
  await walk(target);
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function classify(path: string): BatchFileRef | undefined {
  const match = BATCH_FILE.exec(path);
  if (match === null) return undefined;
  return { path, format: match[1] === "cbor" ? "cbor" : "ndjson", gzip: match[2] !== undefined };
}

/**
 * Maps stay Maps while decoding: cbor-x's default object mode renames a `__proto__` key (to `__proto_`), which
 * would misreport the data.
 */
const cborDecoder = new Decoder({ mapsAsObjects: false, useRecords: false });

/** Reads one batch file's records. A damaged file fails with its name and the record number. */
export async function readBatchFile(ref: BatchFileRef): Promise<StoredRecord[]> {
  let bytes: Buffer = await readFile(ref.path).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${ref.path}: ${error.code ?? error.message}`);
  });
  if (ref.gzip) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new CliError(`${ref.path}: not valid gzip (${(error as Error).message})`);
    }
  }
  return ref.format === "cbor" ? cborRecords(ref.path, bytes) : ndjsonRecords(ref.path, bytes);
}

function ndjsonRecords(path: string, bytes: Buffer): StoredRecord[] {
  const lines = bytes.toString("utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((line, index) => ({
    json: line,
    value() {
      try {
        return parseJsonLine(line);
      } catch (error) {
        throw new CliError(`${path}: line ${index + 1} is not JSON (${(error as Error).message})`);
      }
    },
  }));
}

function cborRecords(path: string, bytes: Buffer): StoredRecord[] {
  const records: StoredRecord[] = [];
  try {
    cborDecoder.decodeMultiple(bytes, (item: unknown) => {
      const value = fromCbor(item);
      records.push({ json: toJson(value), value: () => value });
    });
  } catch (error) {
    throw new CliError(
      `${path}: not a valid CBOR sequence after ${records.length} item(s): ${(error as Error).message}`,
    );
  }
  return records;
}

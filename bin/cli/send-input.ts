/**
 * What `ingest send` reads: an NDJSON file (one record per line), a .json or .xml file (one record), or a folder
 * of those. Files are streamed: records are produced as they are pulled, so memory stays flat however large
 * the input.
 */
import { createReadStream } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { CliError } from "./context.js";

export type InputKind = "ndjson" | "json" | "xml";

export interface InputFile {
  readonly path: string;
  readonly kind: InputKind;
  readonly size: number;
}

export interface InputRecord {
  readonly file: string;
  /** 1-based physical line, for NDJSON records. */
  readonly line?: number;
  readonly body: Buffer;
  readonly kind: InputKind;
  /** Input bytes this record stands for (its line, line break and any blank lines before it). */
  readonly bytes: number;
}

const FOLDER_EXTENSIONS: Readonly<Record<string, InputKind>> = {
  ".ndjson": "ndjson",
  ".jsonl": "ndjson",
  ".json": "json",
  ".xml": "xml",
};

/** What `ingest send` appends to the input's name for its default rejects file. */
export const REJECTS_SUFFIX = ".rejects.ndjson";

function kindOfFile(path: string): InputKind {
  const ext = extname(path).toLowerCase();
  if (ext === ".xml") return "xml";
  if (ext === ".json") return "json";
  return "ndjson";
}

/**
 * The files to send for `--file PATH`: the file itself (.xml and .json are one record, anything else NDJSON),
 * or a folder's .ndjson/.jsonl/.json/.xml files (not its subfolders, nor `*.rejects.ndjson`), in name order.
 */
export async function listInputs(path: string): Promise<InputFile[]> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(
      `cannot read --file ${path}: ${error.code === "ENOENT" ? "no such file or folder" : error.message}`,
      2,
    );
  });
  if (info.isFile()) return [{ path, kind: kindOfFile(path), size: info.size }];
  if (!info.isDirectory()) throw new CliError(`--file ${path} is neither a file nor a folder`, 2);
  const files: InputFile[] = [];
  for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const kind = FOLDER_EXTENSIONS[extname(entry.name).toLowerCase()];
    // A rejects file of an earlier run (`x.ndjson.rejects.ndjson`) lists refusals; it is not input.
    if (!entry.isFile() || kind === undefined || entry.name.endsWith(REJECTS_SUFFIX)) continue;
    const file = join(path, entry.name);
    files.push({ path: file, kind, size: (await stat(file)).size });
  }
  if (files.length === 0) throw new CliError(`no .ndjson, .jsonl, .json or .xml files in ${path}`, 2);
  return files;
}

/** Every record of the files, in order; blank lines of NDJSON files are skipped. */
export async function* readRecords(files: readonly InputFile[]): AsyncGenerator<InputRecord> {
  for (const file of files) {
    if (file.kind === "ndjson") {
      yield* ndjsonRecords(file.path);
    } else {
      const body = await readFile(file.path);
      if (isBlank(body, 0, body.length)) continue;
      yield { file: file.path, body, kind: file.kind, bytes: body.length };
    }
  }
}

async function* ndjsonRecords(path: string): AsyncGenerator<InputRecord> {
  let rest: Buffer = Buffer.alloc(0);
  let line = 0;
  let pendingBytes = 0;
  const take = (bytes: Buffer, start: number, end: number, breakBytes: number): InputRecord | undefined => {
    line++;
    pendingBytes += end - start + breakBytes;
    let to = end;
    if (to > start && bytes[to - 1] === 0x0d) to--;
    // A UTF-8 byte order mark at the start of the file is not part of the first record.
    let from = start;
    if (line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) from += 3;
    if (isBlank(bytes, from, to)) return undefined;
    const record: InputRecord = {
      file: path,
      line,
      body: Buffer.from(bytes.subarray(from, to)),
      kind: "ndjson",
      bytes: pendingBytes,
    };
    pendingBytes = 0;
    return record;
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    let data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
      const record = take(data, start, nl, 1);
      start = nl + 1;
      if (record !== undefined) yield record;
    }
    data = data.subarray(start);
    rest = data;
  }
  if (rest.length > 0) {
    const record = take(rest, 0, rest.length, 0);
    if (record !== undefined) yield record;
  }
}

function isBlank(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const b = bytes[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a) return false;
  }
  return true;
}

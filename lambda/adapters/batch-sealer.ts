/**
 * Moves a closed in-flight batch file to its final object path (gzipping it when its name ends in `.gz`).
 * Every step is crash-safe and repeatable: the final path appears only complete, and an in-flight file
 * whose object already exists is simply removed.
 */
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { objectKey, parseBatchFileName } from "./batch-file-name.js";
import {
  ensureDirectory,
  fileExists,
  fsyncDirectory,
  type SinkFileHandle,
  type SinkFileSystem,
  writeFully,
} from "./sink-fs.js";

/** Suffix of the compressed copy being written next to its in-flight source; recovery deletes leftovers. */
export const TEMP_SUFFIX = ".tmp";

/** Bytes read per step while compressing: bounded memory whatever the batch size. */
const READ_CHUNK_BYTES = 1024 * 1024;

/** What became of an in-flight file. */
export type SealOutcome =
  | { readonly kind: "sealed"; readonly key: string }
  /** The object already existed (a crash hit after it was written): the in-flight copy was removed. */
  | { readonly kind: "already-sealed"; readonly key: string }
  /** The file held no records and was removed; empty batches never become objects. */
  | { readonly kind: "empty" };

/** A closed in-flight file: `<dir>/<name>`, the name being a batch file name. */
export interface InflightFile {
  readonly root: string;
  readonly tenant: string;
  readonly dir: string;
  readonly name: string;
}

/** Seals one closed in-flight file, which must hold only whole records. */
export async function sealInflightFile(fs: SinkFileSystem, file: InflightFile): Promise<SealOutcome> {
  const parts = parseBatchFileName(file.name);
  if (parts === undefined) {
    throw new Error(`not a batch file name: ${file.name}`);
  }
  const source = join(file.dir, file.name);
  const key = objectKey(file.tenant, file.name, parts);
  const target = join(file.root, ...key.split("/"));
  if (await fileExists(fs, target)) {
    await removeInflightFile(fs, file);
    return { kind: "already-sealed", key };
  }
  if ((await fs.size(source)) === 0) {
    await removeInflightFile(fs, file);
    return { kind: "empty" };
  }
  const targetDir = join(target, "..");
  await ensureDirectory(fs, targetDir);
  if (parts.compression === "gzip") {
    await sealCompressed(fs, file, source, target);
  } else {
    await fs.rename(source, target);
    await fsyncDirectory(fs, targetDir);
    await fsyncDirectory(fs, file.dir);
  }
  return { kind: "sealed", key };
}

/** Deletes an in-flight file (or leftover temp file) durably. */
export async function removeInflightFile(fs: SinkFileSystem, file: InflightFile): Promise<void> {
  await fs.unlink(join(file.dir, file.name));
  await fsyncDirectory(fs, file.dir);
}

/**
 * gzip to a temp file beside the source, fsync it, rename it into place, and only then delete the source:
 * a crash at any point leaves either the source (sealed again on recovery) or the complete object.
 */
async function sealCompressed(
  fs: SinkFileSystem,
  file: InflightFile,
  source: string,
  target: string,
): Promise<void> {
  const temp = join(file.dir, `${file.name}${TEMP_SUFFIX}`);
  const input = await fs.open(source, "r");
  try {
    const output = await fs.open(temp, "w");
    try {
      let written = 0;
      await pipeline(readChunks(input), createGzip(), async (compressed: AsyncIterable<Buffer>) => {
        for await (const chunk of compressed) {
          await writeFully(output, chunk, written);
          written += chunk.byteLength;
        }
      });
      await output.sync();
    } finally {
      await output.close().catch(() => undefined);
    }
  } finally {
    await input.close().catch(() => undefined);
  }
  await fs.rename(temp, target);
  await fsyncDirectory(fs, join(target, ".."));
  await removeInflightFile(fs, file);
}

async function* readChunks(handle: SinkFileHandle): AsyncGenerator<Uint8Array> {
  let position = 0;
  for (;;) {
    const buffer = new Uint8Array(READ_CHUNK_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, position);
    if (bytesRead === 0) {
      return;
    }
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Counts the records that landed in a local data directory's sealed objects (after a flush). */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeMultiple } from "cbor-x";
import { dataDirLayout } from "../../lambda/local/data-dir.js";

/** Records stored for `streamId`: NDJSON lines, or CBOR items, in every sealed object of that stream. */
export async function countStoredRecords(dataDir: string, tenant: string, streamId: string): Promise<number> {
  const root = join(dataDirLayout(dataDir).objects, "streams", tenant, streamId);
  let count = 0;
  for (const file of await listFiles(root)) {
    const data = await readFile(file);
    if (file.endsWith(".ndjson")) {
      for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) count++;
    } else if (file.endsWith(".cbor")) {
      count += (decodeMultiple(data) as unknown[] | undefined)?.length ?? 0;
    } else {
      throw new Error(`unexpected object ${file} (the benchmark streams are uncompressed)`);
    }
  }
  return count;
}

async function listFiles(dir: string): Promise<string[]> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path)));
    else files.push(path);
  }
  return files;
}

/**
 * Batch numbers (`<seq>` in object names) per stream, persisted in a `.seq` file beside the stream's
 * in-flight files so numbering keeps increasing across restarts.
 */
import { join } from "node:path";
import type { Logger } from "../core/ports.js";
import { parseBatchFileName } from "./batch-file-name.js";
import { TEMP_SUFFIX } from "./batch-sealer.js";
import { isNotFound, type SinkFileSystem, writeFully } from "./sink-fs.js";

/** Name of the sequence file; it starts with a dot, so it can never parse as a batch file name. */
export const SEQ_FILE = ".seq";

export class StreamSequences {
  /** Last batch number used, per stream id. */
  private readonly last = new Map<string, number>();

  constructor(
    private readonly fs: SinkFileSystem,
    private readonly logger: Logger,
  ) {}

  /** Notes that `seq` is taken (recovery feeds in the `.seq` file and every in-flight name it sees). */
  observe(streamId: string, seq: number): void {
    if (seq > (this.last.get(streamId) ?? 0)) {
      this.last.set(streamId, seq);
    }
  }

  /**
   * Reserves the stream's next batch number and writes it to `<dir>/.seq` (temp file, fsync, rename).
   * The caller creates the batch file in the same directory next and syncs the directory, which makes
   * the rename durable before any record of that batch is acknowledged.
   */
  async reserve(streamId: string, dir: string): Promise<number> {
    const last = this.last.get(streamId) ?? (await this.load(streamId, dir));
    const seq = last + 1;
    const temp = join(dir, `${SEQ_FILE}${TEMP_SUFFIX}`);
    const handle = await this.fs.open(temp, "w");
    try {
      await writeFully(handle, Buffer.from(`${seq}\n`), 0);
      await handle.sync();
    } finally {
      await handle.close().catch(() => undefined);
    }
    await this.fs.rename(temp, join(dir, SEQ_FILE));
    this.last.set(streamId, seq);
    return seq;
  }

  /** Used when recovery did not see the stream: the larger of the `.seq` file and the in-flight names. */
  private async load(streamId: string, dir: string): Promise<number> {
    let last = await readSeqFile(this.fs, dir, this.logger);
    let names: string[] = [];
    try {
      names = await this.fs.readdir(dir);
    } catch (error) {
      if (!isNotFound(error)) {
        throw error;
      }
    }
    for (const name of names) {
      last = Math.max(last, parseBatchFileName(name)?.seq ?? 0);
    }
    this.last.set(streamId, last);
    return last;
  }
}

/** The number in `<dir>/.seq`; 0 when there is none (or it is unreadable, which is logged). */
export async function readSeqFile(fs: SinkFileSystem, dir: string, logger: Logger): Promise<number> {
  let text: string;
  try {
    text = Buffer.from(await fs.readFile(join(dir, SEQ_FILE))).toString("utf8");
  } catch (error) {
    if (isNotFound(error)) {
      return 0;
    }
    throw error;
  }
  const seq = Number(text.trim());
  if (!Number.isSafeInteger(seq) || seq < 0) {
    // Written atomically, so this means outside interference; the in-flight names still bound the number.
    logger.warn("file sink: unreadable batch sequence file ignored", { dir });
    return 0;
  }
  return seq;
}

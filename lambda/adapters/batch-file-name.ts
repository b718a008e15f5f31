/**
 * Names and object keys of batch files. The name alone says where a sealed batch goes and how
 * (format, gzip), so sealing and crash recovery need nothing but the in-flight file itself.
 */
import type { Compression, PayloadType } from "../core/types.js";

/** What a batch file name encodes. */
export interface BatchFileParts {
  readonly streamId: string;
  /** The stream's batch number, 1-based. */
  readonly seq: number;
  /** When the batch was opened, epoch milliseconds (whole seconds; names carry no finer time). */
  readonly openedAt: number;
  readonly random: string;
  readonly payload: PayloadType;
  readonly compression: Compression;
}

/** Digits `<seq>` is padded to; larger numbers simply grow longer. */
const SEQ_DIGITS = 6;

/** File extension of each payload type's batch format. */
const EXTENSION: Readonly<Record<PayloadType, string>> = { json: "ndjson", xml: "cbor" };

const NAME_PATTERN =
  /^(is-[A-Za-z0-9]+)-(\d{6,})-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-([a-z0-9]+)\.(ndjson|cbor)(\.gz)?$/;

/** Random suffixes: lower-case letters and digits (they end up in S3-style keys and file names). */
export const RANDOM_SUFFIX_PATTERN = /^[a-z0-9]{1,32}$/;

/** `<stream-id>-<seq>-<YYYY-MM-DD-HH-MM-SS>-<random>.ndjson[.gz]` (or `.cbor[.gz]`), time in UTC. */
export function batchFileName(parts: BatchFileParts): string {
  const seq = String(parts.seq).padStart(SEQ_DIGITS, "0");
  const time = utcFields(parts.openedAt).join("-");
  const gz = parts.compression === "gzip" ? ".gz" : "";
  return `${parts.streamId}-${seq}-${time}-${parts.random}.${EXTENSION[parts.payload]}${gz}`;
}

/** The parts of a batch file name, or undefined when the name is not one (a temp file, the `.seq` file). */
export function parseBatchFileName(name: string): BatchFileParts | undefined {
  const match = NAME_PATTERN.exec(name);
  if (match === null) {
    return undefined;
  }
  const [, streamId, seq, year, month, day, hour, minute, second, random, extension, gz] = match;
  const openedAt = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  );
  if (streamId === undefined || random === undefined || Number.isNaN(openedAt)) {
    return undefined;
  }
  return {
    streamId,
    seq: Number(seq),
    openedAt,
    random,
    payload: extension === "cbor" ? "xml" : "json",
    compression: gz === undefined ? "none" : "gzip",
  };
}

/**
 * The sealed object's key, `streams/<tenant>/<stream-id>/YYYY/MM/DD/HH/<name>`, always with `/` (the
 * same key in S3). The hour folder comes from the time in the name, i.e. when the batch was opened.
 */
export function objectKey(tenant: string, name: string, parts: BatchFileParts): string {
  const [year, month, day, hour] = utcFields(parts.openedAt);
  return `streams/${tenant}/${parts.streamId}/${year}/${month}/${day}/${hour}/${name}`;
}

/** `[YYYY, MM, DD, HH, MM, SS]` of an instant in UTC, zero-padded. */
function utcFields(epochMs: number): string[] {
  const d = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, "0");
  return [
    String(d.getUTCFullYear()).padStart(4, "0"),
    two(d.getUTCMonth() + 1),
    two(d.getUTCDate()),
    two(d.getUTCHours()),
    two(d.getUTCMinutes()),
    two(d.getUTCSeconds()),
  ];
}

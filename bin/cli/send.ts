/**
 * `ingest send --stream ID --file FILE|DIR`: posts every record of an NDJSON file, .json/.xml files or a folder
 * of them through the TypeScript client (keep-alive, retries per the status table), a few requests at a time,
 * with progress on stderr, a summary on stdout, rejected records listed in a file, and exit code 1 if any
 * record was rejected.
 */

import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import {
  IngestClient,
  IngestRejectedError,
  IngestUnavailableError,
  MAX_BATCH_RECORDS,
} from "../../client/index.js";
import { readLiveRunState } from "../../lambda/local/run-state.js";
import { CliError, type GlobalOptions, layoutOf, numberOption } from "./context.js";
import { type InputRecord, listInputs, REJECTS_SUFFIX, readRecords } from "./send-input.js";
import {
  formatBytes,
  formatCount,
  formatDuration,
  type ProgressMode,
  ProgressReporter,
  type ProgressSnapshot,
} from "./send-progress.js";

interface SendFlags {
  stream: string;
  file: string;
  url?: string;
  tenant?: string;
  token?: string;
  tokenFile?: string;
  concurrency: string;
  batch?: string;
  gzip?: boolean;
  rejects?: string;
  progress: string;
  progressInterval: string;
  timeout: string;
  retryBudget: string;
}

/** A stream-wide refusal: every further record would get the same answer, so sending stops. */
const FATAL_STATUSES = new Set([401, 403, 404]);
const DEFAULT_URL = "http://127.0.0.1:8080";
const RETRY_NOTE_INTERVAL_MS = 5_000;

interface Reject {
  readonly file: string;
  readonly line?: number;
  readonly status: number | null;
  readonly code: string;
  readonly message: string;
  readonly request_id?: string;
}

export function registerSendCommand(
  program: Command,
  globals: () => GlobalOptions,
  stderr: (text: string) => void,
): void {
  program
    .command("send")
    .description(
      "send every record of an NDJSON file, a .json/.xml file or a folder of them to a stream, with retries and progress",
    )
    .requiredOption("--stream <id>", "the stream to send to (is-XXXXXXXX)")
    .requiredOption(
      "--file <path>",
      "an NDJSON file (one record per line), a .json or .xml file (one record), or a folder of .ndjson/.jsonl/.json/.xml files",
    )
    .addOption(
      new Option(
        "--url <url>",
        `the API's base URL (default: the running local server of --data-dir, else ${DEFAULT_URL}; with --stack its ApiUrl)`,
      ).env("INGEST_URL"),
    )
    .option("--tenant <tenant>", "the tenant (default: the tenant the token was issued for)")
    .addOption(
      new Option("--token <token>", "the access token (prefer the env variable or --token-file)").env(
        "INGEST_TOKEN",
      ),
    )
    .option("--token-file <file>", "read the access token from this file")
    .option("--concurrency <n>", "requests in flight at once (1-256)", "8")
    .option(
      "--batch <n>",
      `send NDJSON records through the batch endpoint, up to n (1-${MAX_BATCH_RECORDS}) per request`,
    )
    .option("--gzip", "gzip request bodies")
    .option(
      "--rejects <file>",
      "where rejected records are listed, one JSON line each (default: <file>.rejects.ndjson)",
    )
    .addOption(
      new Option("--progress <mode>", "auto (a bar on a terminal, else plain lines), bar, plain or none")
        .choices(["auto", "bar", "plain", "none"])
        .default("auto"),
    )
    .option("--progress-interval <seconds>", "seconds between plain progress lines", "5")
    .option("--timeout <seconds>", "seconds one request may take before it is retried", "15")
    .option(
      "--retry-budget <seconds>",
      "seconds a record may be retried (429, 5xx, network errors) before sending stops",
      "30",
    )
    .action(async (flags: SendFlags, command: Command) => {
      const options = globals();
      // A token file beats INGEST_TOKEN from the environment, but not a --token typed on the same line.
      const tokenSource = command.getOptionValueSource("token");
      if (flags.tokenFile !== undefined && tokenSource === "env") flags.token = undefined;
      const settings = await resolveSettings(flags, options);
      await runSend(settings, options, stderr);
    });
}

interface SendSettings {
  readonly stream: string;
  readonly file: string;
  readonly url: string;
  readonly tenant: string;
  readonly token: string;
  readonly concurrency: number;
  readonly batch: number | undefined;
  readonly gzip: boolean;
  readonly rejects: string;
  readonly progress: ProgressMode;
  readonly progressIntervalMs: number;
  readonly timeoutMs: number;
  readonly retryBudgetMs: number;
}

async function resolveSettings(flags: SendFlags, options: GlobalOptions): Promise<SendSettings> {
  const concurrency = integerOption("--concurrency", flags.concurrency, 1, 256);
  const batch =
    flags.batch === undefined ? undefined : integerOption("--batch", flags.batch, 1, MAX_BATCH_RECORDS);
  const progressIntervalMs = numberOption("--progress-interval", flags.progressInterval) * 1000;
  const timeoutMs = numberOption("--timeout", flags.timeout) * 1000;
  if (progressIntervalMs <= 0) throw new CliError("--progress-interval must be more than 0", 2);
  if (timeoutMs <= 0) throw new CliError("--timeout must be more than 0", 2);
  const retryBudgetMs = numberOption("--retry-budget", flags.retryBudget) * 1000;
  if (retryBudgetMs < 0) throw new CliError("--retry-budget must be 0 or more", 2);
  let token = flags.token;
  if (flags.tokenFile !== undefined) {
    if (token !== undefined) throw new CliError("give the token once: --token or --token-file", 2);
    token = (
      await readFile(flags.tokenFile, "utf8").catch((error: Error) => {
        throw new CliError(`cannot read --token-file: ${error.message}`, 2);
      })
    ).trim();
  }
  if (token === undefined || token === "")
    throw new CliError(
      "an access token is needed: set INGEST_TOKEN, or pass --token-file FILE or --token TOKEN",
      2,
    );
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new CliError("the access token has spaces or control characters", 2);
  const tenant = flags.tenant ?? tenantOfToken(token);
  if (tenant === undefined) throw new CliError("--tenant is needed: the token does not name its tenant", 2);
  let url = flags.url;
  if (url === undefined && options.stack !== undefined) url = (await options.stack.outputs()).apiUrl;
  url ??= (await readLiveRunState(layoutOf(options).runState))?.apiUrl ?? DEFAULT_URL;
  if (!/^https?:\/\//.test(url))
    throw new CliError(`--url must start with http:// or https://; got ${JSON.stringify(url)}`, 2);
  const progress =
    flags.progress === "auto"
      ? process.stderr.isTTY === true
        ? "bar"
        : "plain"
      : (flags.progress as ProgressMode);
  return {
    stream: flags.stream,
    file: flags.file,
    url,
    tenant,
    token,
    concurrency,
    batch,
    gzip: flags.gzip === true,
    rejects: flags.rejects ?? `${flags.file.replace(/[/\\]+$/, "")}${REJECTS_SUFFIX}`,
    progress,
    progressIntervalMs,
    timeoutMs,
    retryBudgetMs,
  };
}

function integerOption(name: string, value: string, min: number, max: number): number {
  const n = numberOption(name, value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliError(
      `${name} must be a whole number from ${min} to ${max}; got ${JSON.stringify(value)}`,
      2,
    );
  return n;
}

/** The `tenant` claim of a JWT, read without verifying it (the server verifies); undefined if there is none. */
function tenantOfToken(token: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as {
      tenant?: unknown;
    };
    return typeof claims.tenant === "string" && claims.tenant !== "" ? claims.tenant : undefined;
  } catch {
    return undefined;
  }
}

class Tally {
  accepted = 0;
  rejected = 0;
  retries = 0;
  bytes = 0;
  readonly byStatus = new Map<string, number>();
  /** Where reading stopped: every record before it has an answer. */
  lastFile = "";
  lastLine = 0;
}

async function runSend(
  s: SendSettings,
  options: GlobalOptions,
  stderr: (text: string) => void,
): Promise<void> {
  const files = await listInputs(s.file);
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  const tally = new Tally();
  let stopped: string | undefined;
  let rejectsOut: WriteStream | undefined;
  let rejectsError: Error | undefined;
  const client = new IngestClient({
    baseUrl: s.url,
    tenant: s.tenant,
    token: s.token,
    gzip: s.gzip,
    timeoutMs: s.timeoutMs,
    retry: { budgetMs: s.retryBudgetMs },
    maxSockets: s.concurrency,
    userAgent: "streaming-ingest-cli",
    onRetry: (event) => {
      tally.retries++;
      // Retries are normal now and then; say so (at most every few seconds) so a long wait is not a mystery.
      const now = Date.now();
      if (now - lastRetryNote < RETRY_NOTE_INTERVAL_MS) return;
      lastRetryNote = now;
      const why = event.status === undefined ? event.code : `${event.status} ${event.code}`;
      progress.note(
        `retrying: ${why} (attempt ${event.attempt + 1} in ${(event.delayMs / 1000).toFixed(1)} s)`,
      );
    },
  });
  let lastRetryNote = 0;
  const start = Date.now();
  let endedAt: number | undefined;
  const snapshot = (): ProgressSnapshot => ({
    records: tally.accepted + tally.rejected,
    accepted: tally.accepted,
    rejected: tally.rejected,
    bytes: tally.bytes,
    totalBytes,
    elapsedMs: (endedAt ?? Date.now()) - start,
  });
  const progress = new ProgressReporter(s.progress, stderr, snapshot, s.progressIntervalMs);

  const reject = (record: InputRecord, entry: Omit<Reject, "file" | "line">) => {
    tally.rejected++;
    tally.bytes += record.bytes;
    const key = entry.status === null ? "no answer" : String(entry.status);
    tally.byStatus.set(`${key} ${entry.code}`, (tally.byStatus.get(`${key} ${entry.code}`) ?? 0) + 1);
    if (rejectsOut === undefined) {
      rejectsOut = createWriteStream(s.rejects);
      rejectsOut.on("error", (error) => {
        rejectsError ??= error;
      });
    }
    const line: Reject = {
      file: record.file,
      ...(record.line === undefined ? {} : { line: record.line }),
      ...entry,
    };
    rejectsOut.write(`${JSON.stringify(line)}\n`);
  };
  const accept = (records: readonly InputRecord[]) => {
    tally.accepted += records.length;
    for (const r of records) tally.bytes += r.bytes;
  };
  /** Records the failure of `records`; stops the run when it is not about these records alone. */
  const fail = (records: readonly InputRecord[], error: unknown) => {
    if (error instanceof IngestRejectedError) {
      for (const r of records)
        reject(r, {
          status: error.status,
          code: error.code,
          message: error.message,
          request_id: error.requestId,
        });
      if (FATAL_STATUSES.has(error.status))
        stopped ??= `the server refused the stream: ${error.status} ${error.code}: ${error.message}`;
    } else if (error instanceof IngestUnavailableError) {
      for (const r of records)
        reject(r, {
          status: error.lastStatus ?? null,
          code: "unavailable",
          message: error.message,
          request_id: error.requestId,
        });
      stopped ??= `the API is unavailable: ${error.message}`;
    } else {
      const message = error instanceof Error ? error.message : String(error);
      for (const r of records) reject(r, { status: null, code: "client_error", message });
      stopped ??= message;
    }
  };

  const sendOne = async (record: InputRecord) => {
    const contentType = record.kind === "xml" ? "application/xml" : "application/json";
    try {
      await client.send(s.stream, record.body, { contentType });
      accept([record]);
    } catch (error) {
      fail([record], error);
    }
  };

  /** A batch; bad lines are rejected alone and the rest sent again; other refusals fall back to single sends. */
  const sendBatch = async (records: readonly InputRecord[]) => {
    let pending = records;
    while (pending.length > 0 && stopped === undefined) {
      try {
        await client.sendBatch(
          s.stream,
          pending.map((r) => r.body),
        );
        accept(pending);
        return;
      } catch (error) {
        if (
          error instanceof IngestRejectedError &&
          error.code === "invalid_batch" &&
          error.lines.length > 0
        ) {
          const bad = new Set<number>();
          for (const l of error.lines) {
            const record = pending[l.index];
            if (record === undefined || bad.has(l.index)) continue;
            bad.add(l.index);
            reject(record, {
              status: error.status,
              code: l.code,
              message: l.message,
              request_id: error.requestId,
            });
          }
          pending = pending.filter((_, i) => !bad.has(i));
        } else if (error instanceof IngestRejectedError && !FATAL_STATUSES.has(error.status)) {
          for (const r of pending) await sendOne(r);
          return;
        } else {
          fail(pending, error);
          return;
        }
      }
    }
  };

  // Workers pull from one reader, so at most `concurrency` requests (of `batch` records) are in flight and the
  // file is read only as fast as records are sent.
  const reader = readRecords(files)[Symbol.asyncIterator]();
  let pulling: Promise<unknown> = Promise.resolve();
  const take = (n: number): Promise<InputRecord[]> => {
    const taken = pulling.then(async () => {
      const out: InputRecord[] = [];
      while (out.length < n && stopped === undefined) {
        const next = await reader.next();
        if (next.done === true) break;
        tally.lastFile = next.value.file;
        tally.lastLine = next.value.line ?? 0;
        out.push(next.value);
        // XML and .json files go one per request; a batch holds NDJSON lines only.
        if (next.value.kind !== "ndjson") break;
      }
      return out;
    });
    pulling = taken;
    return taken;
  };
  const worker = async () => {
    for (;;) {
      if (stopped !== undefined) return;
      const records = await take(s.batch ?? 1);
      if (records.length === 0) return;
      const ndjson = s.batch !== undefined && records.every((r) => r.kind === "ndjson");
      if (ndjson) await sendBatch(records);
      else for (const r of records) await sendOne(r);
    }
  };

  const onSigint = () => {
    stopped ??= "interrupted (Ctrl-C)";
  };
  process.once("SIGINT", onSigint);
  progress.start();
  try {
    await Promise.all(Array.from({ length: s.concurrency }, worker));
  } finally {
    endedAt = Date.now();
    process.removeListener("SIGINT", onSigint);
    progress.stop();
    client.close();
    if (rejectsOut !== undefined) {
      rejectsOut.end();
      await once(rejectsOut, "close");
    }
    await reader.return?.(undefined);
  }

  const elapsedMs = endedAt - start;
  const sent = tally.accepted + tally.rejected;
  const rate = elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0;
  const summary = {
    stream: s.stream,
    url: s.url,
    files: files.length,
    records: sent,
    accepted: tally.accepted,
    rejected: tally.rejected,
    rejected_by: Object.fromEntries([...tally.byStatus.entries()].sort()),
    retries: tally.retries,
    bytes: tally.bytes,
    elapsed_ms: elapsedMs,
    records_per_second: Math.round(rate),
    rejects_file: tally.rejected > 0 ? s.rejects : null,
    stopped: stopped ?? null,
  };
  if (options.json) {
    options.stdout(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const lines = [
      `sent ${formatCount(sent)} records (${formatBytes(tally.bytes)}) from ${files.length === 1 ? s.file : `${files.length} files in ${s.file}`} to ${s.stream} in ${formatDuration(elapsedMs)}: ${formatCount(rate)} records/s`,
      `  accepted  ${formatCount(tally.accepted)}`,
      `  rejected  ${formatCount(tally.rejected)}`,
    ];
    for (const [reason, count] of Object.entries(summary.rejected_by))
      lines.push(`    ${formatCount(count)} × ${reason}`);
    lines.push(`  retried   ${formatCount(tally.retries)} request(s)`);
    options.stdout(`${lines.join("\n")}\n`);
  }
  // The summary is on stdout; the reason for the non-zero exit is the usual `error: …` line on stderr.
  const problems: string[] = [];
  if (stopped !== undefined) {
    const where =
      tally.lastFile === ""
        ? ""
        : tally.lastLine > 0
          ? `; records after line ${tally.lastLine} of ${tally.lastFile} were not sent`
          : `; files after ${tally.lastFile} were not sent`;
    problems.push(`stopped: ${stopped}${where}`);
  }
  if (rejectsError !== undefined)
    problems.push(`cannot write the rejects file ${s.rejects}: ${rejectsError.message}`);
  else if (tally.rejected > 0)
    problems.push(`${formatCount(tally.rejected)} record(s) rejected, listed in ${s.rejects}`);
  if (problems.length > 0) throw new CliError(problems.join("; "));
}

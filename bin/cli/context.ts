/**
 * What every CLI command shares: the data directory, the registry (a deployed stack's tables with --stack, a
 * running server's endpoint, or the store opened in-process), output as text or JSON, and errors as one clear
 * line with a non-zero exit.
 */
import { LOCAL_REGISTRY_TABLES } from "../../lambda/adapters/dynamo-registry.js";
import { type Listing, RegistryAdmin } from "../../lambda/adapters/registry-admin.js";
import { type DataDirLayout, dataDirLayout } from "../../lambda/local/data-dir.js";
import { registryClient, startEmbeddedRegistry } from "../../lambda/local/embedded-registry.js";
import { readLiveRunState } from "../../lambda/local/run-state.js";
import type { StackSession } from "./aws-context.js";

/** A failure the user can act on: printed as `error: <message>`, exit code 1 (2 for usage). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export interface GlobalOptions {
  readonly dataDir: string;
  readonly json: boolean;
  /** The deployed stack admin commands run against (--stack); undefined: the local data directory. */
  readonly stack?: StackSession;
  /** Where results go (process.stdout, or a test's buffer). */
  readonly stdout: (chunk: string | Uint8Array) => void;
}

export const DEFAULT_DATA_DIR = process.env.INGEST_DATA_DIR ?? "./data";

export function layoutOf(options: GlobalOptions): DataDirLayout {
  return dataDirLayout(options.dataDir);
}

/**
 * Runs `fn` with registry admin access: the stack's tables with --stack; else a running server's registry
 * endpoint when there is one (its store is locked by it), else the store opened in this process for the
 * duration of the command.
 */
export async function withRegistry<T>(
  options: GlobalOptions,
  fn: (admin: RegistryAdmin) => Promise<T>,
): Promise<T> {
  if (options.stack !== undefined) return options.stack.withAdmin(fn);
  const layout = layoutOf(options);
  const live = await readLiveRunState(layout.runState);
  if (live !== undefined) {
    const client = registryClient(live.registryEndpoint);
    try {
      // A server running the AWS build (`serve --emulate-aws`) names the stack's tables.
      return await fn(new RegistryAdmin(client, live.emulateAws?.tables ?? LOCAL_REGISTRY_TABLES));
    } finally {
      client.destroy();
    }
  }
  const store = await startEmbeddedRegistry(layout.registry, LOCAL_REGISTRY_TABLES);
  try {
    return await fn(new RegistryAdmin(store.client, LOCAL_REGISTRY_TABLES));
  } finally {
    await store.close();
  }
}

/** Prints `value` as JSON with --json, else the text `render` makes of it. */
export function output<T>(options: GlobalOptions, value: T, render: (value: T) => string): void {
  options.stdout(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${render(value)}\n`);
}

/**
 * Refuses a local-only command under --stack (usage error, exit 2), saying why and where to look instead.
 * `command` is what the user typed, e.g. "serve" or "signing-keys".
 */
export function refuseStack(options: GlobalOptions, command: string, reason: string): void {
  const stack = options.stack;
  if (stack === undefined) return;
  const given = stack.fromEnvironment ? `INGEST_STACK=${stack.name} (unset it to work locally)` : "--stack";
  throw new CliError(
    `\`${command}\` works on the local data directory only, not with ${given}: ${reason}`,
    2,
  );
}

/** Renders rows as aligned columns under a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Parses a numeric option, naming the option in the error. */
export function numberOption(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n))
    throw new CliError(`${name} must be a number; got ${JSON.stringify(value)}`, 2);
  return n;
}

/** A listing as a table, followed by one warning line per item that could not be read. */
export function listingText<T>(
  list: Listing<T>,
  empty: string,
  header: readonly string[],
  row: (record: T) => readonly string[],
): string {
  const lines = list.records.length === 0 ? [empty] : [table(header, list.records.map(row))];
  for (const { id, problem } of list.invalid)
    lines.push(`warning: item ${id} is invalid and ignored: ${problem}`);
  return lines.join("\n");
}

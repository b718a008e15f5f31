/**
 * The running server's state file (`run/server.json`, mode 0600): how the CLI finds the server's registry
 * endpoint and control port. It is removed on a clean stop; a stale one (dead pid) is ignored.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { RegistryTables } from "../adapters/dynamo-registry.js";

/** What the CLI needs to administer a server running `serve --emulate-aws`. */
export interface EmulatedStackState {
  readonly stackName: string;
  /** The stack's registry tables (their emulated physical names). */
  readonly tables: RegistryTables;
  readonly tokenIssuer: string;
  readonly tokenAudience: string;
  /** The KMS key that signs new tokens (emulated by a local P-256 key). */
  readonly tokenKeyArn: string;
  /** That key's private key file (mode 0600). */
  readonly tokenKeyFile: string;
  /** The emulated delivery bucket. */
  readonly bucketDir: string;
}

export interface RunState {
  readonly pid: number;
  readonly apiUrl: string;
  readonly registryEndpoint: string;
  readonly controlUrl: string;
  /** Bearer secret for the control endpoint. */
  readonly controlSecret: string;
  /** Set when the server runs the AWS build (`serve --emulate-aws`). */
  readonly emulateAws?: EmulatedStackState;
}

export async function writeRunState(file: string, state: RunState): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

/** The state of a live server using this data directory, or undefined. */
export async function readLiveRunState(file: string): Promise<RunState | undefined> {
  let state: RunState;
  try {
    state = JSON.parse(await readFile(file, "utf8")) as RunState;
  } catch {
    return undefined;
  }
  return typeof state.pid === "number" && isAlive(state.pid) ? state : undefined;
}

/** Another live server (local or `--emulate-aws`) already serves this data directory. */
export class DataDirInUseError extends Error {
  constructor(state: RunState) {
    super(
      `a server (pid ${state.pid}${state.emulateAws === undefined ? "" : ", serve --emulate-aws"}) already serves this data directory at ${state.apiUrl}; stop it first, or use another --data-dir`,
    );
    this.name = "DataDirInUseError";
  }
}

/** Throws DataDirInUseError when another live process has written `file`. */
export async function refuseIfServed(file: string): Promise<void> {
  const live = await readLiveRunState(file);
  if (live !== undefined && live.pid !== process.pid) throw new DataDirInUseError(live);
}

export async function removeRunState(file: string): Promise<void> {
  await rm(file, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

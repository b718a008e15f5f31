/**
 * The running server's state file (`run/server.json`, mode 0600): how the CLI finds the server's registry
 * endpoint and control port. It is removed on a clean stop; a stale one (dead pid) is ignored.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export interface RunState {
  readonly pid: number;
  readonly apiUrl: string;
  readonly registryEndpoint: string;
  readonly controlUrl: string;
  /** Bearer secret for the control endpoint. */
  readonly controlSecret: string;
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

/**
 * The runtimes the contract suite runs against: every one by default, or those named in the comma-separated
 * env `CONTRACT_RUNTIMES` (`local`, `emulate-aws`), e.g. `CONTRACT_RUNTIMES=local npx jest test/contract`.
 */
import { startEmulatedTarget } from "./emulated-target.js";
import { startLocalTarget } from "./local-target.js";
import type { ContractTarget, RuntimeName } from "./target.js";

export interface ContractRuntime {
  readonly name: RuntimeName;
  start(): Promise<ContractTarget>;
}

const ALL: readonly ContractRuntime[] = [
  { name: "local", start: startLocalTarget },
  { name: "emulate-aws", start: startEmulatedTarget },
];

/** The runtimes selected by `CONTRACT_RUNTIMES` (unset or empty: all). An unknown name is an error, not a skip. */
export function contractTargets(env: NodeJS.ProcessEnv = process.env): ContractRuntime[] {
  const wanted = (env.CONTRACT_RUNTIMES ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  if (wanted.length === 0) return [...ALL];
  const unknown = wanted.filter((name) => !ALL.some((runtime) => runtime.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `CONTRACT_RUNTIMES names unknown runtime(s) ${unknown.join(", ")}; known: ${ALL.map((r) => r.name).join(", ")}`,
    );
  }
  return ALL.filter((runtime) => wanted.includes(runtime.name));
}

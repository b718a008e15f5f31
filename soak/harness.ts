/**
 * Types shared by every soak (`soak/<name>.soak.ts` exporting `export const soak: Soak`) and the runner
 * (`soak/run.ts`). A soak runs a long, bounded scenario on loopback and reports one row per scenario:
 * what it tried (volume) and what it saw (result); `ok: false` on any row makes `npm run soak` fail.
 */

export interface SoakContext {
  /** Short version (the whole `--quick` run stays under a minute). */
  readonly quick: boolean;
  /** Progress line for the operator (stderr); never a token, key or record content. */
  log(line: string): void;
  /** A fresh directory for this soak; the runner removes it afterwards. */
  readonly tmpDir: string;
}

export interface SoakRow {
  readonly scenario: string;
  readonly volume: string;
  readonly result: string;
  readonly ok: boolean;
}

export interface Soak {
  readonly name: string;
  readonly title: string;
  run(context: SoakContext): Promise<{ rows: readonly SoakRow[] }>;
}

/** Listing files in tests: every file below a folder, as sorted paths relative to it (none if it is missing). */
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

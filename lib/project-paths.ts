/**
 * Where the repository's files are, found from this file's own location so that the same code works from
 * `lib/` (ts-jest) and from `dist/lib/` (the compiled CDK app): the Lambda entries are bundled from source.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The nearest directory at or above `start` that holds a package.json.
 * Walking up (instead of `__dirname + "/.."`) is what keeps `dist/lib/` pointing at the repository root.
 */
export function findRepoRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `No package.json found in ${start} or any directory above it; the CDK app must run inside the ` +
          "streaming-ingest repository (its Lambda entries are bundled from lambda/aws/*.ts).",
      );
    }
    dir = parent;
  }
}

/** Absolute paths the stack needs at synth time. */
export interface ProjectPaths {
  /** The repository root: esbuild's project root. */
  readonly root: string;
  /** package-lock.json: NodejsFunction's dependency lock file (part of the asset hash). */
  readonly lockFile: string;
  /** The ingest Lambda's entry (API Gateway HTTP API → core). */
  readonly ingestEntry: string;
  /** The provisioner Lambda's entry (DynamoDB stream + deletion queue → Firehose). */
  readonly provisionerEntry: string;
}

/** The project's paths, resolved from `start` (default: this file's directory). */
export function projectPaths(start?: string): ProjectPaths {
  const root = findRepoRoot(start);
  return {
    root,
    lockFile: join(root, "package-lock.json"),
    ingestEntry: join(root, "lambda", "aws", "ingest-entry.ts"),
    provisionerEntry: join(root, "lambda", "aws", "provisioner-entry.ts"),
  };
}

/**
 * Builds Lambda bundles for the `lambda` benchmark exactly as the stack's NodejsFunction does (see
 * lib/bundled-function.ts), but through esbuild's API with a metafile, into a scratch directory: the benchmark
 * does not depend on `cdk.out` existing or being current.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, type Metafile } from "esbuild";
import { ESBUILD_TARGET } from "../../lib/bundled-function.js";
import { projectPaths } from "../../lib/project-paths.js";

/**
 * What BundledFunction passes to NodejsFunction, which turns it into
 * `esbuild --bundle <entry> --target=<target> --platform=node --format=cjs --outfile=<dir>/index.js --minify
 * --sourcemap --sources-content=false --external:cbor-extract` run in the project root. `externalModules` is
 * set, so the AWS SDK is bundled rather than taken from the runtime (CDK's default would externalise
 * `@aws-sdk/*`).
 */
export const CONSTRUCT_EXTERNALS: readonly string[] = ["cbor-extract"];

export interface BuiltBundle {
  /** Directory holding index.js and index.js.map (and nothing else: no node_modules, like a Lambda). */
  readonly dir: string;
  readonly file: string;
  /** Size of index.js in bytes (the source map is not loaded unless a stack trace is printed). */
  readonly bytes: number;
  readonly mapBytes: number;
  readonly metafile: Metafile;
}

/** Bundles `entry` (absolute, or relative to the project root) with the construct's settings into `outDir`. */
export async function buildLikeTheStack(entry: string, outDir: string): Promise<BuiltBundle> {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, "index.js");
  const result = await build({
    absWorkingDir: projectPaths().root,
    entryPoints: [entry],
    bundle: true,
    target: ESBUILD_TARGET,
    platform: "node",
    format: "cjs",
    outfile: file,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    external: [...CONSTRUCT_EXTERNALS],
    metafile: true,
    logLevel: "silent",
  });
  return {
    dir: outDir,
    file,
    bytes: statSync(file).size,
    mapBytes: statSync(`${file}.map`).size,
    metafile: result.metafile,
  };
}

/** The ingest Lambda's bundle. */
export function buildIngestBundle(outDir: string): Promise<BuiltBundle> {
  return buildLikeTheStack(projectPaths().ingestEntry, outDir);
}

/** The baseline: a handler that does nothing, bundled the same way. */
export function buildTrivialBundle(outDir: string): Promise<BuiltBundle> {
  mkdirSync(outDir, { recursive: true });
  const entry = join(outDir, "trivial-entry.ts");
  writeFileSync(entry, "export const handler = async () => ({ statusCode: 200 });\n");
  return buildLikeTheStack(entry, join(outDir, "bundle"));
}

/** One input's share of the bundle. */
export interface BundleShare {
  readonly name: string;
  /** Bytes of the minified output that come from it. */
  readonly bytes: number;
}

/** The `top` inputs contributing most bytes to the bundle's output, largest first. */
export function largestInputs(metafile: Metafile, top: number): BundleShare[] {
  return shares(metafile, (path) => path).slice(0, top);
}

/** The same, summed per npm package (`@scope/name`), with the project's own code as `(project)`. */
export function largestPackages(metafile: Metafile, top: number): BundleShare[] {
  return shares(metafile, packageOf).slice(0, top);
}

/** `node_modules/@aws-sdk/client-kms/dist-cjs/index.js` → `@aws-sdk/client-kms`. */
export function packageOf(inputPath: string): string {
  const at = inputPath.lastIndexOf("node_modules/");
  if (at === -1) return "(project)";
  const parts = inputPath.slice(at + "node_modules/".length).split("/");
  const [first, second] = parts;
  return first?.startsWith("@") === true ? `${first}/${second ?? ""}` : (first ?? inputPath);
}

function shares(metafile: Metafile, key: (inputPath: string) => string): BundleShare[] {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const name = key(path);
      totals.set(name, (totals.get(name) ?? 0) + input.bytesInOutput);
    }
  }
  return [...totals.entries()]
    .map(([name, bytes]) => ({ name, bytes }))
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
}

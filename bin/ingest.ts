#!/usr/bin/env node
/**
 * The `ingest` CLI: runs the local server and administers streams, keys and tokens, locally or (`--stack`) on
 * a deployed stack. `runCli` runs it in-process with injectable AWS clients and output; `node ingest.js` runs it.
 */
import { Command, CommanderError, Option } from "commander";
import { type AwsClientFactory, defaultAwsClients, StackSession } from "./cli/aws-context.js";
import { CliError, DEFAULT_DATA_DIR, type GlobalOptions } from "./cli/context.js";
import { registerFlushCommand } from "./cli/flush.js";
import { registerKeyCommands } from "./cli/keys.js";
import { registerPostmanCommand } from "./cli/postman.js";
import { registerReadCommand } from "./cli/read.js";
import { registerSendCommand } from "./cli/send.js";
import { registerServeCommand } from "./cli/serve.js";
import { registerSigningKeyCommands } from "./cli/signing-keys.js";
import { registerStreamCommands } from "./cli/streams.js";

// The SDK's notice that Node 20 support ends in 2027 is documented in the README; keep the CLI's output clean.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** What the CLI talks to; every field defaults to the real thing. */
export interface CliDeps {
  /** AWS clients for --stack. @default real SDK v3 clients on the default credentials chain */
  readonly aws?: AwsClientFactory;
  /** @default process.stdout */
  readonly stdout?: (chunk: string | Uint8Array) => void;
  /** @default process.stderr */
  readonly stderr?: (text: string) => void;
}

interface RawGlobals {
  dataDir: string;
  json: boolean;
  stack?: string;
  region?: string;
}

// CloudFormation's rule for stack names.
const STACK_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const REGION_PATTERN = /^[a-z]{2}(-[a-z0-9]+)+-\d+$/;

/** Builds the program; `session` receives the stack session a command opened, so the caller can close it. */
function buildProgram(deps: Required<CliDeps>, session: { current?: StackSession }): Command {
  const program = new Command("ingest")
    .description("Streaming Ingest: local server and admin CLI")
    .option("--data-dir <dir>", "data directory (env INGEST_DATA_DIR)", DEFAULT_DATA_DIR)
    .option("--json", "print results as JSON", false)
    .addOption(
      new Option(
        "--stack <name>",
        "administer this deployed CloudFormation stack instead of the data directory",
      ).env("INGEST_STACK"),
    )
    .option(
      "--region <region>",
      "AWS region of --stack (default: AWS_REGION, AWS_DEFAULT_REGION, else your AWS profile's region)",
    )
    .showHelpAfterError("(add --help for usage)")
    .configureOutput({ writeOut: (text) => deps.stdout(text), writeErr: (text) => deps.stderr(text) })
    .exitOverride();
  let globals: GlobalOptions | undefined;
  const getGlobals = (): GlobalOptions => {
    globals ??= resolveGlobals(program, deps, session);
    return globals;
  };
  // Global options are checked before any action runs, so a bad --stack is a usage error whatever the command.
  program.hook("preAction", () => {
    getGlobals();
  });
  registerServeCommand(program, getGlobals);
  registerStreamCommands(program, getGlobals);
  registerKeyCommands(program, getGlobals);
  registerSigningKeyCommands(program, getGlobals);
  registerFlushCommand(program, getGlobals);
  registerReadCommand(program, getGlobals);
  registerPostmanCommand(program, getGlobals);
  registerSendCommand(program, getGlobals, deps.stderr);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

function resolveGlobals(
  program: Command,
  deps: Required<CliDeps>,
  session: { current?: StackSession },
): GlobalOptions {
  const opts = program.opts<RawGlobals>();
  const base = { dataDir: opts.dataDir, json: opts.json, stdout: deps.stdout };
  if (opts.stack === undefined || opts.stack === "") {
    if (opts.region !== undefined) throw new CliError("--region only applies with --stack <name>", 2);
    return base;
  }
  const fromEnvironment = program.getOptionValueSource("stack") === "env";
  if (!STACK_NAME_PATTERN.test(opts.stack)) {
    throw new CliError(
      `${fromEnvironment ? "INGEST_STACK" : "--stack"} must be a CloudFormation stack name (a letter, then letters, digits or dashes); got ${JSON.stringify(opts.stack)}`,
      2,
    );
  }
  if (opts.region !== undefined && !REGION_PATTERN.test(opts.region))
    throw new CliError(
      `--region must be an AWS region such as eu-west-1; got ${JSON.stringify(opts.region)}`,
      2,
    );
  // The SDK reads AWS_REGION and the profile itself, but not AWS_DEFAULT_REGION (the AWS CLI's variable).
  const region = opts.region ?? nonEmpty(process.env.AWS_REGION) ?? nonEmpty(process.env.AWS_DEFAULT_REGION);
  session.current = new StackSession(opts.stack, region, fromEnvironment, deps.aws);
  return { ...base, stack: session.current };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/**
 * Runs one `ingest` command line (`argv` without node and the script, e.g. `["streams", "list"]`) and resolves
 * with its exit code: 0, 1 for a failure, 2 for a usage error. Errors are printed as one `error: …` line.
 */
export async function runCli(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  const resolved: Required<CliDeps> = {
    aws: deps.aws ?? defaultAwsClients,
    stdout: deps.stdout ?? ((chunk) => process.stdout.write(chunk)),
    stderr: deps.stderr ?? ((text) => process.stderr.write(text)),
  };
  const session: { current?: StackSession } = {};
  try {
    await buildProgram(resolved, session).parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed the message (or the help); --help and --version exit 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    // An insecure signing key file's message already names the file and the fix: print it without the class.
    if (error instanceof CliError || (error instanceof Error && error.name === "InsecureKeyFileError")) {
      resolved.stderr(`error: ${error.message}\n`);
      return error instanceof CliError ? error.exitCode : 1;
    }
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    resolved.stderr(`error: ${message}\n`);
    return 1;
  } finally {
    session.current?.close();
  }
}

if (require.main === module) {
  // `ingest read DIR | head`: the reader went away; stop quietly instead of failing on the broken pipe.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
  runCli(process.argv.slice(2)).then((code) => {
    // `serve` keeps running: only exit for commands that finished.
    if (code !== 0 || !process.argv.includes("serve")) process.exitCode = code;
  });
}

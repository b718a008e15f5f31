#!/usr/bin/env node
/** The `ingest` CLI: runs the local server and administers streams, keys and tokens. */
import { Command, CommanderError } from "commander";
import { CliError, DEFAULT_DATA_DIR, type GlobalOptions } from "./cli/context.js";
import { registerFlushCommand } from "./cli/flush.js";
import { registerKeyCommands } from "./cli/keys.js";
import { registerReadCommand } from "./cli/read.js";
import { registerServeCommand } from "./cli/serve.js";
import { registerSigningKeyCommands } from "./cli/signing-keys.js";
import { registerStreamCommands } from "./cli/streams.js";

// The SDK's notice that Node 20 support ends in 2027 is documented in the README; keep the CLI's output clean.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

function buildProgram(): Command {
  const program = new Command("ingest")
    .description("Streaming Ingest: local server and admin CLI")
    .option("--data-dir <dir>", "data directory (env INGEST_DATA_DIR)", DEFAULT_DATA_DIR)
    .option("--json", "print results as JSON", false)
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  const globals = (): GlobalOptions => {
    const opts = program.opts<{ dataDir: string; json: boolean }>();
    return { dataDir: opts.dataDir, json: opts.json };
  };
  registerServeCommand(program, globals);
  registerStreamCommands(program, globals);
  registerKeyCommands(program, globals);
  registerSigningKeyCommands(program, globals);
  registerFlushCommand(program, globals);
  registerReadCommand(program, globals);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed the message (or the help); --help and --version exit 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.stderr.write(`error: ${message}\n`);
    return 1;
  }
}

main(process.argv).then((code) => {
  // `serve` keeps running: only exit for commands that finished.
  if (code !== 0 || !process.argv.includes("serve")) process.exitCode = code;
});

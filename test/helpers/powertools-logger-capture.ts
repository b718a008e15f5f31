/**
 * Stands in for `@aws-lambda-powertools/logger` in tests (jest moduleNameMapper): the real module, with every
 * Logger's console teed into the run's log capture. Tests mock process.stdout while Powertools writes to it,
 * so capturing the stream alone would miss those lines. Loaded only by test files that use Powertools.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { captureLogLine } from "./log-capture.js";

type PowertoolsLoggerModule = typeof import("@aws-lambda-powertools/logger");

// By file path: jest's resolvers (require.resolve, createRequire) would map the name back to this file.
const packageDir = join(__dirname, "..", "..", "node_modules", "@aws-lambda-powertools", "logger");
const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as {
  exports: { ".": { require: { default: string } } };
};
const realPath = join(packageDir, manifest.exports["."].require.default);
const real = require(realPath) as PowertoolsLoggerModule;

type ConsoleLike = Record<string, (...args: unknown[]) => void>;
const prototype = real.Logger.prototype as unknown as {
  setConsole?: (this: { console: ConsoleLike }) => void;
};
const setConsole = prototype.setConsole;
if (typeof setConsole !== "function") {
  // Fail loudly rather than capture nothing: the log scan would pass without seeing Powertools lines.
  throw new Error(
    "test/helpers/powertools-logger-capture.ts: Powertools Logger has no setConsole() any more; update the capture",
  );
}
prototype.setConsole = function (this: { console: ConsoleLike }) {
  setConsole.call(this);
  const target = this.console;
  // trace is Powertools' alias for log: teeing log covers it.
  for (const method of ["log", "info", "warn", "error", "debug"]) {
    const original = target[method];
    if (typeof original !== "function") continue;
    target[method] = (...args: unknown[]) => {
      captureLogLine("powertools", args.map(String).join(" "));
      original.apply(target, args);
    };
  }
};

module.exports = real;

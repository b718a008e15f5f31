/** The core's Logger port on AWS Lambda Powertools' structured JSON logger (request id added per invocation). */
import type { Logger as PowertoolsLogger } from "@aws-lambda-powertools/logger";
import type { Logger } from "../core/ports.js";

/** Forwards the core's log lines; callers never pass tokens, keys or record content (the port's contract). */
export class PowertoolsLoggerPort implements Logger {
  constructor(private readonly logger: PowertoolsLogger) {}

  info(message: string, fields?: Record<string, unknown>): void {
    this.logger.info(message, fields ?? {});
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.logger.warn(message, fields ?? {});
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.logger.error(message, fields ?? {});
  }
}

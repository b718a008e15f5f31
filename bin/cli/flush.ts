/** `ingest flush`: seal every open batch — through the running server, or by recovering in-flight files itself. */
import type { Command } from "commander";
import { FileSink } from "../../lambda/adapters/file-sink.js";
import { systemClock } from "../../lambda/core/ports.js";
import { callControlAction } from "../../lambda/local/control-server.js";
import { JsonLinesLogger } from "../../lambda/local/logger.js";
import { readLiveRunState } from "../../lambda/local/run-state.js";
import { CliError, type GlobalOptions, layoutOf, output, refuseStack, withRegistry } from "./context.js";

export function registerFlushCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command("flush")
    .description("seal every open batch now, so its records appear in sealed files")
    .action(async () => {
      refuseStack(
        globals(),
        "flush",
        "on AWS Firehose seals and delivers batches itself (by each stream's buffer size and seconds) to the S3 bucket in the stack's DeliveryBucketName output, under streams/<tenant>/<stream-id>/",
      );
      const layout = layoutOf(globals());
      const live = await readLiveRunState(layout.runState);
      let sealed: string[] | number;
      if (live !== undefined) {
        const result = (await callControlAction(live, "/flush").catch((error: unknown) => {
          throw new CliError(`flush failed: ${(error as Error).message}`);
        })) as { sealed: string[] };
        sealed = result.sealed;
      } else {
        // No server: open batches are in-flight files left by the last run; recovery seals them. Holding the
        // registry store meanwhile keeps a server from starting (and recovering the same files) concurrently.
        sealed = await withRegistry(globals(), async () => {
          const logger = new JsonLinesLogger("warn");
          const sink = new FileSink({ root: layout.objects, clock: systemClock, logger });
          const report = await sink.recover();
          await sink.close();
          return report.sealed;
        });
      }
      output(globals(), { sealed }, (v) => {
        const count = typeof v.sealed === "number" ? v.sealed : v.sealed.length;
        if (count === 0) return "nothing to seal: no open batches";
        return typeof v.sealed === "number"
          ? `no server running: sealed ${count} batch file(s) left open by the last run`
          : `sealed ${count} batch file(s):\n${v.sealed.join("\n")}`;
      });
    });
}

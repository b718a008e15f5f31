/** `ingest streams …`: create, list, show, update, enable, disable and delete stream records. */
import type { Command } from "commander";
import { AlreadyExistsError } from "../../lambda/adapters/registry-admin.js";
import {
  checkStreamSetting,
  isCompression,
  isPayloadType,
  type NumericStreamSetting,
  newStreamRecord,
  STREAM_DEFAULTS,
  TENANT_PATTERN,
} from "../../lambda/core/stream-settings.js";
import type { StreamRecord } from "../../lambda/core/types.js";
import { type StackSession, stackArguments } from "./aws-context.js";
import { curlCommand } from "./banner.js";
import { CliError, type GlobalOptions, listingText, numberOption, output, withRegistry } from "./context.js";
import { newStreamId } from "./ids.js";

interface SettingFlags {
  bufferMb?: string;
  bufferSeconds?: string;
  compression?: string;
  rateLimit?: string;
  burst?: string;
  shards?: string;
  description?: string;
}

export function registerStreamCommands(program: Command, globals: () => GlobalOptions): void {
  const streams = program
    .command("streams")
    .description("manage streams (one endpoint and payload type each)");

  const withSettingFlags = (command: Command) =>
    command
      .option("--description <text>", "free text shown in listings")
      .option("--buffer-mb <MiB>", `seal a batch at this size, 1–128 (default ${STREAM_DEFAULTS.bufferMiB})`)
      .option(
        "--buffer-seconds <s>",
        `seal a batch at this age, 0–900 (default ${STREAM_DEFAULTS.bufferSeconds})`,
      )
      .option("--compression <none|gzip>", `compress sealed batches (default ${STREAM_DEFAULTS.compression})`)
      .option("--rate-limit <n>", `requests/s accepted (default ${STREAM_DEFAULTS.rateLimitPerSecond})`)
      .option(
        "--burst <n>",
        `requests above the rate accepted at once (default ${STREAM_DEFAULTS.rateLimitBurst})`,
      )
      .option("--shards <n>", `delivery streams on AWS, 1–50 (default ${STREAM_DEFAULTS.shards})`);

  withSettingFlags(
    streams
      .command("create")
      .description("create a stream; prints its id")
      .requiredOption("--tenant <tenant>", "tenant the stream belongs to")
      .requiredOption("--name <name>", "a name for people")
      .requiredOption("--payload <json|xml>", "what each request holds: one JSON object or one XML document"),
  ).action(async (flags: SettingFlags & { tenant: string; name: string; payload: string }) => {
    if (!TENANT_PATTERN.test(flags.tenant)) {
      throw new CliError(
        "--tenant must be 2–63 lower-case letters, digits or dashes, starting with a letter or digit",
        2,
      );
    }
    if (!isPayloadType(flags.payload))
      throw new CliError(`--payload must be json or xml; got ${JSON.stringify(flags.payload)}`, 2);
    const base = newStreamRecord({
      id: newStreamId(),
      tenant: flags.tenant,
      name: flags.name,
      payload: flags.payload,
      now: new Date().toISOString(),
    });
    const stream = applySettings(base, flags);
    await withRegistry(globals(), async (admin) => {
      try {
        await admin.createStream(stream);
      } catch (error) {
        if (error instanceof AlreadyExistsError)
          throw new CliError(`${stream.id} already exists; run the command again`);
        throw error;
      }
    });
    const options = globals();
    const stack = options.stack;
    if (stack === undefined) {
      output(options, stream, (s) => `created stream ${s.id} (${s.payload}) for tenant ${s.tenant}`);
      return;
    }
    const { apiUrl } = await stack.outputs();
    const endpoint = `${apiUrl}/stream/v0/data/${stream.id}`;
    output(options, { ...stream, endpoint }, (s) => createdOnStackText(s, stack, apiUrl));
  });

  streams
    .command("list")
    .description("list streams")
    .option("--tenant <tenant>", "only this tenant's streams")
    .action(async (flags: { tenant?: string }) => {
      const options = globals();
      const list = await withRegistry(options, (admin) => admin.listStreams(flags.tenant));
      // The delivery column matters on AWS (is the stream ready?); locally there is no provisioner.
      const showDelivery =
        options.stack !== undefined ||
        list.records.some((s) => s.deliveryStatus !== undefined || s.deliveryStreams.length > 0);
      const header = ["ID", "TENANT", "PAYLOAD", "STATUS", "BUFFER", "COMPRESSION", "RATE/S"];
      output(options, { streams: list.records, invalid: list.invalid }, () =>
        listingText(list, "no streams", [...header, ...(showDelivery ? ["DELIVERY"] : []), "NAME"], (s) => [
          s.id,
          s.tenant,
          s.payload,
          s.status,
          `${s.delivery.bufferMiB} MiB / ${s.delivery.bufferSeconds} s`,
          s.delivery.compression,
          String(s.rateLimitPerSecond),
          ...(showDelivery ? [deliveryText(s)] : []),
          s.name,
        ]),
      );
    });

  streams
    .command("show <stream-id>")
    .description("show one stream's record")
    .action(async (id: string) => {
      const options = globals();
      const stream = await withRegistry(options, (admin) => admin.getStream(id));
      if (stream === undefined) throw new CliError(`no stream ${id}`);
      // On AWS the provisioner's error and timestamps tell why a stream is not ready.
      const details = options.stack === undefined ? {} : await options.stack.deliveryDetails(id);
      output(options, { ...stream, ...details }, (s) => JSON.stringify(s, null, 2));
    });

  withSettingFlags(
    streams
      .command("update <stream-id>")
      .description("change a stream's settings")
      .option("--name <name>", "new name"),
  ).action(async (id: string, flags: SettingFlags & { name?: string }) => {
    const stream = await changeStream(globals(), id, (s) => ({
      ...applySettings(s, flags),
      ...(flags.name === undefined ? {} : { name: flags.name }),
    }));
    output(globals(), stream, (s) => `updated stream ${s.id}`);
  });

  for (const [verb, status] of [
    ["enable", "active"],
    ["disable", "disabled"],
  ] as const) {
    streams
      .command(`${verb} <stream-id>`)
      .description(
        `${verb} a stream (takes effect within the registry cache TTL: 2 s locally, ≤ 60 s on AWS)`,
      )
      .action(async (id: string) => {
        const stream = await changeStream(globals(), id, (s) => ({ ...s, status }));
        output(globals(), stream, (s) => `stream ${s.id} is now ${s.status}`);
      });
  }

  streams
    .command("delete <stream-id>")
    .description("delete a stream's record (its files stay; on AWS its delivery streams are removed later)")
    .action(async (id: string) => {
      const deleted = await withRegistry(globals(), (admin) => admin.deleteStream(id));
      if (!deleted) throw new CliError(`no stream ${id}`);
      output(globals(), { id, deleted: true }, () => `deleted stream ${id}`);
    });
}

async function changeStream(
  globals: GlobalOptions,
  id: string,
  change: (stream: StreamRecord) => StreamRecord,
): Promise<StreamRecord> {
  return withRegistry(globals, async (admin) => {
    const current = await admin.getStream(id);
    if (current === undefined) throw new CliError(`no stream ${id}`);
    const next = { ...change(current), updatedAt: new Date().toISOString() };
    await admin.saveStream(next);
    return next;
  });
}

/** Applies the setting flags that were given, validating each against its bounds. */
function applySettings(stream: StreamRecord, flags: SettingFlags): StreamRecord {
  const setting = (
    flag: string,
    name: NumericStreamSetting,
    raw: string | undefined,
    current: number,
  ): number => {
    if (raw === undefined) return current;
    const value = numberOption(flag, raw);
    const problem = checkStreamSetting(name, value);
    if (problem !== undefined) throw new CliError(`${flag}: ${problem}`, 2);
    return value;
  };
  if (flags.compression !== undefined && !isCompression(flags.compression)) {
    throw new CliError(`--compression must be none or gzip; got ${JSON.stringify(flags.compression)}`, 2);
  }
  return {
    ...stream,
    description: flags.description ?? stream.description,
    delivery: {
      bufferMiB: setting("--buffer-mb", "bufferMiB", flags.bufferMb, stream.delivery.bufferMiB),
      bufferSeconds: setting(
        "--buffer-seconds",
        "bufferSeconds",
        flags.bufferSeconds,
        stream.delivery.bufferSeconds,
      ),
      compression: flags.compression ?? stream.delivery.compression,
      shards: setting("--shards", "shards", flags.shards, stream.delivery.shards),
    },
    rateLimitPerSecond: setting(
      "--rate-limit",
      "rateLimitPerSecond",
      flags.rateLimit,
      stream.rateLimitPerSecond,
    ),
    rateLimitBurst: setting("--burst", "rateLimitBurst", flags.burst, stream.rateLimitBurst),
  };
}

/** A stream's delivery on AWS: the provisioner's status and how many delivery streams it has. */
function deliveryText(stream: StreamRecord): string {
  const status = stream.deliveryStatus ?? "PENDING";
  const count = stream.deliveryStreams.length;
  return count === 0 ? status : `${status} (${count} stream${count === 1 ? "" : "s"})`;
}

/** What to expect after creating a stream on a stack: it is usable once the provisioner made it ACTIVE. */
function createdOnStackText(stream: StreamRecord, stack: StackSession, apiUrl: string): string {
  const where = stackArguments(stack);
  return [
    `created stream ${stream.id} (${stream.payload}) for tenant ${stream.tenant} in stack ${stack.name}`,
    "",
    `The stack's provisioner creates its ${stream.delivery.shards === 1 ? "delivery stream" : `${stream.delivery.shards} delivery streams`} within a few minutes; until then the stream`,
    "answers 503 delivery_not_ready. It is ready once this shows deliveryStatus ACTIVE:",
    `  ingest streams show ${stream.id}${where}`,
    "",
    `Then put a token for an API key of tenant ${stream.tenant} in $TOKEN (ingest tokens issue${where} --key <key-id> --days 7)`,
    "and send a record:",
    "",
    curlCommand(apiUrl, stream, "$TOKEN"),
  ].join("\n");
}

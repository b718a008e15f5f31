/**
 * Reads the CDK app's settings from context (`cdk.json` or `-c key=value`) and the CLI's environment. Values from
 * `-c` arrive as strings, so numbers and lists are parsed here and a bad one fails naming its context key.
 */
import type { Environment } from "aws-cdk-lib";
import { InvalidPropError } from "./prop-validation.js";
import type { StreamingIngestStackProps } from "./streaming-ingest-stack.js";

/** What the app builds: one stack, its name and its props. */
export interface AppSettings {
  readonly stackName: string;
  readonly props: StreamingIngestStackProps;
}

/** Context keys the app reads (documented with their defaults in cdk.json). */
export const CONTEXT_KEYS = [
  "stackName",
  "throttleRateLimit",
  "throttleBurstLimit",
  "dataRetentionDays",
  "alarmEmail",
  "domainName",
  "certificateArn",
  "tokenSigningKeyGenerations",
  "registryCacheTtlSeconds",
  "deliveryStreamPrefix",
  "requestLogs",
  "idempotencyWindowSeconds",
] as const;

type ContextKey = (typeof CONTEXT_KEYS)[number];

/** Looks a context key up (e.g. `(key) => app.node.tryGetContext(key)`). */
export type ContextReader = (key: string) => unknown;

/**
 * The app's settings. Unset, null and "" all mean "use the default", so cdk.json can list every key.
 * `env` comes from CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION when the CLI found them; without credentials the
 * stack is environment-agnostic, which synthesizes offline (the stack does no lookups).
 */
export function readAppSettings(
  context: ContextReader,
  environment: NodeJS.ProcessEnv = process.env,
): AppSettings {
  const read = (key: ContextKey): unknown => {
    const value = context(key);
    return value === null || value === "" ? undefined : value;
  };
  const stackName = optionalString("stackName", read("stackName")) ?? "StreamingIngest";
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
    throw contextError(
      "stackName",
      stackName,
      "a CloudFormation stack name: a letter, then letters, digits or '-'",
    );
  }
  return {
    stackName,
    props: {
      env: environmentFrom(environment),
      throttleRateLimit: optionalNumber("throttleRateLimit", read("throttleRateLimit")),
      throttleBurstLimit: optionalNumber("throttleBurstLimit", read("throttleBurstLimit")),
      dataRetentionDays: optionalNumber("dataRetentionDays", read("dataRetentionDays")),
      alarmEmail: optionalString("alarmEmail", read("alarmEmail")),
      domainName: optionalString("domainName", read("domainName")),
      certificateArn: optionalString("certificateArn", read("certificateArn")),
      tokenSigningKeyGenerations: optionalList(
        "tokenSigningKeyGenerations",
        read("tokenSigningKeyGenerations"),
      ),
      registryCacheTtlSeconds: optionalNumber("registryCacheTtlSeconds", read("registryCacheTtlSeconds")),
      deliveryStreamPrefix: optionalString("deliveryStreamPrefix", read("deliveryStreamPrefix")),
      requestLogs: optionalBoolean("requestLogs", read("requestLogs")),
      idempotencyWindowSeconds: optionalNumber("idempotencyWindowSeconds", read("idempotencyWindowSeconds")),
    },
  };
}

function environmentFrom(environment: NodeJS.ProcessEnv): Environment | undefined {
  const account = environment.CDK_DEFAULT_ACCOUNT || undefined;
  const region = environment.CDK_DEFAULT_REGION || undefined;
  return account === undefined && region === undefined ? undefined : { account, region };
}

function optionalNumber(key: ContextKey, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const parsed =
    typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : Number.NaN;
  if (!Number.isFinite(parsed)) throw contextError(key, value, "a number");
  return parsed;
}

/** true/false from cdk.json, or "true"/"false" from `-c key=…`. */
function optionalBoolean(key: ContextKey, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  const text = typeof value === "string" ? value.trim().toLowerCase() : undefined;
  if (text === "true" || text === "false") return text === "true";
  throw contextError(key, value, "true or false");
}

function optionalString(key: ContextKey, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw contextError(key, value, "a string");
  return value.trim();
}

/** A JSON array from cdk.json, or `-c key=v1,v2` (also `-c 'key=["v1","v2"]'`). */
function optionalList(key: ContextKey, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  let list: unknown = value;
  if (typeof value === "string") {
    const text = value.trim();
    if (text.startsWith("[")) {
      try {
        list = JSON.parse(text);
      } catch {
        throw contextError(key, value, 'a JSON array of strings, e.g. ["v1","v2"]');
      }
    } else {
      list = text.split(",").map((item) => item.trim());
    }
  }
  if (!Array.isArray(list) || !list.every((item): item is string => typeof item === "string")) {
    throw contextError(key, value, 'a list of strings, e.g. ["v1","v2"] in cdk.json or -c key=v1,v2');
  }
  return list;
}

function contextError(key: ContextKey, value: unknown, expected: string): InvalidPropError {
  return new InvalidPropError(
    `context "${key}"`,
    `got ${JSON.stringify(value)}; set ${expected} (in cdk.json "context" or with -c ${key}=…).`,
  );
}

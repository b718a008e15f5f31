/**
 * `ingest keys …` and `ingest tokens issue`: API keys, their revocation, and the access tokens issued for them
 * (signed with the data directory's key, or with --stack by the stack's KMS key).
 */
import type { Command } from "commander";
import { KmsKeyError } from "../../lambda/adapters/kms-signer.js";
import { loadOrCreateSigningKeys } from "../../lambda/adapters/local-signer.js";
import { issueAccessToken, MAX_TOKEN_DAYS, revokedBeforeSeconds } from "../../lambda/core/access-token.js";
import { systemClock } from "../../lambda/core/ports.js";
import { TENANT_PATTERN } from "../../lambda/core/stream-settings.js";
import type { ApiKeyRecord } from "../../lambda/core/types.js";
import { loadOrCreateDeployment } from "../../lambda/local/deployment.js";
import { emulatedStackSigner } from "../../lambda/local/emulate-aws/emulated-aws.js";
import { readLiveRunState } from "../../lambda/local/run-state.js";
import type { StackSession } from "./aws-context.js";
import {
  CliError,
  type GlobalOptions,
  layoutOf,
  listingText,
  numberOption,
  output,
  withRegistry,
} from "./context.js";
import { newApiKeyId } from "./ids.js";

export function registerKeyCommands(program: Command, globals: () => GlobalOptions): void {
  const keys = program.command("keys").description("manage API keys (tokens are issued for a key)");

  keys
    .command("create")
    .description("create an API key; then issue a token for it with `tokens issue`")
    .requiredOption("--tenant <tenant>", "tenant the key's tokens may post to")
    .requiredOption("--name <name>", "a name for people, e.g. the client system")
    .action(async (flags: { tenant: string; name: string }) => {
      if (!TENANT_PATTERN.test(flags.tenant)) {
        throw new CliError(
          "--tenant must be 2–63 lower-case letters, digits or dashes, starting with a letter or digit",
          2,
        );
      }
      const key: ApiKeyRecord = {
        id: newApiKeyId(),
        tenant: flags.tenant,
        name: flags.name,
        status: "active",
        createdAt: new Date().toISOString(),
      };
      await withRegistry(globals(), (admin) => admin.createApiKey(key));
      output(globals(), key, (k) => `created API key ${k.id} for tenant ${k.tenant}`);
    });

  keys
    .command("list")
    .description("list API keys")
    .option("--tenant <tenant>", "only this tenant's keys")
    .action(async (flags: { tenant?: string }) => {
      const list = await withRegistry(globals(), (admin) => admin.listApiKeys(flags.tenant));
      output(globals(), { keys: list.records, invalid: list.invalid }, () =>
        listingText(
          list,
          "no API keys",
          ["ID", "TENANT", "STATUS", "CREATED", "REVOKED BEFORE", "NAME"],
          (k) => [k.id, k.tenant, k.status, k.createdAt, k.revokedBefore ?? "-", k.name],
        ),
      );
    });

  keys
    .command("delete <key-id>")
    .description(
      "delete an API key: its tokens fail with 401 within the cache TTL (2 s locally, ≤ 60 s on AWS)",
    )
    .action(async (id: string) => {
      const key = await changeKey(globals(), id, (k) => ({ ...k, status: "deleted" }));
      output(globals(), key, (k) => `deleted API key ${k.id}; its tokens are refused from now on`);
    });

  keys
    .command("revoke-tokens <key-id>")
    .description("refuse every token issued for this key until now (rotation); new tokens can be issued")
    .action(async (id: string) => {
      // Tokens carry whole-second `iat`s: everything issued up to the end of this second is refused.
      const revokedBefore = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000).toISOString();
      const key = await changeKey(globals(), id, (k) => ({ ...k, revokedBefore }));
      output(globals(), key, (k) => `API key ${k.id} now refuses tokens issued before ${revokedBefore}`);
    });

  program
    .command("tokens")
    .description("access tokens")
    .command("issue")
    .description("issue an access token for an API key; printed once, stored nowhere")
    .requiredOption("--key <key-id>", "the API key")
    .requiredOption("--days <n>", `lifetime in whole days, 1–${MAX_TOKEN_DAYS}`)
    .action(async (flags: { key: string; days: string }) => {
      const days = numberOption("--days", flags.days);
      if (!Number.isInteger(days) || days < 1 || days > MAX_TOKEN_DAYS) {
        throw new CliError(`--days must be a whole number from 1 to ${MAX_TOKEN_DAYS}; got ${flags.days}`, 2);
      }
      const key = await withRegistry(globals(), (admin) => admin.getApiKey(flags.key));
      if (key === undefined) throw new CliError(`no API key ${flags.key}`);
      if (key.status !== "active") throw new CliError(`API key ${key.id} is ${key.status}; create a new key`);
      await waitUntilRevocationPassed(key);
      const options = globals();
      const issued = await (options.stack === undefined
        ? issueLocalToken(options, key, days)
        : issueStackToken(options.stack, key, days));
      const apiUrl = options.stack === undefined ? undefined : (await options.stack.outputs()).apiUrl;
      output(
        options,
        { token: issued.token, key: key.id, tenant: key.tenant, expires_at: issued.expiresAt.toISOString() },
        (t) =>
          `${t.token}\n\n(token for key ${t.key}, tenant ${t.tenant}; expires ${t.expires_at}; not stored anywhere)` +
          (apiUrl === undefined ? "" : `\nPOST records to ${apiUrl}/stream/v0/data/<stream-id>`),
      );
    });
}

/**
 * Signs a token with the data directory's signing key for this deployment; while the data directory's server
 * runs the AWS build (`serve --emulate-aws`), with the emulated stack's signing key, issuer and audience.
 */
export async function issueLocalToken(globals: GlobalOptions, key: ApiKeyRecord, days: number) {
  const layout = layoutOf(globals);
  const emulated = (await readLiveRunState(layout.runState))?.emulateAws;
  if (emulated !== undefined) {
    const signer = await emulatedStackSigner(emulated);
    const { tokenIssuer: issuer, tokenAudience: audience } = emulated;
    return issueAccessToken({ issuer, audience, signer, key, days, clock: systemClock });
  }
  const deployment = await loadOrCreateDeployment(layout.deployment);
  const { signer } = await loadOrCreateSigningKeys(layout.keys);
  return issueAccessToken({ ...deployment, signer, key, days, clock: systemClock });
}

/** Signs a token with the stack's KMS key (TokenSigningKeyArn) for the stack's issuer and audience. */
async function issueStackToken(stack: StackSession, key: ApiKeyRecord, days: number) {
  const { signer, issuer, audience } = await stack.tokenSigner();
  try {
    return await issueAccessToken({ issuer, audience, signer, key, days, clock: systemClock });
  } catch (error) {
    if (error instanceof KmsKeyError) throw new CliError(error.message);
    throw error;
  }
}

/** A key revoked this very second refuses tokens issued in it: wait for the next second (at most ~1 s). */
async function waitUntilRevocationPassed(key: ApiKeyRecord): Promise<void> {
  const revokedBefore = revokedBeforeSeconds(key);
  if (revokedBefore === undefined) return;
  const waitMs = revokedBefore * 1000 - Date.now();
  if (waitMs > 5000)
    throw new CliError(`API key ${key.id} refuses tokens issued before ${key.revokedBefore}`);
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs + 5));
}

async function changeKey(
  globals: GlobalOptions,
  id: string,
  change: (key: ApiKeyRecord) => ApiKeyRecord,
): Promise<ApiKeyRecord> {
  return withRegistry(globals, async (admin) => {
    const current = await admin.getApiKey(id);
    if (current === undefined) throw new CliError(`no API key ${id}`);
    const next = change(current);
    await admin.saveApiKey(next);
    return next;
  });
}

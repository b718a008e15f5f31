/**
 * `ingest signing-keys …`: the ES256 keys tokens are signed with. The newest signs new tokens; every key listed
 * verifies, so a new key can be added first and an old one removed once its tokens have expired (rotation).
 */
import type { Command } from "commander";
import {
  createSigningKey,
  deleteSigningKey,
  loadOrCreateSigningKeys,
} from "../../lambda/adapters/local-signer.js";
import { callControlAction } from "../../lambda/local/control-server.js";
import { readLiveRunState } from "../../lambda/local/run-state.js";
import { CliError, type GlobalOptions, layoutOf, output, refuseStack } from "./context.js";

export function registerSigningKeyCommands(program: Command, globals: () => GlobalOptions): void {
  const signingKeys = program
    .command("signing-keys")
    .description("the keys access tokens are signed with (rotation: create a new one, later delete the old)");
  // On AWS the signing keys are KMS keys owned by the stack; its deployment rotates them, not this command.
  signingKeys.hook("preAction", () =>
    refuseStack(
      globals(),
      "signing-keys",
      "on AWS the signing keys are KMS keys that rotate through the stack's `tokenSigningKeyGenerations` context (cdk.json) and `npx cdk deploy`; the TokenSigningKeyArn output signs new tokens",
    ),
  );

  signingKeys.hook("preAction", async () => {
    const live = await readLiveRunState(layoutOf(globals()).runState);
    if (live?.emulateAws !== undefined) {
      throw new CliError(
        `the server on this data directory runs the AWS build (serve --emulate-aws): its tokens are signed by the stack's KMS key ${live.emulateAws.tokenKeyArn} (emulated by ${live.emulateAws.tokenKeyFile}); signing-keys manages the local runtime's keys`,
        2,
      );
    }
  });

  signingKeys
    .command("list")
    .description("list signing keys; the newest signs new tokens, all of them verify")
    .action(async () => {
      const { kids } = await loadOrCreateSigningKeys(layoutOf(globals()).keys);
      output(globals(), { kids, signing: kids[kids.length - 1] }, (v) =>
        v.kids.map((kid) => (kid === v.signing ? `${kid}  (signs new tokens)` : kid)).join("\n"),
      );
    });

  signingKeys
    .command("create")
    .description("create a signing key; it signs every token issued from now on")
    .action(async () => {
      const dir = layoutOf(globals()).keys;
      await loadOrCreateSigningKeys(dir);
      const kid = await createSigningKey(dir);
      const reloaded = await reloadRunningServer(globals());
      output(globals(), { kid, reloaded }, (v) => `created signing key ${v.kid}${reloadNote(v.reloaded)}`);
    });

  signingKeys
    .command("delete <kid>")
    .description("delete an old signing key: tokens it signed are refused (401) from now on")
    .action(async (kid: string) => {
      await deleteSigningKey(layoutOf(globals()).keys, kid).catch((error: unknown) => {
        throw new CliError((error as Error).message);
      });
      const reloaded = await reloadRunningServer(globals());
      output(
        globals(),
        { kid, deleted: true, reloaded },
        (v) => `deleted signing key ${v.kid}${reloadNote(v.reloaded)}`,
      );
    });
}

/** Tells a running server to re-read its signing keys; false when no server runs. */
async function reloadRunningServer(globals: GlobalOptions): Promise<boolean> {
  const live = await readLiveRunState(layoutOf(globals).runState);
  if (live === undefined) return false;
  await callControlAction(live, "/reload-signing-keys").catch((error: unknown) => {
    throw new CliError(
      `the key was changed, but the running server did not reload it: ${(error as Error).message}`,
    );
  });
  return true;
}

function reloadNote(reloaded: boolean): string {
  return reloaded
    ? "; the running server reloaded its signing keys"
    : "; no server is running: the next start loads the keys";
}

/**
 * The TokenVerifier of the AWS runtime: the KMS signing keys' public keys are fetched once per container (no KMS
 * call per request) and tokens are then checked by the JwksTokenVerifier like everywhere else.
 */
import type { KMSClient } from "@aws-sdk/client-kms";
import { ServiceUnavailableError } from "../core/errors.js";
import type { AccessTokenClaims, Clock, Logger, TokenVerifier } from "../core/ports.js";
import { JwksTokenVerifier } from "./jwt-verifier.js";
import { loadKmsJwks } from "./kms-public-keys.js";

export interface KmsTokenVerifierOptions {
  readonly kms: KMSClient;
  /** Every live signing key (rotation keeps the previous generation trusted). */
  readonly keyArns: readonly string[];
  readonly issuer: string;
  readonly audience: string;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Seconds a client waits when the public keys could not be loaded (KMS unreachable or throttling). */
const KEYS_UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/**
 * After a failed load, requests within this time answer 503 without calling KMS again, so an outage does not
 * turn every request of every container into a KMS call.
 */
export const KEY_LOAD_RETRY_INTERVAL_MS = 1_000;

export class KmsTokenVerifier implements TokenVerifier {
  private verifier: JwksTokenVerifier | undefined;
  private loading: Promise<void> | undefined;
  /** No new load before this instant (epoch ms) after a failure. */
  private nextLoadAt = 0;

  constructor(private readonly options: KmsTokenVerifierOptions) {}

  /**
   * Loads the public keys unless they are loaded; concurrent callers share one load, and a failed load is
   * retried by a request at least {@link KEY_LOAD_RETRY_INTERVAL_MS} later rather than cached. Never rejects:
   * `verify` reports the failure as a 503.
   */
  ensureLoaded(): Promise<void> {
    if (this.verifier !== undefined) return Promise.resolve();
    if (this.loading === undefined && this.options.clock.now() < this.nextLoadAt) return Promise.resolve();
    this.loading ??= loadKmsJwks(this.options.kms, this.options.keyArns)
      .then((jwks) => {
        this.verifier = new JwksTokenVerifier({
          issuer: this.options.issuer,
          audience: this.options.audience,
          jwks,
          clock: this.options.clock,
        });
      })
      .catch((error: unknown) => {
        this.nextLoadAt = this.options.clock.now() + KEY_LOAD_RETRY_INTERVAL_MS;
        this.options.logger.error("token signing keys could not be loaded from KMS", {
          keys: this.options.keyArns,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  verify(token: string): AccessTokenClaims {
    if (this.verifier === undefined) {
      throw new ServiceUnavailableError(
        "the token signing keys could not be loaded; retry shortly",
        KEYS_UNAVAILABLE_RETRY_AFTER_SECONDS,
        "token_keys_unavailable",
      );
    }
    return this.verifier.verify(token);
  }
}

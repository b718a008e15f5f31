/**
 * An in-memory IdempotencyStore with the DynamoDB adapter's semantics (expired and abandoned entries count as
 * absent; confirm and release act only on the claim holding the token), plus switches to make it fail or hang.
 */
import { ServiceUnavailableError } from "../../lambda/core/errors.js";
import type {
  IdempotencyClaim,
  IdempotencyClaimRef,
  IdempotencyClaimRequest,
  IdempotencyStore,
} from "../../lambda/core/ports.js";
import { type Deferred, deferred } from "./in-memory-ports.js";

export interface StoredEntry {
  readonly state: "pending" | "accepted";
  readonly token: string;
  readonly fingerprint: string;
  readonly requestId: string;
  readonly claimedAt: number;
  readonly acceptedAt?: number;
  readonly expiresAt: number;
}

type Operation = "claim" | "confirm" | "release";

export class InMemoryIdempotencyStore implements IdempotencyStore {
  readonly entries = new Map<string, StoredEntry>();
  /** Every call, in order. */
  readonly calls: Operation[] = [];
  /** Operations that reject with a 503 like an unreachable table. */
  readonly down = new Set<Operation>();
  /** Operations that wait for `open()` before running. */
  private readonly gates = new Map<Operation, Deferred<void>>();

  private static id(streamId: string, key: string): string {
    return `${streamId}\n${key}`;
  }

  entry(streamId: string, key: string): StoredEntry | undefined {
    return this.entries.get(InMemoryIdempotencyStore.id(streamId, key));
  }

  hold(operation: Operation): void {
    this.gates.set(operation, deferred<void>());
  }

  open(operation: Operation): void {
    this.gates.get(operation)?.resolve();
    this.gates.delete(operation);
  }

  async claim(request: IdempotencyClaimRequest): Promise<IdempotencyClaim> {
    await this.enter("claim");
    const id = InMemoryIdempotencyStore.id(request.streamId, request.key);
    const found = this.entries.get(id);
    const live =
      found !== undefined &&
      found.expiresAt > request.now &&
      !(found.state === "pending" && found.claimedAt <= request.abandonedBefore);
    if (found !== undefined && live) {
      return found.state === "accepted"
        ? {
            state: "accepted",
            fingerprint: found.fingerprint,
            acceptedAt: found.acceptedAt ?? found.claimedAt,
            requestId: found.requestId,
          }
        : { state: "pending", fingerprint: found.fingerprint, claimedAt: found.claimedAt };
    }
    this.entries.set(id, {
      state: "pending",
      token: request.token,
      fingerprint: request.fingerprint,
      requestId: request.requestId,
      claimedAt: request.now,
      expiresAt: request.expiresAt,
    });
    return { state: "claimed" };
  }

  async confirm(claim: IdempotencyClaimRef, acceptedAt: number, expiresAt: number): Promise<boolean> {
    await this.enter("confirm");
    const id = InMemoryIdempotencyStore.id(claim.streamId, claim.key);
    const found = this.entries.get(id);
    if (found?.token !== claim.token || found.state !== "pending") return false;
    this.entries.set(id, { ...found, state: "accepted", acceptedAt, expiresAt });
    return true;
  }

  async release(claim: IdempotencyClaimRef): Promise<void> {
    await this.enter("release");
    const id = InMemoryIdempotencyStore.id(claim.streamId, claim.key);
    const found = this.entries.get(id);
    if (found?.token === claim.token && found.state === "pending") this.entries.delete(id);
  }

  private async enter(operation: Operation): Promise<void> {
    this.calls.push(operation);
    await this.gates.get(operation)?.promise;
    if (this.down.has(operation)) {
      throw new ServiceUnavailableError(
        "the idempotency store is unavailable; retry shortly",
        1,
        "idempotency_unavailable",
      );
    }
  }
}

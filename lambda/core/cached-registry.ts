/**
 * An in-memory, time-bounded cache in front of a StreamRegistry, so the hot path never waits on the store:
 * each id is fetched at most once per TTL (concurrent misses share one fetch), and absences are cached too.
 */
import type { Clock, StreamRegistry } from "./ports.js";
import type { ApiKeyRecord, StreamRecord } from "./types.js";

interface Entry<T> {
  value: T | undefined;
  expiresAt: number;
}

/** Caches one kind of record by id. */
class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly inFlight = new Map<string, Promise<T | undefined>>();

  constructor(
    private readonly ttlMs: number,
    private readonly clock: Clock,
    private readonly maxEntries: number,
  ) {}

  async get(id: string, load: (id: string) => Promise<T | undefined>): Promise<T | undefined> {
    const entry = this.entries.get(id);
    if (entry !== undefined && entry.expiresAt > this.clock.now()) return entry.value;
    const pending = this.inFlight.get(id);
    if (pending !== undefined) return pending;
    const loading = load(id)
      .then((value) => {
        if (this.entries.size >= this.maxEntries) this.evictOldest();
        this.entries.set(id, { value, expiresAt: this.clock.now() + this.ttlMs });
        return value;
      })
      .finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, loading);
    return loading;
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.entries.delete(oldest.value);
  }
}

export interface CachedRegistryOptions {
  /** How long a record (or its absence) is trusted. @default 2000 ms */
  readonly ttlMs?: number;
  /** Bound on cached ids per kind, so random ids cannot grow memory. @default 100,000 */
  readonly maxEntries?: number;
}

/** A StreamRegistry that answers from memory for up to `ttlMs` after each load. */
export class CachedRegistry implements StreamRegistry {
  private readonly streams: TtlCache<StreamRecord>;
  private readonly keys: TtlCache<ApiKeyRecord>;

  constructor(
    private readonly source: StreamRegistry,
    clock: Clock,
    options: CachedRegistryOptions = {},
  ) {
    const ttlMs = options.ttlMs ?? 2000;
    const maxEntries = options.maxEntries ?? 100_000;
    this.streams = new TtlCache(ttlMs, clock, maxEntries);
    this.keys = new TtlCache(ttlMs, clock, maxEntries);
  }

  getStream(id: string): Promise<StreamRecord | undefined> {
    return this.streams.get(id, (i) => this.source.getStream(i));
  }

  getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.keys.get(id, (i) => this.source.getApiKey(i));
  }
}

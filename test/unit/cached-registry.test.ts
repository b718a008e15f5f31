/** The registry cache: each id loaded at most once per TTL, concurrent misses sharing one load, absences cached. */
import { CachedRegistry } from "../../lambda/core/cached-registry.js";
import { ServiceUnavailableError } from "../../lambda/core/errors.js";
import type { StreamRegistry } from "../../lambda/core/ports.js";
import type { StreamRecord } from "../../lambda/core/types.js";
import {
  deferred,
  FakeClock,
  InMemoryRegistry,
  KEY_ID,
  makeApiKey,
  makeStream,
  STREAM_ID,
} from "../helpers/in-memory-ports.js";

const TTL = 5000;

function setup(options: { ttlMs?: number; maxEntries?: number } = { ttlMs: TTL }) {
  const clock = new FakeClock();
  const source = new InMemoryRegistry({ streams: [makeStream()], apiKeys: [makeApiKey()] });
  const cached = new CachedRegistry(source, clock, options);
  const streamReads = () => source.reads.filter((read) => read.kind === "stream").length;
  return { clock, source, cached, streamReads };
}

describe("CachedRegistry", () => {
  it("answers from memory within the TTL", async () => {
    const { cached, source } = setup();
    await expect(cached.getStream(STREAM_ID)).resolves.toEqual(makeStream());
    await expect(cached.getStream(STREAM_ID)).resolves.toEqual(makeStream());
    await expect(cached.getApiKey(KEY_ID)).resolves.toEqual(makeApiKey());
    await expect(cached.getApiKey(KEY_ID)).resolves.toEqual(makeApiKey());
    expect(source.reads).toEqual([
      { kind: "stream", id: STREAM_ID },
      { kind: "apiKey", id: KEY_ID },
    ]);
  });

  it("keeps serving the cached record until the TTL has passed, then shows the change", async () => {
    const { cached, source, clock, streamReads } = setup();
    await cached.getStream(STREAM_ID);
    source.putStream(makeStream({ status: "disabled" }));
    clock.advance(TTL - 1);
    await expect(cached.getStream(STREAM_ID)).resolves.toMatchObject({ status: "active" });
    clock.advance(1);
    await expect(cached.getStream(STREAM_ID)).resolves.toMatchObject({ status: "disabled" });
    expect(streamReads()).toBe(2);
  });

  it("makes a deleted API key visible after the TTL", async () => {
    const { cached, source, clock } = setup();
    await cached.getApiKey(KEY_ID);
    source.putApiKey(makeApiKey({ status: "deleted" }));
    clock.advance(TTL);
    await expect(cached.getApiKey(KEY_ID)).resolves.toMatchObject({ status: "deleted" });
  });

  it("caches an absence too, so unknown ids do not reach the store on every request", async () => {
    const { cached, source, clock, streamReads } = setup();
    await expect(cached.getStream("is-Unknown1")).resolves.toBeUndefined();
    await expect(cached.getStream("is-Unknown1")).resolves.toBeUndefined();
    expect(streamReads()).toBe(1);
    source.putStream(makeStream({ id: "is-Unknown1" }));
    clock.advance(TTL);
    await expect(cached.getStream("is-Unknown1")).resolves.toMatchObject({ id: "is-Unknown1" });
  });

  it("lets concurrent misses of one id share ONE load", async () => {
    const clock = new FakeClock();
    const load = deferred<StreamRecord | undefined>();
    const getStream = jest.fn((_id: string) => load.promise);
    const source: StreamRegistry = { getStream, getApiKey: async () => undefined };
    const cached = new CachedRegistry(source, clock, { ttlMs: TTL });

    const answers = Promise.all([
      cached.getStream(STREAM_ID),
      cached.getStream(STREAM_ID),
      cached.getStream(STREAM_ID),
    ]);
    load.resolve(makeStream());
    await expect(answers).resolves.toEqual([makeStream(), makeStream(), makeStream()]);
    expect(getStream).toHaveBeenCalledTimes(1);
    await cached.getStream(STREAM_ID);
    expect(getStream).toHaveBeenCalledTimes(1);
  });

  it("loads different ids separately", async () => {
    const { cached, streamReads } = setup();
    await Promise.all([cached.getStream(STREAM_ID), cached.getStream("is-Other001")]);
    expect(streamReads()).toBe(2);
  });

  it("keeps streams and API keys apart even when their ids are equal", async () => {
    const { cached, source } = setup();
    source.putApiKey(makeApiKey({ id: STREAM_ID }));
    await expect(cached.getStream(STREAM_ID)).resolves.toMatchObject({ payload: "json" });
    await expect(cached.getApiKey(STREAM_ID)).resolves.toMatchObject({ status: "active", id: STREAM_ID });
  });

  it("does not cache a failed load: the next request tries the store again", async () => {
    const { cached, source, streamReads } = setup();
    source.down = true;
    await expect(cached.getStream(STREAM_ID)).rejects.toBeInstanceOf(ServiceUnavailableError);
    source.down = false;
    await expect(cached.getStream(STREAM_ID)).resolves.toEqual(makeStream());
    expect(streamReads()).toBe(2);
  });

  it("passes a failed load to every request that shared it", async () => {
    const load = deferred<StreamRecord | undefined>();
    const source: StreamRegistry = { getStream: () => load.promise, getApiKey: async () => undefined };
    const cached = new CachedRegistry(source, new FakeClock(), { ttlMs: TTL });
    const first = cached.getStream(STREAM_ID);
    const second = cached.getStream(STREAM_ID);
    load.reject(new ServiceUnavailableError("down", 1));
    await expect(first).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(second).rejects.toBeInstanceOf(ServiceUnavailableError);
  });

  it("trusts a record for 2 s by default", async () => {
    const { cached, clock, streamReads } = setup({});
    await cached.getStream(STREAM_ID);
    clock.advance(1999);
    await cached.getStream(STREAM_ID);
    expect(streamReads()).toBe(1);
    clock.advance(1);
    await cached.getStream(STREAM_ID);
    expect(streamReads()).toBe(2);
  });

  it("holds at most maxEntries ids per kind, forgetting the oldest first", async () => {
    const { cached, source, streamReads } = setup({ ttlMs: TTL, maxEntries: 2 });
    for (const id of ["is-aaaaaaa1", "is-aaaaaaa2", "is-aaaaaaa3"]) source.putStream(makeStream({ id }));
    await cached.getStream("is-aaaaaaa1");
    await cached.getStream("is-aaaaaaa2");
    await cached.getStream("is-aaaaaaa3");
    expect(streamReads()).toBe(3);
    await cached.getStream("is-aaaaaaa3");
    await cached.getStream("is-aaaaaaa2");
    expect(streamReads()).toBe(3);
    await cached.getStream("is-aaaaaaa1");
    expect(streamReads()).toBe(4);
  });

  it("stays bounded when many random ids are asked for", async () => {
    const { cached, streamReads } = setup({ ttlMs: TTL, maxEntries: 10 });
    for (let i = 0; i < 1000; i++) await cached.getStream(`is-${String(i).padStart(8, "0")}`);
    const before = streamReads();
    // Only the newest 10 can still be cached.
    for (let i = 990; i < 1000; i++) await cached.getStream(`is-${String(i).padStart(8, "0")}`);
    expect(streamReads()).toBe(before);
    await cached.getStream(`is-${String(0).padStart(8, "0")}`);
    expect(streamReads()).toBe(before + 1);
  });
});

/**
 * The whole handler on in-memory ports, for property tests that send many records through it: one stream of
 * the given payload type whose rate limit never bites, an active API key and a valid token for it.
 */
import { gzipSync } from "node:zlib";
import { IngestHandler } from "../../lambda/core/handler.js";
import type { AcceptedRecord, PayloadType } from "../../lambda/core/types.js";
import {
  CollectingLogger,
  InMemoryRegistry,
  InMemorySink,
  makeApiKey,
  makeRequest,
  makeStream,
  TENANT,
} from "./in-memory-ports.js";
import { issueToken, makeVerifier, tokenClock } from "./tokens.js";

export interface UnthrottledHandler {
  /**
   * Posts `text` as one record with `contentType` (gzip-encoded when `gzip`); returns the status and what the
   * sink received for this request.
   */
  post(
    text: string,
    contentType: string,
    gzip: boolean,
  ): Promise<{ readonly status: number; readonly received: AcceptedRecord[] }>;
}

export async function unthrottledHandler(payload: PayloadType): Promise<UnthrottledHandler> {
  const clock = tokenClock();
  const key = makeApiKey();
  const token = await issueToken(key, clock);
  const sink = new InMemorySink();
  const handler = new IngestHandler({
    registry: new InMemoryRegistry({
      streams: [makeStream({ payload, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 })],
      apiKeys: [key],
    }),
    sink,
    verifier: makeVerifier(clock),
    clock,
    logger: new CollectingLogger(),
  });
  return {
    async post(text, contentType, gzip) {
      const before = sink.received.length;
      const response = await handler.handle(
        makeRequest({
          headers: {
            authorization: `Bearer ${token}`,
            "x-amperity-tenant": TENANT,
            "content-type": contentType,
            ...(gzip ? { "content-encoding": "gzip" } : {}),
          },
          body: gzip ? gzipSync(text) : text,
        }),
      );
      return { status: response.status, received: sink.received.slice(before) };
    },
  };
}

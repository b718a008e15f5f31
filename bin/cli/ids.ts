/** New ids for streams (`is-` + 8) and API keys (`ik-` + 16), from a CSPRNG. */
import { randomInt } from "node:crypto";

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function randomAlphanumeric(length: number): string {
  let text = "";
  for (let i = 0; i < length; i++) text += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return text;
}

export const newStreamId = (): string => `is-${randomAlphanumeric(8)}`;
export const newApiKeyId = (): string => `ik-${randomAlphanumeric(16)}`;

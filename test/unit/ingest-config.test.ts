/** The ingest Lambda's environment: read once, validated, and a bad value names its variable. */
import { ConfigError } from "../../lambda/aws/environment.js";
import { readIngestConfig } from "../../lambda/aws/ingest-config.js";

const ARN_1 = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ARN_2 = "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab";

const valid = {
  STREAMS_TABLE: "streams",
  API_KEYS_TABLE: "api-keys",
  TOKEN_ISSUER: "urn:streaming-ingest:eu-west-1:123456789012:StreamingIngest",
  TOKEN_AUDIENCE: "streaming-ingest",
  TOKEN_KEY_ARNS: `${ARN_1}, ${ARN_2}`,
};

describe("readIngestConfig", () => {
  it("reads every setting, with defaults for the optional ones, frozen", () => {
    const config = readIngestConfig(valid);
    expect(config).toEqual({
      streamsTable: "streams",
      apiKeysTable: "api-keys",
      tokenIssuer: valid.TOKEN_ISSUER,
      tokenAudience: "streaming-ingest",
      tokenKeyArns: [ARN_1, ARN_2],
      registryCacheTtlSeconds: 30,
      deliveryBudgetMs: 6000,
      idempotencyWindowSeconds: 86400,
    });
    expect("idempotencyTable" in config).toBe(false);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tokenKeyArns)).toBe(true);
  });

  it("takes the idempotency table and window from the environment", () => {
    const config = readIngestConfig({
      ...valid,
      IDEMPOTENCY_TABLE: " StreamingIngest-IdempotencyTable-1A2B ",
      IDEMPOTENCY_WINDOW_SECONDS: "3600",
    });
    expect(config.idempotencyTable).toBe("StreamingIngest-IdempotencyTable-1A2B");
    expect(config.idempotencyWindowSeconds).toBe(3600);
  });

  it("takes the cache TTL and delivery budget from the environment", () => {
    const config = readIngestConfig({
      ...valid,
      REGISTRY_CACHE_TTL_SECONDS: "60",
      DELIVERY_BUDGET_MS: "2500",
    });
    expect(config.registryCacheTtlSeconds).toBe(60);
    expect(config.deliveryBudgetMs).toBe(2500);
  });

  it.each([
    ["STREAMS_TABLE", { STREAMS_TABLE: undefined }, "must be set"],
    ["TOKEN_ISSUER", { TOKEN_ISSUER: "  " }, "must be set"],
    ["TOKEN_KEY_ARNS", { TOKEN_KEY_ARNS: " , " }, "lists no key ARN"],
    ["TOKEN_KEY_ARNS", { TOKEN_KEY_ARNS: "alias/token-key" }, "not a KMS key ARN"],
    [
      "TOKEN_KEY_ARNS",
      { TOKEN_KEY_ARNS: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-12345678" },
      "not a KMS key ARN",
    ],
    ["REGISTRY_CACHE_TTL_SECONDS", { REGISTRY_CACHE_TTL_SECONDS: "61" }, "from 0 to 60"],
    ["REGISTRY_CACHE_TTL_SECONDS", { REGISTRY_CACHE_TTL_SECONDS: "1.5" }, "whole number"],
    ["DELIVERY_BUDGET_MS", { DELIVERY_BUDGET_MS: "20000" }, "from 100 to 9000"],
    ["IDEMPOTENCY_WINDOW_SECONDS", { IDEMPOTENCY_WINDOW_SECONDS: "30" }, "from 60 to 2592000"],
  ])("refuses a bad %s, naming it", (variable, change, problem) => {
    const thrown = (() => {
      try {
        readIngestConfig({ ...valid, ...change });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toContain(`environment variable ${variable}`);
    expect((thrown as Error).message).toContain(problem);
  });
});

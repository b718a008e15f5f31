/**
 * AWS list prices the cost model uses: us-east-1, on-demand, no free tier, no savings plans. Each price names
 * its source page; all were read on {@link PRICES_READ_ON}. Prices change: check the pages before relying on a
 * number, and update them here (the unit tests recompute their expectations from these values).
 */

/** The day the prices below were read from their pages. */
export const PRICES_READ_ON = "2026-11-29";

/** The region these prices are for. Other regions' prices differ (usually a little higher). */
export const PRICES_REGION = "us-east-1";

/**
 * One tier of a tiered price: `price` per unit for the units of the month up to `upTo` (cumulative; the last
 * tier has `upTo: Infinity`).
 */
export interface PriceTier {
  readonly upTo: number;
  readonly price: number;
}

/** A price that drops with monthly volume, per unit. */
export interface TieredPrice {
  readonly unit: string;
  readonly tiers: readonly PriceTier[];
  readonly source: string;
}

/** Bytes in a GB as Firehose bills them (its pricing example divides KB by 1,048,576 KB per GB). */
export const BILLING_GB = 1024 ** 3;

export interface Prices {
  /** API Gateway HTTP API, per request; each 512 KB of request (or response) counts as one more request. */
  readonly apiGatewayHttp: TieredPrice & { readonly meteringBytes: number };
  /** API Gateway REST API, per request (the baseline's front door). */
  readonly apiGatewayRest: TieredPrice;
  /** Lambda on arm64: per invocation, and per GB-second of billed duration (1 ms granularity). */
  readonly lambdaArm64: {
    readonly perRequest: number;
    readonly perGbSecond: TieredPrice;
    readonly billingGranularityMs: number;
    readonly source: string;
  };
  /** Firehose Direct PUT ingestion, per GB (BILLING_GB) after rounding each record up to 5 KB. */
  readonly firehoseDirectPut: TieredPrice & { readonly recordRoundingBytes: number };
  /** S3 Standard PUT/COPY/POST/LIST requests (Firehose writes one object per buffer flush). */
  readonly s3PutRequest: { readonly perRequest: number; readonly source: string };
  /** DynamoDB on-demand: per read request unit (a strongly consistent GetItem of ≤ 4 KB is one). */
  readonly dynamoDbReadUnit: { readonly perUnit: number; readonly source: string };
  /** KMS: per customer-managed key and month, and per API request (GetPublicKey). */
  readonly kms: { readonly perKeyMonth: number; readonly perRequest: number; readonly source: string };
  /** CloudWatch Logs standard ingestion, per GB. */
  readonly cloudWatchLogsIngestion: { readonly perGb: number; readonly source: string };
}

const perMillion = (dollars: number) => dollars / 1_000_000;

export const US_EAST_1: Prices = {
  apiGatewayHttp: {
    unit: "request",
    tiers: [
      { upTo: 300_000_000, price: perMillion(1.0) },
      { upTo: Infinity, price: perMillion(0.9) },
    ],
    meteringBytes: 512 * 1024,
    source: "https://aws.amazon.com/api-gateway/pricing/",
  },
  apiGatewayRest: {
    unit: "request",
    tiers: [
      { upTo: 333_000_000, price: perMillion(3.5) },
      { upTo: 1_000_000_000, price: perMillion(2.8) },
      { upTo: 20_000_000_000, price: perMillion(2.38) },
      { upTo: Infinity, price: perMillion(1.51) },
    ],
    source: "https://aws.amazon.com/api-gateway/pricing/",
  },
  lambdaArm64: {
    perRequest: perMillion(0.2),
    perGbSecond: {
      unit: "GB-second",
      tiers: [
        { upTo: 7_500_000_000, price: 0.0000133334 },
        { upTo: 18_750_000_000, price: 0.0000120001 },
        { upTo: Infinity, price: 0.0000106667 },
      ],
      source: "https://aws.amazon.com/lambda/pricing/",
    },
    billingGranularityMs: 1,
    source: "https://aws.amazon.com/lambda/pricing/",
  },
  firehoseDirectPut: {
    unit: "GB",
    // First 500 TB, next 1.5 PB, next 3 PB of the month; beyond 5 PB AWS quotes on request (the last rate is
    // kept here).
    tiers: [
      { upTo: 500 * 1024, price: 0.029 },
      { upTo: 2 * 1024 * 1024, price: 0.025 },
      { upTo: Infinity, price: 0.02 },
    ],
    recordRoundingBytes: 5 * 1024,
    source: "https://aws.amazon.com/firehose/pricing/",
  },
  s3PutRequest: { perRequest: 0.005 / 1000, source: "https://aws.amazon.com/s3/pricing/" },
  dynamoDbReadUnit: {
    perUnit: perMillion(0.125),
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
  },
  kms: { perKeyMonth: 1, perRequest: 0.03 / 10_000, source: "https://aws.amazon.com/kms/pricing/" },
  cloudWatchLogsIngestion: { perGb: 0.5, source: "https://aws.amazon.com/cloudwatch/pricing/" },
};

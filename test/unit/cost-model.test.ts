/**
 * The cost model's arithmetic against numbers worked out by hand (the comments show the working), and the
 * `npm run cost` command's argument handling.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatEstimate, parseCostArgs, runCostCli } from "../../cost/cli.js";
import { DEFAULT_REGION_QUOTA, directPutQuota, LARGE_REGION_QUOTA } from "../../cost/firehose-quotas.js";
import { INGEST_MEMORY_MB, REGISTRY_CACHE_TTL_SECONDS } from "../../cost/measured.js";
import {
  type CostInput,
  coreRecordCpuMs,
  cpuSlowdown,
  DAYS_PER_MONTH,
  deliveryStreamsNeeded,
  estimateCost,
  firehoseBilledBytes,
  type LambdaProfile,
  lambdaDurationMs,
  packRequest,
  type Rates,
  s3ObjectsPerMonth,
  tieredCost,
} from "../../cost/model.js";
import { BILLING_GB, US_EAST_1 } from "../../cost/prices.js";

const MiB = 1024 * 1024;

/** A profile with round numbers, so expectations do not move when cost/measured.ts is re-measured. */
const PROFILE: LambdaProfile = {
  ownCpuMs: 2,
  measuredRecordBytes: 300,
  coreSmall: { bytes: 300, cpuMs: 0.02 },
  coreLarge: { bytes: 200_300, cpuMs: 2.02 }, // 0.00001 ms per byte
  firehoseMs: 15,
  functionLogBytes: 800,
  metricsLogBytes: 350,
  platformLogBytes: 400,
  containerLifetimeHours: 1,
};

function input(overrides: Partial<CostInput> = {}): CostInput {
  return {
    recordsPerDay: 1e9,
    avgRecordBytes: 1000,
    batch: 1,
    region: "us-east-1",
    peakFactor: 3,
    memoryMb: 1769,
    bufferMiB: 5,
    bufferSeconds: 300,
    signingKeys: 1,
    registryCacheTtlSeconds: 30,
    accessLogBytes: 300,
    requestLogs: true,
    lambda: PROFILE,
    ...overrides,
  };
}

function line(estimate: ReturnType<typeof estimateCost>, scenario: "ingest" | "baseline", service: string) {
  const found = estimate[scenario].lines.find((candidate) => candidate.service === service);
  if (found === undefined) throw new Error(`no ${service} line in ${scenario}`);
  return found.monthly;
}

function rates(records: number, bytes: number, calls = records, firehoseRecords = records): Rates {
  return { records, requests: calls, firehoseCalls: calls, firehoseRecords, bytes };
}

describe("tiered prices", () => {
  it("charges each tier's units at its own price", () => {
    const http = US_EAST_1.apiGatewayHttp.tiers;
    expect(tieredCost(0, http)).toBe(0);
    expect(tieredCost(1_000_000, http)).toBeCloseTo(1.0, 10);
    expect(tieredCost(300_000_000, http)).toBeCloseTo(300, 8);
    // 300 M at $1.00/M + 100 M at $0.90/M
    expect(tieredCost(400_000_000, http)).toBeCloseTo(390, 8);
    // REST: 333 M × $3.50/M + 667 M × $2.80/M = 1,165.50 + 1,867.60
    expect(tieredCost(1_000_000_000, US_EAST_1.apiGatewayRest.tiers)).toBeCloseTo(3033.1, 6);
  });
});

describe("Firehose billing and packing", () => {
  it("rounds every record up to the next 5 KB (5,120 bytes), at least one unit", () => {
    expect(firehoseBilledBytes(1, 5120)).toBe(5120);
    expect(firehoseBilledBytes(1000, 5120)).toBe(5120);
    expect(firehoseBilledBytes(5120, 5120)).toBe(5120);
    expect(firehoseBilledBytes(5121, 5120)).toBe(10_240);
    expect(firehoseBilledBytes(0, 5120)).toBe(5120);
  });

  it("sends a single record as one Firehose record and packs a batch into ≤ 1,000 KiB records", () => {
    expect(packRequest(1001, 1, 5120)).toEqual({ records: 1, billedBytes: 5120 });
    // 100 lines of 1,001 bytes = 100,100 bytes: one record, billed 20 × 5,120 = 102,400
    expect(packRequest(100_100, 100, 5120)).toEqual({ records: 1, billedBytes: 102_400 });
    // 500 × 8,001 = 4,000,500 bytes: 3 full records of 1,024,000 + 928,500 → ceil(928,500 / 5,120) = 182 units
    expect(packRequest(4_000_500, 500, 5120)).toEqual({
      records: 4,
      billedBytes: 3 * 1_024_000 + 182 * 5120,
    });
    // exactly one full record: no empty remainder record
    expect(packRequest(1_024_000, 2, 5120)).toEqual({ records: 1, billedBytes: 1_024_000 });
  });
});

describe("delivery streams per stream", () => {
  it("takes the largest of the request, record and byte needs", () => {
    // 1e9/day × 3 = 34,722.2 records/s of 1,001 bytes = 34.76 MB/s
    const peak = rates((1e9 / 86_400) * 3, (1e9 / 86_400) * 3 * 1001);
    expect(deliveryStreamsNeeded(peak, LARGE_REGION_QUOTA)).toMatchObject({
      shards: 18, // ceil(34,722.2 / 2,000)
      byRequests: 18,
      byRecords: 1, // ceil(34,722.2 / 500,000)
      byBytes: 7, // ceil(34,756,944 / 5,242,880) = ceil(6.63)
    });
    expect(deliveryStreamsNeeded(peak, DEFAULT_REGION_QUOTA)).toMatchObject({
      shards: 35, // ceil(34,722.2 / 1,000)
      byBytes: 34, // ceil(34,756,944 / 1,048,576) = ceil(33.15)
    });
  });

  it("is decided by bytes once requests are batched, and is at least one", () => {
    const records = (1e9 / 86_400) * 3;
    const batched = rates(records, records * 1001, records / 100, records / 100);
    expect(deliveryStreamsNeeded(batched, LARGE_REGION_QUOTA)).toMatchObject({
      shards: 7,
      byRequests: 1,
      byBytes: 7,
    });
    expect(deliveryStreamsNeeded(rates(0, 0), LARGE_REGION_QUOTA).shards).toBe(1);
  });

  it("knows which regions have the large quota", () => {
    for (const region of ["us-east-1", "us-west-2", "eu-west-1"]) {
      expect(directPutQuota(region)).toBe(LARGE_REGION_QUOTA);
    }
    for (const region of ["eu-central-1", "us-east-2", "ap-southeast-2"]) {
      expect(directPutQuota(region)).toBe(DEFAULT_REGION_QUOTA);
    }
    expect(LARGE_REGION_QUOTA).toEqual({
      requestsPerSecond: 2000,
      recordsPerSecond: 500_000,
      bytesPerSecond: 5 * MiB,
    });
    expect(DEFAULT_REGION_QUOTA).toEqual({
      requestsPerSecond: 1000,
      recordsPerSecond: 100_000,
      bytesPerSecond: MiB,
    });
  });
});

describe("Lambda duration", () => {
  it("stretches CPU time by Lambda's CPU share and adds the Firehose round trip", () => {
    expect(cpuSlowdown(1769)).toBe(1);
    expect(cpuSlowdown(3538)).toBe(1);
    expect(cpuSlowdown(1024)).toBeCloseTo(1769 / 1024, 12);
    // single 300-byte record at a full vCPU: 2 ms CPU + 15 ms Firehose
    expect(lambdaDurationMs(PROFILE, 1, 300, 1769)).toBeCloseTo(17, 12);
    // at 1,024 MB: 2 × 1.7275 + 15
    expect(lambdaDurationMs(PROFILE, 1, 300, 1024)).toBeCloseTo(2 * (1769 / 1024) + 15, 12);
  });

  it("adds the core's per-record CPU time for each record of a batch", () => {
    // a 1,300-byte record: 0.02 + 1,000 × 0.00001 = 0.03 ms
    expect(coreRecordCpuMs(PROFILE, 1300)).toBeCloseTo(0.03, 12);
    // fixed 2 − 0.02 = 1.98, plus 100 × 0.03 = 3, plus 15
    expect(lambdaDurationMs(PROFILE, 100, 1300, 1769)).toBeCloseTo(19.98, 12);
    expect(lambdaDurationMs({ ...PROFILE, overrideMs: 42 }, 100, 1300, 1024)).toBe(42);
  });
});

describe("S3 objects", () => {
  it("counts one object per delivery stream per filled buffer or interval", () => {
    // 1 MiB/s fills 5 MiB in 5 s: 2,628,000 s / 5
    expect(s3ObjectsPerMonth(1, MiB, 5, 300)).toBeCloseTo(525_600, 6);
    // 1 KiB/s never fills 5 MiB in 300 s: one object per 300 s
    expect(s3ObjectsPerMonth(1, 1024, 5, 300)).toBeCloseTo(8760, 6);
    // 4 streams sharing 4 MiB/s: each fills in 5 s
    expect(s3ObjectsPerMonth(4, 4 * MiB, 5, 300)).toBeCloseTo(4 * 525_600, 6);
  });
});

describe("the estimate for a billion 1,000-byte records a day", () => {
  const recordsPerMonth = 1e9 * (730 / 24); // 30,416,666,666.7

  it("prices one record per request, service by service", () => {
    const estimate = estimateCost(input(), US_EAST_1);
    expect(DAYS_PER_MONTH).toBeCloseTo(30.4167, 4);
    expect(estimate.recordsPerMonth).toBeCloseTo(recordsPerMonth, 2);
    expect(estimate.requestsPerMonth).toBeCloseTo(recordsPerMonth, 2);
    // HTTP API: 300 M × $1.00/M + the rest × $0.90/M
    expect(line(estimate, "ingest", "API Gateway")).toBeCloseTo(300 + (recordsPerMonth - 300e6) * 0.9e-6, 4);
    expect(line(estimate, "ingest", "Lambda requests")).toBeCloseTo(recordsPerMonth * 0.2e-6, 4);
    // 1,000 B + newline, 2 ms CPU at a full vCPU (1,769 MB), + 15 ms: 17.x ms, billed 18 ms
    expect(estimate.lambdaBilledMs).toBe(18);
    const gbSeconds = recordsPerMonth * 0.018 * (1769 / 1024);
    expect(line(estimate, "ingest", "Lambda duration (arm64)")).toBeCloseTo(gbSeconds * 0.0000133334, 4);
    // every record billed as 5,120 bytes: 30.42 B × 5,120 / 2^30 = 145,038 GB × $0.029
    const firehoseGb = (recordsPerMonth * 5120) / BILLING_GB;
    expect(firehoseGb).toBeCloseTo(145_038.2, 0);
    expect(line(estimate, "ingest", "Firehose ingestion")).toBeCloseTo(firehoseGb * 0.029, 4);
    // 18 delivery streams share 11.6 MB/s: each fills 5 MiB in ~8.1 s
    const perStream = ((1e9 / 86_400) * 1001) / 18;
    const objects = (18 * 2_628_000) / ((5 * MiB) / perStream);
    expect(line(estimate, "ingest", "S3 PUTs (Firehose objects)")).toBeCloseTo((objects * 0.005) / 1000, 4);
    // logs: 800 + 400 + 300 bytes per request at $0.50/GB
    expect(line(estimate, "ingest", "CloudWatch Logs")).toBeCloseTo(
      ((recordsPerMonth * 1500) / BILLING_GB) * 0.5,
      4,
    );
    expect(estimate.shards.shards).toBe(18);
    expect(estimate.ingest.monthly).toBeCloseTo(
      estimate.ingest.lines.reduce((sum, entry) => sum + entry.monthly, 0),
      6,
    );
    expect(estimate.ingest.perMillionRecords).toBeCloseTo(
      estimate.ingest.monthly / (recordsPerMonth / 1e6),
      8,
    );
  });

  it("prices the REST → Firehose baseline with the same Firehose and S3 lines and no Lambda", () => {
    const estimate = estimateCost(input(), US_EAST_1);
    // 333 M × 3.50 + 667 M × 2.80 + 19 B × 2.38 + the rest × 1.51, per million
    const rest = 333 * 3.5 + 667 * 2.8 + 19_000 * 2.38 + (recordsPerMonth / 1e6 - 20_000) * 1.51;
    expect(line(estimate, "baseline", "API Gateway")).toBeCloseTo(rest, 4);
    expect(line(estimate, "baseline", "Firehose ingestion")).toBe(
      line(estimate, "ingest", "Firehose ingestion"),
    );
    expect(estimate.baseline.lines.map((entry) => entry.service)).not.toContain("Lambda requests");
    expect(line(estimate, "baseline", "CloudWatch Logs")).toBeCloseTo(
      ((recordsPerMonth * 300) / BILLING_GB) * 0.5,
      4,
    );
  });

  it("batching 100 records per request divides the per-request lines by 100 and packs Firehose records", () => {
    const single = estimateCost(input(), US_EAST_1);
    const batched = estimateCost(input({ batch: 100 }), US_EAST_1);
    expect(batched.requestsPerMonth).toBeCloseTo(recordsPerMonth / 100, 2);
    // 100 × 1,001 = 100,100 bytes per request → one Firehose record billed 102,400 bytes
    expect(batched.firehoseRecordsPerRequest).toBe(1);
    expect(batched.firehoseBilledBytesPerRequest).toBe(102_400);
    expect(line(batched, "ingest", "Firehose ingestion")).toBeCloseTo(
      (((recordsPerMonth / 100) * 102_400) / BILLING_GB) * 0.029,
      4,
    );
    // 304 M requests: 300 M × $1.00/M + 4.17 M × $0.90/M
    expect(line(batched, "ingest", "API Gateway")).toBeCloseTo(
      300 + (recordsPerMonth / 100 - 300e6) * 0.9e-6,
      4,
    );
    // fixed 1.98 ms + 100 × (0.02 + 700 × 0.00001) ms CPU + 15 ms = 19.68 ms → billed 20 ms
    expect(batched.lambdaMs).toBeCloseTo(1.98 + 100 * 0.027 + 15, 10);
    expect(batched.lambdaBilledMs).toBe(20);
    expect(batched.shards.shards).toBe(7);
    expect(batched.ingest.perMillionRecords).toBeLessThan(single.ingest.perMillionRecords / 10);
  });

  it("with requestLogs false logs only the metrics line and the access log", () => {
    const estimate = estimateCost(input({ requestLogs: false }), US_EAST_1);
    // 350 (EMF) + 0 (no platform lines) + 300 (access log) bytes per request
    expect(line(estimate, "ingest", "CloudWatch Logs")).toBeCloseTo(
      ((recordsPerMonth * 650) / BILLING_GB) * 0.5,
      4,
    );
    expect(
      parseCostArgs(["--records-per-day", "1", "--avg-bytes", "1", "--request-logs", "false"]).input
        .requestLogs,
    ).toBe(false);
  });

  it("meters HTTP API requests in 512 KB steps", () => {
    // 500 lines of 8,001 bytes = 4,000,500 bytes → ceil(4,000,500 / 524,288) = 8 metered requests each
    const estimate = estimateCost(input({ batch: 500, avgRecordBytes: 8000 }), US_EAST_1);
    expect(estimate.httpApiUnitsPerRequest).toBe(8);
    expect(estimate.firehoseRecordsPerRequest).toBe(4);
  });

  it("warns when the rate needs quota raises or more than 50 delivery streams", () => {
    const estimate = estimateCost(input({ recordsPerDay: 1e10, region: "eu-central-1" }), US_EAST_1);
    expect(estimate.shards.shards).toBeGreaterThan(50);
    expect(estimate.warnings.join("\n")).toMatch(/over the shards maximum of 50/);
    expect(estimate.warnings.join("\n")).toMatch(/API Gateway's default account quota/);
    expect(estimate.warnings.join("\n")).toMatch(/Lambda concurrency/);
    const small = estimateCost(input({ recordsPerDay: 1000 }), US_EAST_1);
    expect(small.warnings).toEqual([]);
    expect(small.shards.shards).toBe(1);
    // a nearly idle stream still has one container reading the registry
    expect(line(small, "ingest", "DynamoDB reads")).toBeCloseTo(((2 * 2_628_000) / 30) * 0.125e-6, 8);
  });
});

describe("npm run cost", () => {
  function run(argv: readonly string[]) {
    let stdout = "";
    let stderr = "";
    const code = runCostCli(argv, {
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
    });
    return { code, stdout, stderr };
  }

  it("prints the table, the capacity and what is included", () => {
    const { code, stdout, stderr } = run(["--records-per-day", "1e9", "--avg-bytes", "1000"]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(
      /^Monthly AWS cost: 1,000,000,000 records\/day of 1,000 B, one record per request/,
    );
    expect(stdout).toMatch(/^total +\$[\d,]+\.\d\d +\$\d\.\d\d +\$[\d,]+\.\d\d +\$\d\.\d\d$/m);
    expect(stdout).toContain(
      "delivery streams for one stream (its `shards`): 18 = max(requests 18, records 1, bytes 7)",
    );
    expect(stdout).toContain("Not included: S3 storage");
  });

  it("aligns the table's columns", () => {
    const estimate = estimateCost(
      parseCostArgs(["--records-per-day=1e9", "--avg-bytes=1000", "--batch=100"]).input,
      US_EAST_1,
    );
    const lines = formatEstimate(estimate);
    const start = lines.findIndex((text) => text.startsWith("service"));
    const end = lines.findIndex((text) => text.startsWith("total"));
    const widths = new Set(lines.slice(start, end + 1).map((text) => text.length));
    expect(widths.size).toBe(1);
  });

  it("takes --flag value and --flag=value, underscores and defaults", () => {
    const parsed = parseCostArgs([
      "--records-per-day=1_000_000",
      "--avg-bytes",
      "500",
      "--region",
      "eu-west-1",
    ]);
    expect(parsed.input).toMatchObject({
      recordsPerDay: 1_000_000,
      avgRecordBytes: 500,
      batch: 1,
      region: "eu-west-1",
      peakFactor: 3,
      memoryMb: 1024,
    });
    expect(
      parseCostArgs(["--records-per-day", "1", "--avg-bytes", "1", "--lambda-ms", "20"]).input.lambda
        .overrideMs,
    ).toBe(20);
  });

  it.each([
    [["--avg-bytes", "1000"], "--records-per-day is required"],
    [["--records-per-day", "1e9"], "--avg-bytes is required"],
    [["--records-per-day", "lots", "--avg-bytes", "1000"], '--records-per-day must be a number; got "lots"'],
    [["--records-per-day", "0", "--avg-bytes", "1000"], "--records-per-day must be from 1 to"],
    [
      ["--records-per-day", "1e9", "--avg-bytes", "260097"],
      "--avg-bytes must be a whole number from 1 to 260,096",
    ],
    [
      ["--records-per-day", "1e9", "--avg-bytes", "1000", "--batch", "501"],
      "--batch must be a whole number from 1 to 500",
    ],
    [["--records-per-day", "1e9", "--avg-bytes", "1000", "--batch", "2.5"], "--batch must be a whole number"],
    [
      ["--records-per-day", "1e9", "--avg-bytes", "100000", "--batch", "100"],
      "--batch 100 × 100001 bytes per line is over the batch limit of 4,194,304 bytes; use at most --batch 41",
    ],
    [
      ["--records-per-day", "1e9", "--avg-bytes", "1000", "--region", "Mars"],
      "--region must be an AWS region name",
    ],
    [
      ["--records-per-day", "1e9", "--avg-bytes", "1000", "--peak-factor", "0.5"],
      "--peak-factor must be from 1",
    ],
    [["--records-per-day", "1e9", "--avg-bytes", "1000", "--speed", "9"], "unknown option --speed"],
    [["--records-per-day", "--avg-bytes", "1000"], "--records-per-day needs a value"],
    [["1e9"], 'unexpected argument "1e9"'],
    [
      ["--records-per-day", "1e9", "--avg-bytes", "1000", "--request-logs", "no"],
      '--request-logs must be true or false; got "no"',
    ],
  ])("refuses %j with exit 2", (argv, message) => {
    const { code, stdout, stderr } = run(argv);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain(`error: ${message}`);
    expect(stderr).toContain("usage: npm run cost");
  });

  it("prints the usage for --help and the estimate as JSON for --json", () => {
    expect(run(["--help"])).toMatchObject({ code: 0, stderr: "" });
    expect(run(["--help"]).stdout).toContain("--records-per-day N");
    const { code, stdout } = run(["--records-per-day", "1e9", "--avg-bytes", "1000", "--json"]);
    expect(code).toBe(0);
    const parsed = JSON.parse(stdout) as { shards: { shards: number }; ingest: { monthly: number } };
    expect(parsed.shards.shards).toBe(18);
    expect(parsed.ingest.monthly).toBeGreaterThan(0);
  });
});

describe("the stack numbers the model uses", () => {
  it("match lib/ingest-function.ts (memory size, registry cache TTL)", () => {
    const source = readFileSync(join(__dirname, "../../lib/ingest-function.ts"), "utf8");
    expect(source).toContain(`memorySize: ${INGEST_MEMORY_MB},`);
    expect(source).toContain(`props.registryCacheTtlSeconds ?? ${REGISTRY_CACHE_TTL_SECONDS};`);
  });
});

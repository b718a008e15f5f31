/** What the synthesized stack hands over: its outputs (the CLI's contract) and the bundled ingest Lambda. */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import { resolved, synthesizeStack } from "../helpers/cdk.js";

const CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const OUTPUT_IDS = [
  "AlarmTopicArn",
  "ApiKeysTableName",
  "ApiUrl",
  "DashboardName",
  "DeliveryBucketName",
  "StreamsTableName",
  "TokenAudience",
  "TokenIssuer",
  "TokenSigningKeyArn",
];

// The one synthesis of the suite that runs esbuild: the bundle itself is under test here.
const { app, stack, template } = synthesizeStack(
  { tokenSigningKeyGenerations: ["v1", "v2"] },
  "ArtifactsTest",
  {
    bundle: true,
  },
);
const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
const r = (value: unknown) => resolved(stack, value);

describe("stack outputs", () => {
  it("are exactly the contract's ids (defined on the stack, so OutputKey = id)", () => {
    expect(Object.keys(outputs).sort()).toEqual(OUTPUT_IDS);
  });

  it("name the tables, the bucket, the dashboard and the alarm topic", () => {
    expect(outputs.StreamsTableName?.Value).toEqual(r(stack.registry.streams.tableName));
    expect(outputs.ApiKeysTableName?.Value).toEqual(r(stack.registry.apiKeys.tableName));
    expect(outputs.DeliveryBucketName?.Value).toEqual(r(stack.storage.bucket.bucketName));
    expect(outputs.DashboardName?.Value).toEqual(r(stack.monitoring.dashboard.dashboard.dashboardName));
    expect(outputs.AlarmTopicArn?.Value).toEqual(r(stack.monitoring.alarmTopic.topicArn));
    expect(outputs.ApiUrl?.Value).toEqual(r(stack.api.url));
  });

  it("give the key that signs new tokens: the last generation", () => {
    expect(outputs.TokenSigningKeyArn?.Value).toEqual(r(stack.signingKeys.keys[1]?.keyArn));
  });

  it("give the token issuer urn:streaming-ingest:<region>:<account>:<stack> and audience streaming-ingest", () => {
    expect(outputs.TokenIssuer?.Value).toEqual({
      "Fn::Join": [
        "",
        ["urn:streaming-ingest:", { Ref: "AWS::Region" }, ":", { Ref: "AWS::AccountId" }, ":ArtifactsTest"],
      ],
    });
    expect(outputs.TokenAudience?.Value).toBe("streaming-ingest");
  });

  it("add CustomDomainTarget, and only then, when a custom domain is set", () => {
    const custom = synthesizeStack(
      { domainName: "ingest.example.com", certificateArn: CERTIFICATE_ARN },
      "DomainTest",
    );
    const customOutputs = custom.template.toJSON().Outputs;
    expect(Object.keys(customOutputs).sort()).toEqual([...OUTPUT_IDS, "CustomDomainTarget"].sort());
    expect(customOutputs.CustomDomainTarget.Value).toEqual(
      custom.stack.resolve(custom.stack.api.domainName?.regionalDomainName),
    );
    custom.template.resourceCountIs("AWS::ApiGatewayV2::DomainName", 1);
    template.resourceCountIs("AWS::ApiGatewayV2::DomainName", 0);
  });
});

describe("stack composition", () => {
  it("watches the real resources: ten alarms on the topic, e.g. Errors of the deployed ingest function", () => {
    template.resourceCountIs("AWS::CloudWatch::Alarm", 10);
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: r(stack.ingest.function.functionName) }],
      AlarmActions: [r(stack.monitoring.alarmTopic.topicArn)],
    });
  });

  it("routes the API to the deployed ingest function", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Integration", {
      IntegrationUri: r(stack.ingest.function.functionArn),
      PayloadFormatVersion: "2.0",
    });
  });
});

describe("ingest Lambda bundle", () => {
  const cfnFunction = stack.ingest.function.node.defaultChild as CfnFunction;
  const code = template.toJSON().Resources[stack.getLogicalId(cfnFunction)].Properties.Code;
  const assetDir = join(app.outdir, `asset.${String(code.S3Key).replace(/\.zip$/, "")}`);
  const bundle = readFileSync(join(assetDir, "index.js"), "utf8");

  it("holds only the minified index.js and its source map", () => {
    expect(readdirSync(assetDir).sort()).toEqual(["index.js", "index.js.map"]);
    // Minified: no indentation, so the only line breaks left are inside multi-line string literals.
    expect(bundle.length / bundle.split("\n").length).toBeGreaterThan(5000);
    expect(bundle).not.toMatch(/\n {2,}(const|let|var|function|return|if) /);
  });

  it("links to a source map with mappings but without the sources' text", () => {
    expect(bundle.trimEnd().endsWith("//# sourceMappingURL=index.js.map")).toBe(true);
    const map = JSON.parse(readFileSync(join(assetDir, "index.js.map"), "utf8")) as {
      version: number;
      sources: string[];
      mappings: string;
      sourcesContent?: unknown;
    };
    expect(map.version).toBe(3);
    expect(map.mappings.length).toBeGreaterThan(1000);
    expect(map.sources).toEqual(
      expect.arrayContaining([expect.stringMatching(/lambda\/aws\/ingest-entry\.ts$/)]),
    );
    expect(map.sourcesContent).toBeUndefined();
  });

  it("leaves the native cbor-extract out (cbor-x falls back to pure JS)", () => {
    expect(bundle).not.toContain("node-gyp-build");
    expect(map().sources.some((source) => source.includes("node_modules/cbor-extract/"))).toBe(false);
    expect(readdirSync(assetDir).some((file) => file.endsWith(".node"))).toBe(false);
  });

  it("loads without any node_modules and exports handler", () => {
    const isolated = mkdtempSync(join(tmpdir(), "ingest-bundle-"));
    try {
      copyFileSync(join(assetDir, "index.js"), join(isolated, "index.js"));
      const exported = execFileSync(
        process.execPath,
        ["-e", "process.stdout.write(typeof require('./index.js').handler)"],
        {
          cwd: isolated,
          env: {
            PATH: process.env.PATH,
            AWS_REGION: "eu-west-1",
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
          },
          encoding: "utf8",
        },
      );
      expect(exported).toBe("function");
    } finally {
      rmSync(isolated, { recursive: true, force: true });
    }
  });

  it("stays under 1.5 MiB of code (a guard against bundling something big by accident)", () => {
    // ≈ 0.85 MB today: the core, Powertools and the bundled SDK clients (DynamoDB, Firehose, KMS).
    expect(statSync(join(assetDir, "index.js")).size).toBeLessThan(1.5 * 1024 * 1024);
  });

  function map(): { sources: string[] } {
    return JSON.parse(readFileSync(join(assetDir, "index.js.map"), "utf8"));
  }
});

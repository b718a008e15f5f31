/** cdk-nag's AwsSolutions pack over the whole stack: no unacknowledged error or warning, in every shape. */
import { Stack, Validations } from "aws-cdk-lib";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Bucket } from "aws-cdk-lib/aws-s3";
import { AwsSolutionsChecks } from "cdk-nag";
import { acknowledgeWildcardResources } from "../../lib/nag-acknowledgements.js";
import { StreamingIngestStack, type StreamingIngestStackProps } from "../../lib/streaming-ingest-stack.js";
import { testApp } from "../helpers/cdk.js";

/** The pack's findings for `stack` after synthesis, as "rule (severity) at path" lines. */
function findings(stack: Stack): string[] {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
  return report.violations.flatMap((violation) =>
    violation.violatingResources.map(
      (resource) =>
        `${violation.ruleName} (${violation.severity}) at ${resource.constructPath}: ${violation.description}`,
    ),
  );
}

const SHAPES: [string, StreamingIngestStackProps][] = [
  ["the default stack", {}],
  [
    "a stack with every option set",
    {
      domainName: "ingest.example.com",
      certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
      alarmEmail: "ops@example.com",
      dataRetentionDays: 400,
      tokenSigningKeyGenerations: ["v1", "v2"],
      deliveryStreamPrefix: "ingest-prod",
    },
  ],
  // With a concrete env the ARNs hold literals instead of pseudo parameters: the exact IAM5 findings differ.
  ["a stack bound to an account and region", { env: { account: "123456789012", region: "eu-west-1" } }],
];

describe.each(SHAPES)("AwsSolutions checks on %s", (_shape, props) => {
  it("report no error and no warning (each finding printed on failure)", () => {
    const app = testApp();
    const stack = new StreamingIngestStack(app, "NagTest", props);
    app.synth();
    expect(findings(stack)).toEqual([]);
  });

  it("let the app synthesize with the pack registered as a validation plugin, as bin/cdk-app.ts does", () => {
    const app = testApp();
    new StreamingIngestStack(app, "NagTest", props);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
    expect(() => app.synth()).not.toThrow();
  });
});

describe("the checks themselves (control: they do find problems)", () => {
  const app = testApp();
  const stack = new Stack(app, "ControlStack");
  new Bucket(stack, "OpenBucket");
  const role = new Role(stack, "WideRole", { assumedBy: new ServicePrincipal("lambda.amazonaws.com") });
  role.addToPrincipalPolicy(new PolicyStatement({ actions: ["s3:*"], resources: ["*"] }));
  // Acknowledging one exact wildcard resource must not hide the wildcard action next to it.
  acknowledgeWildcardResources(role, ["*"], "control: the resource wildcard only");
  app.synth();
  const found = findings(stack).map((line) => line.split(" (")[0]);

  it("flag a bucket without TLS enforcement or access logs", () => {
    expect(found).toEqual(expect.arrayContaining(["AwsSolutions-S1", "AwsSolutions-S10"]));
  });

  it("flag a wildcard action even when the resource wildcard is acknowledged", () => {
    expect(found).toContain("AwsSolutions-IAM5[Action::s3:*]");
    expect(found).not.toContain("AwsSolutions-IAM5[Resource::*]");
  });

  it("fail the synthesis when registered as a plugin", () => {
    const failing = testApp();
    new Bucket(new Stack(failing, "FailingStack"), "OpenBucket");
    Validations.of(failing).addPlugins(new AwsSolutionsChecks(failing));
    expect(() => failing.synth()).toThrow(/AwsSolutions-S10/);
  });
});

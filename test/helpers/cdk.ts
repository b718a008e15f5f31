/**
 * CDK test helpers: apps built with the same context (feature flags) as cdk.json, synthesized without the
 * built-in CloudFormation validation (≈3 s each; CI's real `cdk synth` keeps it on), and IAM statement readers.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { CfnRole, IRole } from "aws-cdk-lib/aws-iam";
import { BUNDLING_STACKS } from "aws-cdk-lib/cx-api";
import { findRepoRoot } from "../../lib/project-paths.js";
import { StreamingIngestStack, type StreamingIngestStackProps } from "../../lib/streaming-ingest-stack.js";

/** The `context` of cdk.json: feature flags and the app's documented defaults. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(findRepoRoot(__dirname), "cdk.json"), "utf8")) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** Options of {@link testApp}. */
export interface TestAppOptions {
  /**
   * Run esbuild for the Lambdas. Off, the CDK stages a placeholder asset instead (context
   * `aws:cdk:bundling-stacks` = []): same template, a second faster. Only bundle tests need the real asset.
   * @default false
   */
  readonly bundle?: boolean;
}

/** An App like the real one (cdk.json context), minus the slow built-in template validation. */
export function testApp(options: TestAppOptions = {}): App {
  const context = { ...cdkJsonContext(), ...(options.bundle ? {} : { [BUNDLING_STACKS]: [] }) };
  return new App({ context, builtinCloudFormationValidation: false });
}

/** An empty stack in a test app, for testing one construct at a time (no Lambda bundling). */
export function bareStack(id = "TestStack"): Stack {
  return new Stack(testApp(), id);
}

/** A synthesized Streaming Ingest stack. */
export interface SynthesizedStack {
  readonly app: App;
  readonly stack: StreamingIngestStack;
  readonly template: Template;
}

/** Builds and synthesizes the whole stack (with `bundle`, esbuild bundles both Lambdas: ≈1–2 s more). */
export function synthesizeStack(
  props: StreamingIngestStackProps = {},
  id = "IngestTest",
  options: TestAppOptions = {},
): SynthesizedStack {
  const app = testApp(options);
  const stack = new StreamingIngestStack(app, id, props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** One IAM statement as synthesized, with Action and Resource always lists. */
export interface Statement {
  readonly Effect: string;
  readonly Action: string[];
  readonly Resource: unknown[];
  readonly Condition?: Record<string, unknown>;
}

/** Every statement of every AWS::IAM::Policy attached to `role` (the inline DefaultPolicy and friends). */
export function statementsOf(template: Template, role: IRole): Statement[] {
  const stack = Stack.of(role);
  const roleId = stack.getLogicalId(role.node.defaultChild as CfnRole);
  const policies = template.findResources("AWS::IAM::Policy");
  const statements: Statement[] = [];
  for (const policy of Object.values(policies)) {
    const properties = policy.Properties as {
      Roles: unknown[];
      PolicyDocument: { Statement: Record<string, unknown>[] };
    };
    if (!properties.Roles.some((ref) => JSON.stringify(ref) === JSON.stringify({ Ref: roleId }))) continue;
    for (const statement of properties.PolicyDocument.Statement) {
      statements.push({
        Effect: statement.Effect as string,
        Action: asList(statement.Action) as string[],
        Resource: asList(statement.Resource),
        Condition: statement.Condition as Record<string, unknown> | undefined,
      });
    }
  }
  return statements;
}

/** The resources `role` may use `action` on (across all its statements). */
export function resourcesFor(statements: readonly Statement[], action: string): unknown[] {
  return statements
    .filter((s) => s.Effect === "Allow" && s.Action.includes(action))
    .flatMap((s) => s.Resource);
}

/** All actions `role` is allowed, sorted. */
export function allowedActions(statements: readonly Statement[]): string[] {
  return [...new Set(statements.filter((s) => s.Effect === "Allow").flatMap((s) => s.Action))].sort();
}

/** A token or ARN as it appears in the template (e.g. `{ "Fn::GetAtt": [...] }`). */
export function resolved(stack: Stack, value: unknown): unknown {
  return stack.resolve(value);
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

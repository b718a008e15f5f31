/**
 * cdk-nag (v3, a CDK policy-validation plugin) acknowledgements, recorded on the construct they concern.
 * IAM5 findings name the exact wildcard resource, spelled the way cdk-nag spells it, so a new wildcard still fails.
 */
import { Stack, Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/** Acknowledges AwsSolutions-`rule` on `scope` and everything below it, with the reason it is acceptable. */
export function acknowledgeRule(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-${rule}`, reason });
}

/**
 * Acknowledges AwsSolutions-IAM5 for exactly these wildcard resources (ARNs, tokens allowed) of the policies
 * at or below `scope`; a wildcard on any other resource or action is still reported.
 */
export function acknowledgeWildcardResources(
  scope: IConstruct,
  resources: readonly string[],
  reason: string,
): void {
  for (const resource of resources) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceSpelling(scope, resource)}]`,
      reason,
    });
  }
}

/**
 * A resource ARN as cdk-nag prints it in a finding: intrinsics flattened, `Ref` as `<Name>`, `Fn::GetAtt` as
 * `<LogicalId.Attribute>` (the same rules as cdk-nag's flattenCfnReference).
 */
export function nagResourceSpelling(scope: IConstruct, resource: string): string {
  return flatten(Stack.of(scope).resolve(resource));
}

function flatten(node: unknown): string {
  if (node === undefined) return "";
  if (typeof node === "string") return node.replace(/\$\{/g, "<").replace(/\}/g, ">");
  if (isRecord(node)) {
    const join = node["Fn::Join"];
    if (Array.isArray(join)) {
      const [delimiter, items] = join as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if ("Fn::Sub" in node) return flatten(node["Fn::Sub"]);
    const getAtt = node["Fn::GetAtt"];
    if (Array.isArray(getAtt)) return `<${flatten(getAtt[0])}.${flatten(getAtt[1])}>`;
    if ("Fn::ImportValue" in node) return flatten(node["Fn::ImportValue"]);
    if ("Ref" in node) return `<${flatten(node.Ref)}>`;
  }
  return JSON.stringify(node);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

import { CfnResource } from 'aws-cdk-lib';

/**
 * cdk-nag acknowledgments written as plain construct metadata, so the library needs no runtime
 * dependency on cdk-nag (nor on `Validations`, which aws-cdk-lib only has from 2.257 on).
 *
 * Two readers exist, and both are written:
 * - cdk-nag v2 (an Aspect) reads the CloudFormation metadata key `cdk_nag` of the resource:
 *   `{ rules_to_suppress: [{ id, reason, applies_to? }] }`; a finding of a granular rule
 *   (such as IAM5) is named in `applies_to`.
 * - cdk-nag v3 (a policy validation plugin) reads the construct metadata that
 *   `Validations.of(resource).acknowledge({ id, reason })` records: type
 *   `aws:cdk:acknowledged-rules`, data `{ 'Annotation::<id>': reason }`; a finding of a granular
 *   rule is part of the id: `AwsSolutions-IAM5[Resource::*]`.
 *
 * Acknowledgments go on the one CfnResource that has the finding, never on a parent: cdk-nag
 * v3 applies an acknowledgment to everything below the construct that carries it.
 */

/** One rule acknowledged on one resource. */
export interface NagAcknowledgment {
  /** Rule id, e.g. `AwsSolutions-CB4`. */
  readonly id: string;
  /** Why the finding is acceptable, stating a concrete fact. */
  readonly reason: string;
  /**
   * For a rule that reports findings (IAM5): exactly the findings acknowledged, e.g. `Resource::*`.
   * Other findings of the same rule on the same resource stay reported.
   */
  readonly findings?: string[];
}

/** CloudFormation metadata key read by cdk-nag v2. */
export const CDK_NAG_METADATA_KEY = 'cdk_nag';

/** Construct metadata type of `Validations.ACKNOWLEDGED_RULES_METADATA_KEY` (aws-cdk-lib 2.257+), read by cdk-nag v3. */
export const ACKNOWLEDGED_RULES_METADATA_KEY = 'aws:cdk:acknowledged-rules';

/** Records the acknowledgments on the resource, in the forms cdk-nag v2 and v3 read. Keeps earlier ones. */
export function acknowledgeNagRules(resource: CfnResource, rules: NagAcknowledgment[]): void {
  const existing: unknown[] = resource.getMetadata(CDK_NAG_METADATA_KEY)?.rules_to_suppress ?? [];
  const added = rules.map((rule) => ({
    id: rule.id,
    reason: rule.reason,
    ...(rule.findings ? { applies_to: [...rule.findings] } : {}),
  }));
  resource.addMetadata(CDK_NAG_METADATA_KEY, { rules_to_suppress: [...existing, ...added] });

  for (const rule of rules) {
    const ids = rule.findings ? rule.findings.map((finding) => `${rule.id}[${finding}]`) : [rule.id];
    for (const id of ids) {
      resource.node.addMetadata(ACKNOWLEDGED_RULES_METADATA_KEY, { [`Annotation::${id}`]: rule.reason });
    }
  }
}

/**
 * A resolved CloudFormation value as cdk-nag names it in a finding: `Ref` becomes `<Id>`,
 * `Fn::GetAtt` `<Id.Attr>`, `Fn::Join` is joined, and `${` / `}` of `Fn::Sub` become `<` / `>`.
 */
export function nagFlatten(value: unknown): string {
  if (value === undefined) {
    return '';
  }
  if (typeof value === 'string') {
    return value.replace(/\${/g, '<').replace(/}/g, '>');
  }
  const node = value as Record<string, any>;
  if (node['Fn::Join']) {
    const [delimiter, items] = node['Fn::Join'];
    return (items as unknown[]).map(nagFlatten).join(delimiter);
  }
  if (node['Fn::Sub']) {
    return nagFlatten(node['Fn::Sub']);
  }
  if (node['Fn::GetAtt']) {
    const [id, attribute] = node['Fn::GetAtt'];
    return `<${nagFlatten(id)}.${nagFlatten(attribute)}>`;
  }
  if (node['Fn::ImportValue']) {
    return nagFlatten(node['Fn::ImportValue']);
  }
  if (node.Ref) {
    return `<${nagFlatten(node.Ref)}>`;
  }
  return JSON.stringify(value);
}

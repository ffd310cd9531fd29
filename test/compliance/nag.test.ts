import { Aspects, CfnResource, Stack, Validations, aws_iam as iam, aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import * as nagV2 from 'cdk-nag-v2';
import * as fc from 'fast-check';
import { BuildSecret } from '../../src';
import { NAG_REASONS } from '../../src/compliance';
import { ACKNOWLEDGED_RULES_METADATA_KEY, CDK_NAG_METADATA_KEY, acknowledgeNagRules, nagFlatten } from '../../src/nag';
import { CASES, ENV, GITHUB, describeViolations, newKey, pipelineWith, stackOf, synth, logicalIdOf, testWithNagV3 } from '../helpers/compliance-cases';


/** The fact each acknowledgment's reason must state, by the acknowledged finding (`<logical id> | <rule>[<finding>]`); first match. */
const REASON_FACTS: Array<[(key: string) => boolean, string]> = [
  [(k) => k.includes('PutMetricsPolicy') && k.includes('[Resource::*]'), 'cloudwatch:PutMetricData supports no resource-level permissions'],
  [(k) => k.includes('PolicyDocument') && k.includes('[Resource::*]'), 'DescribeVpcs support no resource-level permissions'],
  [(k) => k.includes(':network-interface/*]'), 'limited by conditions to the build\'s subnets'],
  [(k) => k.includes('[Resource::*]'), 'ecr:GetAuthorizationToken supports no resource-level permissions'],
  [(k) => k.includes(':log-group:/aws/codebuild/'), 'default log group /aws/codebuild/<project name>'],
  [(k) => k.includes('[Action::kms:'), 'on the one encryptionKey'],
  [(k) => k.endsWith('AwsSolutions-CB4'), '(alias/aws/s3)'],
];

describe('cdk-nag AwsSolutions finds nothing unacknowledged', () => {
  testWithNagV3.each(CASES.map((c) => [c.name, c] as const))('cdk-nag v3: %s', (_name, c) => {
    // GIVEN
    const { app } = stackOf(c);

    // WHEN
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app);

    // THEN: neither errors nor warnings
    expect(describeViolations(report.violations)).toEqual([]);
    expect(report.success).toBe(true);
  });

  testWithNagV3.each(CASES.map((c) => [c.name, c] as const))('cdk-nag v3 as a validation plugin, synthesized: %s', (_name, c) => {
    // GIVEN
    const { app } = stackOf(c);

    // WHEN
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // THEN: a violation of any severity would interrupt synthesis
    expect(() => app.synth()).not.toThrow();
  });

  test.each(CASES.map((c) => [c.name, c] as const))('cdk-nag v2 (Aspect), no error or warning annotation: %s', (_name, c) => {
    // GIVEN
    const { app, stack } = stackOf(c);

    // WHEN
    Aspects.of(app).add(new nagV2.AwsSolutionsChecks({ verbose: true, reports: false }));
    app.synth();

    // THEN
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });

  testWithNagV3('the checks do fail on a finding: a wildcard statement a user adds to the project role is reported', () => {
    // GIVEN
    const { app, build } = stackOf(CASES[0]);

    // WHEN
    build.project.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));

    // THEN: our Resource::* acknowledgment is on the ECR login policy only
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(describeViolations(report.violations)).toEqual([
      'error: TestStack/Api/Project/Role/DefaultPolicy/Resource: AwsSolutions-IAM5[Resource::*]',
    ]);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5\[Resource::\*\]/);
  });

  testWithNagV3.each([
    ['imported by name', (s: Stack) => secretsmanager.Secret.fromSecretNameV2(s, 'Npm', 'ci/npmrc'), 'secret:ci/npmrc*'],
    ['imported by complete ARN', (s: Stack) => secretsmanager.Secret.fromSecretCompleteArn(s, 'Npm',
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/npmrc-AbCdEf'), 'secret:ci/npmrc-AbCdEf*'],
  ])('a Secrets Manager build secret %s: codebuild.Project\'s grant on <secret>* is reported, not acknowledged', (_name, secret, finding) => {
    // GIVEN: CodeBuild's SECRETS_MANAGER variables make codebuild.Project grant secretsmanager:GetSecretValue
    // on the secret's ARN followed by "*", which matches other secrets whose names start alike
    const { app } = stackOf({ name: '', props: (s) => ({ buildSecrets: { npmrc: BuildSecret.fromSecretsManager(secret(s)) } }), env: ENV });

    // WHEN
    const report = new AwsSolutionsChecks().validateScope(app);

    // THEN
    expect(describeViolations(report.violations)).toEqual([
      `error: TestStack/Api/Project/Role/DefaultPolicy/Resource: AwsSolutions-IAM5[Resource::arn:${finding.startsWith('secret:ci/npmrc*') ? '<AWS::Partition>' : 'aws'}` +
        `:secretsmanager:us-east-1:123456789012:${finding}]`,
    ]);
  });

  testWithNagV3('a Secrets Manager build secret defined in the app adds no finding to the build', () => {
    // GIVEN
    const { app } = stackOf({
      name: '',
      props: (s) => ({ buildSecrets: { npmrc: BuildSecret.fromSecretsManager(new secretsmanager.Secret(s, 'Npm')) } }),
      env: ENV,
    });

    // WHEN
    const report = new AwsSolutionsChecks().validateScope(app);

    // THEN: only the secret's own finding (no rotation), which is the app's
    expect(describeViolations(report.violations)).toEqual(['error: TestStack/Npm/Resource: AwsSolutions-SMG4']);
  });

  testWithNagV3('in a pipeline, the pipeline\'s grants to the project role are reported, not covered by the construct\'s acknowledgments', () => {
    // GIVEN
    const { app, stack, build } = stackOf({ name: '', props: (s) => ({ encryptionKey: newKey(s) }), env: ENV });

    // WHEN
    pipelineWith(stack, build);

    // THEN: the artifact bucket and key grants of CodeBuildAction stay findings of the role's default policy
    const report = new AwsSolutionsChecks().validateScope(app);
    const ours = describeViolations(report.violations).filter((v) => v.includes('TestStack/Api/'));
    expect(ours).toEqual(expect.arrayContaining([
      'error: TestStack/Api/Project/Role/DefaultPolicy/Resource: AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
      'error: TestStack/Api/Project/Role/DefaultPolicy/Resource: AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      'error: TestStack/Api/Project/Role/DefaultPolicy/Resource: AwsSolutions-IAM5[Resource::<PipelineArtifactsBucket22248F97.Arn>/*]',
    ]));
    expect(ours.filter((v) => !v.includes('/Project/Role/DefaultPolicy/Resource: AwsSolutions-IAM5['))).toEqual([]);
  });
});

/** Every acknowledgment in the stack, in the cdk-nag v2 form: 'resource logical id | rule[finding]' -> reason. */
function v2Acknowledgments(template: Template): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [logicalId, resource] of Object.entries<any>(template.toJSON().Resources)) {
    for (const rule of resource.Metadata?.[CDK_NAG_METADATA_KEY]?.rules_to_suppress ?? []) {
      for (const finding of rule.applies_to ?? ['']) {
        const key = `${logicalId} | ${rule.id}${finding ? `[${finding}]` : ''}`;
        expect(out).not.toHaveProperty([key]);
        out[key] = rule.reason;
      }
    }
  }
  return out;
}

/** Every acknowledgment in the construct tree, in the cdk-nag v3 / CDK Validations form, keyed like v2Acknowledgments. */
function v3Acknowledgments(stack: Stack): Record<string, string> {
  const out: Record<string, string> = {};
  for (const construct of stack.node.findAll()) {
    for (const entry of construct.node.metadata.filter((m) => m.type === ACKNOWLEDGED_RULES_METADATA_KEY)) {
      // Only on CloudFormation resources: cdk-nag v3 applies an acknowledgment to everything below its construct.
      expect(CfnResource.isCfnResource(construct)).toBe(true);
      for (const [id, reason] of Object.entries<string>(entry.data)) {
        expect(id.startsWith('Annotation::')).toBe(true);
        out[`${stack.getLogicalId(construct as CfnResource)} | ${id.substring('Annotation::'.length)}`] = reason;
      }
    }
  }
  return out;
}


describe('acknowledgments', () => {
  test.each([
    { kind: 'pipeline project', withKey: false, withSource: false, metrics: true },
    { kind: 'pipeline project', withKey: true, withSource: false, metrics: true },
    { kind: 'standalone project', withKey: false, withSource: true, metrics: true },
    { kind: 'standalone project', withKey: true, withSource: true, metrics: true },
    { kind: 'pipeline project without metrics', withKey: false, withSource: false, metrics: false },
  ])('are exactly these, each on the one resource with the finding: $kind, encryptionKey: $withKey', ({ withKey, withSource, metrics }) => {
    // WHEN
    const { stack, template } = synth((s) => ({
      ...(withKey ? { encryptionKey: newKey(s) } : {}),
      ...(withSource ? { source: GITHUB() } : {}),
      ...(metrics ? {} : { metrics: false }),
    }));

    // THEN
    const policy = (name: string) => {
      const ids = Object.keys(template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp(name) } }));
      expect(ids.length).toBeLessThanOrEqual(1);
      return ids[0];
    };
    const project = logicalIdOf(template, 'AWS::CodeBuild::Project');
    const expected: Record<string, string> = {
      [`${policy('EcrLogin')} | AwsSolutions-IAM5[Resource::*]`]: NAG_REASONS.ecrLogin,
      [`${policy('DefaultPolicy')} | AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:us-east-1:123456789012:log-group:/aws/codebuild/<${project}>:*]`]:
        NAG_REASONS.defaultLogGroup,
    };
    if (metrics) {
      expected[`${policy('PutMetricsPolicy')} | AwsSolutions-IAM5[Resource::*]`] = NAG_REASONS.putMetrics;
    } else {
      expect(policy('PutMetricsPolicy')).toBeUndefined();
    }
    if (withKey && withSource) {
      expected[`${policy('EncryptionKeyPolicy')} | AwsSolutions-IAM5[Action::kms:ReEncrypt*]`] = NAG_REASONS.kmsWildcards;
      expected[`${policy('EncryptionKeyPolicy')} | AwsSolutions-IAM5[Action::kms:GenerateDataKey*]`] = NAG_REASONS.kmsWildcards;
    } else {
      expect(policy('EncryptionKeyPolicy')).toBeUndefined();
      expected[`${project} | AwsSolutions-CB4`] = withSource ? NAG_REASONS.noProjectKey : NAG_REASONS.pipelineProjectKey;
    }
    expect(v2Acknowledgments(template)).toEqual(expected);
    expect(v3Acknowledgments(stack)).toEqual(expected);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('each has a reason that states a concrete fact: %s', (_name, c) => {
    // GIVEN
    const { stack } = stackOf(c);

    // THEN
    const acknowledgments = Object.entries(v2Acknowledgments(Template.fromStack(stack)));
    expect(acknowledgments.length).toBeGreaterThan(0);
    for (const [key, reason] of acknowledgments) {
      expect(reason.length).toBeGreaterThanOrEqual(100);
      // The fact behind each: the action, resource or key setting the finding is about.
      const fact = REASON_FACTS.find(([applies]) => applies(key))?.[1];
      expect({ key, fact }).toEqual({ key, fact: expect.any(String) });
      expect(reason).toContain(fact);
      // cdk-nag v2 base64-encodes reasons with characters above U+00FF; keep them readable.
      expect(/^[\x20-\x7e]+$/.test(reason)).toBe(true);
    }
  });

  test.each(CASES.map((c) => [c.name, c] as const))('none is stale: cdk-nag v2 uses every acknowledgment the construct adds: %s', (_name, c) => {
    // GIVEN
    const { app, stack } = stackOf(c);
    const used = new Set<string>();
    const logger: nagV2.INagLogger = {
      onCompliance: () => {},
      onNonCompliance: () => {},
      onSuppressed: (data) => used.add(`${stack.getLogicalId(data.resource)} | ${data.ruleId}${data.findingId ? `[${data.findingId}]` : ''}`),
      onError: () => {},
      onSuppressedError: () => {},
      onNotApplicable: () => {},
    };

    // WHEN
    Aspects.of(app).add(new nagV2.AwsSolutionsChecks({ reports: false, additionalLoggers: [logger] }));
    app.synth();

    // THEN
    expect([...used].sort()).toEqual(Object.keys(v2Acknowledgments(Template.fromStack(stack))).sort());
  });

  testWithNagV3('are recorded as Validations.of(resource).acknowledge() records them (cdk-nag v3)', () => {
    // GIVEN
    const stack = new Stack();
    const ours = new CfnResource(stack, 'Ours', { type: 'AWS::Test::Thing' });
    const cdks = new CfnResource(stack, 'Cdks', { type: 'AWS::Test::Thing' });

    // WHEN
    acknowledgeNagRules(ours, [
      { id: 'AwsSolutions-CB4', reason: 'reason one, long enough' },
      { id: 'AwsSolutions-IAM5', reason: 'reason two, long enough', findings: ['Resource::*', 'Action::kms:ReEncrypt*'] },
    ]);
    Validations.of(cdks).acknowledge(
      { id: 'AwsSolutions-CB4', reason: 'reason one, long enough' },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'reason two, long enough' },
      { id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason: 'reason two, long enough' },
    );

    // THEN
    const entries = (r: CfnResource) => r.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .map((m) => m.data);
    expect(ACKNOWLEDGED_RULES_METADATA_KEY).toEqual(Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
    expect(entries(ours)).toEqual(entries(cdks));
  });

  test('are recorded as NagSuppressions.addResourceSuppressions() records them (cdk-nag v2), keeping earlier ones', () => {
    // GIVEN
    const stack = new Stack();
    const ours = new CfnResource(stack, 'Ours', { type: 'AWS::Test::Thing' });
    const v2s = new CfnResource(stack, 'V2s', { type: 'AWS::Test::Thing' });
    const earlier = { id: 'AwsSolutions-S1', reason: 'an earlier suppression from elsewhere' };
    ours.addMetadata(CDK_NAG_METADATA_KEY, { rules_to_suppress: [earlier] });
    nagV2.NagSuppressions.addResourceSuppressions(v2s, [earlier]);

    // WHEN
    acknowledgeNagRules(ours, [{ id: 'AwsSolutions-IAM5', reason: 'reason two, long enough', findings: ['Resource::*'] }]);
    nagV2.NagSuppressions.addResourceSuppressions(v2s, [{ id: 'AwsSolutions-IAM5', reason: 'reason two, long enough', appliesTo: ['Resource::*'] }]);

    // THEN
    expect(ours.getMetadata(CDK_NAG_METADATA_KEY)).toEqual(v2s.getMetadata(CDK_NAG_METADATA_KEY));
  });

  test('a user acknowledgment added later with cdk-nag v2 keeps the construct\'s', () => {
    // GIVEN
    const { stack, build } = stackOf(CASES[0]);
    const project = build.project.node.defaultChild as CfnResource;

    // WHEN
    nagV2.NagSuppressions.addResourceSuppressions(project, [{ id: 'AwsSolutions-CB5', reason: 'a user reason for a custom image' }]);

    // THEN
    const template = Template.fromStack(stack);
    expect(template.toJSON().Resources[stack.getLogicalId(project)].Metadata.cdk_nag.rules_to_suppress).toEqual([
      { id: 'AwsSolutions-CB4', reason: NAG_REASONS.pipelineProjectKey },
      { id: 'AwsSolutions-CB5', reason: 'a user reason for a custom image' },
    ]);
  });

  test('finding names are flattened exactly as cdk-nag flattens them', () => {
    const leaf = fc.oneof(
      fc.string(),
      fc.constantFrom('${AWS::Region}', 'a}b', 'arn:${AWS::Partition}:logs:*'),
      fc.record({ Ref: fc.constantFrom('AWS::Partition', 'ApiProject055C9070') }),
      fc.record({ 'Fn::GetAtt': fc.tuple(fc.constantFrom('ApiLogs', 'Key'), fc.constantFrom('Arn')) }),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.record({ 'Fn::Join': fc.tuple(fc.constantFrom('', ':', '/'), fc.array(tie('node'), { maxLength: 4 })) }),
        fc.record({ 'Fn::Sub': fc.string() }),
        fc.record({ 'Fn::ImportValue': tie('node') }),
      ),
    })).node;
    fc.assert(fc.property(value, (v) => nagFlatten(v) === flattenCfnReference(v)));
  });
});

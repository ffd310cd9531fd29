import {
  App,
  Aspects,
  CfnResource,
  Duration,
  PolicyViolation,
  Stack,
  Validations,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_codepipeline_actions as codepipeline_actions,
  aws_ecr as ecr,
  aws_ecr_assets as ecr_assets,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
  aws_secretsmanager as secretsmanager,
  aws_ssm as ssm,
} from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import * as nagV2 from 'cdk-nag-v2';
import * as fc from 'fast-check';
import { BuildSecret, CacheStrategy, CachedImageBuild, CachedImageBuildProps } from '../src';
import { PUSH_PULL_ACTIONS } from './ecr-actions';
import { EcrImage, EcrLifecycleRule, expiredImages } from './ecr-lifecycle';
import { NAG_REASONS } from '../src/compliance';
import { ACKNOWLEDGED_RULES_METADATA_KEY, CDK_NAG_METADATA_KEY, acknowledgeNagRules, nagFlatten } from '../src/nag';

const ENV = { account: '123456789012', region: 'us-east-1' };

const STRATEGIES: Array<[string, () => CacheStrategy]> = [
  ['registry', () => CacheStrategy.registry()],
  ['inline', () => CacheStrategy.inline()],
  ['buildah', () => CacheStrategy.buildah()],
  ['none', () => CacheStrategy.none()],
];

/** A customer managed key as a user would define it (rotation on: AwsSolutions-KMS5). */
function newKey(stack: Stack): kms.Key {
  return new kms.Key(stack, 'Key', { enableKeyRotation: true });
}

interface Case {
  readonly name: string;
  /** Props of the build 'Api'; gets the stack to define a key or an imported resource in. */
  readonly props: (stack: Stack) => CachedImageBuildProps;
  /** Stack environment; undefined for an environment-agnostic stack. */
  readonly env?: typeof ENV;
}

const GITHUB = () => codebuild.Source.gitHub({
  owner: 'octo',
  repo: 'api',
  webhookFilters: [codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH)],
});

/** A pipeline (with an artifact key) whose build stage runs the build. */
function pipelineWith(stack: Stack, build: CachedImageBuild): codepipeline.Pipeline {
  const source = new codepipeline.Artifact('Source');
  return new codepipeline.Pipeline(stack, 'Pipeline', {
    crossAccountKeys: true,
    stages: [
      {
        stageName: 'Source',
        actions: [new codepipeline_actions.CodeStarConnectionsSourceAction({
          actionName: 'GitHub',
          owner: 'octo',
          repo: 'api',
          output: source,
          connectionArn: 'arn:aws:codeconnections:us-east-1:123456789012:connection/example',
        })],
      },
      { stageName: 'Build', actions: [build.toCodeBuildAction({ input: source, output: new codepipeline.Artifact('Image') })] },
    ],
  });
}

/** The stacks cdk-nag must find clean: defaults, every strategy with and without a key, standalone, variants. */
const CASES: Case[] = [
  { name: 'default props', props: () => ({}), env: ENV },
  { name: 'default props, environment-agnostic stack', props: () => ({}) },
  ...STRATEGIES.flatMap(([name, cache]): Case[] => [
    { name: `${name} strategy`, props: () => ({ repositoryName: 'api', cache: cache() }), env: ENV },
    { name: `${name} strategy with encryptionKey`, props: (s) => ({ repositoryName: 'api', cache: cache(), encryptionKey: newKey(s) }), env: ENV },
    { name: `${name} strategy, standalone with a GitHub source`, props: () => ({ repositoryName: 'api', cache: cache(), source: GITHUB() }), env: ENV },
    {
      name: `${name} strategy, standalone with a GitHub source and encryptionKey`,
      props: (s) => ({ repositoryName: 'api', cache: cache(), source: GITHUB(), encryptionKey: newKey(s) }),
      env: ENV,
    },
  ]),
  { name: 'standalone with a source and encryptionKey, environment-agnostic', props: (s) => ({ source: GITHUB(), encryptionKey: newKey(s) }) },
  { name: 'no metrics', props: () => ({ metrics: false, cacheRetention: Duration.days(3) }), env: ENV },
  { name: 'custom metrics namespace', props: () => ({ metricsNamespace: 'Team/Images' }), env: ENV },
  {
    name: 'a build secret from Parameter Store',
    props: (s) => ({
      buildSecrets: {
        token: BuildSecret.fromSsmParameter(ssm.StringParameter.fromSecureStringParameterAttributes(s, 'Token', { parameterName: '/ci/token' })),
      },
    }),
    env: ENV,
  },
  { name: 'named project, arm64, log retention', props: () => ({ projectName: 'api-image', platform: ecr_assets.Platform.LINUX_ARM64, logRetention: logs.RetentionDays.ONE_YEAR }), env: ENV },
  {
    name: 'imported repositories and an imported key',
    props: (s) => ({
      repository: ecr.Repository.fromRepositoryName(s, 'Repo', 'api'),
      cacheRepository: ecr.Repository.fromRepositoryName(s, 'Cache', 'api-cache'),
      encryptionKey: kms.Key.fromKeyArn(s, 'Imported', 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555'),
    }),
    env: ENV,
  },
];

function stackOf(c: Case): { app: App; stack: Stack; build: CachedImageBuild } {
  const app = new App();
  const stack = new Stack(app, 'TestStack', { env: c.env });
  const build = new CachedImageBuild(stack, 'Api', c.props(stack));
  return { app, stack, build };
}

/** A stack with the build 'Api' and its template. */
function synth(props: (stack: Stack) => CachedImageBuildProps = () => ({})): { stack: Stack; build: CachedImageBuild; template: Template } {
  const { stack, build } = stackOf({ name: '', props, env: ENV });
  return { stack, build, template: Template.fromStack(stack) };
}

/** Findings as 'severity: construct path: rule' lines. */
function describeViolations(violations: PolicyViolation[]): string[] {
  return violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity}: ${r.constructPath}: ${v.ruleName}`));
}

describe('cdk-nag AwsSolutions finds nothing unacknowledged', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('cdk-nag v3: %s', (_name, c) => {
    // GIVEN
    const { app } = stackOf(c);

    // WHEN
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app);

    // THEN: neither errors nor warnings
    expect(describeViolations(report.violations)).toEqual([]);
    expect(report.success).toBe(true);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('cdk-nag v3 as a validation plugin, synthesized: %s', (_name, c) => {
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

  test('the checks do fail on a finding: a wildcard statement a user adds to the project role is reported', () => {
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

  test.each([
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

  test('a Secrets Manager build secret defined in the app adds no finding to the build', () => {
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

  test('in a pipeline, the pipeline\'s grants to the project role are reported, not covered by the construct\'s acknowledgments', () => {
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

function logicalIdOf(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  expect(ids).toHaveLength(1);
  return ids[0];
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
      const fact = key.includes('PutMetricsPolicy') && key.includes('[Resource::*]') ? 'cloudwatch:PutMetricData supports no resource-level permissions'
        : key.includes('[Resource::*]') ? 'ecr:GetAuthorizationToken supports no resource-level permissions'
          : key.includes(':log-group:/aws/codebuild/') ? 'default log group /aws/codebuild/<project name>'
            : key.includes('[Action::kms:') ? 'on the one encryptionKey'
              : key.endsWith('AwsSolutions-CB4') ? '(alias/aws/s3)'
                : undefined;
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

  test('are recorded as Validations.of(resource).acknowledge() records them (cdk-nag v3)', () => {
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

/** Normalized statements of every policy attached to the project role: 'resource[ if condition]' -> sorted actions. */
function projectRolePermissions(template: Template): Record<string, string[]> {
  const [, project] = Object.entries<any>(template.findResources('AWS::CodeBuild::Project'))[0];
  const roleId = project.Properties.ServiceRole['Fn::GetAtt'][0];
  const role = template.toJSON().Resources[roleId];
  expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  expect(role.Properties.Policies).toBeUndefined();
  const byResource: Record<string, Set<string>> = {};
  for (const policy of Object.values<any>(template.findResources('AWS::IAM::Policy'))) {
    if (!(policy.Properties.Roles as any[]).some((r) => r.Ref === roleId)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      expect(Object.keys(statement).filter((k) => k !== 'Condition').sort()).toEqual(['Action', 'Effect', 'Resource']);
      expect(statement.Effect).toEqual('Allow');
      for (const resource of [statement.Resource].flat()) {
        const key = nagFlatten(resource) + (statement.Condition ? ` if ${JSON.stringify(statement.Condition)}` : '');
        byResource[key] = byResource[key] ?? new Set();
        [statement.Action].flat().forEach((a: string) => byResource[key].add(a));
      }
    }
  }
  return Object.fromEntries(Object.entries(byResource).map(([k, v]) => [k, [...v].sort()]));
}

const LOGS_WRITE = ['logs:CreateLogStream', 'logs:PutLogEvents'];
const DEFAULT_LOG_GROUP = ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'];
const KMS_ENCRYPT_DECRYPT = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'];

describe('project role: every statement, nothing beyond what the strategy needs', () => {
  const extraCacheActions: Record<string, string[]> = { registry: [], inline: ['ecr:ListImages'], buildah: [], none: [] };

  test.each(STRATEGIES.flatMap(([name, cache]) => [
    { name, cache, withKey: false, withSource: false },
    { name, cache, withKey: true, withSource: false },
    { name, cache, withKey: false, withSource: true },
    { name, cache, withKey: true, withSource: true },
  ]))('$name strategy (encryptionKey: $withKey, source: $withSource)', ({ name, cache, withKey, withSource }) => {
    // WHEN
    const { template } = synth((s) => ({
      repositoryName: 'api',
      cache: cache(),
      ...(withKey ? { encryptionKey: newKey(s) } : {}),
      ...(withSource ? { source: GITHUB() } : {}),
    }));

    // THEN
    const project = logicalIdOf(template, 'AWS::CodeBuild::Project');
    const logGroup = logicalIdOf(template, 'AWS::Logs::LogGroup');
    const repos = Object.entries<any>(template.findResources('AWS::ECR::Repository'));
    const app = repos.find(([, r]) => r.Properties.ImageScanningConfiguration?.ScanOnPush)![0];
    const cacheRepo = repos.find(([, r]) => r.Properties.ImageTagMutability === 'MUTABLE')?.[0];
    const defaultGroup = `arn:<AWS::Partition>:logs:us-east-1:123456789012:log-group:/aws/codebuild/<${project}>`;
    const expected: Record<string, string[]> = {
      // ECR login: Resource "*" is the only form IAM accepts (policy EcrLoginPolicy).
      '*': ['ecr:GetAuthorizationToken'],
      // Cache metrics, in the build's namespace only (policy PutMetricsPolicy).
      '* if {"StringEquals":{"cloudwatch:namespace":"CachedImageBuild"}}': ['cloudwatch:PutMetricData'],
      [`<${app}.Arn>`]: PUSH_PULL_ACTIONS,
      // Build logs into the construct's log group.
      [`<${logGroup}.Arn>`]: LOGS_WRITE,
      // Added by codebuild.Project for its default log group, whatever the logging settings.
      [defaultGroup]: DEFAULT_LOG_GROUP,
      [`${defaultGroup}:*`]: DEFAULT_LOG_GROUP,
    };
    if (name !== 'none') {
      expected[`<${cacheRepo}.Arn>`] = [...PUSH_PULL_ACTIONS, ...extraCacheActions[name]].sort();
    } else {
      expect(cacheRepo).toBeUndefined();
    }
    if (withKey && withSource) {
      // The build output of a standalone project (policy EncryptionKeyPolicy). ECR and CloudWatch Logs
      // use the key without the role; a pipeline project's output is encrypted with the pipeline's key.
      expected[`<${logicalIdOf(template, 'AWS::KMS::Key')}.Arn>`] = KMS_ENCRYPT_DECRYPT;
    }
    expect(projectRolePermissions(template)).toEqual(expected);
  });

  test('without metrics there is no cloudwatch:PutMetricData', () => {
    // WHEN
    const { template } = synth(() => ({ metrics: false }));

    // THEN
    expect(Object.keys(projectRolePermissions(template)).filter((k) => k.includes('cloudwatch'))).toEqual([]);
    expect(Object.values(projectRolePermissions(template)).flat().filter((a) => a.startsWith('cloudwatch:'))).toEqual([]);
  });

  test('ecr:GetAuthorizationToken is the only statement of the ECR login policy', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const login = Object.values<any>(template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('EcrLogin') } }));
    expect(login).toHaveLength(1);
    expect(login[0].Properties.PolicyDocument.Statement).toEqual([{ Action: 'ecr:GetAuthorizationToken', Effect: 'Allow', Resource: '*' }]);
  });

  test('no report group permissions: the buildspec defines no test reports', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const actions = Object.values(projectRolePermissions(template)).flat();
    expect(actions.filter((a) => a.startsWith('codebuild:'))).toEqual([]);
  });
});

describe('encryption', () => {
  test('without encryptionKey: ECR default encryption, CodeBuild with alias/aws/s3, log group unencrypted by a CMK', () => {
    // WHEN
    const { template } = synth();

    // THEN
    for (const repo of Object.values<any>(template.findResources('AWS::ECR::Repository'))) {
      expect(repo.Properties.EncryptionConfiguration).toBeUndefined();
    }
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: 'alias/aws/s3' });
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: Match.absent() });
  });

  test.each(STRATEGIES.map(([name, cache]) => [name, cache] as const))('with encryptionKey (%s): both repositories and the log group use it', (name, cache) => {
    // WHEN
    const { template } = synth((s) => ({ cache: cache(), encryptionKey: newKey(s) }));

    // THEN
    const keyArn = { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::KMS::Key'), 'Arn'] };
    const repos = Object.values<any>(template.findResources('AWS::ECR::Repository'));
    expect(repos).toHaveLength(name === 'none' ? 1 : 2);
    for (const repo of repos) {
      expect(repo.Properties.EncryptionConfiguration).toEqual({ EncryptionType: 'KMS', KmsKey: keyArn });
    }
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: keyArn });
  });

  test('with encryptionKey, a standalone project encrypts its build output with it', () => {
    // WHEN
    const { template } = synth((s) => ({ source: GITHUB(), encryptionKey: newKey(s) }));

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::KMS::Key'), 'Arn'] } });
  });

  test.each([
    ['without encryptionKey', false],
    ['with encryptionKey', true],
  ])('a pipeline project encrypts its output, the pipeline\'s artifacts, with the pipeline\'s artifact key, %s', (_name, withKey) => {
    // GIVEN
    const { stack, build } = stackOf({ name: '', props: (s) => (withKey ? { encryptionKey: newKey(s) } : {}), env: ENV });

    // WHEN
    pipelineWith(stack, build);

    // THEN
    const template = Template.fromStack(stack);
    const artifactKey = Object.keys(template.findResources('AWS::KMS::Key')).find((id) => id.startsWith('Pipeline'));
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: { 'Fn::GetAtt': [artifactKey, 'Arn'] } });
  });

  test('the key policy lets CloudWatch Logs use the key for log groups of the stack\'s account and region', () => {
    // WHEN
    const { template } = synth((s) => ({ encryptionKey: newKey(s) }));

    // THEN
    const [, key] = Object.entries<any>(template.findResources('AWS::KMS::Key'))[0];
    const logsStatements = key.Properties.KeyPolicy.Statement.filter((st: any) => st.Principal?.Service !== undefined);
    expect(logsStatements).toEqual([{
      Effect: 'Allow',
      Principal: { Service: 'logs.us-east-1.amazonaws.com' },
      Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      Resource: '*',
      Condition: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': {
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:us-east-1:123456789012:log-group:*']],
          },
        },
      },
    }]);
  });

  test('two builds sharing one key add the CloudWatch Logs statement once', () => {
    // GIVEN
    const stack = new Stack(new App(), 'TestStack', { env: ENV });
    const key = newKey(stack);

    // WHEN
    new CachedImageBuild(stack, 'Api', { encryptionKey: key });
    new CachedImageBuild(stack, 'Web', { encryptionKey: key });

    // THEN
    const [, resource] = Object.entries<any>(Template.fromStack(stack).findResources('AWS::KMS::Key'))[0];
    expect(resource.Properties.KeyPolicy.Statement.filter((st: any) => st.Principal?.Service !== undefined)).toHaveLength(1);
  });

  test('an imported key is used as it is: its policy is not changed, and imported repositories keep their encryption', () => {
    // WHEN
    const { template } = synth((s) => ({
      repository: ecr.Repository.fromRepositoryName(s, 'Repo', 'api'),
      cache: CacheStrategy.none(),
      source: GITHUB(),
      encryptionKey: kms.Key.fromKeyArn(s, 'Imported', 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555'),
    }));

    // THEN
    template.resourceCountIs('AWS::ECR::Repository', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555' });
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555' });
  });
});

describe('build log group', () => {
  test('keeps logs for one month by default and is retained with the stack', () => {
    // WHEN
    const { build, stack, template } = synth();

    // THEN
    const [id, group] = Object.entries<any>(template.findResources('AWS::Logs::LogGroup'))[0];
    expect(group.Properties.RetentionInDays).toEqual(30);
    expect(group.DeletionPolicy).toEqual('Retain');
    expect(group.UpdateReplacePolicy).toEqual('Retain');
    expect(stack.resolve(build.logGroup.logGroupName)).toEqual({ Ref: id });
  });

  test('keeps logs as long as logRetention says', () => {
    // WHEN
    const { template } = synth(() => ({ logRetention: logs.RetentionDays.ONE_YEAR }));

    // THEN
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  test('receives the project\'s logs', () => {
    // WHEN
    const { template } = synth();

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      LogsConfig: { CloudWatchLogs: { Status: 'ENABLED', GroupName: { Ref: logicalIdOf(template, 'AWS::Logs::LogGroup') } } },
    });
  });
});

describe('application repository: no release can expire', () => {
  test.each(STRATEGIES.flatMap(([name, cache]) => [{ name, cache, withKey: false }, { name, cache, withKey: true }]))(
    '$name strategy (encryptionKey: $withKey): retained on stack deletion, no lifecycle rule at all', ({ cache, withKey }) => {
      // WHEN
      const { template } = synth((s) => ({ repositoryName: 'api', cache: cache(), ...(withKey ? { encryptionKey: newKey(s) } : {}) }));

      // THEN
      const [, app] = Object.entries<any>(template.findResources('AWS::ECR::Repository', {
        Properties: { RepositoryName: 'api' },
      }))[0];
      expect(app.DeletionPolicy).toEqual('Retain');
      expect(app.UpdateReplacePolicy).toEqual('Retain');
      expect(app.Properties.LifecyclePolicy).toBeUndefined();
    });
});

function cacheRules(template: Template): EcrLifecycleRule[] {
  const repos = Object.values<any>(template.findResources('AWS::ECR::Repository', { Properties: { ImageTagMutability: 'MUTABLE' } }));
  expect(repos).toHaveLength(1);
  return JSON.parse(repos[0].Properties.LifecyclePolicy.LifecyclePolicyText).rules;
}

/** Random cache repository contents: tags unique per repository, an image may carry several. */
function cacheImages(defaultTags: string[], otherTags: string[]): fc.Arbitrary<EcrImage[]> {
  const tag = fc.constantFrom(...defaultTags, ...otherTags);
  return fc.array(fc.record({ tags: fc.uniqueArray(tag, { maxLength: 3 }), ageDays: fc.integer({ min: 0, max: 1000 }) }), { maxLength: 40 })
    .map((images) => {
      const seen = new Set<string>();
      return images.map((image, i) => {
        // A tag points at one image: later images lose tags an earlier one holds.
        const tags = image.tags.filter((t) => !seen.has(t));
        tags.forEach((t) => seen.add(t));
        return { id: `image-${i}`, tags, ageDays: image.ageDays };
      });
    });
}

describe('cache lifecycle rules never expire the default branch\'s cache (ECR priority semantics)', () => {
  const branches = ['main', 'release/1.x', 'develop'];
  // Branch tags chosen to look like the default branch's: prefixes, suffixes, -e<N> forms.
  const otherBranchTags = (d: string) => [`${d}2`, `x${d}`, `${d}-e`, `${d}-feature`, 'feature-a', 'pr-42', `${d}-ex`];

  test.each(branches)('registry strategy, default branch %s: the cache tag of the default branch is never expired', (defaultBranch) => {
    // GIVEN
    const { build, template } = synth(() => ({ defaultBranch }));
    const rules = cacheRules(template);
    const d = build.defaultCacheTag;

    // THEN
    fc.assert(fc.property(cacheImages([d], otherBranchTags(d)), (images) => {
      const expired = expiredImages(rules, images);
      return images.filter((i) => i.tags.includes(d)).every((i) => !expired.has(i.id));
    }));
  });

  test.each(branches)('inline strategy, default branch %s: no <tag>-e<N> cache tag of the default branch is ever expired', (defaultBranch) => {
    // GIVEN
    const { build, template } = synth(() => ({ defaultBranch, cache: CacheStrategy.inline() }));
    const rules = cacheRules(template);
    const d = build.defaultCacheTag;
    // One tag per number of executed steps: at most the Dockerfile's step count (the rule keeps 1000).
    const defaultTags = Array.from({ length: 60 }, (_, n) => `${d}-e${n + 1}`);

    // THEN
    fc.assert(fc.property(cacheImages(defaultTags, otherBranchTags(d).map((t) => `${t}-e3`)), (images) => {
      const expired = expiredImages(rules, images);
      return images.filter((i) => i.tags.some((t) => defaultTags.includes(t))).every((i) => !expired.has(i.id));
    }));
  });

  test.each([
    ['registry', () => CacheStrategy.registry()],
    ['inline', () => CacheStrategy.inline()],
  ])('%s strategy: other branches\' caches expire after cacheRetention, replaced manifests after a day', (_name, cache) => {
    // GIVEN
    const { template } = synth(() => ({ cache: cache(), cacheRetention: Duration.days(10) }));
    const rules = cacheRules(template);

    // WHEN
    const expired = expiredImages(rules, [
      { id: 'feature-old', tags: ['feature-e2', 'feature'], ageDays: 11 },
      { id: 'feature-new', tags: ['feature-e3', 'pr-1'], ageDays: 9 },
      { id: 'untagged-old', tags: [], ageDays: 2 },
      { id: 'untagged-new', tags: [], ageDays: 1 },
    ]);

    // THEN
    expect([...expired].sort()).toEqual(['feature-old', 'untagged-old']);
  });

  test('buildah strategy: there is no default-branch cache tag; every cache tag, the default branch\'s steps included, expires cacheRetention after its push', () => {
    // GIVEN
    const { template } = synth(() => ({ cache: CacheStrategy.buildah(), cacheRetention: Duration.days(14) }));
    const rules = cacheRules(template);

    // THEN: no rule protects any tag
    expect(rules.filter((r) => r.selection.tagStatus === 'tagged')).toEqual([]);
    fc.assert(fc.property(cacheImages(['a1b2c3', 'd4e5f6', '0123abcd'], ['main', 'feature']), (images) => {
      const expired = expiredImages(rules, images);
      return images.every((i) => expired.has(i.id) === (i.tags.length === 0 ? i.ageDays > 1 : i.ageDays > 14));
    }));
  });
});

describe('ECR lifecycle model', () => {
  const rule = (rulePriority: number, selection: EcrLifecycleRule['selection']): EcrLifecycleRule =>
    ({ rulePriority, selection, action: { type: 'expire' } });

  test('an image matched by a higher-priority rule is not expired by a lower-priority one', () => {
    const rules = [
      rule(1, { tagStatus: 'tagged', tagPatternList: ['keep*'], countType: 'imageCountMoreThan', countNumber: 1 }),
      rule(2, { tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' }),
    ];
    const expired = expiredImages(rules, [
      { id: 'keep-new', tags: ['keep-1'], ageDays: 5 },
      { id: 'keep-old', tags: ['keep-2'], ageDays: 9 },
      { id: 'other', tags: ['x'], ageDays: 5 },
    ]);
    expect([...expired].sort()).toEqual(['keep-old', 'other']);
  });

  test('a tagStatus any rule must come last', () => {
    expect(() => expiredImages([
      rule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' }),
      rule(2, { tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' }),
    ], [])).toThrow(/highest rulePriority/);
  });
});

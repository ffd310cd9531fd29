import {
  App,
  Duration,
  PolicyViolation,
  Stack,
  Validations,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_codepipeline_actions as codepipeline_actions,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecr_assets as ecr_assets,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
  aws_ssm as ssm,
} from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BuildSecret, CacheStrategy, CachedImageBuild, CachedImageBuildProps } from '../../src';

/**
 * cdk-nag 3 reads acknowledgments through aws-cdk-lib's `Validations` (2.257 and later). The CI step
 * that tests the construct against the aws-cdk-lib floor has none: there the cdk-nag 3 tests are skipped,
 * the cdk-nag 2 tests run. On the dev aws-cdk-lib every test runs.
 */
export const testWithNagV3 = Validations === undefined ? test.skip : test;

/** Shared by the compliance tests: the stacks cdk-nag must find clean, and how to build them. */

export const ENV = { account: '123456789012', region: 'us-east-1' };

export const STRATEGIES: Array<[string, () => CacheStrategy]> = [
  ['registry', () => CacheStrategy.registry()],
  ['inline', () => CacheStrategy.inline()],
  ['buildah', () => CacheStrategy.buildah()],
  ['none', () => CacheStrategy.none()],
];

/** A customer managed key as a user would define it (rotation on: AwsSolutions-KMS5). */
export function newKey(stack: Stack): kms.Key {
  return new kms.Key(stack, 'Key', { enableKeyRotation: true });
}

/** A VPC as a compliant account has one: private subnets behind a NAT gateway, flow logs (AwsSolutions-VPC7). */
export function newVpc(stack: Stack): ec2.Vpc {
  return new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1, flowLogs: { all: {} } });
}

export interface Case {
  readonly name: string;
  /** Props of the build 'Api'; gets the stack to define a key or an imported resource in. */
  readonly props: (stack: Stack) => CachedImageBuildProps;
  /** Stack environment; undefined for an environment-agnostic stack. */
  readonly env?: typeof ENV;
}

export const GITHUB = () => codebuild.Source.gitHub({
  owner: 'octo',
  repo: 'api',
  webhookFilters: [codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH)],
});

/** A pipeline (with an artifact key) whose build stage runs the build. */
export function pipelineWith(stack: Stack, build: CachedImageBuild): codepipeline.Pipeline {
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
export const CASES: Case[] = [
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
  { name: 'in a VPC', props: (s) => ({ repositoryName: 'api', vpc: newVpc(s) }), env: ENV },
  { name: 'in a VPC, environment-agnostic', props: (s) => ({ vpc: newVpc(s) }) },
  {
    name: 'in a VPC with a security group, standalone with a source and encryptionKey',
    props: (s) => {
      const vpc = newVpc(s);
      return { vpc, securityGroups: [new ec2.SecurityGroup(s, 'BuildSg', { vpc })], source: GITHUB(), encryptionKey: newKey(s) };
    },
    env: ENV,
  },
  {
    name: 'a role of the app',
    props: (s) => ({ role: new iam.Role(s, 'BuildRole', { assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com') }) }),
    env: ENV,
  },
  { name: 'an imported role, in a VPC', props: (s) => ({ role: iam.Role.fromRoleArn(s, 'BuildRole', 'arn:aws:iam::123456789012:role/builds'), vpc: newVpc(s) }), env: ENV },
  {
    name: 'a Docker server in a VPC',
    props: (s) => ({ vpc: newVpc(s), dockerServer: { computeType: codebuild.DockerServerComputeType.SMALL } }),
    env: ENV,
  },
  {
    name: 'a fleet',
    props: (s) => ({
      fleet: new codebuild.Fleet(s, 'Fleet', {
        baseCapacity: 1,
        computeType: codebuild.FleetComputeType.SMALL,
        environmentType: codebuild.EnvironmentType.LINUX_CONTAINER,
      }),
    }),
    env: ENV,
  },
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

export function stackOf(c: Case): { app: App; stack: Stack; build: CachedImageBuild } {
  const app = new App();
  const stack = new Stack(app, 'TestStack', { env: c.env });
  const build = new CachedImageBuild(stack, 'Api', c.props(stack));
  return { app, stack, build };
}

/** A stack with the build 'Api' and its template. */
export function synth(props: (stack: Stack) => CachedImageBuildProps = () => ({})): { stack: Stack; build: CachedImageBuild; template: Template } {
  const { stack, build } = stackOf({ name: '', props, env: ENV });
  return { stack, build, template: Template.fromStack(stack) };
}

/** Findings as 'severity: construct path: rule' lines. */
export function describeViolations(violations: PolicyViolation[]): string[] {
  return violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity}: ${r.constructPath}: ${v.ruleName}`));
}

export function logicalIdOf(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  expect(ids).toHaveLength(1);
  return ids[0];
}

/**
/**
 * The "Rules and messages" tables (docs/validation.md, and docs/ecosystem.md for the VPC, fleet,
 * Docker server, pipeline step and deploy-time helpers) are the list of the rules and their messages. This file keeps them
 * true: every row has cases here that break its rule, and the error must match the row's message;
 * every case belongs to a row; and every `throw` in the validating sources is reached by a case, so
 * a new rule cannot be added without a row either.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  App,
  CfnParameter,
  Duration,
  Lazy,
  Stack,
  Stage,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecr_assets as ecr_assets,
  aws_iam as iam,
  aws_secretsmanager as secretsmanager,
  aws_ssm as ssm,
  pipelines,
} from 'aws-cdk-lib';
import {
  BuildSecret, BuildxBuilder, CacheStrategy, CachedImageBuild, CachedImageBuildProps, CachedImageBuildStep,
  DockerHubLogin, DockerHubPullThroughCache, ImageTag, LayerCompression,
} from '../src';

/** The sources whose every `throw` is a validation rule of the tables. */
const VALIDATING_SOURCES = [
  'options/validation.ts', 'cached-image-build.ts', 'image-tag.ts', 'strategies/buildx-builder.ts', 'build-secret.ts',
  'metrics/metrics-props.ts', 'metrics/cache-metrics.ts', 'docker-hub-pull-through-cache.ts', 'docker-hub-login.ts',
  'compliance.ts', 'consumption.ts', 'pipelines-step.ts', 'multi-arch/placement-rules.ts',
];

/** The pages with a "Rules and messages" table: docs/validation.md, and the ecosystem page for its props and helpers. */
const TABLE_PAGES = ['docs/validation.md', 'docs/ecosystem.md'];

interface Row {
  readonly rule: string;
  /** The props named in the prop column (its code spans). */
  readonly props: string[];
  /** The message as written, with `<...>` placeholders. */
  readonly message: string;
}

/** Reads the table of the page's "Rules and messages" section. */
function readTable(page: string): Row[] {
  const text = fs.readFileSync(path.join(__dirname, '..', page), 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('Rules and messages\n'));
  if (!section) throw new Error(`${page} has no "## Rules and messages" section`);
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  const cells = (line: string) => line.replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
  expect(cells(lines[0])).toEqual(['rule', 'prop', 'error message']);
  return lines.slice(2).map((line) => {
    const [rule, prop, message] = cells(line);
    const code = /^`([^`]+)`$/.exec(message);
    if (!code) throw new Error(`the message of rule '${rule}' must be one code span: ${message}`);
    return { rule, props: [...prop.matchAll(/`([^`]+)`/g)].map((m) => m[1]), message: code[1] };
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The row's message as a regular expression for the whole error message: `<prop>` is one of the
 * row's props, any other `<...>` is any text.
 */
function messagePattern(row: Row): RegExp {
  const parts = row.message.split(/(<[^<>]+>)/).map((part) => {
    if (part === '<prop>') return `(?:${row.props.map(escapeRegExp).join('|')})`;
    return /^<[^<>]+>$/.test(part) ? '.*' : escapeRegExp(part);
  });
  return new RegExp(`^${parts.join('')}$`, 's');
}

function vpcOf(stack: Stack): ec2.IVpc {
  return ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-1', availabilityZones: ['us-east-1a'], privateSubnetIds: ['subnet-1'] });
}

function securityGroups(stack: Stack, count: number): ec2.ISecurityGroup[] {
  return Array.from({ length: count }, (_, i) => ec2.SecurityGroup.fromSecurityGroupId(stack, `Sg${i}`, `sg-${i}`));
}

function fleetOf(stack: Stack, environmentType: codebuild.EnvironmentType): codebuild.IFleet {
  return new codebuild.Fleet(stack, 'Fleet', { baseCapacity: 1, computeType: codebuild.FleetComputeType.SMALL, environmentType });
}

function newStack(): Stack {
  return new Stack(new App(), 'TableStack', { env: { account: '123456789012', region: 'us-east-1' } });
}

/** Creates a CachedImageBuild with the props (made in the stack, for imports and parameters). */
function build(props: (stack: Stack) => CachedImageBuildProps): () => CachedImageBuild {
  return () => {
    const stack = newStack();
    return new CachedImageBuild(stack, 'Api', props(stack));
  };
}

/** A Docker Hub pull-through cache with the given credential (by default a valid one) and props. */
function hubCache(props: { repositoryPrefix?: string } = {}, credential?: (s: Stack) => secretsmanager.ISecret): () => DockerHubPullThroughCache {
  return () => {
    const stack = newStack();
    const secret = credential ? credential(stack) : secretsmanager.Secret.fromSecretNameV2(stack, 'Hub', 'ecr-pullthroughcache/hub');
    return new DockerHubPullThroughCache(stack, 'HubCache', { credential: secret, ...props });
  };
}

/** For each rule of the table (by its name), code that breaks it. */
/** The two platforms of a multi-architecture build. */
const BOTH = [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.LINUX_ARM64];

const CASES: Record<string, Array<() => unknown>> = {
  'one repository': [build((s) => ({ repository: ecr.Repository.fromRepositoryName(s, 'Repo', 'api'), repositoryName: 'api' }))],
  'ECR repository name length': [build(() => ({ repositoryName: 'a' })), build(() => ({ repositoryName: 'a'.repeat(257) }))],
  'ECR repository name characters': [build(() => ({ repositoryName: 'Api' })), build(() => ({ repositoryName: 'a//b' }))],
  'cache repository name length': [build(() => ({ repositoryName: 'a'.repeat(251) }))],
  'cache repository only with a cache': [
    build((s) => ({ cache: CacheStrategy.none(), cacheRepository: ecr.Repository.fromRepositoryName(s, 'Cache', 'api-cache') })),
  ],
  'supported platform': [build(() => ({ platform: ecr_assets.Platform.custom('linux/386') }))],
  'build image of the platform': [
    build(() => ({ buildImage: codebuild.LinuxArmBuildImage.AMAZON_LINUX_2_STANDARD_3_0 })),
    build(() => ({ platform: ecr_assets.Platform.LINUX_ARM64, buildImage: codebuild.LinuxBuildImage.STANDARD_7_0 })),
  ],
  'path not empty': [build(() => ({ buildContext: '' })), build(() => ({ dockerfile: '' }))],
  'path on one line': [build(() => ({ buildContext: 'a\nb' })), build(() => ({ dockerfile: 'Docker\0file' }))],
  'relative path': [build(() => ({ buildContext: '/src' })), build(() => ({ dockerfile: '\\Dockerfile' }))],
  'path inside its parent': [build(() => ({ buildContext: '../other' })), build(() => ({ dockerfile: 'a/../../Dockerfile' }))],
  'build argument name': [build(() => ({ buildArgs: { 'A-B': 'x' } }))],
  'build argument value without NUL': [build(() => ({ buildArgs: { A: 'x\0y' } }))],
  'build secret id': [
    build((s) => ({ buildSecrets: { 'npm,src=/etc/passwd': BuildSecret.fromSsmParameter(ssm.StringParameter.fromStringParameterName(s, 'P', '/npm')) } })),
    build((s) => ({ buildSecrets: { '..': BuildSecret.fromSsmParameter(ssm.StringParameter.fromStringParameterName(s, 'P', '/npm')) } })),
  ],
  'Dockerfile stage name': [build(() => ({ target: 'prod stage' }))],
  'literal default branch': [build(() => ({ defaultBranch: Lazy.string({ produce: () => 'main' }) }))],
  'default branch names a tag': [build(() => ({ defaultBranch: '...' }))],
  'ECR tag': [() => ImageTag.of('-x'), () => ImageTag.of('a'.repeat(129))],
  'at least one image tag': [build(() => ({ imageTags: [] }))],
  'each image tag once': [build(() => ({ imageTags: [ImageTag.of('latest'), ImageTag.of('latest')] }))],
  'literal fixed tags for a created repository': [build((s) => ({ imageTags: [ImageTag.of(new CfnParameter(s, 'Tag').valueAsString)] }))],
  'at most 5 mutable tags for a created repository': [
    build(() => ({ imageTags: ['a', 'b', 'c', 'd', 'e', 'f'].map((t) => ImageTag.of(t)) })),
    build(() => ({ imageTags: [ImageTag.branch(), ...['a', 'b', 'c', 'd'].map((t) => ImageTag.of(t))] })),
  ],
  'fixed tags outside the computed tags\' namespaces': [() => ImageTag.of('pr-1'), () => ImageTag.of('build-2')],
  'fixed tags that are no commit': [() => ImageTag.of('0123456789abcdef0123456789abcdef01234567')],
  'concurrent build limit': [build(() => ({ concurrentBuildLimit: 0 })), build(() => ({ concurrentBuildLimit: 2.5 }))],
  'default branch without NUL': [build(() => ({ defaultBranch: 'ma\0in' }))],
  'default branch, not a ref': [build(() => ({ defaultBranch: 'refs/tags/main' }))],
  'default branch outside the other builds\' namespaces': [build(() => ({ defaultBranch: 'br-main' })), build(() => ({ defaultBranch: 'pr' }))],
  'container name': [build(() => ({ containerName: 'my app' }))],
  'literal cache retention': [
    build((s) => ({ cacheRetention: Duration.days(new CfnParameter(s, 'Days', { type: 'Number' }).valueAsNumber) })),
  ],
  'cache retention in whole days': [build(() => ({ cacheRetention: Duration.hours(36) }))],
  'CodeBuild\'s reserved variables': [build(() => ({ environmentVariables: { CODEBUILD_X: { value: 'x' } } }))],
  'the build script\'s variables': [build(() => ({ environmentVariables: { CIB_BRANCH: { value: 'main' } } }))],
  'timeout range': [build(() => ({ timeout: Duration.minutes(4) }))],
  'metrics namespace only with metrics': [build(() => ({ metrics: false, metricsNamespace: 'Builds' }))],
  'CloudWatch namespace': [build(() => ({ metricsNamespace: 'AWS/CodeBuild' })), build(() => ({ metricsNamespace: 'a b' }))],
  'metric methods need metrics': [
    () => build(() => ({ metrics: false }))().metricCacheHitRatio(),
    () => build(() => ({ metrics: false }))().metricsWidget(),
  ],
  'alarm periods': [() => build(() => ({}))().addCacheMissAlarm('Alarm', { periods: 0 })],
  'BuildKit image reference': [
    () => BuildxBuilder.dockerContainer({ image: '' }),
    () => BuildxBuilder.dockerContainer({ image: 'moby/buildkit,network=host' }),
  ],
  'layer compression level': [
    () => LayerCompression.gzip({ level: 10 }),
    () => LayerCompression.zstd({ level: 0 }),
  ],
  'literal layer compression level': [() => LayerCompression.zstd({ level: Lazy.number({ produce: () => 3 }) })],
  'layer compression needs the docker-container builder': [
    () => CacheStrategy.registry({ builder: BuildxBuilder.currentDriver(), compression: LayerCompression.gzip({ level: 1 }) }),
  ],
  'builder network': [
    () => BuildxBuilder.dockerContainer({ network: 'host,image=evil/buildkit' }),
    () => BuildxBuilder.dockerContainer({ network: '' }),
  ],
  'buildkitd configuration': [
    () => BuildxBuilder.dockerContainer({ buildkitdConfig: ' \n' }),
    () => BuildxBuilder.dockerContainer({ buildkitdConfig: 'debug = true\0' }),
  ],
  'pull-through cache prefix': [hubCache({ repositoryPrefix: 'x' }), hubCache({ repositoryPrefix: 'Hub' }), hubCache({ repositoryPrefix: 'a/' })],
  'pull-through credential with a name': [hubCache({}, (s) => new secretsmanager.Secret(s, 'Hub'))],
  'pull-through credential name prefix': [
    hubCache({}, (s) => new secretsmanager.Secret(s, 'Hub', { secretName: 'docker-hub' })),
    hubCache({}, (s) => secretsmanager.Secret.fromSecretNameV2(s, 'Hub', 'ecrpullthroughcache/hub')),
  ],
  'pull-through credential in the rule\'s account and region': [
    hubCache({}, (s) => secretsmanager.Secret.fromSecretCompleteArn(s, 'Hub', 'arn:aws:secretsmanager:us-east-1:210987654321:secret:ecr-pullthroughcache/hub-AbCdEf')),
    hubCache({}, (s) => secretsmanager.Secret.fromSecretCompleteArn(s, 'Hub', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf')),
  ],
  'Docker Hub image, not another registry\'s': [() => hubCache()().imageUri('ghcr.io/o/i:1'), () => hubCache()().builder({ dockerHubImage: 'localhost/buildkit:1' })],
  'Docker Hub image reference': [() => hubCache()().imageUri('Node:22'), () => hubCache()().imageUri('node:22@sha256:abc')],
  'cached BuildKit image with a tag': [() => hubCache()().builder({ dockerHubImage: 'moby/buildkit' })],
  'one docker.io section': [() => hubCache()().builder({ buildkitdConfig: 'debug = true\n[registry."docker.io"]\n  http = false' })],
  'Docker Hub login secret fields': [
    () => DockerHubLogin.fromSecretsManager(secretsmanager.Secret.fromSecretNameV2(newStack(), 'S', 'hub'), { usernameField: 'a:b' }),
    () => DockerHubLogin.fromSecretsManager(secretsmanager.Secret.fromSecretNameV2(newStack(), 'S', 'hub'), { passwordField: 'a'.repeat(257) }),
  ],
  'pipeline actions need a pipeline project': [
    () => build(() => ({ source: codebuild.Source.gitHub({ owner: 'o', repo: 'r' }) }))()
      .toCodeBuildAction({ input: new codepipeline.Artifact() }),
  ],
  'subnets and security groups need a VPC': [
    build(() => ({ subnetSelection: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } })),
    build((s) => ({ securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(s, 'Sg', 'sg-1')] })),
  ],
  'at least one security group': [build((s) => ({ vpc: vpcOf(s), securityGroups: [] }))],
  'at most 5 security groups': [
    build((s) => ({ vpc: vpcOf(s), securityGroups: securityGroups(s, 6) })),
    build((s) => ({ dockerServer: { computeType: codebuild.DockerServerComputeType.SMALL, securityGroups: securityGroups(s, 6) } })),
  ],
  'no VPC with a fleet': [build((s) => ({ vpc: vpcOf(s), fleet: fleetOf(s, codebuild.EnvironmentType.LINUX_CONTAINER) }))],
  'fleet of the build image\'s type': [build((s) => ({ fleet: fleetOf(s, codebuild.EnvironmentType.ARM_CONTAINER) }))],
  'no Docker server with Buildah': [build(() => ({ cache: CacheStrategy.buildah(), dockerServer: { computeType: codebuild.DockerServerComputeType.SMALL } }))],
  'no fleet with platforms': [build((s) => ({ platforms: BOTH, fleet: fleetOf(s, codebuild.EnvironmentType.LINUX_CONTAINER) }))],
  'no Docker server with platforms': [build(() => ({ platforms: BOTH, dockerServer: { computeType: codebuild.DockerServerComputeType.SMALL } }))],
  'Lambda runs one platform': [() => build(() => ({ platforms: BOTH }))().toLambdaDockerImageCode()],
  'mutable imported role': [build((s) => ({ role: iam.Role.fromRoleArn(s, 'Role', 'arn:aws:iam::123456789012:role/builds', { mutable: false }) }))],
  'imageUri needs an ImageTag.of() tag': [
    () => build(() => ({ imageTags: [ImageTag.commit()] }))().imageUri,
    () => build(() => ({ imageTags: [ImageTag.branch()] }))().imageUri,
  ],
  'a tag to deploy': [
    () => build(() => ({ imageTags: [ImageTag.commit()] }))().toEcsContainerImage(),
    () => build(() => ({ imageTags: [ImageTag.commit()] }))().toLambdaDockerImageCode(),
  ],
  'a tag this build pushes': [
    () => build(() => ({ imageTags: [ImageTag.of('latest')] }))().toEcsContainerImage('v1'),
    () => build(() => ({ imageTags: [ImageTag.branch()] }))().toLambdaDockerImageCode('v1'),
  ],
  'ECR tag to deploy': [
    () => build(() => ({}))().toEcsContainerImage('-x'),
    () => build(() => ({}))().toLambdaDockerImageCode('a'.repeat(129)),
  ],
  'Lambda images without attestations': [() => build(() => ({ provenance: true }))().toLambdaDockerImageCode()],
  'pipeline step needs a pipeline project': [
    () => new CachedImageBuildStep('Image', { imageBuild: build(() => ({ source: codebuild.Source.gitHub({ owner: 'o', repo: 'r' }) }))() }),
  ],
  'variables the build exports': [() => new CachedImageBuildStep('Image', { imageBuild: build(() => ({}))() }).exportedVariable('URI')],
  'pipeline step in the pipeline\'s stage': [() => {
    const app = new App();
    const pipeline = new pipelines.CodePipeline(new Stack(app, 'Pipeline'), 'Pipeline', {
      synth: new pipelines.ShellStep('Synth', { input: pipelines.CodePipelineSource.gitHub('o/r', 'main'), commands: ['cdk synth'] }),
    });
    const stage = new Stage(app, 'Prod');
    const inStage = new CachedImageBuild(new Stack(stage, 'Images'), 'Api', {});
    pipeline.addStage(stage, { pre: [new CachedImageBuildStep('Image', { imageBuild: inStage })] });
    pipeline.buildPipeline();
  }],
  'pipeline step input': [() => {
    const stack = newStack();
    const step = new CachedImageBuildStep('Image', { imageBuild: new CachedImageBuild(stack, 'Api', {}) });
    const pipeline = new pipelines.CodePipeline(stack, 'Pipeline', {
      synth: new pipelines.ShellStep('Synth', { input: pipelines.CodePipelineSource.gitHub('o/r', 'main'), commands: ['cdk synth'] }),
    });
    // An engine that has no source to fall back to calls the factory without one.
    step.produceAction(new codepipeline.Pipeline(stack, 'Plain').addStage({ stageName: 'Images' }), {
      actionName: 'Image', runOrder: 1, scope: stack, pipeline, artifacts: new pipelines.ArtifactMap(), stackOutputsMap: new pipelines.StackOutputsMap(pipeline),
    });
  }],
  'CodePipeline variables namespace': [
    () => build(() => ({}))().toCodeBuildAction({ input: new codepipeline.Artifact(), variablesNamespace: 'bad namespace' }),
  ],
  'pipeline actions need pipeline projects': [
    () => build(() => ({ platforms: BOTH, source: codebuild.Source.gitHub({ owner: 'o', repo: 'r' }) }))()
      .toCodeBuildActions({ input: new codepipeline.Artifact() }),
  ],
  'one action per platform': [() => build(() => ({ platforms: BOTH }))().toCodeBuildAction({ input: new codepipeline.Artifact() })],
  'one metric per pipeline project': [
    () => build(() => ({ platforms: BOTH }))().metric('CacheHitRatio'),
    () => build(() => ({ platforms: BOTH }))().addCacheMissAlarm('Misses'),
  ],
  'platform methods need platforms': [() => build(() => ({}))().metricForPlatform(ecr_assets.Platform.LINUX_AMD64, 'CacheHitRatio')],
  'platform image URIs need platforms': [() => build(() => ({}))().imageUriForPlatform(ecr_assets.Platform.LINUX_AMD64)],
  'platform metrics need metrics': [
    () => build(() => ({ platforms: BOTH, metrics: false }))().metricForPlatform(ecr_assets.Platform.LINUX_AMD64, 'CacheHitRatio'),
  ],
  'one of the build\'s platforms': [
    () => build(() => ({ platforms: BOTH }))().metricForPlatform(ecr_assets.Platform.custom('linux/386'), 'CacheHitRatio'),
    () => build(() => ({ platforms: BOTH }))().imageUriForPlatform(ecr_assets.Platform.custom('linux/386')),
    () => build(() => ({}))().toLambdaDockerImageCode('latest', ecr_assets.Platform.LINUX_ARM64),
  ],
  'platform image URI needs a fixed tag': [
    () => build(() => ({ platforms: BOTH, imageTags: [ImageTag.commit()] }))().imageUriForPlatform(ecr_assets.Platform.LINUX_ARM64),
  ],
};

/** The error a case throws. */
function errorOf(breakRule: () => unknown): Error {
  try {
    breakRule();
  } catch (e) {
    return e as Error;
  }
  throw new Error('the case broke no rule');
}

/** `<file>:<line>` of the innermost frame of the error's stack that is in src/. */
function throwSite(error: Error): string | undefined {
  const frame = /[(\s]([^()\s]*\/src\/([\w/-]+\.ts)):(\d+):\d+\)?$/m.exec(error.stack ?? '');
  return frame ? `${frame[2]}:${frame[3]}` : undefined;
}

const ROWS = TABLE_PAGES.flatMap(readTable);

describe('the validation tables', () => {
  test('has a row per rule, and every rule has cases here', () => {
    // THEN
    expect(ROWS.length).toBeGreaterThan(0);
    expect(ROWS.map((r) => r.rule).sort()).toEqual(Object.keys(CASES).sort());
    expect(new Set(ROWS.map((r) => r.rule)).size).toEqual(ROWS.length);
  });

  test.each(ROWS.map((row) => [row.rule, row] as const))('%s: the error matches the row', (rule, row) => {
    // GIVEN
    const cases = CASES[rule] ?? [];
    expect(cases.length).toBeGreaterThan(0);

    for (const breakRule of cases) {
      // WHEN
      const error = errorOf(breakRule);

      // THEN
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toMatch(messagePattern(row));
    }
  });

  test('every throw in the validating sources is reached by a case of the table', () => {
    // GIVEN
    const throwSites = VALIDATING_SOURCES.flatMap((file) => fs.readFileSync(path.join(__dirname, '..', 'src', file), 'utf8')
      .split('\n')
      .flatMap((line, i) => (/\bthrow new Error\(/.test(line) ? [`${file}:${i + 1}`] : [])));

    // WHEN
    const reached = new Set(Object.values(CASES).flat().map((breakRule) => throwSite(errorOf(breakRule))));

    // THEN
    expect(throwSites.length).toBeGreaterThan(0);
    expect(throwSites.filter((site) => !reached.has(site))).toEqual([]);
  });

  test('a placeholder matches any text, <prop> only the row\'s props', () => {
    // GIVEN
    const row: Row = { rule: 'r', props: ['buildContext', 'dockerfile'], message: '<prop> must be x; got \'<value>\'' };

    // WHEN
    const pattern = messagePattern(row);

    // THEN
    expect('dockerfile must be x; got \'a\nb (c)\'').toMatch(pattern);
    expect('target must be x; got \'a\'').not.toMatch(pattern);
    expect('dockerfile must be x; got \'a\' and more').not.toMatch(pattern);
  });
});

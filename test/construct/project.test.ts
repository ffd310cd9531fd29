import { Duration, aws_codebuild as codebuild, aws_ecr_assets as ecr_assets, aws_iam as iam } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { BuildxBuilder, CacheStrategy, ImageTag } from '../../src';
import {
  appRepository,
  buildSpec,
  cacheRepository,
  create,
  ecrPermissionsOfProjectRole,
  ecrPermissionsOfRole,
  plainEnv,
  projectEnv,
  projectOf,
  synth,
} from '../helpers/construct';
import { PULL_ACTIONS, PUSH_PULL_ACTIONS } from '../helpers/ecr-actions';

describe('permissions', () => {
  test('the project role may push and pull exactly the two repositories and get an ECR token, nothing else ECR-wise', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [appId] = appRepository(template);
    const [cacheId] = cacheRepository(template);
    expect(ecrPermissionsOfProjectRole(template)).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PUSH_PULL_ACTIONS,
      [JSON.stringify({ 'Fn::GetAtt': [cacheId, 'Arn'] })]: PUSH_PULL_ACTIONS,
    });
  });

  test('without a cache repository the project role may push and pull only the application repository', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.none() });

    // THEN
    const [appId] = appRepository(template);
    expect(ecrPermissionsOfProjectRole(template)).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PUSH_PULL_ACTIONS,
    });
  });

  test('grantPull lets a principal pull the application image, not push it', () => {
    // GIVEN
    const { stack, build } = create({ repositoryName: 'api' });
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });

    // WHEN
    build.grantPull(role);

    // THEN
    const template = Template.fromStack(stack);
    const [appId] = appRepository(template);
    const roleId = stack.getLogicalId(role.node.defaultChild as iam.CfnRole);
    expect(ecrPermissionsOfRole(template, roleId)).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PULL_ACTIONS,
    });
  });
});

describe('project', () => {
  test('is privileged and runs standard:7.0 on a Linux x86_64 container by default', () => {
    // WHEN
    const { template } = synth();

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Environment: Match.objectLike({
        PrivilegedMode: true,
        Image: 'aws/codebuild/standard:7.0',
        Type: 'LINUX_CONTAINER',
        ComputeType: 'BUILD_GENERAL1_SMALL',
      }),
    });
  });

  test('runs the Amazon Linux aarch64 image on an ARM container for linux/arm64', () => {
    // WHEN
    const { template } = synth({ platform: ecr_assets.Platform.LINUX_ARM64 });

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Environment: Match.objectLike({
        PrivilegedMode: true,
        Image: 'aws/codebuild/amazonlinux2-aarch64-standard:3.0',
        Type: 'ARM_CONTAINER',
      }),
    });
    expect(plainEnv(template).CIB_PLATFORM).toEqual('linux/arm64');
  });

  test('uses the given build image', () => {
    // WHEN
    // By id: LinuxBuildImage.STANDARD_8_0 is newer than the aws-cdk-lib floor, where it is undefined.
    const { template } = synth({ buildImage: codebuild.LinuxBuildImage.fromCodeBuildImageId('aws/codebuild/standard:8.0') });

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Environment: Match.objectLike({ Image: 'aws/codebuild/standard:8.0', Type: 'LINUX_CONTAINER' }),
    });
  });

  test('uses the given compute type', () => {
    // WHEN
    const { template } = synth({ computeType: codebuild.ComputeType.LARGE });

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Environment: Match.objectLike({ ComputeType: 'BUILD_GENERAL1_LARGE' }),
    });
  });

  test('times out after 60 minutes by default', () => {
    // WHEN
    const { template } = synth();

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', { TimeoutInMinutes: 60 });
  });

  test('uses the given timeout', () => {
    // WHEN
    const { template } = synth({ timeout: Duration.minutes(25) });

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', { TimeoutInMinutes: 25 });
  });

  test('uses the given project name', () => {
    // WHEN
    const { template } = synth({ projectName: 'api-image' });

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', { Name: 'api-image' });
  });

  test('is a PipelineProject (CODEPIPELINE source and artifacts) without source', () => {
    // WHEN
    const { build, template } = synth();

    // THEN
    const project = projectOf(template);
    expect(project.Properties.Source.Type).toEqual('CODEPIPELINE');
    expect(project.Properties.Artifacts).toEqual({ Type: 'CODEPIPELINE' });
    expect(build.project).toBeInstanceOf(codebuild.PipelineProject);
  });

  test('is a standalone Project with the given source', () => {
    // WHEN
    const { build, template } = synth({
      source: codebuild.Source.gitHub({ owner: 'octo', repo: 'api', webhook: true }),
    });

    // THEN
    const project = projectOf(template);
    expect(project.Properties.Source).toMatchObject({ Type: 'GITHUB', Location: 'https://github.com/octo/api.git' });
    expect(project.Properties.Artifacts).toEqual({ Type: 'NO_ARTIFACTS' });
    expect(project.Properties.Triggers).toMatchObject({ Webhook: true });
    expect(build.project).not.toBeInstanceOf(codebuild.PipelineProject);
  });
});

describe('project environment variables', () => {
  test('name the repositories, platform, Dockerfile, context, default cache tag and container', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const env = plainEnv(template);
    const [appId] = appRepository(template);
    const [cacheId] = cacheRepository(template);
    expect(env).toMatchObject({
      CIB_BUILD_CONTEXT: '.',
      CIB_DOCKERFILE: 'Dockerfile',
      CIB_PLATFORM: 'linux/amd64',
      CIB_DEFAULT_CACHE_TAG: 'main',
      CIB_CONTAINER_NAME: 'app',
      CIB_IMAGE_REGION: 'us-east-1',
      CIB_CACHE_REGION: 'us-east-1',
      CIB_IMAGE_TAG_1: 'latest',
    });
    expect(JSON.stringify(env.CIB_IMAGE_REPOSITORY_URI)).toContain(`{"Ref":"${appId}"}`);
    expect(JSON.stringify(env.CIB_CACHE_REPOSITORY_URI)).toContain(`{"Ref":"${cacheId}"}`);
  });

  test('all start with CIB_ and are plain text', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const env = projectEnv(template);
    expect(Object.keys(env).length).toBeGreaterThan(5);
    expect(Object.keys(env).filter((n) => !n.startsWith('CIB_'))).toEqual([]);
    expect(Object.values(env).filter((v) => v.Type !== 'PLAINTEXT')).toEqual([]);
  });

  test('pass build arguments as NAME=value in CIB_BUILD_ARG_n, sorted by name', () => {
    // WHEN
    const { template } = synth({ buildArgs: { NODE_ENV: 'production', APP_VERSION: '1.2.3' } });

    // THEN
    const env = plainEnv(template);
    expect(env.CIB_BUILD_ARG_1).toEqual('APP_VERSION=1.2.3');
    expect(env.CIB_BUILD_ARG_2).toEqual('NODE_ENV=production');
    expect(env).not.toHaveProperty('CIB_BUILD_ARG_3');
  });

  test('normalize the Dockerfile and build context paths', () => {
    // WHEN
    const { template } = synth({ buildContext: './services//api/', dockerfile: 'docker/../docker/Dockerfile' });

    // THEN
    expect(plainEnv(template)).toMatchObject({ CIB_BUILD_CONTEXT: 'services/api/', CIB_DOCKERFILE: 'docker/Dockerfile' });
  });

  test('carry the target', () => {
    // WHEN
    const { template } = synth({ target: 'prod' });

    // THEN
    expect(plainEnv(template).CIB_TARGET).toEqual('prod');
  });

  test('carry no target when none is given', () => {
    // WHEN
    const { template } = synth();

    // THEN
    expect(plainEnv(template)).not.toHaveProperty('CIB_TARGET');
  });

  test('carry the network mode', () => {
    // WHEN
    const { template } = synth({ networkMode: ecr_assets.NetworkMode.HOST });

    // THEN
    expect(plainEnv(template).CIB_NETWORK_MODE).toEqual('host');
  });

  test('turn provenance off by default', () => {
    // WHEN
    const { template } = synth();

    // THEN
    expect(plainEnv(template).CIB_PROVENANCE).toEqual('false');
  });

  test('turn provenance on when asked', () => {
    // WHEN
    const { template } = synth({ provenance: true });

    // THEN
    expect(plainEnv(template).CIB_PROVENANCE).toEqual('true');
  });

  test('carry the container name', () => {
    // WHEN
    const { template } = synth({ containerName: 'web' });

    // THEN
    expect(plainEnv(template).CIB_CONTAINER_NAME).toEqual('web');
  });

  test('name the default BuildKit image: a release pinned by the digest of its image index', () => {
    // WHEN
    const { template } = synth();

    // THEN
    expect(plainEnv(template).CIB_BUILDER_IMAGE).toEqual(
      'moby/buildkit:v0.33.1@sha256:cec9f139f45e93c5c69c60f8b07cfad9f43f4ef6b6a6cd917527fea5ff2e3dea');
  });

  test('name a custom BuildKit image', () => {
    // WHEN
    const { template } = synth({
      cache: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: 'public.ecr.aws/docker/buildkit:v0.13.2' }) }),
    });

    // THEN
    expect(plainEnv(template).CIB_BUILDER_IMAGE).toEqual('public.ecr.aws/docker/buildkit:v0.13.2');
  });

  test('name no BuildKit image with the current driver', () => {
    // WHEN
    const { template } = synth({ cache: CacheStrategy.registry({ builder: BuildxBuilder.currentDriver() }) });

    // THEN
    expect(plainEnv(template)).not.toHaveProperty('CIB_BUILDER_IMAGE');
    expect(buildSpec(template).phases.pre_build.commands.filter((c: string) => c.includes('buildx create'))).toEqual([]);
  });

  test('number fixed image tags in order', () => {
    // WHEN
    const { template } = synth({ imageTags: [ImageTag.of('stable'), ImageTag.commit(), ImageTag.of('latest')] });

    // THEN
    expect(plainEnv(template)).toMatchObject({ CIB_IMAGE_TAG_1: 'stable', CIB_IMAGE_TAG_2: 'latest' });
  });

  test('include the user environment variables unchanged', () => {
    // WHEN
    const { template } = synth({
      environmentVariables: {
        FOO: { value: 'bar' },
        NPM_TOKEN: { type: codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER, value: 'npm-token' },
      },
    });

    // THEN
    const env = projectEnv(template);
    expect(env.FOO).toEqual({ Name: 'FOO', Type: 'PLAINTEXT', Value: 'bar' });
    expect(env.NPM_TOKEN).toEqual({ Name: 'NPM_TOKEN', Type: 'SECRETS_MANAGER', Value: 'npm-token' });
    expect(env.CIB_PLATFORM).toBeDefined();
  });
});

import {
  App,
  Duration,
  Stack,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_codepipeline_actions as codepipeline_actions,
  aws_ecr as ecr,
  aws_ecr_assets as ecr_assets,
  aws_iam as iam,
  aws_secretsmanager as secretsmanager,
  aws_ssm as ssm,
} from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PULL_ACTIONS, PUSH_PULL_ACTIONS } from './ecr-actions';
import { BuildSecret, BuildxBuilder, CacheStrategy, CachedImageBuild, CachedImageBuildProps, ImageTag } from '../src';

function newStack(): Stack {
  return new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: 'us-east-1' } });
}

/** A stack with a CachedImageBuild 'Api', not yet synthesized. */
function create(props: CachedImageBuildProps = {}): { stack: Stack; build: CachedImageBuild } {
  const stack = newStack();
  const build = new CachedImageBuild(stack, 'Api', props);
  return { stack, build };
}

/** A stack with a CachedImageBuild 'Api', and its template. */
function synth(props: CachedImageBuildProps = {}): { stack: Stack; build: CachedImageBuild; template: Template } {
  const { stack, build } = create(props);
  return { stack, build, template: Template.fromStack(stack) };
}

/** The one resource of a type matching the given properties, as [logicalId, resource]. */
function onlyResource(template: Template, type: string, props: any = {}): [string, any] {
  const found = Object.entries(template.findResources(type, props));
  expect(found).toHaveLength(1);
  return found[0];
}

function appRepository(template: Template): [string, any] {
  return onlyResource(template, 'AWS::ECR::Repository', { Properties: { ImageScanningConfiguration: { ScanOnPush: true } } });
}

function cacheRepository(template: Template): [string, any] {
  return onlyResource(template, 'AWS::ECR::Repository', { Properties: { ImageTagMutability: 'MUTABLE' } });
}

function lifecycleRules(template: Template): any[] {
  const [, repo] = cacheRepository(template);
  return JSON.parse(repo.Properties.LifecyclePolicy.LifecyclePolicyText).rules;
}

function projectOf(template: Template): any {
  return onlyResource(template, 'AWS::CodeBuild::Project')[1];
}

/** Environment variables of the one CodeBuild project, by name. */
function projectEnv(template: Template): Record<string, any> {
  const vars: any[] = projectOf(template).Properties.Environment.EnvironmentVariables ?? [];
  const out: Record<string, any> = {};
  for (const v of vars) {
    expect(out).not.toHaveProperty(v.Name);
    out[v.Name] = v;
  }
  return out;
}

function plainEnv(template: Template): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [name, v] of Object.entries(projectEnv(template))) {
    expect(v.Type).toEqual('PLAINTEXT');
    out[name] = v.Value;
  }
  return out;
}

function buildSpec(template: Template): any {
  const spec = projectOf(template).Properties.Source.BuildSpec;
  expect(typeof spec).toBe('string');
  return JSON.parse(spec);
}

function buildCommand(template: Template): string {
  const commands: string[] = buildSpec(template).phases.build.commands;
  const builds = commands.filter((c) => c.includes('docker buildx build'));
  expect(builds).toHaveLength(1);
  return builds[0];
}

/** ECR permissions the policies attached to a role grant: resource (as JSON) -> sorted actions. */
function ecrPermissionsOfRole(template: Template, roleId: string): Record<string, string[]> {
  const policies = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p: any) => (p.Properties.Roles as any[]).some((r) => r.Ref === roleId));
  expect(policies.length).toBeGreaterThan(0);
  const byResource: Record<string, Set<string>> = {};
  for (const policy of policies) {
    for (const statement of (policy as any).Properties.PolicyDocument.Statement) {
      const actions: string[] = [statement.Action].flat();
      const ecrActions = actions.filter((a) => a.startsWith('ecr') || a === '*');
      if (ecrActions.length === 0) continue;
      expect(statement.Effect).toEqual('Allow');
      expect(statement.Condition).toBeUndefined();
      for (const resource of [statement.Resource].flat()) {
        const key = JSON.stringify(resource);
        byResource[key] = byResource[key] ?? new Set();
        ecrActions.forEach((a) => byResource[key].add(a));
      }
    }
  }
  return Object.fromEntries(Object.entries(byResource).map(([k, v]) => [k, [...v].sort()]));
}

function ecrPermissionsOfProjectRole(template: Template): Record<string, string[]> {
  return ecrPermissionsOfRole(template, projectOf(template).Properties.ServiceRole['Fn::GetAtt'][0]);
}

describe('application repository', () => {
  test('is retained when the stack is deleted', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.DeletionPolicy).toEqual('Retain');
    expect(repo.UpdateReplacePolicy).toEqual('Retain');
  });

  test('has the given name and scans images on push', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'team/api' });

    // THEN
    template.hasResourceProperties('AWS::ECR::Repository', {
      RepositoryName: 'team/api',
      ImageScanningConfiguration: { ScanOnPush: true },
    });
  });

  test('has a generated name when no repositoryName is given', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.Properties.RepositoryName).toBeUndefined();
  });

  test('keeps tags immutable except latest by default', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.Properties.ImageTagMutability).toEqual('IMMUTABLE_WITH_EXCLUSION');
    expect(repo.Properties.ImageTagMutabilityExclusionFilters).toEqual([
      { ImageTagMutabilityExclusionFilterType: 'WILDCARD', ImageTagMutabilityExclusionFilterValue: 'latest' },
    ]);
  });

  test('excludes every fixed tag from immutability', () => {
    // WHEN
    const { template } = synth({ imageTags: [ImageTag.commit(), ImageTag.of('latest'), ImageTag.of('stable')] });

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.Properties.ImageTagMutabilityExclusionFilters).toEqual([
      { ImageTagMutabilityExclusionFilterType: 'WILDCARD', ImageTagMutabilityExclusionFilterValue: 'latest' },
      { ImageTagMutabilityExclusionFilterType: 'WILDCARD', ImageTagMutabilityExclusionFilterValue: 'stable' },
    ]);
  });

  test('is IMMUTABLE without exclusions when no fixed tag is given', () => {
    // WHEN
    const { template } = synth({ imageTags: [ImageTag.commit()] });

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.Properties.ImageTagMutability).toEqual('IMMUTABLE');
    expect(repo.Properties.ImageTagMutabilityExclusionFilters).toBeUndefined();
  });
});

describe('cache repository', () => {
  test('is named <repositoryName>-cache', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = cacheRepository(template);
    expect(repo.Properties.RepositoryName).toEqual('api-cache');
  });

  test('is named after an imported repository with a literal name', () => {
    // GIVEN
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Imported', 'team/api');

    // WHEN
    new CachedImageBuild(stack, 'Api', { repository });

    // THEN
    Template.fromStack(stack).hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'team/api-cache' });
  });

  test('has a generated name when the application repository has none', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const [, repo] = cacheRepository(template);
    expect(repo.Properties.RepositoryName).toBeUndefined();
  });

  test('keeps tags mutable and does not scan on push', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = cacheRepository(template);
    expect(repo.Properties.ImageTagMutability).toEqual('MUTABLE');
    expect(repo.Properties.ImageScanningConfiguration).toEqual({ ScanOnPush: false });
  });

  test('is emptied and deleted with the stack', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = cacheRepository(template);
    expect(repo.Properties.EmptyOnDelete).toBe(true);
    expect(repo.DeletionPolicy).toEqual('Delete');
  });

  test('has three lifecycle rules in priority order', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    expect(lifecycleRules(template).map((r) => r.rulePriority)).toEqual([1, 2, 3]);
  });

  test('lifecycle rule 1 protects the default branch cache tag', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const rule = lifecycleRules(template)[0];
    expect(rule.rulePriority).toEqual(1);
    expect(rule.selection).toEqual({ tagStatus: 'tagged', tagPatternList: ['main'], countType: 'imageCountMoreThan', countNumber: 1 });
    expect(rule.action).toEqual({ type: 'expire' });
  });

  test('lifecycle rule 2 expires untagged manifests after 1 day', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const rule = lifecycleRules(template)[1];
    expect(rule.rulePriority).toEqual(2);
    expect(rule.selection).toEqual({ tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' });
    expect(rule.action).toEqual({ type: 'expire' });
  });

  test('lifecycle rule 3 expires any other cache after 14 days by default', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const rule = lifecycleRules(template)[2];
    expect(rule.rulePriority).toEqual(3);
    expect(rule.selection).toEqual({ tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 14, countUnit: 'days' });
    expect(rule.action).toEqual({ type: 'expire' });
  });

  test('lifecycle rule 3 follows cacheRetention', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cacheRetention: Duration.days(30) });

    // THEN
    expect(lifecycleRules(template)[2].selection).toMatchObject({ countType: 'sinceImagePushed', countNumber: 30, countUnit: 'days' });
  });

  test('accepts a cacheRetention given in hours that makes whole days', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cacheRetention: Duration.hours(48) });

    // THEN
    expect(lifecycleRules(template)[2].selection).toMatchObject({ countNumber: 2, countUnit: 'days' });
  });

  test('protects the tag of a default branch with a slash', () => {
    // WHEN
    const { build, template } = synth({ repositoryName: 'api', defaultBranch: 'release/1.x' });

    // THEN
    expect(lifecycleRules(template)[0].selection.tagPatternList).toEqual(['release-1.x']);
    expect(build.defaultCacheTag).toEqual('release-1.x');
    expect(plainEnv(template).CIB_DEFAULT_CACHE_TAG).toEqual('release-1.x');
  });

  test('is not created when cacheRepository is given', () => {
    // GIVEN
    const stack = newStack();
    const cache = ecr.Repository.fromRepositoryName(stack, 'Cache', 'shared-cache');

    // WHEN
    const build = new CachedImageBuild(stack, 'Api', { repositoryName: 'api', cacheRepository: cache });

    // THEN
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::ECR::Repository', 1);
    expect(build.cacheRepository).toBe(cache);
    expect(JSON.stringify(plainEnv(template).CIB_CACHE_REPOSITORY_URI)).toContain('/shared-cache');
  });

  test('imported repository and imported cache repository create no ECR repository', () => {
    // GIVEN
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repo', 'api');
    const cache = ecr.Repository.fromRepositoryName(stack, 'Cache', 'api-cache');

    // WHEN
    const build = new CachedImageBuild(stack, 'Api', { repository, cacheRepository: cache });

    // THEN
    Template.fromStack(stack).resourceCountIs('AWS::ECR::Repository', 0);
    expect(build.repository).toBe(repository);
    expect(build.cacheRepository).toBe(cache);
  });

  test('is not created for CacheStrategy.none()', () => {
    // WHEN
    const { build, template } = synth({ repositoryName: 'api', cache: CacheStrategy.none() });

    // THEN
    template.resourceCountIs('AWS::ECR::Repository', 1);
    template.resourcePropertiesCountIs('AWS::ECR::Repository', { RepositoryName: 'api-cache' }, 0);
    expect(build.cacheRepository).toBeUndefined();
    expect(plainEnv(template)).not.toHaveProperty('CIB_CACHE_REPOSITORY_URI');
  });

  test('CacheStrategy.none() with a cacheRepository throws', () => {
    // GIVEN
    const stack = newStack();
    const cache = ecr.Repository.fromRepositoryName(stack, 'Cache', 'api-cache');

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'Api', { cache: CacheStrategy.none(), cacheRepository: cache }))
      .toThrow(/cacheRepository is not used by cache strategy 'none'/);
  });
});

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
    const { template } = synth({ buildImage: codebuild.LinuxBuildImage.STANDARD_8_0 });

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

  test('name the default BuildKit image', () => {
    // WHEN
    const { template } = synth();

    // THEN
    expect(plainEnv(template).CIB_BUILDER_IMAGE).toEqual('moby/buildkit:buildx-stable-1');
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

describe('buildspec', () => {
  test('is version 0.2 and runs bash', () => {
    // WHEN
    const spec = buildSpec(synth().template);

    // THEN
    expect(spec.version).toEqual('0.2');
    expect(spec.env.shell).toEqual('bash');
  });

  test('exports IMAGE_URI, IMAGE_TAG, IMAGE_DIGEST, CACHE_HIT_RATIO and CACHED_STEPS', () => {
    // WHEN
    const spec = buildSpec(synth().template);

    // THEN
    expect(spec.env['exported-variables']).toEqual(['IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST', 'CACHE_HIT_RATIO', 'CACHED_STEPS']);
  });

  test('leaves imagedefinitions.json and imageDetail.json as artifacts', () => {
    // WHEN
    const spec = buildSpec(synth().template);

    // THEN
    expect(spec.artifacts.files).toEqual(['imagedefinitions.json', 'imageDetail.json']);
  });

  test('aborts every phase on failure', () => {
    // WHEN
    const spec = buildSpec(synth().template);

    // THEN
    const phases = Object.values(spec.phases) as any[];
    expect(Object.keys(spec.phases)).toEqual(expect.arrayContaining(['pre_build', 'build', 'post_build']));
    expect(phases.filter((p) => p['on-failure'] !== 'ABORT')).toEqual([]);
  });

  test('exports a mode=max image-manifest registry cache that may fail without failing the build', () => {
    // WHEN
    const { template } = synth();
    const command = buildCommand(template);

    // THEN: the build exports to CIB_CACHE_TO, which pre_build sets
    expect(command).toContain('--cache-to "$CIB_CACHE_TO"');
    const setting = (buildSpec(template).phases.pre_build.commands as string[]).filter((c) => c.startsWith('CIB_CACHE_TO='));
    expect(setting).toHaveLength(1);
    const cacheTo = /^CIB_CACHE_TO="([^"]*)"$/.exec(setting[0])![1];
    expect(cacheTo).toMatch(/^type=registry,ref=\$CIB_CACHE_REPOSITORY_URI:\$CIB_CACHE_TAG,/);
    for (const option of ['mode=max', 'image-manifest=true', 'oci-mediatypes=true', 'ignore-error=true']) {
      expect(cacheTo.split(',')).toContain(option);
    }
  });

  test('imports the branch cache and the default branch cache', () => {
    // WHEN
    const command = buildCommand(synth().template);

    // THEN
    expect(command).toContain('--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG"');
    expect(command).toContain('--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_DEFAULT_CACHE_TAG"');
  });

  test('uses no cache with CacheStrategy.none()', () => {
    // WHEN
    const command = buildCommand(synth({ cache: CacheStrategy.none() }).template);

    // THEN
    expect(command).toContain('--no-cache');
    expect(command).not.toMatch(/--cache-(from|to)/);
  });

  test('contains no user value: build args, target and paths stay in the environment', () => {
    // WHEN
    const { template } = synth({
      buildArgs: { MARKER_ARG: 'zq-argvalue' },
      target: 'zq-target',
      dockerfile: 'zq-dir/Dockerfile',
      buildContext: 'zq-context',
      imageTags: [ImageTag.of('zq-tag')],
      containerName: 'zq-container',
      defaultBranch: 'zq-branch',
    });

    // THEN
    expect(projectOf(template).Properties.Source.BuildSpec).not.toMatch(/zq-|MARKER_ARG/);
    expect(JSON.stringify(plainEnv(template)).match(/zq-[a-z]+/g)?.sort()).toEqual([
      'zq-argvalue', 'zq-branch', 'zq-container', 'zq-context', 'zq-dir', 'zq-tag', 'zq-target',
    ]);
  });
});

describe('toCodeBuildAction', () => {
  function pipelineWith(build: CachedImageBuild, options: { branch?: boolean; output?: boolean; namespace?: string } = {}) {
    const stack = Stack.of(build);
    const source = new codepipeline.Artifact('Source');
    const sourceAction = new codepipeline_actions.CodeStarConnectionsSourceAction({
      actionName: 'Checkout',
      connectionArn: 'arn:aws:codeconnections:us-east-1:123456789012:connection/abc',
      owner: 'octo',
      repo: 'api',
      branch: 'main',
      output: source,
      variablesNamespace: 'SourceVariables',
    });
    const action = build.toCodeBuildAction({
      input: source,
      output: options.output ? new codepipeline.Artifact('Image') : undefined,
      branch: options.branch ? sourceAction.variables.branchName : undefined,
      variablesNamespace: options.namespace,
    });
    new codepipeline.Pipeline(stack, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      crossAccountKeys: false,
      stages: [
        { stageName: 'Source', actions: [sourceAction] },
        { stageName: 'Build', actions: [action] },
      ],
    });
    return { action, template: Template.fromStack(stack) };
  }

  function buildAction(template: Template): any {
    const [, pipeline] = onlyResource(template, 'AWS::CodePipeline::Pipeline');
    const stage = (pipeline.Properties.Stages as any[]).find((s) => s.Name === 'Build');
    expect(stage.Actions).toHaveLength(1);
    return stage.Actions[0];
  }

  test('runs the project on the source artifact with the BuildImage namespace by default', () => {
    // GIVEN
    const { build } = create();

    // WHEN
    const { template } = pipelineWith(build);

    // THEN
    const [projectId] = onlyResource(template, 'AWS::CodeBuild::Project');
    const action = buildAction(template);
    expect(action).toMatchObject({
      Name: 'BuildImage',
      Namespace: 'BuildImage',
      ActionTypeId: { Category: 'Build', Provider: 'CodeBuild' },
      Configuration: { ProjectName: { Ref: projectId } },
      InputArtifacts: [{ Name: 'Source' }],
    });
    expect(action.OutputArtifacts).toBeUndefined();
    expect(action.Configuration.EnvironmentVariables).toBeUndefined();
  });

  test('uses the given variables namespace, and the action exposes IMAGE_URI in it', () => {
    // GIVEN
    const { build } = create();

    // WHEN
    const { action, template } = pipelineWith(build, { namespace: 'Image' });

    // THEN
    expect(buildAction(template).Namespace).toEqual('Image');
    expect(Stack.of(build).resolve(action.variable('IMAGE_URI'))).toEqual('#{Image.IMAGE_URI}');
  });

  test('passes the branch as CIB_BRANCH when given', () => {
    // GIVEN
    const { build } = create();

    // WHEN
    const { template } = pipelineWith(build, { branch: true });

    // THEN
    expect(JSON.parse(buildAction(template).Configuration.EnvironmentVariables)).toEqual([
      { name: 'CIB_BRANCH', type: 'PLAINTEXT', value: '#{SourceVariables.BranchName}' },
    ]);
  });

  test('writes to the output artifact when given', () => {
    // GIVEN
    const { build } = create();

    // WHEN
    const { template } = pipelineWith(build, { output: true });

    // THEN
    expect(buildAction(template).OutputArtifacts).toEqual([{ Name: 'Image' }]);
  });

  test('throws for a build with a source', () => {
    // GIVEN
    const { build } = create({ source: codebuild.Source.gitHub({ owner: 'octo', repo: 'api' }) });

    // WHEN / THEN
    expect(() => build.toCodeBuildAction({ input: new codepipeline.Artifact('Source') }))
      .toThrow(/toCodeBuildAction\(\) needs a CachedImageBuild created without source/);
  });

  test('throws for an invalid variables namespace', () => {
    // GIVEN
    const { build } = create();

    // WHEN / THEN
    expect(() => build.toCodeBuildAction({ input: new codepipeline.Artifact('Source'), variablesNamespace: 'no spaces' }))
      .toThrow(/variablesNamespace/);
  });
});

describe('imageUri', () => {
  function importedBuild(imageTags?: ImageTag[]) {
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repo', 'api');
    const build = new CachedImageBuild(stack, 'Api', { repository, imageTags });
    return { stack, repository, build };
  }

  test('is the repository URI with :latest by default', () => {
    // WHEN
    const { stack, repository, build } = importedBuild();

    // THEN
    expect(stack.resolve(build.imageUri)).toEqual(stack.resolve(repository.repositoryUriForTag('latest')));
    expect(JSON.stringify(stack.resolve(build.imageUri))).toContain('/api:latest');
  });

  test('uses the first fixed tag', () => {
    // WHEN
    const { stack, repository, build } = importedBuild([ImageTag.commit(), ImageTag.of('stable'), ImageTag.of('latest')]);

    // THEN
    expect(stack.resolve(build.imageUri)).toEqual(stack.resolve(repository.repositoryUriForTag('stable')));
  });

  test('is the bare repository URI when no fixed tag is given', () => {
    // WHEN
    const { stack, repository, build } = importedBuild([ImageTag.commit()]);

    // THEN
    expect(stack.resolve(build.imageUri)).toEqual(stack.resolve(repository.repositoryUri));
  });
});

describe('inline cache strategy', () => {
  test('protects every default-branch cache tag <tag>-e* and expires the rest by age', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.inline(), cacheRetention: Duration.days(7) });

    // THEN
    const rules = lifecycleRules(template);
    expect(rules.map((r) => r.rulePriority)).toEqual([1, 2, 3]);
    expect(rules[0].selection).toEqual({ tagStatus: 'tagged', tagPatternList: ['main-e*'], countType: 'imageCountMoreThan', countNumber: 1000 });
    expect(rules[1].selection).toEqual({ tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' });
    expect(rules[2].selection).toEqual({ tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 7, countUnit: 'days' });
  });

  test('may also list the images of the cache repository, and nothing more', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.inline() });

    // THEN
    const [appId] = appRepository(template);
    const [cacheId] = cacheRepository(template);
    expect(ecrPermissionsOfProjectRole(template)).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PUSH_PULL_ACTIONS,
      [JSON.stringify({ 'Fn::GetAtt': [cacheId, 'Arn'] })]: [...PUSH_PULL_ACTIONS, 'ecr:ListImages'].sort(),
    });
  });

  test('passes the cache repository name, which no other strategy needs', () => {
    // WHEN
    const inline = synth({ repositoryName: 'api', cache: CacheStrategy.inline() }).template;
    const registry = synth({ repositoryName: 'api' }).template;

    // THEN
    const [cacheId] = cacheRepository(inline);
    expect(plainEnv(inline).CIB_CACHE_REPOSITORY_NAME).toEqual({ Ref: cacheId });
    expect(plainEnv(registry)).not.toHaveProperty('CIB_CACHE_REPOSITORY_NAME');
  });

  test('builds with docker build and BUILDKIT_INLINE_CACHE, and creates no buildx builder', () => {
    // WHEN
    const { template } = synth({ cache: CacheStrategy.inline() });

    // THEN
    const commands: string[] = Object.values<any>(buildSpec(template).phases).flatMap((p) => p.commands);
    expect(commands.filter((c) => c.includes('DOCKER_BUILDKIT=1 docker build') && c.includes('--build-arg BUILDKIT_INLINE_CACHE=1'))).toHaveLength(1);
    expect(commands.filter((c) => c.includes('buildx'))).toEqual([]);
    expect(plainEnv(template)).not.toHaveProperty('CIB_BUILDER_IMAGE');
  });
});

describe('buildah cache strategy', () => {
  test('expires every cache tag by age: no tag is the default branch cache', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.buildah(), cacheRetention: Duration.days(30) });

    // THEN
    const rules = lifecycleRules(template);
    expect(rules.map((r) => r.rulePriority)).toEqual([2, 3]);
    expect(rules[0].selection).toEqual({ tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' });
    expect(rules[1].selection).toEqual({ tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 30, countUnit: 'days' });
  });

  test('may push and pull the two repositories and get an ECR token, nothing else ECR-wise', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.buildah() });

    // THEN
    const [appId] = appRepository(template);
    const [cacheId] = cacheRepository(template);
    expect(ecrPermissionsOfProjectRole(template)).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PUSH_PULL_ACTIONS,
      [JSON.stringify({ 'Fn::GetAtt': [cacheId, 'Arn'] })]: PUSH_PULL_ACTIONS,
    });
  });

  test('installs buildah in the install phase, which aborts on failure', () => {
    // WHEN
    const { template } = synth({ cache: CacheStrategy.buildah() });

    // THEN
    const install = buildSpec(template).phases.install;
    expect(install['on-failure']).toEqual('ABORT');
    expect(install.commands[1]).toEqual('buildah --version');
  });
});

describe('build secrets', () => {
  function withSecrets() {
    const stack = newStack();
    const token = secretsmanager.Secret.fromSecretNameV2(stack, 'Token', 'npm-token');
    const param = ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Param', { parameterName: '/ci/pip-index' });
    new CachedImageBuild(stack, 'Api', {
      repositoryName: 'api',
      buildSecrets: {
        'npm_token': BuildSecret.fromSecretsManager(token, { jsonField: 'token' }),
        'pip.conf': BuildSecret.fromSsmParameter(param),
      },
    });
    return Template.fromStack(stack);
  }

  test('resolve into CodeBuild secret variables, their ids into plain ones', () => {
    // WHEN
    const template = withSecrets();

    // THEN
    const env = projectEnv(template);
    expect(env.CIB_SECRET_1.Type).toEqual('SECRETS_MANAGER');
    expect(JSON.stringify(env.CIB_SECRET_1.Value)).toContain(':secret:npm-token');
    expect(JSON.stringify(env.CIB_SECRET_1.Value)).toMatch(/:token::"\]\]\}$/);
    expect(env.CIB_SECRET_2).toEqual({ Name: 'CIB_SECRET_2', Type: 'PARAMETER_STORE', Value: '/ci/pip-index' });
    expect(env.CIB_SECRET_1_ID).toEqual({ Name: 'CIB_SECRET_1_ID', Type: 'PLAINTEXT', Value: 'npm_token' });
    expect(env.CIB_SECRET_2_ID).toEqual({ Name: 'CIB_SECRET_2_ID', Type: 'PLAINTEXT', Value: 'pip.conf' });
  });

  test('reach the builder as files named in --secret, never as values on a command line', () => {
    // WHEN
    const template = withSecrets();

    // THEN
    const command = buildCommand(template);
    expect(command).toContain('--secret "id=$CIB_SECRET_1_ID,src=$CIB_SECRET_1_FILE"');
    expect(command).toContain('--secret "id=$CIB_SECRET_2_ID,src=$CIB_SECRET_2_FILE"');
    const all: string[] = Object.values<any>(buildSpec(template).phases).flatMap((p) => p.commands);
    expect(all.filter((c) => /\$CIB_SECRET_[0-9]+"/.test(c))).toEqual([
      'printf \'%s\' "$CIB_SECRET_1" > "$CIB_SECRET_1_FILE"',
      'printf \'%s\' "$CIB_SECRET_2" > "$CIB_SECRET_2_FILE"',
    ]);
    expect(all).toContain('rm -f "$CIB_SECRET_1_FILE" "$CIB_SECRET_2_FILE"');
  });

  test('the project may read these secrets', () => {
    // WHEN
    const template = withSecrets();

    // THEN
    const statements = Object.values<any>(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    const secrets = statements.filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(secrets.length).toBeGreaterThan(0);
    expect(JSON.stringify(secrets)).toContain(':secret:npm-token');
    const params = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('ssm:GetParameter')));
    expect(params.length).toBeGreaterThan(0);
    expect(JSON.stringify(params)).toContain('parameter/ci/pip-index');
  });

  test.each(['', 'a b', 'x'.repeat(65), '..', 'a/b', 'id=x,src=/etc/passwd'])('reject the secret id %j', (id) => {
    // GIVEN
    const stack = newStack();
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'n');

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'Api', { buildSecrets: { [id]: BuildSecret.fromSecretsManager(secret) } }))
      .toThrow(/buildSecrets: secret id .* must be 1 to 64 characters from \[A-Za-z0-9_.-\]/);
  });
});

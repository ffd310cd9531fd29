import {
  Stack,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_codepipeline_actions as codepipeline_actions,
  aws_ecr as ecr,
  aws_ecr_assets as ecr_assets,
} from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CachedImageBuild, CachedImageBuildProps, CacheStrategy, ImageTag, PullRequestPolicy } from '../../src';
import { appRepository, lifecycleRules, newStack } from '../helpers/construct';
import { EcrImage, expiredImages } from '../helpers/ecr-lifecycle';

const BOTH = [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.LINUX_ARM64];
const github = (batch: boolean) => codebuild.Source.gitHub({
  owner: 'octo',
  repo: 'api',
  webhook: true,
  webhookTriggersBatchBuild: batch,
  webhookFilters: [codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH).andBranchIs('main')],
});

function synthMulti(props: CachedImageBuildProps = {}) {
  const stack = newStack();
  const build = new CachedImageBuild(stack, 'Api', { repositoryName: 'api', platforms: BOTH, ...props });
  return { stack, build, template: Template.fromStack(stack) };
}
const projects = (t: Template) => Object.entries<any>(t.findResources('AWS::CodeBuild::Project'));
const buildSpecOf = (p: any) => JSON.parse(p.Properties.Source.BuildSpec);
const envOf = (p: any) => Object.fromEntries((p.Properties.Environment.EnvironmentVariables ?? []).map((v: any) => [v.Name, v.Value]));

describe('platforms: validation', () => {
  test.each<[string, CachedImageBuildProps, RegExp]>([
    ['with platform', { platform: ecr_assets.Platform.LINUX_ARM64 }, /^platform and platforms are exclusive/],
    ['one platform', { platforms: [ecr_assets.Platform.LINUX_ARM64] }, /^platforms needs at least two platforms .* got linux\/arm64$/],
    ['a platform twice', { platforms: [ecr_assets.Platform.LINUX_ARM64, ecr_assets.Platform.LINUX_ARM64] }, /^platforms must not name a platform twice/],
    ['an unsupported platform', { platforms: [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.custom('linux/riscv64')] },
      /^platforms: each platform must be one of linux\/amd64, linux\/arm64; got 'linux\/riscv64'$/],
    ['a buildImage', { buildImage: codebuild.LinuxBuildImage.STANDARD_7_0 }, /^buildImage cannot be combined with platforms/],
    ['a fixed tag ending in -arm64', { imageTags: [ImageTag.commit(), ImageTag.of('latest-arm64')] }, /^imageTags: with platforms, a fixed tag must not end in -arm64/],
    ['a fixed tag of 123 characters', { imageTags: [ImageTag.of('a'.repeat(123))] }, /^imageTags: with platforms, a fixed tag may have at most 122 characters/],
    ['too many mutable tags', { imageTags: [ImageTag.commit(), ImageTag.of('latest'), ImageTag.of('stable')] }, /imageTags may hold at most 5 mutable tags/],
    ['a webhook that starts single builds', { source: github(false) }, /^platforms with a source: the webhook must start batch builds .* webhookTriggersBatchBuild: true/],
  ])('rejects %s', (_name, props, message) => {
    expect(() => synthMulti(props)).toThrow(message);
  });
});

describe('platforms: standalone (a source): one batch project', () => {
  const { template, build } = synthMulti({ source: github(true) });
  const [, project] = projects(template)[0];
  const spec = buildSpecOf(project);

  test('one project, batch builds enabled with a service role and restrictions', () => {
    expect(projects(template)).toHaveLength(1);
    expect(build.projects).toHaveLength(1);
    expect(project.Properties.BuildBatchConfig.ServiceRole).toBeDefined();
    expect(project.Properties.BuildBatchConfig.Restrictions).toEqual({
      MaximumBuildsAllowed: 3, ComputeTypesAllowed: ['BUILD_GENERAL1_SMALL'],
    });
    expect(project.Properties.Triggers.BuildType).toBe('BUILD_BATCH');
  });

  test('the build graph: one native build per architecture, then the index depending on both', () => {
    expect(spec.batch['fast-fail']).toBe(true);
    expect(spec.batch['build-graph']).toEqual([
      {
        'identifier': 'build_amd64',
        'env': {
          'type': 'LINUX_CONTAINER',
          'image': 'aws/codebuild/standard:7.0',
          'compute-type': 'BUILD_GENERAL1_SMALL',
          'privileged-mode': true,
          'variables': { CIB_STEP: 'build', CIB_PLATFORM: 'linux/amd64', CIB_ARCH: 'amd64' },
        },
        'ignore-failure': false,
      },
      {
        'identifier': 'build_arm64',
        'env': {
          'type': 'ARM_CONTAINER',
          'image': 'aws/codebuild/amazonlinux2-aarch64-standard:3.0',
          'compute-type': 'BUILD_GENERAL1_SMALL',
          'privileged-mode': true,
          'variables': { CIB_STEP: 'build', CIB_PLATFORM: 'linux/arm64', CIB_ARCH: 'arm64' },
        },
        'ignore-failure': false,
      },
      {
        'identifier': 'image_index',
        'env': {
          'type': 'LINUX_CONTAINER',
          'image': 'aws/codebuild/standard:7.0',
          'compute-type': 'BUILD_GENERAL1_SMALL',
          'privileged-mode': true,
          'variables': { CIB_STEP: 'index', CIB_PLATFORM: 'linux/amd64', CIB_ARCH: 'amd64' },
        },
        'depend-on': ['build_amd64', 'build_arm64'],
        'ignore-failure': false,
      },
    ]);
  });

  test('the step variables are set per build, never in the project', () => {
    const env = envOf(project);
    for (const name of ['CIB_STEP', 'CIB_PLATFORM', 'CIB_ARCH']) expect(env).not.toHaveProperty(name);
    expect(env.CIB_ARCHITECTURES).toBe('amd64 arm64');
  });

  test('exports each platform\'s image URI as well as the index\'s', () => {
    expect(spec.env['exported-variables']).toEqual(expect.arrayContaining(['IMAGE_URI', 'IMAGE_DIGEST', 'IMAGE_URI_AMD64', 'IMAGE_URI_ARM64']));
  });

  test('the index step runs docker buildx imagetools create, without attestations, only in the index step', () => {
    const create = spec.phases.build.commands.filter((c: string) => c.includes('imagetools create'));
    expect(create).toHaveLength(1);
    expect(create[0]).toMatch(/^if \[ "\$CIB_STEP" = index \]; then /);
    expect(create[0]).not.toMatch(/provenance|sbom|attest/);
    // every strategy command runs in the build step only
    const buildx = spec.phases.build.commands.filter((c: string) => c.includes('docker buildx build'));
    expect(buildx).toHaveLength(1);
    expect(buildx[0]).toMatch(/^if \[ "\$CIB_STEP" = build \]; then /);
  });

  test('metrics: over both architectures by project, and per platform', () => {
    expect(build.metricCacheHitRatio().dimensions).toEqual({ ProjectName: expect.anything() });
    expect(build.metricForPlatform(ecr_assets.Platform.LINUX_ARM64, 'CacheHitRatio').dimensions)
      .toEqual({ ProjectName: expect.anything(), Platform: 'linux/arm64' });
    expect(spec.phases.post_build.commands.join('\n')).toContain('\\"Name\\":\\"Platform\\",\\"Value\\":\\"$CIB_PLATFORM\\"');
  });
});

describe('platforms: CodePipeline (no source)', () => {
  function pipeline(props: CachedImageBuildProps = {}) {
    const { stack, build } = (() => {
      const s = newStack();
      return { stack: s, build: new CachedImageBuild(s, 'Api', { repositoryName: 'api', platforms: BOTH, ...props }) };
    })();
    const source = new codepipeline.Artifact('Source');
    const output = new codepipeline.Artifact('Image');
    const p = new codepipeline.Pipeline(stack, 'Pipeline', { pipelineType: codepipeline.PipelineType.V2, crossAccountKeys: false });
    p.addStage({
      stageName: 'Source',
      actions: [new codepipeline_actions.S3SourceAction({ actionName: 'Src', bucket: s3Bucket(stack), bucketKey: 'src.zip', output: source })],
    });
    const actions = build.addToStage(p.addStage({ stageName: 'Build' }), { input: source, output });
    return { build, actions, template: Template.fromStack(stack) };
  }
  const { build, actions, template } = pipeline();

  test('one project per architecture, on its own host, with its platform', () => {
    const ps = projects(template).map(([, p]) => p);
    expect(ps).toHaveLength(2);
    expect(build.projects).toHaveLength(2);
    const byArch = Object.fromEntries(ps.map((p) => [envOf(p).CIB_ARCH, p]));
    expect(byArch.amd64.Properties.Environment).toMatchObject({ Type: 'LINUX_CONTAINER', Image: 'aws/codebuild/standard:7.0', PrivilegedMode: true });
    expect(byArch.arm64.Properties.Environment).toMatchObject({ Type: 'ARM_CONTAINER', Image: 'aws/codebuild/amazonlinux2-aarch64-standard:3.0' });
    expect(envOf(byArch.arm64).CIB_PLATFORM).toBe('linux/arm64');
    expect(buildSpecOf(byArch.arm64).batch).toBeUndefined();
  });

  test('per-architecture actions in parallel, then the index action with the output artifact', () => {
    const [stage] = template.findResources('AWS::CodePipeline::Pipeline', {}) && Object.values<any>(template.findResources('AWS::CodePipeline::Pipeline'))
      .map((r) => r.Properties.Stages.find((s: any) => s.Name === 'Build'));
    const summary = stage.Actions.map((a: any) => ({
      name: a.Name,
      runOrder: a.RunOrder,
      ns: a.Namespace,
      outputs: (a.OutputArtifacts ?? []).map((o: any) => o.Name),
      step: JSON.parse(a.Configuration.EnvironmentVariables).find((v: any) => v.name === 'CIB_STEP').value,
    }));
    expect(summary).toEqual([
      { name: 'BuildImage-amd64', runOrder: 1, ns: 'BuildImage-amd64', outputs: [], step: 'build' },
      { name: 'BuildImage-arm64', runOrder: 1, ns: 'BuildImage-arm64', outputs: [], step: 'build' },
      { name: 'BuildImage', runOrder: 2, ns: 'BuildImage', outputs: ['Image'], step: 'index' },
    ]);
    expect(actions).toHaveLength(3);
  });

  test('each project may push to the application and cache repositories', () => {
    const policies = Object.values<any>(template.findResources('AWS::IAM::Policy'));
    const pushers = policies.filter((p) => JSON.stringify(p.Properties.PolicyDocument).includes('ecr:PutImage'));
    const roles = new Set(pushers.flatMap((p) => p.Properties.Roles.map((r: any) => JSON.stringify(r))));
    expect(roles.size).toBe(2);
  });

  test('toCodeBuildAction() and the single-project metrics point to the per-platform ones', () => {
    expect(() => build.toCodeBuildAction({ input: new codepipeline.Artifact('X') })).toThrow(/use toCodeBuildActions\(\) or addToStage\(\)/);
    expect(() => build.metricCacheHitRatio()).toThrow(/use metricForPlatform\(\)/);
    expect(build.metricForPlatform(ecr_assets.Platform.LINUX_AMD64, 'CachedSteps').dimensions).toMatchObject({ Platform: 'linux/amd64' });
  });

  test('imageUri names the index; imageUriForPlatform the per-architecture tag of the first fixed tag', () => {
    const stack = Stack.of(build);
    expect(stack.resolve(build.imageUriForPlatform(ecr_assets.Platform.LINUX_ARM64))).toEqual(
      { 'Fn::Join': ['', [expect.anything(), '.dkr.ecr.', expect.anything(), '.', expect.anything(), '/', expect.anything(), ':latest-arm64']] });
    expect(() => build.imageUriForPlatform(ecr_assets.Platform.custom('linux/ppc64le'))).toThrow(/not one of this build's platforms/);
  });
});

function s3Bucket(stack: Stack) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const s3 = require('aws-cdk-lib').aws_s3;
  return s3.Bucket.fromBucketName(stack, 'SrcBucket', 'src-bucket');
}

describe('platforms: repositories', () => {
  test('the per-architecture tags of the fixed tags are mutable in the application repository', () => {
    const { template } = synthMulti();
    const filters = appRepository(template)[1].Properties.ImageTagMutabilityExclusionFilters
      .map((f: any) => f.ImageTagMutabilityExclusionFilterValue);
    expect(filters).toEqual(['latest', 'pr-*', 'latest-amd64', 'latest-arm64']);
  });

  test.each<[string, CacheStrategy, any[]]>([
    ['registry', CacheStrategy.registry(), ['main-amd64', 'main-arm64']],
    ['inline', CacheStrategy.inline(), ['main-amd64-e*', 'main-arm64-e*']],
  ])('%s: the cache repository keeps each architecture\'s default-branch cache, in a rule of its own', (_n, cache, kept) => {
    const rules = lifecycleRules(synthMulti({ cache }).template);
    expect(rules.map((r) => r.rulePriority)).toEqual([1, 2, 3, 4]);
    expect(rules.slice(0, 2).map((r) => r.selection.tagPatternList)).toEqual(kept.map((k) => [k]));
    expect(rules[2].selection.tagStatus).toBe('untagged');
    expect(rules[3].selection.tagStatus).toBe('any');
  });
});

describe('collisions between builds of one stack', () => {
  test('two builds of one imported repository (one per architecture) would create the same cache repository', () => {
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repo', 'api');
    new CachedImageBuild(stack, 'Amd64', { repository });
    expect(() => new CachedImageBuild(stack, 'Arm64', { repository, platform: ecr_assets.Platform.LINUX_ARM64 }))
      .toThrow(/^CachedImageBuild 'TestStack\/Arm64' would create the cache repository 'api-cache', which 'TestStack\/Amd64' creates already .* platforms: \[Platform.LINUX_AMD64, Platform.LINUX_ARM64\]/);
  });

  test('two builds pushing the commit tag and latest to one repository', () => {
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repo', 'api');
    const cacheRepository = ecr.Repository.fromRepositoryName(stack, 'Cache', 'api-cache');
    new CachedImageBuild(stack, 'Amd64', { repository, cacheRepository });
    expect(() => new CachedImageBuild(stack, 'Arm64', { repository, cacheRepository, platform: ecr_assets.Platform.LINUX_ARM64 }))
      .toThrow(/would push the commit tag, the git tag, 'latest', the pr-<number> tag to the repository that 'TestStack\/Amd64' pushes to \(api\)/);
  });

  test('two builds with their own tags may share a repository', () => {
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repo', 'api');
    const cacheRepository = ecr.Repository.fromRepositoryName(stack, 'Cache', 'api-cache');
    new CachedImageBuild(stack, 'Web', { repository, cacheRepository, imageTags: [ImageTag.of('web')], pullRequests: undefined });
    expect(() => new CachedImageBuild(stack, 'Worker', {
      repository, cacheRepository, imageTags: [ImageTag.of('worker')], pullRequests: PullRequestPolicy.buildOnly(),
    })).not.toThrow();
  });
});

describe('platforms: the cache repository\'s lifecycle rules, applied by the ECR model', () => {
  test.each<[string, CacheStrategy, (scope: string) => string]>([
    ['registry', CacheStrategy.registry(), (scope) => scope],
    ['inline', CacheStrategy.inline(), (scope) => `${scope}-e3`],
  ])('%s: each architecture\'s default-branch cache is never expired; other scopes and untagged manifests are', (_n, cache, tagOf) => {
    const rules = lifecycleRules(synthMulti({ cache }).template);
    const images: EcrImage[] = [
      { id: 'main-amd64', tags: [tagOf('main-amd64')], ageDays: 400 },
      { id: 'main-arm64', tags: [tagOf('main-arm64')], ageDays: 400 },
      { id: 'br-x-arm64', tags: [tagOf('br-x-arm64')], ageDays: 15 },
      { id: 'pr-7-amd64', tags: [tagOf('pr-7-amd64')], ageDays: 15 },
      { id: 'fresh-br-arm64', tags: [tagOf('br-y-arm64')], ageDays: 2 },
      { id: 'untagged', tags: [], ageDays: 2 },
    ];
    expect([...expiredImages(rules, images)].sort()).toEqual(['br-x-arm64', 'pr-7-amd64', 'untagged']);
  });
});

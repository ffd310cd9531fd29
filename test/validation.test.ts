import {
  App,
  CfnParameter,
  Duration,
  Lazy,
  Stack,
  aws_codebuild as codebuild,
  aws_ecr as ecr,
  aws_ecr_assets as ecr_assets,
} from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BuildxBuilder, CacheStrategy, CachedImageBuild, CachedImageBuildProps, ImageTag, LayerCompression, PullRequestPolicy } from '../src';

function newStack(): Stack {
  return new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: 'us-east-1' } });
}

/** A case: props built in the given stack (imports live outside the construct), and the expected error. */
type ErrorCase = [string, (stack: Stack) => CachedImageBuildProps, RegExp];

const ERROR_CASES: ErrorCase[] = [
  ['repository together with repositoryName',
    (s) => ({ repository: ecr.Repository.fromRepositoryName(s, 'Repo', 'api'), repositoryName: 'api' }),
    /repository or repositoryName, not both/],
  ['an uppercase repositoryName', () => ({ repositoryName: 'Api' }), /repositoryName must be lowercase/],
  ['a one-character repositoryName', () => ({ repositoryName: 'a' }), /repositoryName must be 2 to 256 characters/],
  ['a repositoryName longer than 256 characters', () => ({ repositoryName: 'a'.repeat(257) }), /repositoryName must be 2 to 256 characters/],
  ['a repositoryName with doubled dots', () => ({ repositoryName: 'a..b' }), /repositoryName must be lowercase/],
  ['a repositoryName with mixed separators', () => ({ repositoryName: 'a._b' }), /repositoryName must be lowercase/],
  ['a repositoryName starting with a separator', () => ({ repositoryName: '-api' }), /repositoryName must be lowercase/],
  ['a repositoryName ending with a slash', () => ({ repositoryName: 'team/' }), /repositoryName must be lowercase/],
  ['a repositoryName too long for the -cache suffix', () => ({ repositoryName: 'a'.repeat(251) }), /repositoryName \(with -cache appended/],
  ['a build argument name starting with a digit', () => ({ buildArgs: { '1A': 'x' } }), /buildArgs: build argument name '1A'/],
  ['a build argument name with a dash', () => ({ buildArgs: { 'A-B': 'x' } }), /buildArgs: build argument name 'A-B'/],
  ['a build argument name with a space', () => ({ buildArgs: { 'A B': 'x' } }), /buildArgs: build argument name 'A B'/],
  ['platform linux/386', () => ({ platform: ecr_assets.Platform.custom('linux/386') }), /platform must be one of linux\/amd64, linux\/arm64; got 'linux\/386'/],
  ['platform windows/amd64', () => ({ platform: ecr_assets.Platform.custom('windows/amd64') }), /platform must be one of .*got 'windows\/amd64'/],
  ['a dockerfile in the parent directory', () => ({ dockerfile: '../Dockerfile' }), /dockerfile must stay inside the build context/],
  ['an absolute dockerfile', () => ({ dockerfile: '/abs/Dockerfile' }), /dockerfile must be a path relative to the build context/],
  ['a dockerfile that climbs out after normalization', () => ({ dockerfile: 'a/../../x' }), /dockerfile must stay inside the build context/],
  ['a dockerfile with a line break', () => ({ dockerfile: 'Docker\nfile' }), /dockerfile must not contain NUL or line breaks/],
  ['an empty dockerfile', () => ({ dockerfile: '' }), /dockerfile must not be empty/],
  ['a buildContext outside the source', () => ({ buildContext: '../other' }), /buildContext must stay inside the source root/],
  ['an absolute buildContext', () => ({ buildContext: '/src' }), /buildContext must be a path relative to the source root/],
  ['a Windows absolute buildContext', () => ({ buildContext: 'C:\\src' }), /buildContext must be a path relative to the source root/],
  ['a target that is not a stage name', () => ({ target: 'prod stage' }), /target must be a Dockerfile stage name/],
  ['a reserved CIB_ environment variable',
    () => ({ environmentVariables: { CIB_BRANCH: { value: 'main' } } }),
    /environmentVariables: 'CIB_BRANCH' is reserved/],
  ['a cacheRetention of 36 hours', () => ({ cacheRetention: Duration.hours(36) }), /cacheRetention must be a whole number of days/],
  ['a cacheRetention of 90 minutes', () => ({ cacheRetention: Duration.minutes(90) }), /cacheRetention must be a whole number of days/],
  ['a cacheRetention from a CfnParameter (it is written into the lifecycle policy text)',
    (s) => ({ cacheRetention: Duration.days(new CfnParameter(s, 'Days', { type: 'Number' }).valueAsNumber) }),
    /cacheRetention must be a literal duration, not a token/],
  ['a cacheRetention of 0 days', () => ({ cacheRetention: Duration.days(0) }), /cacheRetention must be a whole number of days, at least 1/],
  ['the same fixed tag twice', () => ({ imageTags: [ImageTag.of('latest'), ImageTag.of('latest')] }), /imageTags must not name the same tag twice/],
  ['the commit tag twice', () => ({ imageTags: [ImageTag.commit(), ImageTag.commit()] }), /imageTags must not name the same tag twice/],
  ['no image tag', () => ({ imageTags: [] }), /imageTags must name at least one tag/],
  ['a fixed tag from a token for a repository the construct creates',
    (s) => ({ imageTags: [ImageTag.of(new CfnParameter(s, 'Tag').valueAsString)] }),
    /imageTags: a fixed tag given as a token needs an imported repository/],
  ['more than 5 mutable tags', () => ({ imageTags: ['a', 'b', 'c', 'd', 'e', 'f'].map((t) => ImageTag.of(t)) }), /imageTags may hold at most 5 mutable tags/],
  ['a containerName with a space', () => ({ containerName: 'my app' }), /containerName must match/],
  ['an empty containerName', () => ({ containerName: '' }), /containerName must match/],
  ['an ARM build image for linux/amd64', () => ({ buildImage: codebuild.LinuxArmBuildImage.AMAZON_LINUX_2_STANDARD_3_0 }), /buildImage must be a Linux x86_64 container image/],
  ['an x86_64 build image for linux/arm64',
    () => ({ platform: ecr_assets.Platform.LINUX_ARM64, buildImage: codebuild.LinuxBuildImage.STANDARD_7_0 }),
    /buildImage must be a Linux ARM container image/],
  ['a Windows build image', () => ({ buildImage: codebuild.WindowsBuildImage.WIN_SERVER_CORE_2019_BASE }), /buildImage must be a Linux x86_64 container image/],
  ['a defaultBranch with no usable character', () => ({ defaultBranch: '...' }), /defaultBranch '\.\.\.' has no character that can start an ECR tag/],
  ['a defaultBranch of only non-ASCII characters', () => ({ defaultBranch: '\u00e9\u00e9' }), /defaultBranch .* has no character/],
  ['an unresolved defaultBranch', () => ({ defaultBranch: Lazy.string({ produce: () => 'main' }) }), /defaultBranch must be a literal branch name/],
  ['a timeout under 5 minutes', () => ({ timeout: Duration.minutes(4) }), /timeout must be between 5 minutes and 36 hours/],
  ['a timeout over 36 hours', () => ({ timeout: Duration.hours(37) }), /timeout must be between 5 minutes and 36 hours/],
  ['CacheStrategy.none() with a cacheRepository',
    (s) => ({ cache: CacheStrategy.none(), cacheRepository: ecr.Repository.fromRepositoryName(s, 'Cache', 'api-cache') }),
    /cacheRepository is not used by cache strategy 'none'/],
];

describe('synth-time errors', () => {
  test.each(ERROR_CASES)('rejects %s', (_name, props, message) => {
    // GIVEN
    const stack = newStack();

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'Api', props(stack))).toThrow(message);
  });

  test.each(ERROR_CASES)('leaves no half-built resource after rejecting %s', (_name, props) => {
    // GIVEN
    const stack = newStack();
    const given = props(stack);

    // WHEN
    expect(() => new CachedImageBuild(stack, 'Api', given)).toThrow();

    // THEN: the construct registers itself before validating, but creates no child
    const api = stack.node.tryFindChild('Api');
    expect(api).toBeDefined();
    expect(api!.node.children.map((c) => c.node.id)).toEqual([]);
  });
});

describe('ImageTag.of', () => {
  test.each([
    ['a leading dash', '-x'],
    ['a leading dot', '.x'],
    ['a space', 'a b'],
    ['a slash', 'a/b'],
    ['129 characters', 'a'.repeat(129)],
    ['an empty string', ''],
  ])('rejects a tag with %s, naming the parameter', (_name, tag) => {
    // WHEN / THEN
    expect(() => ImageTag.of(tag)).toThrow(/ImageTag\.of\(tag\) must be a valid ECR tag/);
  });

  test('accepts a 128-character tag', () => {
    // WHEN
    const tag = ImageTag.of('a'.repeat(128));

    // THEN
    expect(tag.value).toEqual('a'.repeat(128));
    expect(tag.moving).toBe(true);
  });

  test('does not validate an unresolved tag', () => {
    // GIVEN
    const token = Lazy.string({ produce: () => 'not a tag' });

    // WHEN
    const tag = ImageTag.of(token);

    // THEN
    expect(tag.value).toBe(token);
  });
});

describe('BuildxBuilder.dockerContainer', () => {
  test.each([['empty', ''], ['with whitespace', 'moby/buildkit latest']])('rejects an image reference that is %s', (_name, image) => {
    // WHEN / THEN
    expect(() => BuildxBuilder.dockerContainer({ image })).toThrow(/BuildxBuilder.dockerContainer\(\): image must be a non-empty image reference/);
  });

  test.each([['empty', ''], ['with a comma (another driver option)', 'host,image=x'], ['with a space', 'my net'], ['starting with a dash', '-host']])(
    'rejects a network name that is %s', (_name, network) => {
      // WHEN / THEN
      expect(() => BuildxBuilder.dockerContainer({ network })).toThrow(/BuildxBuilder.dockerContainer\(\): network must be a Docker network name/);
    });

  test.each([['host'], ['bridge'], ['my_net-1.a']])('accepts the network name %s', (network) => {
    // WHEN
    const builder = BuildxBuilder.dockerContainer({ network });

    // THEN
    expect(builder.network).toEqual(network);
  });

  test.each([['empty', ''], ['only whitespace', ' \n\t'], ['with NUL', 'debug = true\0']])('rejects a buildkitd configuration that is %s', (_name, buildkitdConfig) => {
    // WHEN / THEN
    expect(() => BuildxBuilder.dockerContainer({ buildkitdConfig })).toThrow(/BuildxBuilder.dockerContainer\(\): buildkitdConfig must be non-empty TOML text without NUL/);
  });
});

describe('LayerCompression', () => {
  test.each([
    ['gzip above 9', () => LayerCompression.gzip({ level: 10 }), /LayerCompression.gzip\(\): level must be a whole number from 0 to 9; got 10/],
    ['gzip below 0', () => LayerCompression.gzip({ level: -1 }), /LayerCompression.gzip\(\): level must be a whole number from 0 to 9; got -1/],
    ['zstd at 0', () => LayerCompression.zstd({ level: 0 }), /LayerCompression.zstd\(\): level must be a whole number from 1 to 22; got 0/],
    ['zstd above 22', () => LayerCompression.zstd({ level: 23 }), /LayerCompression.zstd\(\): level must be a whole number from 1 to 22; got 23/],
    ['zstd not whole', () => LayerCompression.zstd({ level: 2.5 }), /LayerCompression.zstd\(\): level must be a whole number from 1 to 22; got 2.5/],
    ['a token', () => LayerCompression.zstd({ level: Lazy.number({ produce: () => 3 }) }), /LayerCompression.zstd\(\): level must be a literal number, not a token/],
  ])('rejects a level %s', (_name, make, error) => {
    // WHEN / THEN
    expect(make).toThrow(error);
  });

  test.each([[0, 9], [1, 22]])('accepts the edge levels %s and %s', (gzipLevel, zstdLevel) => {
    // WHEN / THEN
    expect(LayerCompression.gzip({ level: gzipLevel }).level).toEqual(gzipLevel);
    expect(LayerCompression.zstd({ level: zstdLevel }).level).toEqual(zstdLevel);
  });

  test('a compression other than the default needs the docker-container builder', () => {
    // WHEN / THEN
    expect(() => CacheStrategy.registry({ builder: BuildxBuilder.currentDriver(), compression: LayerCompression.zstd() }))
      .toThrow(/CacheStrategy.registry\(\): compression other than the default gzip needs the docker-container builder \(BuildxBuilder.dockerContainer\(\)\)/);
    expect(() => CacheStrategy.registry({ builder: BuildxBuilder.currentDriver(), compression: LayerCompression.gzip() })).not.toThrow();
  });
});

describe('unresolved tokens are not validated', () => {
  const cases: Array<[string, (stack: Stack) => CachedImageBuildProps]> = [
    ['repositoryName from a Lazy', () => ({ repositoryName: Lazy.string({ produce: () => 'api' }) })],
    ['repositoryName from a CfnParameter', (s) => ({ repositoryName: new CfnParameter(s, 'Name').valueAsString })],
    ['dockerfile and buildContext from Lazies', () => ({
      dockerfile: Lazy.string({ produce: () => '../Dockerfile' }),
      buildContext: Lazy.string({ produce: () => '/abs' }),
    })],
    ['target from a CfnParameter', (s) => ({ target: new CfnParameter(s, 'Target').valueAsString })],
    ['containerName from a Lazy', () => ({ containerName: Lazy.string({ produce: () => 'not valid' }) })],
    ['a fixed tag from a CfnParameter for an imported repository', (s) => ({
      repository: ecr.Repository.fromRepositoryName(s, 'Repo', 'api'),
      imageTags: [ImageTag.commit(), ImageTag.of(new CfnParameter(s, 'Tag').valueAsString)],
    })],
    ['a build argument value from a CfnParameter', (s) => ({ buildArgs: { VERSION: new CfnParameter(s, 'Version').valueAsString } })],
    ['platform from a Lazy', () => ({ platform: ecr_assets.Platform.custom(Lazy.string({ produce: () => 'linux/386' })) })],
    ['timeout from a CfnParameter', (s) => ({ timeout: Duration.minutes(new CfnParameter(s, 'Timeout', { type: 'Number' }).valueAsNumber) })],
  ];

  test.each(cases)('accepts %s and synthesizes', (_name, props) => {
    // GIVEN
    const stack = newStack();

    // WHEN
    new CachedImageBuild(stack, 'Api', props(stack));

    // THEN
    Template.fromStack(stack).resourceCountIs('AWS::CodeBuild::Project', 1);
  });

  test('an imported repository with a token name gets a cache repository with a generated name', () => {
    // GIVEN
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repo', new CfnParameter(stack, 'RepoName').valueAsString);

    // WHEN
    new CachedImageBuild(stack, 'Api', { repository });

    // THEN
    const repos = Object.values(Template.fromStack(stack).findResources('AWS::ECR::Repository'));
    expect(repos).toHaveLength(1);
    expect((repos[0] as any).Properties.RepositoryName).toBeUndefined();
  });
});

describe('accepted edge values', () => {
  test.each([
    ['a two-character repositoryName', { repositoryName: 'ab' }],
    ['a namespaced repositoryName', { repositoryName: 'team/sub.team/api_v2-x' }],
    ['a 250-character repositoryName', { repositoryName: 'a'.repeat(250) }],
    ['4 fixed tags and pr-*', { imageTags: ['a', 'b', 'c', 'd'].map((t) => ImageTag.of(t)) }],
    ['5 fixed tags when pull requests push nothing', { imageTags: ['a', 'b', 'c', 'd', 'e'].map((t) => ImageTag.of(t)), pullRequests: PullRequestPolicy.buildOnly() }],
    ['a dockerfile that stays inside after normalization', { dockerfile: 'a/../Dockerfile' }],
    ['a build argument name with underscores and digits', { buildArgs: { _A1_b: 'x' } }],
    ['a timeout of 36 hours', { timeout: Duration.hours(36) }],
    ['a cacheRetention of 1 day', { cacheRetention: Duration.days(1) }],
  ] as Array<[string, CachedImageBuildProps]>)('accepts %s', (_name, props) => {
    // GIVEN
    const stack = newStack();

    // WHEN
    new CachedImageBuild(stack, 'Api', props);

    // THEN
    Template.fromStack(stack).resourceCountIs('AWS::CodeBuild::Project', 1);
  });

  test('more than 5 fixed tags are fine for an imported repository', () => {
    // GIVEN
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repo', 'api');

    // WHEN
    new CachedImageBuild(stack, 'Api', { repository, imageTags: ['a', 'b', 'c', 'd', 'e', 'f'].map((t) => ImageTag.of(t)) });

    // THEN: only the cache repository is created
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::ECR::Repository', 1);
    template.hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'api-cache' });
  });
});

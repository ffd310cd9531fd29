import { CfnParameter, Stack, aws_ecr_assets as ecr_assets, aws_ecs as ecs, aws_lambda as lambda } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CachedImageBuild, ImageTag, PullRequestPolicy } from '../../src';
import { RESOLVE_BUILD_CONTEXT } from '../../src/script/build-context';
import { renderTagSelection } from '../../src/script/push-tags';
import { runCases } from '../helpers/bash-cases';
import { appRepository, create } from '../helpers/construct';
import { PULL_ACTIONS } from '../helpers/ecr-actions';

/** Deploy-time references to the image: imageUri, toEcsContainerImage(), toLambdaDockerImageCode(). */

const SHA = '0123456789abcdef0123456789abcdef01234567';
const DIGEST = `sha256:${'a'.repeat(64)}`;

/** A Fargate task definition with one container of the given image, in the build's stack. */
function taskWith(build: CachedImageBuild, image: ecs.ContainerImage): Template {
  const task = new ecs.FargateTaskDefinition(Stack.of(build), 'Task');
  task.addContainer('app', { image });
  return Template.fromStack(Stack.of(build));
}

/** The image of the one container definition, resolved. */
function containerImage(template: Template): any {
  const [task] = Object.values<any>(template.findResources('AWS::ECS::TaskDefinition'));
  return task.Properties.ContainerDefinitions[0].Image;
}

/** `<repository URI><separator><ref>` as the template writes it for a repository of the stack. */
function uriOf(template: Template, separator: string, ref: string): any {
  const [repoId] = appRepository(template);
  return {
    'Fn::Join': ['', [
      { 'Fn::Select': [4, { 'Fn::Split': [':', { 'Fn::GetAtt': [repoId, 'Arn'] }] }] },
      '.dkr.ecr.',
      { 'Fn::Select': [3, { 'Fn::Split': [':', { 'Fn::GetAtt': [repoId, 'Arn'] }] }] },
      '.',
      { Ref: 'AWS::URLSuffix' },
      '/',
      { Ref: repoId },
      `${separator}${ref}`,
    ]],
  };
}

const build = (props: Parameters<typeof create>[0] = {}): CachedImageBuild => create(props).build;

describe('toEcsContainerImage', () => {
  test('defaults to the first ImageTag.of() tag, and binding it lets the execution role pull exactly this repository', () => {
    // GIVEN
    const b = build();

    // WHEN
    const template = taskWith(b, b.toEcsContainerImage());

    // THEN
    expect(containerImage(template)).toEqual(uriOf(template, ':', 'latest'));
    const [repoId] = appRepository(template);
    const statements = Object.values<any>(template.findResources('AWS::IAM::Policy'))
      .filter((p) => p.Properties.Roles.some((r: any) => r.Ref.startsWith('TaskExecutionRole')))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    const ecrStatements = statements.filter((s: any) => [s.Action].flat().some((a: string) => a.startsWith('ecr:')));
    expect(ecrStatements.map((s: any) => ({ resource: s.Resource, actions: [s.Action].flat().sort() }))).toEqual([
      { resource: { 'Fn::GetAtt': [repoId, 'Arn'] }, actions: PULL_ACTIONS },
      { resource: '*', actions: ['ecr:GetAuthorizationToken'] },
    ]);
  });

  test('a given commit tag or digest is used as it is', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.commit()] });

    // WHEN
    const byTag = taskWith(b, b.toEcsContainerImage(SHA));

    // THEN
    expect(containerImage(byTag)).toEqual(uriOf(byTag, ':', SHA));
    const c = build();
    const byDigest = taskWith(c, c.toEcsContainerImage(DIGEST));
    expect(containerImage(byDigest)).toEqual(uriOf(byDigest, '@', DIGEST));
  });

  test('a token is taken as the tag (known at deploy time)', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.commit()] });
    const tag = new CfnParameter(Stack.of(b), 'ImageTag').valueAsString;

    // WHEN
    const template = taskWith(b, b.toEcsContainerImage(tag));

    // THEN
    expect(JSON.stringify(containerImage(template))).toContain('{"Ref":"ImageTag"}');
  });

  test('without an ImageTag.of() tag there is no default: an error that says what to pass', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.commit()] });

    // WHEN / THEN
    expect(() => b.toEcsContainerImage()).toThrow(
      'toEcsContainerImage: imageTags has no ImageTag.of() tag, so there is no tag to default to (ImageTag.commit() and gitTag() ' +
        'name one build\'s image, and branch() is named at build time): pass the tag to deploy');
  });

  test('when every tag the build pushes is known at synth time, a tag it never pushes is an error; one of them is fine', () => {
    // GIVEN: fixed tags only, pull requests build without pushing
    const b = build({ imageTags: [ImageTag.of('latest'), ImageTag.of('stable')], pullRequests: PullRequestPolicy.buildOnly() });

    // WHEN / THEN
    expect(() => b.toEcsContainerImage('v1')).toThrow(
      'toEcsContainerImage: \'v1\' is not a tag this build pushes (it pushes \'latest\', \'stable\'); name one of them, or an image digest (sha256:...)');
    expect(() => b.toEcsContainerImage('pr-3')).toThrow(/^toEcsContainerImage: 'pr-3' is not a tag this build pushes/);
    expect(() => b.toEcsContainerImage('stable')).not.toThrow();
  });

  test('branch and pull request tags count as pushed tags by their prefix', () => {
    // GIVEN: branch tags, and pull requests push pr-<number> (the default policy)
    const b = build({ imageTags: [ImageTag.branch(), ImageTag.of('latest')] });

    // WHEN / THEN
    expect(() => b.toEcsContainerImage('br-feature-x')).not.toThrow();
    expect(() => b.toEcsContainerImage('pr-12')).not.toThrow();
    expect(() => b.toEcsContainerImage('v1')).toThrow(
      'toEcsContainerImage: \'v1\' is not a tag this build pushes (it pushes \'latest\', \'br-*\', \'pr-*\'); name one of them, or an image digest (sha256:...)');
  });

  test('with commit or git tags any valid tag may exist, so none is refused', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.gitTag(), ImageTag.of('latest')] });

    // WHEN / THEN
    expect(() => b.toEcsContainerImage('v1.2.3')).not.toThrow();
  });

  test('a tag ECR cannot hold is an error', () => {
    // WHEN / THEN
    expect(() => build().toEcsContainerImage('-x')).toThrow(
      'toEcsContainerImage(tagOrDigest) must be a valid ECR tag: 1 to 128 characters from [a-zA-Z0-9._-], starting with [a-zA-Z0-9_]; got \'-x\'');
  });
});

describe('toLambdaDockerImageCode', () => {
  test('a function of the image; binding it lets lambda.amazonaws.com pull from the repository', () => {
    // GIVEN
    const b = build({ repositoryName: 'api' });

    // WHEN
    new lambda.DockerImageFunction(Stack.of(b), 'Fn', { code: b.toLambdaDockerImageCode(SHA) });

    // THEN
    const template = Template.fromStack(Stack.of(b));
    const [, fn] = Object.entries<any>(template.findResources('AWS::Lambda::Function'))[0];
    expect(fn.Properties.Code.ImageUri).toEqual(uriOf(template, ':', SHA));
    const [, repo] = appRepository(template);
    expect(repo.Properties.RepositoryPolicyText.Statement).toEqual([{
      Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
      Effect: 'Allow',
      Principal: { Service: 'lambda.amazonaws.com' },
    }]);
  });

  test('a build with provenance: true is an error: Lambda rejects image indexes with attestations', () => {
    // WHEN / THEN
    expect(() => build({ provenance: true }).toLambdaDockerImageCode()).toThrow(
      'toLambdaDockerImageCode: this build pushes an image index with a provenance attestation (provenance: true), which AWS Lambda rejects; ' +
        'build the Lambda image with provenance: false (the default)');
  });

  test('without an ImageTag.of() tag there is no default', () => {
    // WHEN / THEN
    expect(() => build({ imageTags: [ImageTag.commit()] }).toLambdaDockerImageCode()).toThrow(/^toLambdaDockerImageCode: imageTags has no ImageTag.of\(\) tag/);
  });

  describe('with platforms (Lambda runs one architecture, not the image index)', () => {
    const PLATFORMS = { platforms: [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.LINUX_ARM64] };
    const imageUriOf = (b: CachedImageBuild, code: lambda.DockerImageCode): any => {
      new lambda.DockerImageFunction(Stack.of(b), 'Fn', { code });
      const template = Template.fromStack(Stack.of(b));
      const [, fn] = Object.entries<any>(template.findResources('AWS::Lambda::Function'))[0];
      return { template, imageUri: fn.Properties.Code.ImageUri };
    };

    test('the given platform\'s image: <tag>-<arch>, for the default tag and a given one', () => {
      // GIVEN
      const b = build(PLATFORMS);
      const c = build(PLATFORMS);

      // WHEN
      const byDefault = imageUriOf(b, b.toLambdaDockerImageCode(undefined, ecr_assets.Platform.LINUX_ARM64));
      const byCommit = imageUriOf(c, c.toLambdaDockerImageCode(SHA, ecr_assets.Platform.LINUX_AMD64));

      // THEN
      expect(byDefault.imageUri).toEqual(uriOf(byDefault.template, ':', 'latest-arm64'));
      expect(byCommit.imageUri).toEqual(uriOf(byCommit.template, ':', `${SHA}-amd64`));
    });

    test('a digest (one platform\'s image, IMAGE_URI_<ARCH>) is used as it is', () => {
      // GIVEN
      const b = build(PLATFORMS);

      // WHEN
      const { template, imageUri } = imageUriOf(b, b.toLambdaDockerImageCode(DIGEST));

      // THEN
      expect(imageUri).toEqual(uriOf(template, '@', DIGEST));
    });

    test('a tag without a platform is an error: the tag names the image index', () => {
      // WHEN / THEN
      expect(() => build(PLATFORMS).toLambdaDockerImageCode()).toThrow(
        'toLambdaDockerImageCode: this build pushes a multi-architecture image index (platforms), which AWS Lambda does not run; ' +
          'pass the function\'s platform (one of linux/amd64, linux/arm64) to deploy that platform\'s image');
    });

    test('a platform the build does not build is an error, with or without platforms', () => {
      // WHEN / THEN
      expect(() => build({ platforms: [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.LINUX_ARM64] })
        .toLambdaDockerImageCode(SHA, ecr_assets.Platform.custom('linux/riscv64')))
        .toThrow('toLambdaDockerImageCode(): \'linux/riscv64\' is not one of this build\'s platforms (linux/amd64, linux/arm64)');
      expect(() => build().toLambdaDockerImageCode(SHA, ecr_assets.Platform.LINUX_ARM64))
        .toThrow('toLambdaDockerImageCode(): \'linux/arm64\' is not one of this build\'s platforms (linux/amd64)');
    });

    test('a single-platform build accepts its own platform and deploys its tag unchanged', () => {
      // GIVEN
      const b = build({ platform: ecr_assets.Platform.LINUX_ARM64 });

      // WHEN
      const { template, imageUri } = imageUriOf(b, b.toLambdaDockerImageCode(SHA, ecr_assets.Platform.LINUX_ARM64));

      // THEN
      expect(imageUri).toEqual(uriOf(template, ':', SHA));
    });
  });
});

describe('imageUri', () => {
  test('is the URI of the first ImageTag.of() tag', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.commit(), ImageTag.of('stable'), ImageTag.of('latest')] });

    // WHEN
    const uri = Stack.of(b).resolve(b.imageUri);

    // THEN
    expect(uri).toEqual(uriOf(Template.fromStack(Stack.of(b)), ':', 'stable'));
  });

  test.each([
    ['[ImageTag.commit()]', [ImageTag.commit()]],
    ['[ImageTag.commit(), ImageTag.gitTag()]', [ImageTag.commit(), ImageTag.gitTag()]],
    ['[ImageTag.branch()] (moving, but named at build time)', [ImageTag.branch()]],
  ])('without an ImageTag.of() tag it throws instead of the bare repository URI (which would pull a latest never pushed): %s', (_, imageTags) => {
    // GIVEN
    const b = build({ imageTags });

    // WHEN / THEN
    expect(() => b.imageUri).toThrow(
      'imageUri: imageTags has no ImageTag.of() tag (ImageTag.commit() and gitTag() name one build\'s image, and branch() is named at build ' +
        'time): a pull of the bare repository URI would ask for \'latest\', which is never pushed. Use toEcsContainerImage(tag) / ' +
        'toLambdaDockerImageCode(tag) or repository.repositoryUriForTag(tag) with the tag to deploy (such as the commit tag), or add ' +
        'ImageTag.of(\'latest\') to imageTags');
  });

  test('is the ImageTag.of() tag even when a branch tag comes first', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.branch(), ImageTag.of('stable', { onGitTags: true })] });

    // WHEN
    const uri = Stack.of(b).resolve(b.imageUri);

    // THEN
    expect(uri).toEqual(uriOf(Template.fromStack(Stack.of(b)), ':', 'stable'));
  });

  test('names a tag every build of the default branch pushes, and no pull request or other branch (executed in bash)', () => {
    // GIVEN: the tag imageUri names, and the tag selection of the same imageTags
    const imageTags = [ImageTag.commit(), ImageTag.gitTag(), ImageTag.of('stable'), ImageTag.of('latest')];
    const b = build({ imageTags });
    const uri = JSON.stringify(Stack.of(b).resolve(b.imageUri));
    const tag = /:([^":]+)"\]\]\}$/.exec(uri)![1];
    const selection = renderTagSelection(imageTags);
    const project = {
      ...selection.environment,
      CIB_DEFAULT_BRANCH: 'main',
      CIB_DEFAULT_CACHE_TAG: 'main',
      CIB_PR_POLICY: 'push',
      CIB_PR_SECRETS: 'false',
      CIB_IMAGE_REPOSITORY_URI: 'r',
      CODEBUILD_RESOLVED_SOURCE_VERSION: SHA,
    };
    const webhook = (trigger: string, head: string, event = 'PUSH') =>
      ({ ...project, CODEBUILD_WEBHOOK_EVENT: event, CODEBUILD_WEBHOOK_TRIGGER: trigger, CODEBUILD_WEBHOOK_HEAD_REF: head });
    const defaultBranchBuilds = [
      webhook('branch/main', 'refs/heads/main'),
      { ...project, CODEBUILD_SOURCE_VERSION: 'main' },
      { ...project, CODEBUILD_SOURCE_VERSION: 'refs/heads/main' },
      { ...project, CIB_TRIGGER: 'pipeline', CIB_BRANCH: 'main', CIB_PIPELINE_PULL_REQUEST: 'false', CODEBUILD_SOURCE_VERSION: 'arn:aws:s3:::b/k' },
    ];
    const otherBuilds = [
      { ...webhook('pr/7', 'refs/heads/main', 'PULL_REQUEST_UPDATED'), CODEBUILD_WEBHOOK_BASE_REF: 'refs/heads/main' },
      webhook('branch/feature', 'refs/heads/feature'),
      webhook('tag/v1', 'refs/tags/v1'),
    ];

    // WHEN
    const pushed = runCases([...RESOLVE_BUILD_CONTEXT, ...selection.commands], [...defaultBranchBuilds, ...otherBuilds], ['CIB_PUSH_TAGS'])
      .map((r) => r.vars.CIB_PUSH_TAGS.split(' '));

    // THEN
    expect(tag).toEqual('stable');
    expect(pushed.slice(0, defaultBranchBuilds.length).map((tags) => tags.includes(tag))).toEqual(defaultBranchBuilds.map(() => true));
    expect(pushed.slice(defaultBranchBuilds.length).map((tags) => tags.includes(tag))).toEqual(otherBuilds.map(() => false));
  });
});

import { CfnParameter, Stack, aws_ecs as ecs, aws_lambda as lambda } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CachedImageBuild, ImageTag } from '../../src';
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
  test('defaults to the first fixed tag, and binding it lets the execution role pull exactly this repository', () => {
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

  test('without a fixed tag there is no default: an error that says what to pass', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.commit()] });

    // WHEN / THEN
    expect(() => b.toEcsContainerImage()).toThrow(
      'toEcsContainerImage: this build pushes no fixed tag (imageTags has none, e.g. [ImageTag.commit()]), so there is no tag to default to');
  });

  test('when every tag is fixed, a tag the build never pushes is an error; one of them is fine', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.of('latest'), ImageTag.of('stable')] });

    // WHEN / THEN
    expect(() => b.toEcsContainerImage('v1')).toThrow(
      'toEcsContainerImage: \'v1\' is not a tag this build pushes (its imageTags are \'latest\', \'stable\'); name one of them, or an image digest (sha256:...)');
    expect(() => b.toEcsContainerImage('stable')).not.toThrow();
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

  test('without a fixed tag there is no default', () => {
    // WHEN / THEN
    expect(() => build({ imageTags: [ImageTag.commit()] }).toLambdaDockerImageCode()).toThrow(/^toLambdaDockerImageCode: this build pushes no fixed tag/);
  });
});

describe('imageUri', () => {
  test('is the URI of the first fixed tag', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.commit(), ImageTag.of('stable'), ImageTag.of('latest')] });

    // WHEN
    const uri = Stack.of(b).resolve(b.imageUri);

    // THEN
    expect(uri).toEqual(uriOf(Template.fromStack(Stack.of(b)), ':', 'stable'));
  });

  test('without a fixed tag it throws instead of the bare repository URI (which would pull a latest never pushed)', () => {
    // GIVEN
    const b = build({ imageTags: [ImageTag.commit()] });

    // WHEN / THEN
    expect(() => b.imageUri).toThrow(
      'imageUri: this build pushes no fixed tag (imageTags has none, e.g. [ImageTag.commit()]): a pull of the bare repository URI would ask ' +
        'for \'latest\', which is never pushed. Use toEcsContainerImage(tag) / toLambdaDockerImageCode(tag) or repository.repositoryUriForTag(tag) ' +
        'with the tag to deploy (such as the commit tag), or add a fixed tag to imageTags');
  });
});

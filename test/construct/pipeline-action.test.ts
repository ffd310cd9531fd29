import {
  Stack,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_codepipeline_actions as codepipeline_actions,
  aws_ecr as ecr,
} from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CachedImageBuild, ImageTag } from '../../src';
import { create, newStack, onlyResource } from '../helpers/construct';

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
    // a pipeline build of the default branch, unless told which branch it builds
    expect(JSON.parse(action.Configuration.EnvironmentVariables)).toEqual([
      { name: 'CIB_TRIGGER', type: 'PLAINTEXT', value: 'pipeline' },
      { name: 'CIB_BRANCH', type: 'PLAINTEXT', value: 'main' },
    ]);
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
      { name: 'CIB_TRIGGER', type: 'PLAINTEXT', value: 'pipeline' },
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

  test('throws when imageTags has no ImageTag.of() tag, instead of the bare repository URI (a pull of it asks for a latest never pushed)', () => {
    // WHEN
    const { build } = importedBuild([ImageTag.commit()]);

    // THEN
    expect(() => build.imageUri).toThrow(/^imageUri: imageTags has no ImageTag.of\(\) tag/);
  });
});

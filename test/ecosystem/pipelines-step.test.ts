import { App, Stack, Stage, aws_codebuild as codebuild, aws_ecr_assets as ecr_assets, aws_sns as sns, pipelines } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CachedImageBuild, CachedImageBuildProps, CachedImageBuildStep } from '../../src';
import { EXPORTED_VARIABLES } from '../../src/script/build-script';

/** CachedImageBuildStep in a CDK Pipelines pipeline: the build's own project, its variables for later steps. */

const ENV = { account: '123456789012', region: 'us-east-1' };
const CONNECTION = 'arn:aws:codeconnections:us-east-1:123456789012:connection/example';

interface Fixture {
  readonly app: App;
  readonly stack: Stack;
  readonly pipeline: pipelines.CodePipeline;
  readonly source: pipelines.CodePipelineSource;
  readonly build: CachedImageBuild;
  readonly stage: Stage;
}

/** A pipeline stack with a CDK pipeline and a build, and an application stage to deploy. */
function fixture(buildProps: CachedImageBuildProps = {}): Fixture {
  const app = new App();
  const stack = new Stack(app, 'PipelineStack', { env: ENV });
  const source = pipelines.CodePipelineSource.connection('octo/api', 'main', { connectionArn: CONNECTION });
  const pipeline = new pipelines.CodePipeline(stack, 'Pipeline', {
    synth: new pipelines.ShellStep('Synth', { input: source, commands: ['npm ci', 'npx cdk synth'] }),
  });
  const build = new CachedImageBuild(stack, 'ApiImage', { repositoryName: 'api', ...buildProps });
  const stage = new Stage(app, 'Prod', { env: ENV });
  new sns.Topic(new Stack(stage, 'Service'), 'Topic');
  return { app, stack, pipeline, source, build, stage };
}

/** The pipeline's stages, by name: their actions by name. */
function stagesOf(template: Template): Record<string, Record<string, any>> {
  const [pipeline] = Object.values<any>(template.findResources('AWS::CodePipeline::Pipeline'));
  return Object.fromEntries(pipeline.Properties.Stages.map((s: any) => [s.Name, Object.fromEntries(s.Actions.map((a: any) => [a.Name, a]))]));
}

function logicalIdOfProject(f: Fixture): string {
  return f.stack.getLogicalId(f.build.project.node.defaultChild as codebuild.CfnProject);
}

describe('CachedImageBuildStep', () => {
  test('in pre of a stage, runs the build\'s own project on the pipeline source before the deployment', () => {
    // GIVEN
    const f = fixture();
    const step = new CachedImageBuildStep('BuildImage', { imageBuild: f.build });

    // WHEN
    f.pipeline.addStage(f.stage, { pre: [step] });
    f.pipeline.buildPipeline();

    // THEN
    const template = Template.fromStack(f.stack);
    const prod = stagesOf(template).Prod;
    const action = prod.BuildImage;
    expect(action.ActionTypeId).toEqual({ Category: 'Build', Owner: 'AWS', Provider: 'CodeBuild', Version: '1' });
    expect(action.Configuration.ProjectName).toEqual({ Ref: logicalIdOfProject(f) });
    expect(action.RunOrder).toEqual(1);
    expect(action.Namespace).toEqual('Prod@BuildImage');
    // The input is the source the synth step reads.
    expect(action.InputArtifacts).toEqual(stagesOf(template).Build.Synth.InputArtifacts);
    // The deployment comes after it.
    const deployOrders = Object.entries(prod).filter(([name]) => name !== 'BuildImage').map(([, a]) => a.RunOrder);
    expect(Math.min(...deployOrders)).toBeGreaterThan(1);
    // No project of its own: the construct's is the one the step runs.
    expect(step.project).toBe(f.build.project);
    const projects = Object.values<any>(template.findResources('AWS::CodeBuild::Project'));
    expect(projects.filter((p) => (p.Properties.Description ?? '').includes('BuildImage'))).toEqual([]);
  });

  test('later steps read its variables: IMAGE_URI becomes the action variable of its namespace', () => {
    // GIVEN
    const f = fixture();
    const step = new CachedImageBuildStep('BuildImage', { imageBuild: f.build });
    const smoke = new pipelines.CodeBuildStep('SmokeTest', {
      commands: ['docker pull "$IMAGE_URI"'],
      env: { IMAGE_URI: step.exportedVariable('IMAGE_URI'), IMAGE_DIGEST: step.exportedVariable('IMAGE_DIGEST') },
    });

    // WHEN
    f.pipeline.addStage(f.stage, { pre: [step], post: [smoke] });
    f.pipeline.buildPipeline();

    // THEN
    const prod = stagesOf(Template.fromStack(f.stack)).Prod;
    expect(JSON.parse(prod.SmokeTest.Configuration.EnvironmentVariables)).toEqual([
      { name: 'IMAGE_URI', type: 'PLAINTEXT', value: '#{Prod@BuildImage.IMAGE_URI}' },
      { name: 'IMAGE_DIGEST', type: 'PLAINTEXT', value: '#{Prod@BuildImage.IMAGE_DIGEST}' },
    ]);
    expect(prod.SmokeTest.RunOrder).toBeGreaterThan(prod.BuildImage.RunOrder);
  });

  test('the build runs as a pipeline build (CIB_TRIGGER) of the branch (CIB_BRANCH), from a source variable', () => {
    // GIVEN
    const f = fixture();
    const step = new CachedImageBuildStep('BuildImage', { imageBuild: f.build, input: f.source, branch: f.source.sourceAttribute('BranchName') });

    // WHEN
    f.pipeline.addStage(f.stage, { pre: [step] });
    f.pipeline.buildPipeline();

    // THEN
    const stages = stagesOf(Template.fromStack(f.stack));
    const sourceAction = Object.values<any>(stages.Source)[0];
    expect(JSON.parse(stages.Prod.BuildImage.Configuration.EnvironmentVariables)).toEqual([
      { name: 'CIB_TRIGGER', type: 'PLAINTEXT', value: 'pipeline' },
      { name: 'CIB_BRANCH', type: 'PLAINTEXT', value: `#{${sourceAction.Namespace}.BranchName}` },
    ]);
  });

  test('without branch, the step builds the default branch (a trusted build: it writes main\'s cache and moves fixed tags)', () => {
    // GIVEN
    const f = fixture();

    // WHEN
    f.pipeline.addStage(f.stage, { pre: [new CachedImageBuildStep('BuildImage', { imageBuild: f.build, input: f.source })] });
    f.pipeline.buildPipeline();

    // THEN
    expect(JSON.parse(stagesOf(Template.fromStack(f.stack)).Prod.BuildImage.Configuration.EnvironmentVariables)).toEqual([
      { name: 'CIB_TRIGGER', type: 'PLAINTEXT', value: 'pipeline' },
      { name: 'CIB_BRANCH', type: 'PLAINTEXT', value: f.build.defaultBranch },
    ]);
  });

  test('works in a wave, and two image steps get distinct namespaces', () => {
    // GIVEN
    const f = fixture();
    const other = new CachedImageBuild(f.stack, 'WebImage', { repositoryName: 'web' });
    const wave = f.pipeline.addWave('Images', { pre: [new CachedImageBuildStep('Api', { imageBuild: f.build }), new CachedImageBuildStep('Web', { imageBuild: other })] });
    wave.addStage(f.stage);

    // WHEN
    f.pipeline.buildPipeline();

    // THEN
    // A wave of one stage is one pipeline stage, named after the application stage.
    const images = stagesOf(Template.fromStack(f.stack)).Prod;
    expect(images.Api.Configuration.ProjectName).toEqual({ Ref: logicalIdOfProject(f) });
    expect(images.Web.Configuration.ProjectName).toEqual({ Ref: f.stack.getLogicalId(other.project.node.defaultChild as codebuild.CfnProject) });
    expect([images.Api.Namespace, images.Web.Namespace]).toEqual(['Prod@Api', 'Prod@Web']);
    expect(images.Api.RunOrder).toEqual(1);
    expect(images.Web.RunOrder).toEqual(1);
  });

  test('the pipeline may start exactly the build\'s project', () => {
    // GIVEN
    const f = fixture();

    // WHEN
    f.pipeline.addStage(f.stage, { pre: [new CachedImageBuildStep('BuildImage', { imageBuild: f.build })] });
    f.pipeline.buildPipeline();

    // THEN
    const template = Template.fromStack(f.stack);
    const projectArn = { 'Fn::GetAtt': [logicalIdOfProject(f), 'Arn'] };
    const startBuild = Object.values<any>(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((s: any) => JSON.stringify(s.Resource) === JSON.stringify(projectArn));
    expect(startBuild.map((s: any) => [s.Action].flat().sort())).toEqual([['codebuild:BatchGetBuilds', 'codebuild:StartBuild', 'codebuild:StopBuild']]);
  });

  test('a build with a source (a standalone project) is an error', () => {
    // GIVEN
    const f = fixture();
    const standalone = new CachedImageBuild(f.stack, 'Standalone', { source: codebuild.Source.gitHub({ owner: 'octo', repo: 'api' }) });

    // WHEN / THEN
    expect(() => new CachedImageBuildStep('BuildImage', { imageBuild: standalone })).toThrow(
      'CachedImageBuildStep \'BuildImage\' needs a CachedImageBuild created without source (a CodePipeline project)');
  });

  test('a variable the build does not export is an error that lists those it does', () => {
    // GIVEN
    const step = new CachedImageBuildStep('BuildImage', { imageBuild: fixture().build });

    // WHEN / THEN
    expect(() => step.exportedVariable('IMAGE')).toThrow(
      `CachedImageBuildStep 'BuildImage': the build exports no variable 'IMAGE'; it exports ${EXPORTED_VARIABLES.join(', ')}`);
    expect(EXPORTED_VARIABLES).toEqual(expect.arrayContaining(['IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST']));
  });

  test('a build in a stage the pipeline deploys is an error: the pipeline cannot start a project it has not deployed', () => {
    // GIVEN
    const f = fixture();
    const inStage = new CachedImageBuild(new Stack(f.stage, 'Images'), 'ApiImage', { repositoryName: 'api-in-stage' });
    f.pipeline.addStage(f.stage, { pre: [new CachedImageBuildStep('BuildImage', { imageBuild: inStage })] });

    // WHEN / THEN
    expect(() => f.pipeline.buildPipeline()).toThrow(
      'CachedImageBuildStep \'BuildImage\': the build Prod/Images/ApiImage must be in the pipeline\'s stage (its stack or a stack deployed ' +
        'before the pipeline runs), not in a stage the pipeline deploys: the pipeline starts the build\'s project');
  });

  test('a build with platforms runs one action per platform in parallel, then the index action, whose variables it exports', () => {
    // GIVEN
    const f = fixture({ platforms: [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.LINUX_ARM64] });
    const step = new CachedImageBuildStep('BuildImage', { imageBuild: f.build });
    const smoke = new pipelines.CodeBuildStep('SmokeTest', {
      commands: ['docker pull "$IMAGE_URI_ARM64"'],
      env: { IMAGE_URI: step.exportedVariable('IMAGE_URI'), IMAGE_URI_ARM64: step.exportedVariable('IMAGE_URI_ARM64') },
    });

    // WHEN
    f.pipeline.addStage(f.stage, { pre: [step], post: [smoke] });
    f.pipeline.buildPipeline();

    // THEN
    const template = Template.fromStack(f.stack);
    const prod = stagesOf(template).Prod;
    const projectRef = (b: codebuild.IProject) => ({ Ref: f.stack.getLogicalId(b.node.defaultChild as codebuild.CfnProject) });
    expect(f.build.projects).toHaveLength(2);
    expect(prod['BuildImage-amd64'].Configuration.ProjectName).toEqual(projectRef(f.build.projects[0]));
    expect(prod['BuildImage-arm64'].Configuration.ProjectName).toEqual(projectRef(f.build.projects[1]));
    expect(prod.BuildImage.Configuration.ProjectName).toEqual(projectRef(f.build.projects[0]));
    expect([prod['BuildImage-amd64'].RunOrder, prod['BuildImage-arm64'].RunOrder, prod.BuildImage.RunOrder]).toEqual([1, 1, 2]);
    expect(prod.BuildImage.Namespace).toEqual('Prod@BuildImage');
    const stepOf = (a: any) => JSON.parse(a.Configuration.EnvironmentVariables).find((v: any) => v.name === 'CIB_STEP').value;
    expect([stepOf(prod['BuildImage-amd64']), stepOf(prod['BuildImage-arm64'])]).toEqual(['build', 'build']);
    expect(stepOf(prod.BuildImage)).toEqual('index');
    expect(JSON.parse(prod.SmokeTest.Configuration.EnvironmentVariables)).toEqual([
      { name: 'IMAGE_URI', type: 'PLAINTEXT', value: '#{Prod@BuildImage.IMAGE_URI}' },
      { name: 'IMAGE_URI_ARM64', type: 'PLAINTEXT', value: '#{Prod@BuildImage.IMAGE_URI_ARM64}' },
    ]);
    const deployOrders = Object.entries(prod).filter(([name]) => !name.startsWith('BuildImage') && name !== 'SmokeTest').map(([, a]) => a.RunOrder);
    expect(Math.min(...deployOrders)).toBeGreaterThan(2);
  });

  test('a per-platform variable of a single-platform build is an error', () => {
    // GIVEN
    const f = fixture();
    const step = new CachedImageBuildStep('BuildImage', { imageBuild: f.build });

    // WHEN / THEN
    expect(() => step.exportedVariable('IMAGE_URI_ARM64')).toThrow(/^CachedImageBuildStep 'BuildImage': the build exports no variable 'IMAGE_URI_ARM64'/);
  });
});

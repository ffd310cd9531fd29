/**
 * Example app: two stacks that use CachedImageBuild. Synthesizes without AWS credentials
 * (explicit account and region, no context lookups).
 *
 *   npm run example      # writes examples/cdk.out and prints one template path per stack
 *
 * - StandaloneBuildStack: a CodeBuild project with a GitHub source, started by a webhook on
 *   pushes to main and on pull requests.
 * - PipelineStack: a CodePipeline (V2) with a CodeStar Connections (GitHub) source, the image
 *   build, and an ECS (Fargate) deploy of the built image via imagedefinitions.json.
 * - CdkPipelineStack: a CDK Pipelines pipeline (pipelines.CodePipeline) that builds the image in
 *   the `pre` step of the stage that deploys it, a Lambda function of the commit's image.
 */
import * as path from 'path';
import {
  App,
  CfnOutput,
  Duration,
  Stack,
  StackProps,
  Stage,
  StageProps,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_codepipeline_actions as actions,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_lambda as lambda,
  pipelines,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CacheStrategy, CachedImageBuild, CachedImageBuildStep, ImageTag, PullRequestPolicy } from '../src';

const started = process.hrtime.bigint();

/** Placeholder account and region: synthesis needs no credentials and makes no lookups. */
const env = { account: '123456789012', region: 'us-east-1' };

/** Placeholder connection: create it in the console (it needs a one-time OAuth handshake). */
const CONNECTION_ARN = 'arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000';

/**
 * Standalone build: GitHub source + webhook; every push to main, and every pull request opened by the
 * team (the actor filter: a fork's pull request from anyone else does not build), builds the image.
 */
class StandaloneBuildStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    const build = new CachedImageBuild(this, 'WebImage', {
      repositoryName: 'example/web',
      source: codebuild.Source.gitHub({
        owner: 'my-org',
        repo: 'web',
        webhook: true,
        webhookFilters: [
          codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH).andBranchIs('main'),
          codebuild.FilterGroup.inEventOf(
            codebuild.EventAction.PULL_REQUEST_CREATED,
            codebuild.EventAction.PULL_REQUEST_UPDATED,
            codebuild.EventAction.PULL_REQUEST_REOPENED,
          ).andActorAccountIs('^(1234567|7654321)$'), // the GitHub user ids of the team
        ],
      }),
      dockerfile: 'docker/Dockerfile',
      buildArgs: { NODE_ENV: 'production' },
      cache: CacheStrategy.registry(), // the default, written out for clarity
      defaultBranch: 'main', // pull requests read main's cache and never write it
      // The defaults, written out: main's builds push the commit tag and move 'latest', git tags
      // push the git tag, pull requests push only 'pr-<number>' (and get no build secrets).
      imageTags: [ImageTag.commit(), ImageTag.gitTag(), ImageTag.of('latest')],
      pullRequests: PullRequestPolicy.push(),
    });

    new CfnOutput(this, 'RepositoryUri', { value: build.repository.repositoryUri });
    new CfnOutput(this, 'CacheRepositoryUri', { value: build.cacheRepository!.repositoryUri });
  }
}

/** CodePipeline: GitHub (CodeStar Connections) source -> cached image build -> ECS deploy. */
class PipelineStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    const build = new CachedImageBuild(this, 'ApiImage', {
      repositoryName: 'example/api',
      containerName: 'api', // must match the container name in the task definition below
    });

    // A small Fargate service to deploy to. A new VPC (public subnets, no NAT) avoids lookups.
    // desiredCount is 0 because the repository is empty until the pipeline's first run: a service
    // with running tasks would keep CloudFormation waiting for an image that does not exist yet.
    // Raise it once the first image is pushed.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }],
    });
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc });
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', { cpu: 256, memoryLimitMiB: 512 });
    taskDefinition.addContainer('api', {
      containerName: 'api',
      image: build.toEcsContainerImage(), // 'latest'; binding it lets the task's execution role pull
      portMappings: [{ containerPort: 8080 }],
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'api' }),
    });
    const service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount: 0,
      assignPublicIp: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
    });

    const sourceOutput = new codepipeline.Artifact('Source');
    const imageDefinitions = new codepipeline.Artifact('ImageDefinitions');

    const sourceAction = new actions.CodeStarConnectionsSourceAction({
      actionName: 'GitHub',
      owner: 'my-org',
      repo: 'api',
      branch: 'main',
      connectionArn: CONNECTION_ARN,
      output: sourceOutput,
    });
    const buildAction = build.toCodeBuildAction({
      input: sourceOutput,
      output: imageDefinitions,
      branch: sourceAction.variables.branchName, // the branch cache follows the source branch
    });

    const pipeline = new codepipeline.Pipeline(this, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      stages: [
        { stageName: 'Source', actions: [sourceAction] },
        { stageName: 'Build', actions: [buildAction] },
        {
          stageName: 'Deploy',
          actions: [
            new actions.EcsDeployAction({
              actionName: 'DeployApi',
              service,
              input: imageDefinitions, // imagedefinitions.json written by the build
              deploymentTimeout: Duration.minutes(30),
            }),
          ],
        },
      ],
    });
    // The build's action variables (IMAGE_URI, IMAGE_TAG, IMAGE_DIGEST) are usable by later actions,
    // e.g. buildAction.variable('IMAGE_URI') in a deploy action's environment.

    new CfnOutput(this, 'PipelineName', { value: pipeline.pipelineName });
    new CfnOutput(this, 'ImageUri', { value: build.imageUri });
  }
}

/**
 * The application the CDK pipeline deploys: a Lambda function of the image of the commit being
 * deployed. The pipeline's synth step runs on that commit, so CODEBUILD_RESOLVED_SOURCE_VERSION is its
 * SHA, which is the tag ImageTag.commit() pushes; outside the pipeline (`npm run example`) a placeholder.
 */
class ShopStage extends Stage {
  constructor(scope: Construct, id: string, props: StageProps & { readonly repositoryName: string }) {
    super(scope, id, props);
    const stack = new Stack(this, 'Service');
    const commit = process.env.CODEBUILD_RESOLVED_SOURCE_VERSION ?? '0000000000000000000000000000000000000000';
    // A stage cannot refer to the pipeline stack's constructs: import the repository by its name.
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repository', props.repositoryName);
    new lambda.DockerImageFunction(stack, 'Function', {
      code: lambda.DockerImageCode.fromEcr(repository, { tagOrDigest: commit }),
      timeout: Duration.seconds(10),
    });
  }
}

/** CDK Pipelines: the cached image build runs before the stage that deploys the image (a `pre` step). */
class CdkPipelineStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    const source = pipelines.CodePipelineSource.connection('my-org/shop', 'main', { connectionArn: CONNECTION_ARN });
    const pipeline = new pipelines.CodePipeline(this, 'Pipeline', {
      synth: new pipelines.ShellStep('Synth', { input: source, commands: ['npm ci', 'npx cdk synth'] }),
    });

    // The build lives in the pipeline's stack: the pipeline starts its CodeBuild project.
    const build = new CachedImageBuild(this, 'ShopImage', {
      repositoryName: 'example/shop',
      imageTags: [ImageTag.commit()], // the stage deploys exactly this commit's image
    });
    const buildImage = new CachedImageBuildStep('BuildImage', { imageBuild: build, input: source });

    pipeline.addStage(new ShopStage(this, 'Prod', { env: props?.env, repositoryName: 'example/shop' }), {
      pre: [buildImage],
      // Later steps read the build's variables (IMAGE_URI, IMAGE_TAG, IMAGE_DIGEST, ...).
      post: [new pipelines.ShellStep('Report', {
        env: { IMAGE_URI: buildImage.exportedVariable('IMAGE_URI'), IMAGE_DIGEST: buildImage.exportedVariable('IMAGE_DIGEST') },
        commands: ['echo "deployed $IMAGE_URI ($IMAGE_DIGEST)"'],
      })],
    });
  }
}

const outdir = path.join(__dirname, 'cdk.out');
const app = new App({ outdir });
new StandaloneBuildStack(app, 'StandaloneBuildStack', { env });
new PipelineStack(app, 'PipelineStack', { env });
new CdkPipelineStack(app, 'CdkPipelineStack', { env });
const assembly = app.synth();

const seconds = Number(process.hrtime.bigint() - started) / 1e9;
for (const stack of assembly.stacks) {
  console.log(`${stack.stackName}: ${path.relative(process.cwd(), stack.templateFullPath)}`);
}
console.log(`synthesized ${assembly.stacks.length} stacks in ${seconds.toFixed(2)} s ` +
  `(process total ${process.uptime().toFixed(2)} s, including TypeScript compilation)`);

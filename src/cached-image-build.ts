import {
  aws_cloudwatch as cloudwatch,
  aws_codebuild as codebuild,
  aws_codepipeline_actions as codepipeline_actions,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { wireGrants } from './build-grants';
import { createCacheRepository, createImageRepository, createProject } from './build-resources';
import { CachedImageBuildActionOptions, CachedImageBuildProps } from './cached-image-build-props';
import { addSynthWarnings } from './checks/synth-checks';
import { claimRepositoryNames } from './checks/unique-repository-names';
import { createBuildLogGroup } from './compliance';
import { ConsumableBuild, NO_FIXED_TAG_REASON, ecsContainerImage, lambdaDockerImageCode } from './consumption';
import { CacheMetrics } from './metrics/cache-metrics';
import { CacheMetricsWidgetOptions, CacheMissAlarmOptions } from './metrics/metrics-props';
import { ResolvedOptions, resolveOptions } from './options/resolve-options';
import { validateNamespace } from './options/validation';
import { BuildScriptOptions, renderBuildScript } from './script/build-script';
import { CacheStrategy } from './strategies/cache-strategy';
import { UNFILTERED_PULL_REQUESTS_WARNING, warnOnUnfilteredPullRequests } from './webhook-check';

/**
 * Builds a Docker image in CodeBuild and pushes it to ECR with a layer cache that hits on every
 * rebuild: an application repository, a separate cache repository, and the CodeBuild project.
 */
export class CachedImageBuild extends Construct {
  /**
   * Id of the synth-time warning for a webhook that builds pull requests from anyone (a filter
   * group with a pull-request event and no `ACTOR_ACCOUNT_ID` filter). Acknowledge it with
   * `Annotations.of(build).acknowledgeWarning(CachedImageBuild.PULL_REQUESTS_FROM_ANYONE_WARNING, reason)`.
   */
  public static readonly PULL_REQUESTS_FROM_ANYONE_WARNING = UNFILTERED_PULL_REQUESTS_WARNING;

  /** The CodeBuild project that runs the build. */
  public readonly project: codebuild.Project;

  /** The application image repository. */
  public readonly repository: ecr.IRepository;

  /** The cache repository, or undefined when the cache strategy uses none. */
  public readonly cacheRepository?: ecr.IRepository;

  /** The cache strategy in use. */
  public readonly cacheStrategy: CacheStrategy;

  /** The default branch's cache tag, which lifecycle rules never expire. */
  public readonly defaultCacheTag: string;

  /** The default branch: only a build that is not a pull request, of exactly this branch, writes its cache and moves fixed tags. */
  public readonly defaultBranch: string;

  /** The CloudWatch Logs log group of the build logs. */
  public readonly logGroup: logs.ILogGroup;

  private readonly cacheMetrics?: CacheMetrics;

  /** What the deploy-time helpers (`imageUri`, `toEcsContainerImage()`, `toLambdaDockerImageCode()`) need. */
  private readonly consumable: ConsumableBuild;

  constructor(scope: Construct, id: string, props: CachedImageBuildProps = {}) {
    super(scope, id);

    // 1. props -> resolved options: every rule is checked before any resource is created.
    const options = resolveOptions(props);
    this.cacheStrategy = options.strategy;
    this.defaultCacheTag = options.defaultCacheTag;
    this.defaultBranch = options.defaultBranch;

    // 2. the repositories, then the build script (pure) that names them.
    claimRepositoryNames(this, createdRepositoryNames(options));
    this.repository = options.repository ?? createImageRepository(this, options);
    if (options.strategy.usesCacheRepository) {
      this.cacheRepository = options.cacheRepository ?? createCacheRepository(this, options);
    }
    const script = renderBuildScript(buildScriptOptions(options, this.repository, this.cacheRepository));

    // 3. the log group and the project that runs the script.
    this.logGroup = createBuildLogGroup(this, 'Logs', options.logRetention, options.encryptionKey);
    this.project = createProject(this, options, script, this.logGroup);
    warnOnUnfilteredPullRequests(this, this.project, options.pullRequests, options.secretIds.length > 0);

    // 4. grants, metrics and compliance.
    this.cacheMetrics = wireGrants(this, options, this.project, { repository: this.repository, cacheRepository: this.cacheRepository });
    addSynthWarnings(this, options, this.project);
    this.consumable = {
      repository: this.repository,
      fixedTags: options.fixedTags,
      pushedTagPatterns: options.imageTags.every((t) => t.kind === 'fixed' || t.kind === 'branch') ? options.mutableTagPatterns : undefined,
      provenance: options.provenance,
    };
  }

  /**
   * URI of the image at the first `ImageTag.of()` tag of `imageTags` (`<repository URI>:latest` by
   * default).
   *
   * That tag is the only kind whose value is known at synth time and that every build of the
   * default branch pushes (not pull requests, not other branches); `ImageTag.commit()` and
   * `gitTag()` name one build's image and `branch()` is named at build time. The tag moves with
   * every such build, and the image exists only once the first one has run: to deploy a given
   * build, prefer its commit tag or digest (the `IMAGE_TAG` / `IMAGE_DIGEST` variables, or
   * `toEcsContainerImage(tag)`).
   *
   * @throws when `imageTags` has no `ImageTag.of()` tag (e.g. `[ImageTag.commit()]`): the bare
   * repository URI would make a pull ask for `latest`, which such a build never pushes
   */
  public get imageUri(): string {
    if (this.consumable.fixedTags.length === 0) {
      throw new Error(
        `imageUri: imageTags has no ImageTag.of() tag (${NO_FIXED_TAG_REASON}): a pull of the bare repository ` +
          'URI would ask for \'latest\', which is never pushed. Use toEcsContainerImage(tag) / toLambdaDockerImageCode(tag) or ' +
          'repository.repositoryUriForTag(tag) with the tag to deploy (such as the commit tag), or add ImageTag.of(\'latest\') to imageTags',
      );
    }
    return this.repository.repositoryUriForTag(this.consumable.fixedTags[0]);
  }

  /**
   * The image as an ECS container image, from the repository at a tag or digest. Binding it to a
   * task definition grants the task's execution role the pull.
   *
   * @param tagOrDigest the tag (one this build pushes) or `sha256:` digest to deploy
   * @default - the first `ImageTag.of()` tag of `imageTags`, as for `imageUri`
   * @throws when no tag is given and `imageTags` has no `ImageTag.of()` tag, or when every tag the
   * build pushes is known at synth time (no `commit()` or `gitTag()`) and the given tag is none of them
   */
  public toEcsContainerImage(tagOrDigest?: string): ecs.ContainerImage {
    return ecsContainerImage(this.consumable, tagOrDigest);
  }

  /**
   * The image as Lambda function code (`lambda.DockerImageFunction`), from the repository at a tag
   * or digest. Binding it allows `lambda.amazonaws.com` to pull in the repository policy (a
   * repository created by this construct; an imported one needs that statement already).
   * Lambda rejects image indexes with attestations: the build must keep `provenance: false`.
   *
   * @param tagOrDigest the tag (one this build pushes) or `sha256:` digest to deploy
   * @default - the first `ImageTag.of()` tag of `imageTags`, as for `imageUri`
   * @throws when no tag is given and `imageTags` has no `ImageTag.of()` tag, or when every tag the
   * build pushes is known at synth time (no `commit()` or `gitTag()`) and the given tag is none of them
   */
  public toLambdaDockerImageCode(tagOrDigest?: string): lambda.DockerImageCode {
    return lambdaDockerImageCode(this.consumable, tagOrDigest);
  }

  /**
   * A cache metric of this build's project (namespace `metricsNamespace`, dimension `ProjectName`):
   * `CacheHitRatio` (percent), `CachedSteps`, `ExecutedSteps` or `BuildSeconds`.
   *
   * @default - statistic Average over 5 minutes
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics('metric').metric(metricName, 'Average', props);
  }

  /** Percentage of the Dockerfile steps taken from the cache (Average over 5 minutes by default). */
  public metricCacheHitRatio(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics('metricCacheHitRatio').metric('CacheHitRatio', 'Average', props);
  }

  /** Dockerfile steps taken from the cache (Sum over 5 minutes by default). */
  public metricCachedSteps(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics('metricCachedSteps').metric('CachedSteps', 'Sum', props);
  }

  /** Dockerfile steps executed (Sum over 5 minutes by default). */
  public metricExecutedSteps(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics('metricExecutedSteps').metric('ExecutedSteps', 'Sum', props);
  }

  /** Seconds the image build took (Average over 5 minutes by default). */
  public metricBuildSeconds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics('metricBuildSeconds').metric('BuildSeconds', 'Average', props);
  }

  /**
   * An alarm that fires when the builds stop hitting the cache: `CacheHitRatio` at 0 (its maximum)
   * in `periods` consecutive periods, the failure mode of the common inline-cache recipe.
   */
  public addCacheMissAlarm(id: string, options: CacheMissAlarmOptions = {}): cloudwatch.Alarm {
    return this.metrics('addCacheMissAlarm').alarm(this, id, options);
  }

  /** A dashboard widget with the cache hit ratio and the build time. */
  public metricsWidget(options: CacheMetricsWidgetOptions = {}): cloudwatch.GraphWidget {
    return this.metrics('metricsWidget').widget(options);
  }

  private metrics(method: string): CacheMetrics {
    if (!this.cacheMetrics) {
      throw new Error(`${method}() needs the cache metrics, which this build does not publish (metrics: false)`);
    }
    return this.cacheMetrics;
  }

  /** Grant a principal permission to pull the built image. */
  public grantPull(grantee: iam.IGrantable): iam.Grant {
    return this.repository.grantPull(grantee);
  }

  /**
   * A CodePipeline action that runs this build. Its variables namespace exposes `IMAGE_URI`,
   * `IMAGE_TAG` and `IMAGE_DIGEST`. Only for a build created without `source`.
   */
  public toCodeBuildAction(options: CachedImageBuildActionOptions): codepipeline_actions.CodeBuildAction {
    if (!(this.project instanceof codebuild.PipelineProject)) {
      throw new Error('toCodeBuildAction() needs a CachedImageBuild created without source (a CodePipeline project)');
    }
    const actionName = options.actionName ?? 'BuildImage';
    const variablesNamespace = options.variablesNamespace ?? actionName;
    validateNamespace('variablesNamespace', variablesNamespace);
    return new codepipeline_actions.CodeBuildAction({
      actionName,
      project: this.project,
      input: options.input,
      outputs: options.output ? [options.output] : undefined,
      variablesNamespace,
      runOrder: options.runOrder,
      environmentVariables: {
        CIB_TRIGGER: { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value: 'pipeline' },
        CIB_BRANCH: { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value: options.branch ?? this.defaultBranch },
        ...(options.pullRequest ? { CIB_PIPELINE_PULL_REQUEST: { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value: 'true' } } : {}),
      },
    });
  }
}

/** The literal names of the repositories this build creates (its application and cache repositories). */
function createdRepositoryNames(options: ResolvedOptions): string[] {
  const names: string[] = [];
  if (!options.repository && options.repositoryName !== undefined) names.push(options.repositoryName);
  if (options.strategy.usesCacheRepository && !options.cacheRepository && options.cacheRepositoryName !== undefined) {
    names.push(options.cacheRepositoryName);
  }
  return names;
}

/** What the renderer needs, from the resolved options and the repositories (their URIs are tokens). */
function buildScriptOptions(options: ResolvedOptions, repository: ecr.IRepository, cacheRepository?: ecr.IRepository): BuildScriptOptions {
  return {
    strategy: options.strategy,
    imageRepositoryUri: repository.repositoryUri,
    imageRepositoryRegion: repository.env.region,
    cacheRepositoryUri: cacheRepository?.repositoryUri,
    cacheRepositoryRegion: cacheRepository?.env.region,
    cacheRepositoryName: cacheRepository?.repositoryName,
    dockerfile: options.dockerfile,
    buildContext: options.buildContext,
    target: options.target,
    buildArgs: options.buildArgs,
    networkMode: options.networkMode,
    platform: options.platform,
    defaultBranch: options.defaultBranch,
    defaultCacheTag: options.defaultCacheTag,
    pullRequests: options.pullRequests,
    imageTags: options.imageTags,
    provenance: options.provenance,
    metricsNamespace: options.metricsNamespace,
    secretIds: options.secretIds,
    containerName: options.containerName,
  };
}

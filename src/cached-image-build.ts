import {
  aws_cloudwatch as cloudwatch,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_codepipeline_actions as codepipeline_actions,
  aws_ecr_assets as ecr_assets,
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
import { checkCollisions } from './multi-arch/collisions';
import { multiArchCacheLifecycleRules } from './multi-arch/lifecycle';
import { MultiArchParts, buildMultiArch, multiArchActions, multiArchRepositoryOptions } from './multi-arch/multi-arch-build';
import { PlatformTarget, archOf, resolvePlatforms } from './multi-arch/platforms';
import { ResolvedOptions, resolveOptions } from './options/resolve-options';
import { validateNamespace } from './options/validation';
import { BuildScriptOptions, renderBuildScript } from './script/build-script';
import { renderTagSelection } from './script/push-tags';
import { CacheStrategy } from './strategies/cache-strategy';
import { UNFILTERED_PULL_REQUESTS_WARNING, warnOnUnfilteredPullRequests } from './webhook-check';

/**
 * Builds a Docker image in CodeBuild and pushes it to ECR with a layer cache that hits on every
 * rebuild: an application repository, a separate cache repository, and the CodeBuild project.
 *
 * @example
 * // Pushes to main build the image; the commit tag is immutable, `latest` follows main.
 * const build = new CachedImageBuild(this, 'Api', {
 *   repositoryName: 'api',
 *   source: codebuild.Source.gitHub({
 *     owner: 'my-org',
 *     repo: 'api',
 *     webhookFilters: [codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH).andBranchIs('main')],
 *   }),
 *   imageTags: [ImageTag.commit(), ImageTag.of('latest')],
 * });
 * new CfnOutput(this, 'ImageUri', { value: build.imageUri });
 */
export class CachedImageBuild extends Construct {
  /**
   * Id of the synth-time warning for a webhook that builds pull requests from anyone (a filter
   * group with a pull-request event and no `ACTOR_ACCOUNT_ID` filter). Acknowledge it with
   * `Annotations.of(build).acknowledgeWarning(CachedImageBuild.PULL_REQUESTS_FROM_ANYONE_WARNING, reason)`.
   */
  public static readonly PULL_REQUESTS_FROM_ANYONE_WARNING = UNFILTERED_PULL_REQUESTS_WARNING;

  /**
   * The CodeBuild project that runs the build. With `platforms` and a `source`: the one project of
   * the batch builds; with `platforms` and no `source`: the first platform's project, which also
   * publishes the image index (see `projects`).
   */
  public readonly project: codebuild.Project;

  /** Every CodeBuild project of the build: `project`, and with `platforms` and no `source` one per platform, in order. */
  public readonly projects: codebuild.Project[];

  /** The platforms of the image: `platform`, or each of `platforms`. */
  public readonly platforms: string[];

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
  private readonly multiArch?: MultiArchParts;
  private readonly fixedTags: string[];

  /** What the deploy-time helpers (`imageUri`, `toEcsContainerImage()`, `toLambdaDockerImageCode()`) need. */
  private readonly consumable: ConsumableBuild;

  /**
   * @param scope the construct that contains the build (usually a `Stack`)
   * @param id the construct id; also the default prefix of the resources' names
   * @param props what to build and how; every prop is validated at synth time, and a prop that
   *   breaks a rule throws an error that names it
   */
  constructor(scope: Construct, id: string, props: CachedImageBuildProps = {}) {
    super(scope, id);

    // 1. props -> resolved options: every rule is checked before any resource is created
    // (the platforms of a multi-architecture build first: see multi-arch/platforms.ts).
    const targets = resolvePlatforms(props);
    const options = multiArchRepositoryOptions(resolveOptions(props), targets);
    this.cacheStrategy = options.strategy;
    this.defaultCacheTag = options.defaultCacheTag;
    this.defaultBranch = options.defaultBranch;
    this.fixedTags = options.fixedTags;
    this.platforms = targets ? targets.map((t) => t.platform) : [options.platform];

    // 2. the repositories, then the build script (pure) that names them.
    this.repository = options.repository ?? createImageRepository(this, options);
    const createsCacheRepository = options.strategy.usesCacheRepository && !options.cacheRepository;
    // Builds of one stack first (their message names the platforms fix), then the app's account and region.
    checkCollisions(this, options, this.repository, createsCacheRepository);
    claimRepositoryNames(this, createdRepositoryNames(options));
    if (options.strategy.usesCacheRepository) {
      this.cacheRepository = options.cacheRepository ?? createCacheRepository(this, options, targets && multiArchLifecycle(options, targets));
    }
    const script = renderBuildScript(buildScriptOptions(options, this.repository, this.cacheRepository));

    // 3. the log group and the project that runs the script.
    this.logGroup = createBuildLogGroup(this, 'Logs', options.logRetention, options.encryptionKey);
    const repositories = { repository: this.repository, cacheRepository: this.cacheRepository };
    if (targets) {
      const tagSelectionEnd = renderTagSelection(options.imageTags).commands.slice(-1)[0];
      this.multiArch = buildMultiArch(this, options, targets, script, tagSelectionEnd, this.logGroup, repositories);
      this.projects = this.multiArch.projects;
      this.project = this.projects[0];
      this.cacheMetrics = this.multiArch.aggregateMetrics;
    } else {
      this.project = createProject(this, options, script, this.logGroup);
      this.projects = [this.project];
      warnOnUnfilteredPullRequests(this, this.project, options.pullRequests, options.secretIds.length > 0);

      // 4. grants, metrics and compliance.
      this.cacheMetrics = wireGrants(this, options, this.project, repositories);
    }
    addSynthWarnings(this, options, this.project);
    this.consumable = {
      repository: this.repository,
      fixedTags: options.fixedTags,
      pushedTagPatterns: options.imageTags.every((t) => t.kind === 'fixed' || t.kind === 'branch') ? options.mutableTagPatterns : undefined,
      provenance: options.provenance,
      multiArchPlatforms: targets ? this.platforms : [],
      platform: options.platform,
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
   * `toEcsContainerImage(tag)`). With `platforms` it names the image index, which AWS Lambda cannot
   * run: give Lambda `imageUriForPlatform()`.
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
   * Lambda runs one architecture: with `platforms`, pass the function's platform to deploy that
   * platform's image (`<tag>-<arch>`), or give one platform's image digest.
   *
   * @param tagOrDigest the tag (one this build pushes) or `sha256:` digest to deploy
   * @default - the first `ImageTag.of()` tag of `imageTags`, as for `imageUri`
   * @param platform the function's platform, one of `platforms`; required with `platforms` and a
   * tag, optional otherwise (the build's one platform)
   * @throws when no tag is given and `imageTags` has no `ImageTag.of()` tag, or when every tag the
   * build pushes is known at synth time (no `commit()` or `gitTag()`) and the given tag is none of
   * them, or with `platforms` when a tag is given without a platform
   */
  public toLambdaDockerImageCode(tagOrDigest?: string, platform?: ecr_assets.Platform): lambda.DockerImageCode {
    return lambdaDockerImageCode(this.consumable, tagOrDigest, platform);
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
    if (this.multiArch && !this.multiArch.aggregateMetrics && this.multiArch.platformMetrics.size > 0) {
      throw new Error(`${method}() covers one CodeBuild project, and this multi-architecture CodePipeline build has one per platform: ` +
        'use metricForPlatform()');
    }
    if (!this.cacheMetrics) {
      throw new Error(`${method}() needs the cache metrics, which this build does not publish (metrics: false)`);
    }
    return this.cacheMetrics;
  }

  /**
   * A cache metric of one platform of a multi-architecture build (dimensions `ProjectName` and
   * `Platform`): `CacheHitRatio`, `CachedSteps`, `ExecutedSteps` or `BuildSeconds`.
   *
   * @param platform one of `platforms`
   * @param metricName `CacheHitRatio`, `CachedSteps`, `ExecutedSteps` or `BuildSeconds`
   * @param props overrides of the metric (statistic Average over 5 minutes by default)
   */
  public metricForPlatform(platform: ecr_assets.Platform, metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    const metrics = this.multiArch?.platformMetrics.get(platform.platform);
    if (!this.multiArch) {
      throw new Error('metricForPlatform() is for a build with platforms; use metric() for a single-platform build');
    }
    if (!metrics) {
      throw new Error(this.multiArch.platformMetrics.size === 0
        ? 'metricForPlatform() needs the cache metrics, which this build does not publish (metrics: false)'
        : `metricForPlatform(): '${platform.platform}' is not one of this build's platforms (${this.platforms.join(', ')})`);
    }
    return metrics.metric(metricName, 'Average', props);
  }

  /**
   * URI of one platform's image of a multi-architecture build: the repository URI with the first
   * fixed tag and `-<arch>` (`:latest-arm64`), the tag each architecture's build moves with the
   * index's. For AWS Lambda, which cannot run an image index. The exact image of a pipeline run
   * is in the index action's variables `IMAGE_URI_AMD64` and `IMAGE_URI_ARM64` (by digest).
   *
   * @param platform one of `platforms`
   */
  public imageUriForPlatform(platform: ecr_assets.Platform): string {
    if (!this.multiArch) {
      throw new Error('imageUriForPlatform() is for a build with platforms; use imageUri for a single-platform build');
    }
    if (!this.platforms.includes(platform.platform)) {
      throw new Error(`imageUriForPlatform(): '${platform.platform}' is not one of this build's platforms (${this.platforms.join(', ')})`);
    }
    if (this.fixedTags.length === 0) {
      throw new Error('imageUriForPlatform() needs a fixed tag in imageTags (such as ImageTag.of(\'latest\')) to name the image at synth time; ' +
        'use the index action\'s variable IMAGE_URI_' + archOf(platform.platform).toUpperCase() + ' instead');
    }
    return this.repository.repositoryUriForTag(`${this.fixedTags[0]}-${archOf(platform.platform)}`);
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
    if (this.multiArch) {
      throw new Error('toCodeBuildAction() makes one action, and a build with platforms needs one per platform and the index action: ' +
        'use toCodeBuildActions() or addToStage()');
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
      environmentVariables: pipelineEnvironment(options, this.defaultBranch),
    });
  }

  /**
   * The CodePipeline actions of this build, in one stage: for a single-platform build its one
   * action; with `platforms`, one action per platform (run order `runOrder`, in parallel, named
   * `<actionName>-<arch>`), then the action that publishes the image index (run order
   * `runOrder + 1`, named `actionName`, with the `output` artifact and the variables namespace:
   * `IMAGE_URI`, `IMAGE_TAG`, `IMAGE_DIGEST` name the index, `IMAGE_URI_AMD64` / `IMAGE_URI_ARM64`
   * each platform's image by digest). Only for a build created without `source`.
   *
   * @param options the input artifact, and the name, output, variables namespace, branch and run order of the action(s)
   */
  public toCodeBuildActions(options: CachedImageBuildActionOptions): codepipeline_actions.CodeBuildAction[] {
    if (!this.multiArch) {
      return [this.toCodeBuildAction(options)];
    }
    if (!(this.project instanceof codebuild.PipelineProject)) {
      throw new Error('toCodeBuildActions() needs a CachedImageBuild created without source (CodePipeline projects)');
    }
    return multiArchActions(this.multiArch, options, pipelineEnvironment(options, this.defaultBranch));
  }

  /**
   * Adds `toCodeBuildActions(options)` to a pipeline stage, and returns them.
   *
   * @param stage the pipeline stage that builds the image
   * @param options as for `toCodeBuildActions()`
   */
  public addToStage(stage: codepipeline.IStage, options: CachedImageBuildActionOptions): codepipeline_actions.CodeBuildAction[] {
    const actions = this.toCodeBuildActions(options);
    actions.forEach((a) => stage.addAction(a));
    return actions;
  }
}

/** The variables a CodePipeline action gives the build: the build context of a pipeline (see script/build-context.ts). */
function pipelineEnvironment(options: CachedImageBuildActionOptions, defaultBranch: string): { [name: string]: codebuild.BuildEnvironmentVariable } {
  return {
    CIB_TRIGGER: { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value: 'pipeline' },
    CIB_BRANCH: { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value: options.branch ?? defaultBranch },
    ...(options.pullRequest ? { CIB_PIPELINE_PULL_REQUEST: { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value: 'true' } } : {}),
  };
}

function multiArchLifecycle(options: ResolvedOptions, targets: PlatformTarget[]) {
  return multiArchCacheLifecycleRules(options.strategy, options.defaultCacheTag, options.cacheRetention, targets);
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
    rebuildExistingImages: options.rebuildExistingImages,
    reproducibleTimestamps: options.reproducibleTimestamps,
    metricsNamespace: options.metricsNamespace,
    secretIds: options.secretIds,
    dockerHubLogin: options.dockerHubLogin !== undefined,
    containerName: options.containerName,
  };
}

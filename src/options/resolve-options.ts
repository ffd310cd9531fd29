import { Duration, Token, aws_codebuild as codebuild, aws_ecr as ecr, aws_kms as kms, aws_logs as logs } from 'aws-cdk-lib';
import {
  validateBranchName,
  validateBuildArgs,
  validateBuildImage,
  validateCacheRepositoryUse,
  validateCacheRetention,
  validateContainerName,
  validateDockerServer,
  validateEnvironmentVariableNames,
  validateConcurrentBuildLimit,
  validateFleet,
  validateImageTags,
  validateMutableTagPatterns,
  validateMetricsNamespace,
  validateMetricsOff,
  validatePlatform,
  validateRelativePath,
  validateRepositoryChoice,
  validateRepositoryName,
  validateSecretId,
  validateTarget,
  validateTimeout,
  validateVpcPlacement,
} from './validation';
import { BuildSecret } from '../build-secret';
import { CachedImageBuildProps } from '../cached-image-build-props';
import { DockerHubLogin } from '../docker-hub-login';
import { branchToTag } from '../ecr-naming';
import { ImageTag } from '../image-tag';
import { PullRequestPolicy } from '../pull-request-policy';
import { CacheStrategy } from '../strategies/cache-strategy';

/** Default CloudWatch namespace of the cache metrics. */
export const DEFAULT_METRICS_NAMESPACE = 'CachedImageBuild';

/** How long the build logs are kept unless `logRetention` says otherwise. */
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * The props of a CachedImageBuild, validated and with every default applied: what the build
 * script, the resources and the grants are made from. Internal (not part of the jsii API).
 */
export interface ResolvedOptions {
  /** CloudWatch namespace of the cache metrics; undefined when `metrics: false`. */
  readonly metricsNamespace?: string;
  /** The imported application repository, or undefined to create one. */
  readonly repository?: ecr.IRepository;
  /** Name of the application repository to create. */
  readonly repositoryName?: string;
  /** The imported cache repository, or undefined to create one (when the strategy uses one). */
  readonly cacheRepository?: ecr.IRepository;
  /** Name of the cache repository to create: `<application repository name>-cache` when that name is known. */
  readonly cacheRepositoryName?: string;
  /** Whole days, literal. */
  readonly cacheRetention: Duration;
  readonly strategy: CacheStrategy;
  readonly source?: codebuild.ISource;
  /** Normalized, relative to the build context. */
  readonly dockerfile: string;
  /** Normalized, relative to the source root, and never starting with '-' (it is the builder's positional argument). */
  readonly buildContext: string;
  readonly target?: string;
  readonly buildArgs: Record<string, string>;
  /** Ids of the build secrets, in the order their variables are numbered. */
  readonly secretIds: string[];
  /** The build secrets, in the order of `secretIds`. */
  readonly secrets: BuildSecret[];
  /** The Docker Hub login, if any. */
  readonly dockerHubLogin?: DockerHubLogin;
  /** Network mode of `RUN` steps (`--network`). */
  readonly networkMode?: string;
  /** `linux/amd64` or `linux/arm64` (or a token). */
  readonly platform: string;
  readonly buildImage: codebuild.IBuildImage;
  readonly computeType: codebuild.ComputeType;
  readonly timeout: Duration;
  /** The user's project environment variables (none reserved). */
  readonly environmentVariables: { [name: string]: codebuild.BuildEnvironmentVariable };
  readonly defaultBranch: string;
  /** The default branch's cache tag (`branchToTag(defaultBranch)`). */
  readonly defaultCacheTag: string;
  readonly imageTags: ImageTag[];
  /** The fixed tags of `imageTags`, in order. */
  readonly fixedTags: string[];
  /** Tag patterns a repository the construct creates keeps mutable: the fixed tags, `br-*`, `pr-*`. */
  readonly mutableTagPatterns: string[];
  readonly pullRequests: PullRequestPolicy;
  readonly concurrentBuildLimit?: number;
  readonly provenance: boolean;
  readonly rebuildExistingImages: boolean;
  readonly reproducibleTimestamps: boolean;
  readonly containerName: string;
  readonly projectName?: string;
  readonly encryptionKey?: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  /** Where the build runs and as whom, as given (each undefined by default). */
  readonly placement: Placement;
}

/** The props that place the build: `vpc` (with its subnets and security groups), `role`, `fleet`, `dockerServer`. */
export type Placement = Pick<CachedImageBuildProps, 'vpc' | 'subnetSelection' | 'securityGroups' | 'role' | 'fleet' | 'dockerServer'>;

/**
 * Validates the props and applies the defaults, in the order of the props' documentation (the
 * metrics props of `CacheMetricsProps` first); a rule that needs another prop's resolved value
 * comes with the later prop. Pure: no construct is created, so nothing is half-built on an error.
 */
export function resolveOptions(props: CachedImageBuildProps): ResolvedOptions {
  const metricsNamespace = resolveMetricsNamespace(props);

  validateRepositoryChoice(props.repository, props.repositoryName);
  validateRepositoryName('repositoryName', props.repositoryName);

  const cacheRetention = props.cacheRetention ?? Duration.days(14);
  validateCacheRetention(cacheRetention);

  const strategy = props.cache ?? CacheStrategy.registry();
  validateCacheRepositoryUse(strategy, props.cacheRepository);
  const cacheRepositoryName = resolveCacheRepositoryName(props, strategy);

  // The Dockerfile's rule names the build context, so the context is resolved first.
  const buildContext = validateRelativePath('buildContext', props.buildContext ?? '.', 'the source root');
  const dockerfile = validateRelativePath('dockerfile', props.dockerfile ?? 'Dockerfile', `the build context ('${buildContext}')`);

  validateTarget(props.target);
  const buildArgs = props.buildArgs ?? {};
  validateBuildArgs(buildArgs);
  const secretIds = validatedSecretIds(props);

  const platform = props.platform?.platform ?? 'linux/amd64';
  validatePlatform(platform);
  const buildImage = props.buildImage ?? defaultBuildImage(platform);
  if (props.buildImage) {
    validateBuildImage(props.buildImage, platform);
  }

  validateTimeout(props.timeout);
  validateEnvironmentVariableNames(Object.keys(props.environmentVariables ?? {}));
  validateConcurrentBuildLimit(props.concurrentBuildLimit);

  // A default branch given as `refs/heads/<name>` is the branch `<name>`.
  const defaultBranch = (props.defaultBranch ?? 'main').replace(/^refs\/heads\//, '');
  const defaultCacheTag = Token.isUnresolved(defaultBranch) ? '' : branchToTag(defaultBranch);
  validateBranchName('defaultBranch', defaultBranch, defaultCacheTag);

  const { imageTags, pullRequests, fixedTags, mutableTagPatterns } = resolveTags(props);

  const containerName = props.containerName ?? 'app';
  validateContainerName(containerName);

  return {
    metricsNamespace,
    repository: props.repository,
    repositoryName: props.repositoryName,
    cacheRepository: props.cacheRepository,
    cacheRepositoryName,
    cacheRetention,
    strategy,
    source: props.source,
    dockerfile,
    // The context is the builder's one positional argument: one starting with '-' would be read
    // as an option (and '-' alone as "read the context from stdin"), so keep it a path.
    buildContext: buildContext.startsWith('-') ? `./${buildContext}` : buildContext,
    target: props.target,
    buildArgs,
    secretIds,
    secrets: secretIds.map((id) => props.buildSecrets![id]),
    dockerHubLogin: props.dockerHubLogin,
    networkMode: props.networkMode?.mode,
    platform,
    buildImage,
    computeType: props.computeType ?? codebuild.ComputeType.SMALL,
    timeout: props.timeout ?? Duration.hours(1),
    environmentVariables: { ...props.environmentVariables },
    concurrentBuildLimit: props.concurrentBuildLimit,
    defaultBranch,
    defaultCacheTag,
    imageTags,
    fixedTags,
    mutableTagPatterns,
    pullRequests,
    provenance: props.provenance ?? false,
    ...resolveRebuildOptions(props),
    containerName,
    projectName: props.projectName,
    encryptionKey: props.encryptionKey,
    logRetention: props.logRetention ?? DEFAULT_LOG_RETENTION,
    placement: resolvePlacement(props, strategy, buildImage, platform),
  };
}

/** `imageTags` and `pullRequests`: the tags a build pushes, and those the repository keeps mutable. */
function resolveTags(props: CachedImageBuildProps):
Pick<ResolvedOptions, 'imageTags' | 'pullRequests' | 'fixedTags' | 'mutableTagPatterns'> {
  const imageTags = props.imageTags ?? [ImageTag.commit(), ImageTag.gitTag(), ImageTag.of('latest')];
  const pullRequests = props.pullRequests ?? PullRequestPolicy.push();
  const fixedTags = validateImageTags(imageTags);
  const mutableTagPatterns = [
    ...fixedTags,
    ...(imageTags.some((t) => t.kind === 'branch') ? ['br-*'] : []),
    ...(pullRequests.mode === 'push' ? ['pr-*'] : []),
  ];
  validateMutableTagPatterns(mutableTagPatterns, !props.repository);
  return { imageTags, pullRequests, fixedTags, mutableTagPatterns };
}

/** Checks the props that place the build (the last props of the documentation). */
function resolvePlacement(props: CachedImageBuildProps, strategy: CacheStrategy, buildImage: codebuild.IBuildImage,
  platform: string): Placement {
  validateVpcPlacement(props.vpc, props.subnetSelection, props.securityGroups);
  validateFleet(props.fleet, props.vpc, buildImage, platform);
  validateDockerServer(props.dockerServer, strategy);
  return {
    vpc: props.vpc,
    subnetSelection: props.subnetSelection,
    securityGroups: props.securityGroups,
    role: props.role,
    fleet: props.fleet,
    dockerServer: props.dockerServer,
  };
}

/** The ids of the build secrets, each checked. */
function validatedSecretIds(props: CachedImageBuildProps): string[] {
  const ids = Object.keys(props.buildSecrets ?? {});
  ids.forEach(validateSecretId);
  return ids;
}

/** Re-runs of an existing commit and reproducible timestamps (issue 10): both off unless asked for. */
function resolveRebuildOptions(props: CachedImageBuildProps): { rebuildExistingImages: boolean; reproducibleTimestamps: boolean } {
  return { rebuildExistingImages: props.rebuildExistingImages ?? false, reproducibleTimestamps: props.reproducibleTimestamps ?? false };
}

/** The metrics namespace in use, or undefined when metrics are off. */
function resolveMetricsNamespace(props: CachedImageBuildProps): string | undefined {
  if (props.metrics === false) {
    validateMetricsOff(props.metricsNamespace);
    return undefined;
  }
  const namespace = props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE;
  validateMetricsNamespace(namespace);
  return namespace;
}

/**
 * `<application repository name>-cache`, when that name is known at synth time (given, or the
 * literal name of an imported repository); checked when the construct creates the cache repository.
 */
function resolveCacheRepositoryName(props: CachedImageBuildProps, strategy: CacheStrategy): string | undefined {
  const importedName = props.repository && !Token.isUnresolved(props.repository.repositoryName)
    ? props.repository.repositoryName : undefined;
  const appName = props.repositoryName ?? importedName;
  const cacheName = appName !== undefined && !Token.isUnresolved(appName) ? `${appName}-cache` : undefined;
  if (strategy.usesCacheRepository && cacheName !== undefined && !props.cacheRepository) {
    validateRepositoryName('repositoryName (with -cache appended for the cache repository)', cacheName);
  }
  return cacheName;
}

/** An x86_64 CodeBuild image for linux/amd64, a Graviton one for linux/arm64. */
function defaultBuildImage(platform: string): codebuild.IBuildImage {
  return platform === 'linux/arm64'
    ? codebuild.LinuxArmBuildImage.AMAZON_LINUX_2_STANDARD_3_0
    : codebuild.LinuxBuildImage.STANDARD_7_0;
}

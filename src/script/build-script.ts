import { BUILD_CONTEXT_VARIABLES, RESOLVE_BUILD_CONTEXT } from './build-context';
import { CACHE_REPORT_VARIABLES, PUBLISH_METRICS, PUBLISH_REUSE_METRIC, START_TIMER, countCommands } from './cache-report';
import { dockerHubLoginCommand } from './docker-hub-login';
import { FIND_KEY_TAG, LOOK_UP_EXISTING_IMAGE, REUSE_EXISTING_IMAGE, unlessSkipped } from './existing-image';
import { argumentArrays, command } from './fragments';
import { renderTagSelection } from './push-tags';
import { SET_SOURCE_DATE_EPOCH } from './source-date';
import { ImageTag } from '../image-tag';
import { PullRequestPolicy } from '../pull-request-policy';
import { CacheStrategy } from '../strategies/cache-strategy';
import { StrategyScript } from '../strategies/strategy-script';

/**
 * The build script: CodeBuild phases of shell commands plus their environment.
 *
 * Pure: no construct scope. The construct turns it into a buildspec, unit tests read it, and the
 * end-to-end harness executes the buildspec synthesized from it.
 *
 * Rules the commands follow:
 * - every value that comes from the user (or from the repository) reaches the shell only through
 *   an environment variable of the project, expanded in double quotes; no command text contains it;
 * - every command is one line and self-contained: CodeBuild carries only scalar variables and the
 *   working directory from one command to the next (not arrays, functions or shell options), so
 *   commands share state through scalar variables only, and a command that pipes sets `pipefail`
 *   itself;
 * - each phase aborts the build at its first failing command (`on-failure: ABORT`).
 */

/** Everything the renderer needs. Values may be CDK tokens. */
export interface BuildScriptOptions {
  readonly strategy: CacheStrategy;
  readonly imageRepositoryUri: string;
  readonly imageRepositoryRegion: string;
  readonly cacheRepositoryUri?: string;
  readonly cacheRepositoryRegion?: string;
  readonly cacheRepositoryName?: string;
  /** Dockerfile path relative to the build context. */
  readonly dockerfile: string;
  /** Build context relative to the source root. */
  readonly buildContext: string;
  readonly target?: string;
  readonly buildArgs: Record<string, string>;
  readonly networkMode?: string;
  readonly platform: string;
  /** The default branch, as named in git: only a non-PR build of exactly this ref is trusted with its cache and fixed tags. */
  readonly defaultBranch: string;
  /** The default branch's cache tag (already mapped with `branchToTag`). */
  readonly defaultCacheTag: string;
  /** What a pull-request build may do. */
  readonly pullRequests: PullRequestPolicy;
  readonly imageTags: ImageTag[];
  readonly provenance: boolean;
  /** SOURCE_DATE_EPOCH from the commit time, layer timestamps rewritten to it (registry strategy). Default false. */
  readonly reproducibleTimestamps?: boolean;
  /** Build even when the image of the commit exists (then ECR's refusal of the commit tag fails the build). Default false. */
  readonly rebuildExistingImages?: boolean;
  /** Container name written to imagedefinitions.json. */
  readonly containerName: string;
  /** CloudWatch namespace for the cache metrics; none are published when undefined. */
  readonly metricsNamespace?: string;
  /**
   * Ids of the build secrets, in order. Secret n's value is in CIB_SECRET_<n>, a variable the
   * construct adds (resolved by CodeBuild from Secrets Manager or Parameter Store).
   */
  readonly secretIds?: string[];
  /**
   * Log in to Docker Hub before the builder starts, with CIB_DOCKER_HUB_USERNAME and
   * CIB_DOCKER_HUB_PASSWORD, variables the construct adds (resolved by CodeBuild from Secrets Manager).
   */
  readonly dockerHubLogin?: boolean;
}

export interface BuildScript {
  readonly phases: {
    readonly install: string[];
    readonly pre_build: string[];
    readonly build: string[];
    readonly post_build: string[];
  };
  /** Plain-text environment variables of the CodeBuild project. */
  readonly environment: Record<string, string>;
  /** Variables exported to CodePipeline. */
  readonly exportedVariables: string[];
  /** Files the build leaves for the pipeline (ECS deploy actions). */
  readonly artifactFiles: string[];
}

/** Variables exported by every build. */
export const EXPORTED_VARIABLES = ['IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST', 'IMAGE_REUSED', ...CACHE_REPORT_VARIABLES, ...BUILD_CONTEXT_VARIABLES];

/** Files written in post_build: ECS standard deploy and ECS blue/green. */
export const ARTIFACT_FILES = ['imagedefinitions.json', 'imageDetail.json'];

/** Prefix of every environment variable the script owns. */
export const ENV_PREFIX = 'CIB_';

/** Plain-text environment variables of the project, by name; the renderer's parts add theirs. */
type Environment = Record<string, string>;

/** Renders the build script. */
export function renderBuildScript(options: BuildScriptOptions): BuildScript {
  const environment: Environment = {
    CIB_IMAGE_REPOSITORY_URI: options.imageRepositoryUri,
    CIB_IMAGE_REGION: options.imageRepositoryRegion,
    CIB_DOCKERFILE: options.dockerfile,
    CIB_BUILD_CONTEXT: options.buildContext,
    CIB_PLATFORM: options.platform,
    CIB_DEFAULT_BRANCH: options.defaultBranch,
    CIB_DEFAULT_CACHE_TAG: options.defaultCacheTag,
    CIB_PR_POLICY: options.pullRequests.mode,
    CIB_PR_SECRETS: options.pullRequests.mountBuildSecrets ? 'true' : 'false',
    CIB_PROVENANCE: options.provenance ? 'true' : 'false',
    CIB_CONTAINER_NAME: options.containerName,
    CIB_REUSE_IMAGE: options.rebuildExistingImages ? 'false' : 'true',
    CIB_REPRODUCIBLE: options.reproducibleTimestamps ? 'true' : 'false',
  };
  const preBuild: string[] = [
    ...RESOLVE_BUILD_CONTEXT,
    'CIB_IMAGE_REGISTRY="${CIB_IMAGE_REPOSITORY_URI%%/*}"',
    'CIB_BUILD_LOG="$(mktemp)"',
    ...cacheRepositoryCommands(options, environment),
  ];
  if (options.imageTags.length === 0) {
    throw new Error('imageTags must name at least one tag');
  }
  const tags = renderTagSelection(options.imageTags);
  Object.assign(environment, tags.environment);
  preBuild.push(...tags.commands, FIND_KEY_TAG, LOOK_UP_EXISTING_IMAGE, SET_SOURCE_DATE_EPOCH);
  const args = builderArguments(options, environment);
  const secrets = secretCommands(options.secretIds ?? [], environment);
  preBuild.push(...secrets.preBuild);

  const strategy = options.strategy._render({
    commonArgs: args.join(' '),
    argumentArrays: argumentArrays(secrets.args),
  });
  Object.assign(environment, strategy.environment);
  // Nothing of the strategy runs for a reused image: no login, no builder.
  preBuild.push(...withDockerHubLogin(options, strategy.preBuild).map(unlessSkipped));
  if (options.metricsNamespace !== undefined) {
    environment.CIB_METRICS_NAMESPACE = options.metricsNamespace;
  }

  return {
    phases: {
      install: strategy.install,
      pre_build: preBuild,
      build: buildPhase(strategy, secrets.files),
      post_build: postBuildPhase(options.metricsNamespace !== undefined),
    },
    environment: sortKeys(environment),
    exportedVariables: [...EXPORTED_VARIABLES],
    artifactFiles: [...ARTIFACT_FILES],
  };
}

/**
 * The strategy's pre_build commands with the Docker Hub login, when asked: before them for Docker (the
 * builder starts there and gets the credentials from Docker's config), after them for Buildah (its
 * auth file is written there, and `buildah login` adds to it).
 */
function withDockerHubLogin(options: BuildScriptOptions, strategyPreBuild: string[]): string[] {
  if (!options.dockerHubLogin) {
    return strategyPreBuild;
  }
  const tool = options.strategy._loginTool();
  const login = dockerHubLoginCommand(tool);
  return tool === 'buildah' ? [...strategyPreBuild, login] : [login, ...strategyPreBuild];
}

/** The cache repository's variables and registry host, for a strategy that uses one. */
function cacheRepositoryCommands(options: BuildScriptOptions, environment: Environment): string[] {
  if (!options.strategy.usesCacheRepository) {
    return [];
  }
  if (options.cacheRepositoryUri === undefined || options.cacheRepositoryRegion === undefined) {
    throw new Error(`cache strategy '${options.strategy.name}' needs a cache repository`);
  }
  environment.CIB_CACHE_REPOSITORY_URI = options.cacheRepositoryUri;
  environment.CIB_CACHE_REGION = options.cacheRepositoryRegion;
  if (options.strategy._needsCacheRepositoryName()) {
    if (options.cacheRepositoryName === undefined) {
      throw new Error(`cache strategy '${options.strategy.name}' needs the cache repository name`);
    }
    environment.CIB_CACHE_REPOSITORY_NAME = options.cacheRepositoryName;
  }
  return ['CIB_CACHE_REGISTRY="${CIB_CACHE_REPOSITORY_URI%%/*}"'];
}

/** Arguments every builder understands (docker buildx build and buildah build), as variable references. */
function builderArguments(options: BuildScriptOptions, environment: Environment): string[] {
  // The tags (CIB_TAGS) and the secrets (CIB_SECRETS) are arrays built in the build command itself.
  const args = ['--file "$CIB_BUILD_CONTEXT/$CIB_DOCKERFILE"', '--platform "$CIB_PLATFORM"', '"${CIB_TAGS[@]}"'];
  if (options.target !== undefined) {
    environment.CIB_TARGET = options.target;
    args.push('--target "$CIB_TARGET"');
  }
  if (options.networkMode !== undefined) {
    environment.CIB_NETWORK_MODE = options.networkMode;
    args.push('--network "$CIB_NETWORK_MODE"');
  }
  Object.keys(options.buildArgs)
    .sort()
    .forEach((name, i) => {
      // NAME=value in one variable: docker and buildah split it at the first '='.
      environment[`CIB_BUILD_ARG_${i + 1}`] = `${name}=${options.buildArgs[name]}`;
      args.push(`--build-arg "$CIB_BUILD_ARG_${i + 1}"`);
    });
  args.push('"${CIB_SECRETS[@]}"');
  return args;
}

/**
 * Build secrets: written to private files (mktemp: mode 0600) and passed as files, so the values are
 * on no command line; the files are removed after the build. Only when the build mounts its secrets
 * (not for a pull request, unless the policy says so): CIB_MOUNT_SECRETS from the build context.
 */
function secretCommands(secretIds: string[], environment: Environment): { preBuild: string[]; args: string[]; files: string[] } {
  const preBuild: string[] = [];
  const args: string[] = [];
  const files: string[] = [];
  secretIds.forEach((id, i) => {
    const n = i + 1;
    environment[`CIB_SECRET_${n}_ID`] = id;
    preBuild.push(command(
      `CIB_SECRET_${n}_FILE=""; if [ "$CIB_MOUNT_SECRETS" = true ]; then CIB_SECRET_${n}_FILE="$(mktemp)" &&`,
      `printf '%s' "$CIB_SECRET_${n}" > "$CIB_SECRET_${n}_FILE"; fi`,
    ));
    args.push(`--secret "id=$CIB_SECRET_${n}_ID,src=$CIB_SECRET_${n}_FILE"`);
    files.push(`"$CIB_SECRET_${n}_FILE"`);
  });
  return { preBuild, args, files };
}

/**
 * Timer, the strategy's build, removal of the secret files, the step count, then the strategy's
 * push; or, when the image of this commit exists, only the reuse of that image.
 */
function buildPhase(strategy: StrategyScript, secretFiles: string[]): string[] {
  return [
    START_TIMER,
    ...strategy.buildCommands.map(unlessSkipped),
    ...(secretFiles.length > 0 ? [`if [ "$CIB_MOUNT_SECRETS" = true ]; then rm -f ${secretFiles.join(' ')}; fi`] : []),
    ...countCommands(strategy.logFormat).map(unlessSkipped),
    ...strategy.pushCommands.map(unlessSkipped),
    REUSE_EXISTING_IMAGE,
  ];
}

/**
 * The files for the ECS deploy actions, the summary line, and the metrics when they are published
 * (a reused image publishes no cache metrics: it ran no step, which is neither a hit nor a miss).
 */
function postBuildPhase(publishMetrics: boolean): string[] {
  return [
    command(
      'if [ "$CIB_PUSH" = true ]; then',
      'printf \'[{"name":"%s","imageUri":"%s"}]\\n\' "$CIB_CONTAINER_NAME" "$IMAGE_URI" > imagedefinitions.json &&',
      'printf \'{"ImageURI":"%s"}\\n\' "$CIB_IMAGE_REPOSITORY_URI@$IMAGE_DIGEST" > imageDetail.json &&',
      'if [ "$CIB_SKIP_BUILD" = true ]; then echo "reused $IMAGE_URI ($IMAGE_DIGEST)"; else echo "pushed $IMAGE_URI ($IMAGE_DIGEST)"; fi;',
      // Nothing was pushed (a pull request built only): files that deploy nothing.
      'else printf \'[]\\n\' > imagedefinitions.json && printf \'{}\\n\' > imageDetail.json && echo "built only: nothing pushed"; fi',
    ),
    ...(publishMetrics ? [`if [ "$CIB_SKIP_BUILD" = true ]; then ${PUBLISH_REUSE_METRIC}; else ${PUBLISH_METRICS}; fi`] : []),
  ];
}

function sortKeys(env: Environment): Environment {
  const out: Environment = {};
  for (const key of Object.keys(env).sort()) {
    out[key] = env[key];
  }
  return out;
}

import { CacheStrategy } from './cache-strategy';
import { ImageTag } from './image-tag';

/**
 * The build script: CodeBuild phases of shell commands plus their environment.
 *
 * Pure: no construct scope. The construct turns it into a buildspec, unit tests read it, and the
 * end-to-end harness executes the buildspec synthesized from it.
 *
 * Rules the commands follow:
 * - every value that comes from the user (or from the repository) reaches the shell only through
 *   an environment variable of the project, expanded in double quotes; no command text contains it;
 * - every command is a single line, so CodeBuild's per-command exit status check stops the build
 *   at the first failing command; each phase aborts the build on failure (`on-failure: ABORT`)
 *   and sets `pipefail`.
 */

/** Everything the renderer needs. Values may be CDK tokens. */
export interface BuildScriptOptions {
  readonly strategy: CacheStrategy;
  readonly imageRepositoryUri: string;
  readonly imageRepositoryRegion: string;
  readonly cacheRepositoryUri?: string;
  readonly cacheRepositoryRegion?: string;
  /** Dockerfile path relative to the build context. */
  readonly dockerfile: string;
  /** Build context relative to the source root. */
  readonly buildContext: string;
  readonly target?: string;
  readonly buildArgs: Record<string, string>;
  readonly networkMode?: string;
  readonly platform: string;
  /** The default branch's cache tag (already mapped with `branchToTag`). */
  readonly defaultCacheTag: string;
  readonly imageTags: ImageTag[];
  readonly provenance: boolean;
  /** Container name written to imagedefinitions.json. */
  readonly containerName: string;
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
export const EXPORTED_VARIABLES = ['IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST'];

/** Files written in post_build: ECS standard deploy and ECS blue/green. */
export const ARTIFACT_FILES = ['imagedefinitions.json', 'imageDetail.json'];

/** Prefix of every environment variable the script owns. */
export const ENV_PREFIX = 'CIB_';

/**
 * Branch name or ref to ECR tag, in the shell. Must agree with `branchToTag()` in `tags.ts`.
 * Byte-wise (LC_ALL=C): strip one `refs/heads/` or `refs/tags/`, map bytes outside
 * [a-zA-Z0-9._-] to '-', drop leading '.' and '-', keep 100 bytes.
 */
export const SHELL_BRANCH_TO_TAG =
  'cib_tag() { local r="$1"; case "$r" in refs/heads/*) r="${r#refs/heads/}" ;; refs/tags/*) r="${r#refs/tags/}" ;; esac; ' +
  "printf '%s' \"$r\" | LC_ALL=C tr -c 'a-zA-Z0-9._-' '-' | LC_ALL=C sed -e 's/^[.-]*//' | head -c 100; }";

/**
 * The branch being built: the CIB_BRANCH variable (set by the CodePipeline action from a source
 * variable), else the webhook head ref, else CODEBUILD_SOURCE_VERSION when it names a branch
 * (not a commit SHA, not an S3 artifact ARN). Empty when unknown.
 */
const RESOLVE_BRANCH = [
  'CIB_BRANCH_REF="${CIB_BRANCH:-${CODEBUILD_WEBHOOK_HEAD_REF:-}}"',
  'if [ -z "$CIB_BRANCH_REF" ] && [ -n "${CODEBUILD_SOURCE_VERSION:-}" ] && [[ "$CODEBUILD_SOURCE_VERSION" != arn:* ]] && ! [[ "$CODEBUILD_SOURCE_VERSION" =~ ^[0-9a-fA-F]{40}$ ]]; then CIB_BRANCH_REF="$CODEBUILD_SOURCE_VERSION"; fi',
  'CIB_CACHE_TAG="$(cib_tag "$CIB_BRANCH_REF")"',
  'if [ -z "$CIB_CACHE_TAG" ]; then CIB_CACHE_TAG="$CIB_DEFAULT_CACHE_TAG"; fi',
  'echo "branch: \'$CIB_BRANCH_REF\' -> cache tag \'$CIB_CACHE_TAG\' (default-branch cache tag \'$CIB_DEFAULT_CACHE_TAG\')"',
];

/** Renders the build script. */
export function renderBuildScript(options: BuildScriptOptions): BuildScript {
  const strategy = options.strategy._render();
  const environment: Record<string, string> = {
    CIB_IMAGE_REPOSITORY_URI: options.imageRepositoryUri,
    CIB_IMAGE_REGION: options.imageRepositoryRegion,
    CIB_DOCKERFILE: options.dockerfile,
    CIB_BUILD_CONTEXT: options.buildContext,
    CIB_PLATFORM: options.platform,
    CIB_DEFAULT_CACHE_TAG: options.defaultCacheTag,
    CIB_PROVENANCE: options.provenance ? 'true' : 'false',
    CIB_CONTAINER_NAME: options.containerName,
    ...strategy.environment,
  };
  if (strategy.usesCacheRepository) {
    if (options.cacheRepositoryUri === undefined || options.cacheRepositoryRegion === undefined) {
      throw new Error(`cache strategy '${options.strategy.name}' needs a cache repository`);
    }
    environment.CIB_CACHE_REPOSITORY_URI = options.cacheRepositoryUri;
    environment.CIB_CACHE_REGION = options.cacheRepositoryRegion;
  }

  const preBuild: string[] = [
    SHELL_BRANCH_TO_TAG,
    ...RESOLVE_BRANCH,
    'CIB_IMAGE_REGISTRY="${CIB_IMAGE_REPOSITORY_URI%%/*}"',
  ];
  if (strategy.usesCacheRepository) {
    preBuild.push('CIB_CACHE_REGISTRY="${CIB_CACHE_REPOSITORY_URI%%/*}"');
  }

  // Image tags, in order; the first is IMAGE_TAG.
  if (options.imageTags.length === 0) {
    throw new Error('imageTags must name at least one tag');
  }
  preBuild.push('CIB_TAGS=()');
  let fixed = 0;
  for (const tag of options.imageTags) {
    if (tag.moving) {
      fixed += 1;
      environment[`CIB_IMAGE_TAG_${fixed}`] = tag.value!;
      preBuild.push(`CIB_TAGS+=("$CIB_IMAGE_TAG_${fixed}")`);
    } else {
      preBuild.push(
        'CIB_COMMIT_TAG="$(cib_tag "${CODEBUILD_RESOLVED_SOURCE_VERSION:-}")"',
        'if [ -z "$CIB_COMMIT_TAG" ]; then CIB_COMMIT_TAG="build-${CODEBUILD_BUILD_NUMBER:-0}"; fi',
        'CIB_TAGS+=("$CIB_COMMIT_TAG")',
      );
    }
  }
  preBuild.push(
    'export IMAGE_TAG="${CIB_TAGS[0]}"',
    'export IMAGE_URI="$CIB_IMAGE_REPOSITORY_URI:$IMAGE_TAG"',
  );

  // Arguments every builder understands (docker buildx build and buildah build).
  preBuild.push(
    'CIB_ARGS=(--file "$CIB_BUILD_CONTEXT/$CIB_DOCKERFILE" --platform "$CIB_PLATFORM")',
    'for t in "${CIB_TAGS[@]}"; do CIB_ARGS+=(--tag "$CIB_IMAGE_REPOSITORY_URI:$t"); done',
  );
  if (options.target !== undefined) {
    environment.CIB_TARGET = options.target;
    preBuild.push('CIB_ARGS+=(--target "$CIB_TARGET")');
  }
  if (options.networkMode !== undefined) {
    environment.CIB_NETWORK_MODE = options.networkMode;
    preBuild.push('CIB_ARGS+=(--network "$CIB_NETWORK_MODE")');
  }
  Object.keys(options.buildArgs)
    .sort()
    .forEach((name, i) => {
      // NAME=value in one variable: docker and buildah split at the first '='.
      environment[`CIB_BUILD_ARG_${i + 1}`] = `${name}=${options.buildArgs[name]}`;
      preBuild.push(`CIB_ARGS+=(--build-arg "$CIB_BUILD_ARG_${i + 1}")`);
    });

  preBuild.push(...strategy.preBuild);

  const postBuild = [
    'printf \'[{"name":"%s","imageUri":"%s"}]\\n\' "$CIB_CONTAINER_NAME" "$IMAGE_URI" > imagedefinitions.json',
    'printf \'{"ImageURI":"%s"}\\n\' "$CIB_IMAGE_REPOSITORY_URI@$IMAGE_DIGEST" > imageDetail.json',
    'echo "pushed $IMAGE_URI ($IMAGE_DIGEST), tags: ${CIB_TAGS[*]}"',
  ];

  const withPipefail = (commands: string[]) => (commands.length === 0 ? [] : ['set -o pipefail', ...commands]);
  return {
    phases: {
      install: withPipefail(strategy.install),
      pre_build: withPipefail(preBuild),
      build: withPipefail(strategy.buildCommands),
      post_build: withPipefail(postBuild),
    },
    environment: sortKeys(environment),
    exportedVariables: [...EXPORTED_VARIABLES],
    artifactFiles: [...ARTIFACT_FILES],
  };
}

/** The buildspec (version 0.2) for a build script. */
export function toBuildSpecObject(script: BuildScript): Record<string, any> {
  const phases: Record<string, any> = {};
  for (const [name, commands] of Object.entries(script.phases)) {
    if (commands.length > 0) {
      phases[name] = { 'on-failure': 'ABORT', 'commands': commands };
    }
  }
  return {
    'version': '0.2',
    'env': { 'shell': 'bash', 'exported-variables': script.exportedVariables },
    phases,
    'artifacts': { 'files': script.artifactFiles, 'discard-paths': 'yes' },
  };
}

function sortKeys(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(env).sort()) {
    out[key] = env[key];
  }
  return out;
}


import { CACHE_REPORT_VARIABLES, PUBLISH_METRICS, START_TIMER, countCommands } from './cache-report';
import { CacheStrategy } from '../strategies/cache-strategy';
import { ImageTag } from '../image-tag';

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
  /** The default branch's cache tag (already mapped with `branchToTag`). */
  readonly defaultCacheTag: string;
  readonly imageTags: ImageTag[];
  readonly provenance: boolean;
  /** Container name written to imagedefinitions.json. */
  readonly containerName: string;
  /** CloudWatch namespace for the cache metrics; none are published when undefined. */
  readonly metricsNamespace?: string;
  /**
   * Ids of the build secrets, in order. Secret n's value is in CIB_SECRET_<n>, a variable the
   * construct adds (resolved by CodeBuild from Secrets Manager or Parameter Store).
   */
  readonly secretIds?: string[];
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
export const EXPORTED_VARIABLES = ['IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST', ...CACHE_REPORT_VARIABLES];

/** Files written in post_build: ECS standard deploy and ECS blue/green. */
export const ARTIFACT_FILES = ['imagedefinitions.json', 'imageDetail.json'];

/** Prefix of every environment variable the script owns. */
export const ENV_PREFIX = 'CIB_';

/**
 * Branch name or ref to ECR tag, in the shell: a command substitution over the variable `name`.
 * Must agree with `branchToTag()` in `ecr-naming.ts`. Byte-wise (LC_ALL=C): strip one `refs/heads/` or
 * `refs/tags/`, map bytes outside [a-zA-Z0-9._-] to '-', drop leading '.' and '-', keep 100 bytes.
 */
export function shellBranchToTag(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(`not a shell variable name: ${name}`);
  }
  return `$(r="\${${name}:-}"; case "$r" in (refs/heads/*) r="\${r#refs/heads/}" ;; (refs/tags/*) r="\${r#refs/tags/}" ;; esac; ` +
    "printf '%s' \"$r\" | LC_ALL=C tr -c 'a-zA-Z0-9._-' '-' | LC_ALL=C sed -e 's/^[.-]*//' | head -c 100)";
}

/**
 * The branch being built: the CIB_BRANCH variable (set by the CodePipeline action from a source
 * variable), else the webhook head ref, else CODEBUILD_SOURCE_VERSION when it names a branch
 * (not a commit SHA, not an S3 artifact ARN). Empty when unknown: the default branch is used.
 */
const RESOLVE_BRANCH = [
  'CIB_BRANCH_REF="${CIB_BRANCH:-${CODEBUILD_WEBHOOK_HEAD_REF:-}}"',
  'if [ -z "$CIB_BRANCH_REF" ] && [ -n "${CODEBUILD_SOURCE_VERSION:-}" ] && [[ "$CODEBUILD_SOURCE_VERSION" != arn:* ]] && ! [[ "$CODEBUILD_SOURCE_VERSION" =~ ^[0-9a-fA-F]{40}$ ]]; then CIB_BRANCH_REF="$CODEBUILD_SOURCE_VERSION"; fi',
  `CIB_CACHE_TAG="${shellBranchToTag('CIB_BRANCH_REF')}"`,
  'if [ -z "$CIB_CACHE_TAG" ]; then CIB_CACHE_TAG="$CIB_DEFAULT_CACHE_TAG"; fi',
  'echo "branch: \'$CIB_BRANCH_REF\' -> cache tag \'$CIB_CACHE_TAG\' (default-branch cache tag \'$CIB_DEFAULT_CACHE_TAG\')"',
];

/** Renders the build script. */
export function renderBuildScript(options: BuildScriptOptions): BuildScript {
  const environment: Record<string, string> = {
    CIB_IMAGE_REPOSITORY_URI: options.imageRepositoryUri,
    CIB_IMAGE_REGION: options.imageRepositoryRegion,
    CIB_DOCKERFILE: options.dockerfile,
    CIB_BUILD_CONTEXT: options.buildContext,
    CIB_PLATFORM: options.platform,
    CIB_DEFAULT_CACHE_TAG: options.defaultCacheTag,
    CIB_PROVENANCE: options.provenance ? 'true' : 'false',
    CIB_CONTAINER_NAME: options.containerName,
  };
  const preBuild: string[] = [...RESOLVE_BRANCH, 'CIB_IMAGE_REGISTRY="${CIB_IMAGE_REPOSITORY_URI%%/*}"', 'CIB_BUILD_LOG="$(mktemp)"'];
  if (options.strategy.usesCacheRepository) {
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
    preBuild.push('CIB_CACHE_REGISTRY="${CIB_CACHE_REPOSITORY_URI%%/*}"');
  }

  // Image tags, in order; the first one is IMAGE_TAG. Each is a variable: fixed tags come from
  // the environment, the commit tag is computed here.
  if (options.imageTags.length === 0) {
    throw new Error('imageTags must name at least one tag');
  }
  const tagVariables: string[] = [];
  let fixed = 0;
  for (const tag of options.imageTags) {
    if (tag.moving) {
      fixed += 1;
      environment[`CIB_IMAGE_TAG_${fixed}`] = tag.value!;
      tagVariables.push(`CIB_IMAGE_TAG_${fixed}`);
    } else if (!tagVariables.includes('CIB_COMMIT_TAG')) {
      preBuild.push(
        `CIB_COMMIT_TAG="${shellBranchToTag('CODEBUILD_RESOLVED_SOURCE_VERSION')}"`,
        'if [ -z "$CIB_COMMIT_TAG" ]; then CIB_COMMIT_TAG="build-${CODEBUILD_BUILD_NUMBER:-0}"; fi',
      );
      tagVariables.push('CIB_COMMIT_TAG');
    }
  }
  preBuild.push(
    `export IMAGE_TAG="$${tagVariables[0]}"`,
    'export IMAGE_URI="$CIB_IMAGE_REPOSITORY_URI:$IMAGE_TAG"',
  );

  // Arguments every builder understands (docker buildx build and buildah build).
  const commonArgs = ['--file "$CIB_BUILD_CONTEXT/$CIB_DOCKERFILE"', '--platform "$CIB_PLATFORM"'];
  for (const v of tagVariables) {
    commonArgs.push(`--tag "$CIB_IMAGE_REPOSITORY_URI:$${v}"`);
  }
  if (options.target !== undefined) {
    environment.CIB_TARGET = options.target;
    commonArgs.push('--target "$CIB_TARGET"');
  }
  if (options.networkMode !== undefined) {
    environment.CIB_NETWORK_MODE = options.networkMode;
    commonArgs.push('--network "$CIB_NETWORK_MODE"');
  }
  Object.keys(options.buildArgs)
    .sort()
    .forEach((name, i) => {
      // NAME=value in one variable: docker and buildah split it at the first '='.
      environment[`CIB_BUILD_ARG_${i + 1}`] = `${name}=${options.buildArgs[name]}`;
      commonArgs.push(`--build-arg "$CIB_BUILD_ARG_${i + 1}"`);
    });

  // Build secrets: written to private files (mktemp: mode 0600) and passed as files, so the values are
  // on no command line; the files are removed after the build.
  const secretFiles: string[] = [];
  (options.secretIds ?? []).forEach((id, i) => {
    const n = i + 1;
    environment[`CIB_SECRET_${n}_ID`] = id;
    preBuild.push(`CIB_SECRET_${n}_FILE="$(mktemp)"`, `printf '%s' "$CIB_SECRET_${n}" > "$CIB_SECRET_${n}_FILE"`);
    commonArgs.push(`--secret "id=$CIB_SECRET_${n}_ID,src=$CIB_SECRET_${n}_FILE"`);
    secretFiles.push(`"$CIB_SECRET_${n}_FILE"`);
  });

  const strategy = options.strategy._render({
    commonArgs: commonArgs.join(' '),
    imageRefs: tagVariables.map((v) => `"$CIB_IMAGE_REPOSITORY_URI:$${v}"`),
  });
  Object.assign(environment, strategy.environment);
  preBuild.push(...strategy.preBuild);

  if (options.metricsNamespace !== undefined) {
    environment.CIB_METRICS_NAMESPACE = options.metricsNamespace;
  }
  const postBuild = [
    'printf \'[{"name":"%s","imageUri":"%s"}]\\n\' "$CIB_CONTAINER_NAME" "$IMAGE_URI" > imagedefinitions.json',
    'printf \'{"ImageURI":"%s"}\\n\' "$CIB_IMAGE_REPOSITORY_URI@$IMAGE_DIGEST" > imageDetail.json',
    'echo "pushed $IMAGE_URI ($IMAGE_DIGEST)"',
    ...(options.metricsNamespace !== undefined ? [PUBLISH_METRICS] : []),
  ];

  return {
    phases: {
      install: strategy.install,
      pre_build: preBuild,
      build: [
        START_TIMER,
        ...strategy.buildCommands,
        ...(secretFiles.length > 0 ? [`rm -f ${secretFiles.join(' ')}`] : []),
        ...countCommands(strategy.logFormat),
        ...strategy.pushCommands,
      ],
      post_build: postBuild,
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
    version: '0.2',
    env: { 'shell': 'bash', 'exported-variables': script.exportedVariables },
    phases,
    artifacts: { 'files': script.artifactFiles, 'discard-paths': 'yes' },
  };
}

function sortKeys(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(env).sort()) {
    out[key] = env[key];
  }
  return out;
}

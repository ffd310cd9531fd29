import { BuildLogFormat } from '../script/cache-report';

/**
 * What the renderer hands a cache strategy, and what the strategy gives back. Internal: the
 * commands are an implementation detail that `script/build-script.ts` assembles and tests pin down.
 *
 * CodeBuild carries only scalar shell variables and the working directory from one command to
 * the next (arrays, functions and shell options are lost), so every command is self-contained
 * and communicates through scalar variables only.
 */
export interface StrategyContext {
  /**
   * Arguments every builder understands (docker buildx build and buildah build): --file,
   * --platform, --tag, --target, --network, --build-arg; only variable references, no values.
   */
  readonly commonArgs: string;
  /** Every image reference to push, quoted, e.g. `"$CIB_IMAGE_REPOSITORY_URI:$CIB_COMMIT_TAG"`. */
  readonly imageRefs: string[];
}

/**
 * Commands may rely on the scalar variables the renderer sets before them:
 * `CIB_CACHE_TAG` / `CIB_DEFAULT_CACHE_TAG` (the branch and default-branch cache tags),
 * `CIB_IMAGE_REGISTRY` / `CIB_CACHE_REGISTRY` (registry hosts), `IMAGE_URI`, `IMAGE_TAG`,
 * `CIB_BUILD_LOG` (a file for the build output), and after the build `CACHED_STEPS` and
 * `EXECUTED_STEPS`; they must leave `IMAGE_DIGEST` exported after the build phase.
 */
export interface StrategyScript {
  /** Commands of the install phase. */
  readonly install: string[];
  /** Commands that run after the common pre_build commands (logins, builder set-up). */
  readonly preBuild: string[];
  /**
   * The build itself. Its output must also go to the file named by CIB_BUILD_LOG (the renderer
   * counts the cached steps in it); the renderer starts a timer before these commands.
   */
  readonly buildCommands: string[];
  /** Commands after the cache report: pushes (if the build did not push), export IMAGE_DIGEST. */
  readonly pushCommands: string[];
  /** Format of the build log. */
  readonly logFormat: BuildLogFormat;
  /** Environment variables the commands read (values may be tokens). */
  readonly environment: Record<string, string>;
}

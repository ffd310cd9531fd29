import { BuildLogFormat } from '../script/cache-report';

/**
 * What the renderer hands a cache strategy, and what the strategy gives back. Internal: the
 * commands are an implementation detail that `build-script.ts` assembles and tests pin down.
 *
 * CodeBuild carries only scalar shell variables and the working directory from one command to
 * the next (arrays, functions and shell options are lost), so every command is self-contained
 * and communicates through scalar variables only.
 */
export interface StrategyContext {
  /**
   * Arguments every builder understands (docker buildx build and buildah build): --file,
   * --platform, the tags, --target, --network, --build-arg, the secrets; only variable
   * references, no values. Uses the arrays of `argumentArrays`.
   */
  readonly commonArgs: string;
  /** Statements that build the arrays `commonArgs` uses: put them in the build command itself. */
  readonly argumentArrays: string;
}

/**
 * Commands may rely on the scalar variables the renderer sets before them: the build context
 * (`CIB_EVENT`, `CIB_CACHE_WRITE_SCOPE`, empty when the build writes no cache, and
 * `CIB_CACHE_READ_SCOPES`, space-separated), `CIB_DEFAULT_CACHE_TAG`, the tags to push
 * (`CIB_PUSH_TAGS`, space-separated; `CIB_PUSH` is `true` when there are any), `IMAGE_URI`,
 * `IMAGE_TAG`, `CIB_IMAGE_REGISTRY` / `CIB_CACHE_REGISTRY` (registry hosts), `CIB_BUILD_LOG` (a file
 * for the build output), and after the build `CACHED_STEPS` and `EXECUTED_STEPS`; they must leave
 * `IMAGE_DIGEST` exported after the build phase (empty when nothing was pushed).
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

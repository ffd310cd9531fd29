/**
 * What a cache strategy contributes to the build script. Internal: the commands are an
 * implementation detail that the renderer (`build-script.ts`) assembles and tests pin down.
 *
 * The commands may rely on the variables the renderer sets before them:
 * `CIB_ARGS` (array: --file, --tag, --build-arg, --target, --platform, --network),
 * `CIB_CACHE_TAG` / `CIB_DEFAULT_CACHE_TAG` (the branch and default-branch cache tags),
 * `CIB_IMAGE_REGISTRY` / `CIB_CACHE_REGISTRY` (registry hosts), `CIB_BUILD_CONTEXT`,
 * and must leave `IMAGE_DIGEST` exported after the build phase.
 */
export interface StrategyScript {
  /** Whether the strategy reads and writes a cache repository. */
  readonly usesCacheRepository: boolean;
  /** Commands of the install phase. */
  readonly install: string[];
  /** Commands that run after the common pre_build commands (logins, builder set-up). */
  readonly preBuild: string[];
  /** Commands of the build phase: build, push, and export IMAGE_DIGEST. */
  readonly buildCommands: string[];
  /** Environment variables the commands read (values may be tokens). */
  readonly environment: Record<string, string>;
}


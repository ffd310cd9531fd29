import { command } from '../script/fragments';

/**
 * The Buildah versions the buildah strategy needs, and the build-time check of `buildah --version`.
 *
 * - 1.27.0 added the remote layer cache (`--cache-from`/`--cache-to`); older versions reject
 *   `--cache-to`, so the build cannot run at all.
 * - 1.27 and 1.28 miss the remote cache for every step of a stage after an `ARG` declared inside
 *   it (containers/buildah#4315): the cache key of that step only matches after the content
 *   summary is added, and those versions looked up the remote cache before. Fixed by
 *   containers/buildah#4326 (merged 2022-10-24), first released in v1.29.0 (changelog.txt,
 *   "imagebuildah: pull cache from remote repo after adding content summary"); the 1.28.x patch
 *   releases do not carry it. Measured in the e2e: Debian 12's 1.28.2 misses, Debian 13's 1.39.3 hits.
 */
export const BUILDAH_REMOTE_CACHE_VERSION = { major: 1, minor: 27 };
export const BUILDAH_CACHING_VERSION = { major: 1, minor: 29 };

const MIN = `${BUILDAH_CACHING_VERSION.major}.${BUILDAH_CACHING_VERSION.minor}`;
const REMOTE = `${BUILDAH_REMOTE_CACHE_VERSION.major}.${BUILDAH_REMOTE_CACHE_VERSION.minor}`;
/** `(( ... ))` true when major.minor in `a`/`b` is at least `min` (10#: a leading zero is not octal). */
function atLeast(min: { major: number; minor: number }): string {
  return `(( 10#$a > ${min.major} || (10#$a == ${min.major} && 10#$b >= ${min.minor}) ))`;
}
const ADVICE = `Use a build image with Buildah ${MIN} or later ` +
  '(Ubuntu 24.04\'s apt has 1.33; Ubuntu 22.04\'s, in CodeBuild standard:6.0 and 7.0, has 1.23), or CacheStrategy.registry()';
/** sed of `buildah --version` to `<major> <minor> <full version>`. */
const READ_VERSION = 'sed -n \'s/^buildah version \\(\\([0-9][0-9]*\\)\\.\\([0-9][0-9]*\\)[^ ]*\\).*/\\2 \\3 \\1/p\'';
/** What Buildah 1.27 and 1.28 do wrong with the remote cache. */
const MISSES_AFTER_ARG = 'misses the remote cache for every step after an ARG declared inside a stage';

/**
 * Reads `buildah --version` (`buildah version 1.28.2 (image-spec 1.0.2-dev, runtime-spec 1.0.2-dev)`)
 * and fails the build below 1.27 (no remote cache), and below 1.29 unless CIB_BUILDAH_ALLOW_OLDER is
 * `true` (then it warns): with 1.27 and 1.28 every step after an ARG inside a stage rebuilds on every
 * build, which is what this strategy exists to prevent.
 */
export const CHECK_BUILDAH_VERSION = command(
  `v="$(buildah --version 2>&1 | ${READ_VERSION} | head -n 1)";`,
  'read -r a b full <<< "$v";',
  'if [ -z "$v" ]; then echo "error: could not read the Buildah version from \'buildah --version\' (is Buildah installed?).',
  `The buildah cache strategy needs Buildah ${MIN} or later." >&2; false;`,
  `elif ! ${atLeast(BUILDAH_REMOTE_CACHE_VERSION)}; then`,
  `echo "error: Buildah $full has no remote layer cache (--cache-from/--cache-to need Buildah ${REMOTE} or later). ${ADVICE}." >&2; false;`,
  `elif ${atLeast(BUILDAH_CACHING_VERSION)}; then echo "Buildah $full: remote layer cache supported";`,
  'elif [ "$CIB_BUILDAH_ALLOW_OLDER" = true ]; then',
  `echo "warning: Buildah $full ${MISSES_AFTER_ARG} (containers/buildah#4315, fixed in ${MIN}); building anyway (allowOlderBuildah)" >&2;`,
  `else echo "error: Buildah $full ${MISSES_AFTER_ARG} (containers/buildah#4315, fixed in Buildah ${MIN}). ${ADVICE};`,
  'or set allowOlderBuildah: true in CacheStrategy.buildah() to build with it anyway." >&2; false; fi',
);

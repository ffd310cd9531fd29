/**
 * Cache health of one build, measured by the build itself: count the Dockerfile steps that came
 * from the cache in the builder's plain-progress log, print one summary line, export the counts
 * and publish them to CloudWatch. Pure: shell text only, unit-tested on logs captured by the
 * end-to-end harness.
 */

/** The builder's log format. */
export type BuildLogFormat = 'buildkit' | 'buildah';

/**
 * awk program over a BuildKit `--progress=plain` log; prints `<cached> <executed>`.
 *
 * A step is a vertex labelled `[n/m]` or `[stage n/m]`, FROM excluded, counted once per label (the
 * same step can show up as two vertices when BuildKit shares it with a concurrent build). It
 * counts as cached when BuildKit prints `#N CACHED` for it, or when its only activity is fetching
 * or unpacking layers (a step restored from a registry cache sometimes shows that instead of
 * CACHED). Docker 20.10's vertex digest lines (`#N sha256:...` alone) say nothing either way.
 */
const BUILDKIT_COUNT =
  '/^#[0-9]+ \\[([a-zA-Z0-9._-]+ )?[0-9]+\\/[0-9]+\\] / { if ($0 !~ /\\] FROM /) { k = $0; sub(/\\] .*/, "]", k); sub(/^#[0-9]+ /, "", k); v[$1] = k; s[k] = 1 } next } ' +
  '/^#[0-9]+ CACHED$/ { if ($1 in v) c[v[$1]] = 1; next } ' +
  '/^#[0-9]+ sha256:[0-9a-f]+$/ { next } ' +
  '/^#[0-9]+ (extracting sha256:|sha256:[0-9a-f]+ )/ { if ($1 in v) l[v[$1]] = 1; next } ' +
  '/^#[0-9]+ DONE / { next } ' +
  '/^#[0-9]+ / { if ($1 in v) o[v[$1]] = 1 } ' +
  'END { h = 0; m = 0; for (k in s) { if (c[k] || (l[k] && !o[k])) h++; else m++ } print h, m }';

/**
 * awk program over a Buildah log; prints `<cached> <executed>`. A step is a `STEP n/m:` line
 * (prefixed with `[k/n] ` in multi-stage builds), FROM and metadata-only instructions excluded;
 * it is cached when `--> Using cache` follows it. Only the first build attempt counts (the
 * buildah strategy builds again, from local layers, when the cache export is refused).
 */
const BUILDAH_COUNT =
  '/^warning: the build with cache export failed/ { exit } ' +
  '/^(\\[[0-9]+\\/[0-9]+\\] )?STEP [0-9]+\\/[0-9]+: / { n++; i = $0; sub(/^(\\[[0-9]+\\/[0-9]+\\] )?STEP [0-9]+\\/[0-9]+: /, "", i); ' +
  'meta[n] = (toupper(i) ~ /^(FROM|CMD|ENTRYPOINT|ENV|LABEL|EXPOSE|USER|ARG|STOPSIGNAL|HEALTHCHECK|SHELL|VOLUME|ONBUILD|MAINTAINER)( |$)/); next } ' +
  '/^--> Using cache / { hit[n] = 1 } ' +
  'END { h = 0; m = 0; for (k = 1; k <= n; k++) if (!meta[k]) { if (hit[k]) h++; else m++ } print h, m }';

/** Starts the build timer (before the build command). */
export const START_TIMER = 'CIB_BUILD_START_MS="$(date +%s%3N)"';

/**
 * Commands after the build: count the steps in $CIB_BUILD_LOG, print the summary line
 * (`cache: 6/7 steps cached (86%), 12.3 s`) and export CACHED_STEPS, EXECUTED_STEPS,
 * CACHE_HIT_RATIO (percent, 100 when there is no step) and BUILD_SECONDS.
 */
export function countCommands(format: BuildLogFormat): string[] {
  const program = format === 'buildkit' ? BUILDKIT_COUNT : BUILDAH_COUNT;
  return [
    'CIB_BUILD_SECONDS="$(awk -v a="$CIB_BUILD_START_MS" -v b="$(date +%s%3N)" \'BEGIN { printf "%.1f", (b - a) / 1000 }\')"',
    `CIB_COUNTS="$(awk '${program}' "$CIB_BUILD_LOG")"`,
    'export CACHED_STEPS="${CIB_COUNTS% *}" EXECUTED_STEPS="${CIB_COUNTS#* }" BUILD_SECONDS="$CIB_BUILD_SECONDS"',
    'export CACHE_HIT_RATIO="$(awk -v h="$CACHED_STEPS" -v m="$EXECUTED_STEPS" \'BEGIN { if (h + m == 0) print 100; else printf "%d", (100 * h) / (h + m) + 0.5 }\')"',
    'echo "cache: $CACHED_STEPS/$((CACHED_STEPS + EXECUTED_STEPS)) steps cached ($CACHE_HIT_RATIO%), $BUILD_SECONDS s"',
  ];
}

/** Variables every build exports for the cache report. */
export const CACHE_REPORT_VARIABLES = ['CACHE_HIT_RATIO', 'CACHED_STEPS'];

/** CloudWatch metric names, with their units. */
export const METRICS = {
  CacheHitRatio: 'Percent',
  CachedSteps: 'Count',
  ExecutedSteps: 'Count',
  BuildSeconds: 'Seconds',
} as const;

/** The dimension every metric carries: the CodeBuild project name. */
export const METRIC_DIMENSION = 'ProjectName';

/**
 * Publishes the counts to CloudWatch (namespace in CIB_METRICS_NAMESPACE, dimension
 * ProjectName from CODEBUILD_BUILD_ID). A failure to publish does not fail the build.
 */
export const PUBLISH_METRICS =
  'CIB_DIMS="[{\\"Name\\":\\"' + METRIC_DIMENSION + '\\",\\"Value\\":\\"${CODEBUILD_BUILD_ID%%:*}\\"}]"; ' +
  'aws cloudwatch put-metric-data --region "$AWS_REGION" --namespace "$CIB_METRICS_NAMESPACE" --metric-data ' +
  '"[{\\"MetricName\\":\\"CacheHitRatio\\",\\"Unit\\":\\"Percent\\",\\"Value\\":$CACHE_HIT_RATIO,\\"Dimensions\\":$CIB_DIMS},' +
  '{\\"MetricName\\":\\"CachedSteps\\",\\"Unit\\":\\"Count\\",\\"Value\\":$CACHED_STEPS,\\"Dimensions\\":$CIB_DIMS},' +
  '{\\"MetricName\\":\\"ExecutedSteps\\",\\"Unit\\":\\"Count\\",\\"Value\\":$EXECUTED_STEPS,\\"Dimensions\\":$CIB_DIMS},' +
  '{\\"MetricName\\":\\"BuildSeconds\\",\\"Unit\\":\\"Seconds\\",\\"Value\\":$BUILD_SECONDS,\\"Dimensions\\":$CIB_DIMS}]" ' +
  '|| echo "warning: could not publish the cache metrics to CloudWatch" >&2';

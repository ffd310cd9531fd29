/**
 * Cache health of one build, measured by the build itself: count the Dockerfile steps that came
 * from the cache in the builder's plain-progress log, print one summary line, export the counts
 * and publish them to CloudWatch. Pure: shell text only, unit-tested on logs captured by the
 * end-to-end harness.
 */

/** The builder's log format. */
export type BuildLogFormat = 'buildkit' | 'buildah';

/*
 * How the builders label their steps, from their source (the rules the awk programs below follow).
 *
 * BuildKit's Dockerfile frontend names each step's vertex in `prefixCommand`
 * (moby/buildkit frontend/dockerfile/dockerfile2llb/convert.go; the same function in the copy that
 * Docker 20.10 vendors, moby/moby v20.10.24 vendor/github.com/moby/buildkit/...): `[`, then the
 * platform and a space when several platforms were asked for (`platforms.Format`, e.g.
 * `linux/arm/v7`; newer frontends use `platforms.FormatAll`, which may add `(<os version>)`, and
 * append `->arm64` when the stage runs on another platform than its target), then the stage name
 * and a space (`AS` names are lower case `[a-z][a-z0-9-_.]*`, instructions/parse.go
 * parseBuildStageName; unnamed stages are `stage-<i>`; no name at all when the Dockerfile has one
 * stage), then `%*d/%d] ` with the width of the stage's step count, so step 2 of 12 reads
 * `[ 2/12]`, `[build  2/12]`, `[linux/amd64 build  2/12]`. A step triggered by the base image's
 * ONBUILD carries `ONBUILD ` after the label (frontend 1.11 and later); older frontends, 20.10's
 * included, do not count the triggers in the total, so a stage can read `[6/5]`. FROM, ADD, COPY,
 * RUN and WORKDIR are steps (`WORKDIR /` prints none); the other instructions only set metadata.
 * ADD of a URL or git source, and COPY --link, name two vertices with one label (convert_copy.go):
 * a step is counted once per label. A vertex that is the same for every platform (file operations
 * are not platform specific, client/llb/fileop.go; a stage pinned to the build platform) runs once,
 * under one platform's label.
 *
 * BuildKit's plain progress printer (moby/buildkit util/progress/progressui printer.go
 * `textMux.printVtx`, and the copy in docker/cli v20.10.24's vendor directory) prints `#N <name>`
 * whenever it switches to vertex N, and `#N ...` when it leaves N unfinished for another vertex
 * (interleaved vertices); Docker 20.10 adds `#N sha256:<vertex digest>` after each name line. Then
 * `#N <status> [<bytes>] [<time>] [done]` (layer fetches are statuses named after the layer's digest,
 * util/pull/pullprogress; unpacking is `extracting sha256:...`, cache/refs.go; the classic-store
 * engine's builder fetches cache layers as `pulling sha256:...`, moby builder-next worker.go),
 * `#N <seconds> <output line>` for the step's output, `#N WARN: ...`, and one of `#N CACHED`,
 * `#N DONE [<time>]`, `#N ERROR: ...`, `#N CANCELED` when it ends. A vertex run by another build
 * on the same engine is shared with it (solver/jobs.go `connectProgressFromState`): its progress,
 * output included, appears in both logs, and the same step can show up under a second vertex.
 *
 * Docker 20.10 runs this with DOCKER_BUILDKIT=1 (cli/command/cli.go BuildKitEnabled); Docker 23
 * and later pass `docker build` to buildx, and fail rather than fall back to the legacy builder
 * when DOCKER_BUILDKIT=1 and buildx is missing (docker/cli cmd/docker/builder.go processBuilder).
 * Every strategy sets DOCKER_BUILDKIT=1 or calls `docker buildx build`: the legacy builder, whose
 * `Step 2/12 : ...` output this does not read, never runs.
 *
 * Buildah (containers/buildah imagebuildah/executor.go, the stage executor's `log`, unchanged from
 * 1.27, the first version with --cache-from/--cache-to, to 1.4x) prints `STEP <n>/<m>: <instruction
 * as written>`, `[<k>/<stages>] ` before it in a multi-stage build and `[<platform>] ` before that
 * in a build for several platforms (imagebuildah/build.go); `STEP <n>: ` without the total once
 * the count passes it. A step taken from the cache prints `--> Using cache <id>` (stage_executor.go
 * `logCacheHit`), after `--> Cache pulled from remote ...` when it came from --cache-from. Stages,
 * and the builds of several platforms, run one at a time unless --jobs says otherwise (a weight-1
 * semaphore, build.go), so every line belongs to the last STEP line before it.
 */

/**
 * awk program over a BuildKit `--progress=plain` log; prints `<cached> <executed>`.
 *
 * A step is a vertex whose name starts with a step label (`[n/m]`, padded, with an optional
 * platform and stage name; FROM excluded), counted once per label. It counts as cached when
 * BuildKit prints `#N CACHED` for any vertex of it, or when every vertex of it did nothing but
 * fetch or unpack layers (a step restored from a registry cache sometimes shows that instead of
 * CACHED); a vertex that printed output, another status, an error or a cancellation, or only
 * `DONE`, ran. `#N ...`, the 20.10 vertex digest line and warnings say nothing either way.
 */
const BUILDKIT_COUNT =
  '/^#[0-9]+ \\[([^] ]+ )?([^] ]+ )? *[0-9]+\\/[0-9]+\\] / { k = $0; sub(/^#[0-9]+ \\[/, "", k); sub(/\\] .*/, "", k); ' +
  't = $0; sub(/^[^]]*\\] /, "", t); if (t ~ /^FROM /) delete v[$1]; else { v[$1] = k; s[k] = 1 } next } ' +
  '!($1 in v) { next } ' +
  '/^#[0-9]+ CACHED$/ { c[v[$1]] = 1; next } ' +
  '/^#[0-9]+ (\\.\\.\\.|DONE( [0-9.]+s)?|sha256:[0-9a-f]+|WARN: .*)$/ { next } ' +
  '/^#[0-9]+ ((extracting|pulling) sha256:[0-9a-f]+|sha256:[0-9a-f]+ )/ { l[$1] = 1; next } ' +
  '{ o[$1] = 1 } ' +
  'END { for (i in v) if (!l[i] || o[i]) r[v[i]] = 1; h = 0; m = 0; for (k in s) { if (c[k] || !r[k]) h++; else m++ } print h, m }';

/**
 * awk program over a Buildah log; prints `<cached> <executed>`. A step is a `STEP n/m:` line
 * (with its optional platform and stage prefixes) whose instruction is ADD, COPY, RUN or WORKDIR,
 * the instructions BuildKit counts; it is cached when `--> Using cache` follows it. Only the
 * first build attempt counts (the buildah strategy builds again, from local layers, when the
 * cache export is refused).
 */
const BUILDAH_COUNT =
  '/^warning: the build with cache export failed/ { exit } ' +
  '/^(\\[[^]]+\\] )?(\\[[0-9]+\\/[0-9]+\\] )?STEP [0-9]+(\\/[0-9]+)?: / { n++; i = $0; sub(/^[^:]*: /, "", i); ' +
  'step[n] = (toupper(i) ~ /^(ADD|COPY|RUN|WORKDIR)( |$)/); next } ' +
  '/^--> Using cache / { hit[n] = 1 } ' +
  'END { h = 0; m = 0; for (k = 1; k <= n; k++) if (step[k]) { if (hit[k]) h++; else m++ } print h, m }';

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
    'export CACHE_HIT_RATIO="$(awk -v h="$CACHED_STEPS" -v m="$EXECUTED_STEPS"' +
      ' \'BEGIN { if (h + m == 0) print 100; else printf "%d", (100 * h) / (h + m) + 0.5 }\')"',
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
  ReusedImages: 'Count',
} as const;

/** The dimension every metric carries: the CodeBuild project name. */
export const METRIC_DIMENSION = 'ProjectName';

/** One metric of a put-metric-data call: `value` is shell text (a number or a variable). */
function metricDatum(name: keyof typeof METRICS, value: string): string {
  return `{\\"MetricName\\":\\"${name}\\",\\"Unit\\":\\"${METRICS[name]}\\",\\"Value\\":${value},\\"Dimensions\\":$CIB_DIMS}`;
}

/** Puts the metrics (namespace in CIB_METRICS_NAMESPACE, dimension ProjectName from CODEBUILD_BUILD_ID); a failure only warns. */
function putMetricData(data: string[]): string {
  return 'CIB_DIMS="[{\\"Name\\":\\"' + METRIC_DIMENSION + '\\",\\"Value\\":\\"${CODEBUILD_BUILD_ID%%:*}\\"}]"; ' +
    'aws cloudwatch put-metric-data --region "$AWS_REGION" --namespace "$CIB_METRICS_NAMESPACE" --metric-data ' +
    `"[${data.join(',')}]" ` +
    '|| echo "warning: could not publish the cache metrics to CloudWatch" >&2';
}

/** Publishes the counts to CloudWatch. A failure to publish does not fail the build. */
export const PUBLISH_METRICS = putMetricData([
  metricDatum('CacheHitRatio', '$CACHE_HIT_RATIO'),
  metricDatum('CachedSteps', '$CACHED_STEPS'),
  metricDatum('ExecutedSteps', '$EXECUTED_STEPS'),
  metricDatum('BuildSeconds', '$BUILD_SECONDS'),
]);

/**
 * For a build that reused the existing image of its commit (see existing-image.ts): `ReusedImages`
 * 1, and no cache metrics (it ran no step: neither a hit nor a miss, so it never feeds the cache
 * miss alarm). A failure to publish does not fail the build.
 */
export const PUBLISH_REUSE_METRIC = putMetricData([metricDatum('ReusedImages', '1')]);

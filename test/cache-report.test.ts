import { spawnSync } from 'child_process';
import { writeFileSync } from 'fs';
import * as path from 'path';
import { PUBLISH_METRICS, START_TIMER, countCommands } from '../src/script/cache-report';

/**
 * The cache report's step counting, run in bash on real build logs. The fixtures were captured
 * by the end-to-end harness (test/e2e), whose own parser, cross-checked with markers printed by
 * the RUN steps, gives the same counts.
 */
const FIXTURES = path.join(__dirname, 'fixtures', 'build-logs');

function bash(commands: string[], env: Record<string, string>, stubs = ''): { stdout: string; stderr: string; status: number | null } {
  const program = [stubs, ...commands.map((c) => `${c} || exit 99`)].join('\n');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program], { env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...env } });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), status: r.status };
}

/** Runs the report commands on a log; returns the exported counts and the summary line. */
function report(format: 'buildkit' | 'buildah', logFile: string) {
  const r = bash([START_TIMER, ...countCommands(format), 'printf "%s %s %s %s" "$CACHED_STEPS" "$EXECUTED_STEPS" "$CACHE_HIT_RATIO" "$BUILD_SECONDS"'], { CIB_BUILD_LOG: logFile });
  expect(r.stderr).toEqual('');
  expect(r.status).toEqual(0);
  const [summary, values] = r.stdout.split('\n');
  const [cached, executed, ratio, seconds] = values.split(' ');
  return { summary, cached: Number(cached), executed: Number(executed), ratio: Number(ratio), seconds: Number(seconds) };
}

describe('step counting on captured logs', () => {
  test.each([
    // fixture, format, cached, executed
    ['buildkit-registry-cold.log', 'buildkit', 0, 6],
    ['buildkit-registry-warm.log', 'buildkit', 5, 1],
    ['buildkit-registry-dependency-changed.log', 'buildkit', 2, 4],
    ['buildkit-registry-cache-export-refused.log', 'buildkit', 5, 1],
    ['buildkit-registry-multistage-warm.log', 'buildkit', 4, 3],
    // two builds on one engine: BuildKit shows a step shared with the other build as two vertices
    ['buildkit-registry-concurrent-builds.log', 'buildkit', 5, 1],
    ['buildkit-inline-warm.log', 'buildkit', 5, 1],
    ['buildkit-inline-multistage-warm.log', 'buildkit', 1, 6],
    ['buildkit-docker20-inline-cold.log', 'buildkit', 0, 6],
    ['buildkit-docker20-inline-warm.log', 'buildkit', 5, 1],
    ['buildkit-seed-recipe-miss.log', 'buildkit', 0, 6],
    ['buildkit-error.log', 'buildkit', 0, 3],
    ['buildah-cold.log', 'buildah', 0, 6],
    ['buildah-warm.log', 'buildah', 5, 1],
    ['buildah-multistage-warm.log', 'buildah', 4, 3],
    ['buildah-cache-export-refused.log', 'buildah', 5, 1],
    ['buildah-error.log', 'buildah', 0, 3],
    // More than ten steps in a stage: BuildKit pads the step numbers ("[ 2/15]", "[build  2/14]").
    // Captured by the e2e (Dockerfile.long, Dockerfile.long-multistage); RUN markers agree.
    ['buildkit-registry-long-warm.log', 'buildkit', 10, 4],
    ['buildkit-registry-long-dependency-changed.log', 'buildkit', 5, 9],
    ['buildkit-inline-long-warm.log', 'buildkit', 10, 4],
    ['buildkit-docker20-inline-long-warm.log', 'buildkit', 10, 4],
    ['buildah-long-warm.log', 'buildah', 10, 4],
    ['buildkit-registry-long-multistage-cold.log', 'buildkit', 0, 25],
    ['buildkit-registry-long-multistage-warm.log', 'buildkit', 18, 7],
    // min-mode inline cache: the runtime stage's nine independent steps only
    ['buildkit-inline-long-multistage-warm.log', 'buildkit', 9, 16],
    ['buildkit-docker20-inline-long-multistage-warm.log', 'buildkit', 9, 16],
    ['buildah-long-multistage-warm.log', 'buildah', 18, 7],
    ['buildah-long-multistage-dependency-changed.log', 'buildah', 13, 12],
    // ONBUILD triggers of the base image (fixtures/build-logs/dockerfiles/capture.sh): BuildKit up to
    // frontend 1.10 numbers them past the stage's total ("[8/5]"); Buildah shows them as steps.
    ['buildkit-onbuild-warm.log', 'buildkit', 5, 2],
    ['buildkit-docker20-onbuild-warm.log', 'buildkit', 5, 2],
    ['buildah-onbuild-warm.log', 'buildah', 5, 2],
    // Two platforms at once: "[linux/arm64 stage-1  2/12]". File operations are not platform
    // specific (buildkit client/llb/fileop.go), so BuildKit runs them once, under either platform's
    // label; the first WORKDIR of the FROM scratch stage shows DONE, not CACHED, in the warm build
    // (counted as executed). The tools stage's RUN markers agree.
    ['buildkit-platforms-cold.log', 'buildkit', 0, 16],
    ['buildkit-platforms-warm.log', 'buildkit', 8, 8],
  ])('%s: %s log, %i cached, %i executed', (fixture, format, cached, executed) => {
    // WHEN
    const r = report(format as 'buildkit' | 'buildah', path.join(FIXTURES, fixture));

    // THEN
    expect([r.cached, r.executed]).toEqual([cached, executed]);
    const ratio = Math.round((100 * cached) / (cached + executed));
    expect(r.ratio).toEqual(ratio);
    expect(r.summary).toMatch(new RegExp(`^cache: ${cached}/${cached + executed} steps cached \\(${ratio}%\\), [0-9]+\\.[0-9] s$`));
  });

  test('a restored step shown only as layer downloads counts as cached, one that printed output as executed', () => {
    // GIVEN: a BuildKit log in the shape the containerd image store prints for a registry cache hit
    const log = [
      '#5 [1/3] FROM 127.0.0.1:5000/base:1@sha256:' + 'a'.repeat(64),
      '#5 DONE 0.0s',
      '#6 [2/3] RUN make deps',
      '#6 sha256:' + 'b'.repeat(64) + ' 1.05MB / 1.05MB 0.1s done',
      '#6 extracting sha256:' + 'b'.repeat(64) + ' 0.1s done',
      '#6 DONE 0.2s',
      '#7 [3/3] RUN make',
      '#7 0.120 compiling',
      '#7 DONE 1.1s',
    ].join('\n');
    const file = `/tmp/cib-report-${process.pid}.log`;
    writeFileSync(file, log + '\n');

    // WHEN
    const r = report('buildkit', file);

    // THEN
    expect([r.cached, r.executed]).toEqual([1, 1]);
  });

  test('labels only newer frontends print, interleaved vertices and statuses without progress', () => {
    // GIVEN: frontend 1.11+ labels (ONBUILD marker, a stage pinned to the build platform, an OS
    // version), a layer-only step interrupted by another vertex (`#N ...`), bare pull statuses
    const log = [
      '#3 [linux/amd64->arm64 tools  2/12] RUN make tools',
      '#3 0.512 building',
      '#3 ...',
      '',
      '#4 [windows(10.0.17763.1234)/amd64 stage-1 2/3] ONBUILD COPY . /src',
      '#4 pulling sha256:' + 'c'.repeat(64),
      '#4 ...',
      '',
      '#3 [linux/amd64->arm64 tools  2/12] RUN make tools',
      '#3 DONE 1.2s',
      '',
      '#4 [windows(10.0.17763.1234)/amd64 stage-1 2/3] ONBUILD COPY . /src',
      '#4 extracting sha256:' + 'c'.repeat(64),
      '#4 WARN: a warning',
      '#4 DONE',
      '',
      '#5 [linux/arm64 tools  3/12] COPY app.txt .',
      '#5 DONE',
    ].join('\n');
    const file = `/tmp/cib-report-labels-${process.pid}.log`;
    writeFileSync(file, log + '\n');

    // WHEN
    const r = report('buildkit', file);

    // THEN: the ONBUILD COPY only fetched layers (cached); the RUN printed output, the COPY only DONE
    expect([r.cached, r.executed]).toEqual([1, 2]);
  });

  test('a build with no step reports 0/0 and a ratio of 100 (nothing was missed)', () => {
    // GIVEN
    const file = `/tmp/cib-report-empty-${process.pid}.log`;
    writeFileSync(file, '#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n');

    // WHEN
    const r = report('buildkit', file);

    // THEN
    expect([r.cached, r.executed, r.ratio]).toEqual([0, 0, 100]);
    expect(r.summary).toMatch(/^cache: 0\/0 steps cached \(100%\), /);
  });

  test('measures the build time from the timer', () => {
    // WHEN: the timer started 2.5 s ago
    const r = bash([...countCommands('buildkit'), 'printf "%s" "$BUILD_SECONDS"'],
      { CIB_BUILD_LOG: path.join(FIXTURES, 'buildkit-registry-warm.log'), CIB_BUILD_START_MS: String(Date.now() - 2500) });

    // THEN
    const seconds = Number(r.stdout.split('\n').pop());
    expect(seconds).toBeGreaterThanOrEqual(2.5);
    expect(seconds).toBeLessThan(10);
  });
});

describe('CloudWatch metrics', () => {
  const stub = 'aws() { printf "%s\\n" "$@" > "$ARGS"; }';
  const env = {
    ARGS: `/tmp/cib-metrics-${process.pid}`,
    AWS_REGION: 'eu-central-1',
    CIB_METRICS_NAMESPACE: 'CachedImageBuild',
    CODEBUILD_BUILD_ID: 'api-image-build:0123-4567',
    CACHE_HIT_RATIO: '86',
    CACHED_STEPS: '6',
    EXECUTED_STEPS: '1',
    BUILD_SECONDS: '12.3',
  };

  test('publishes the four metrics with the project name as dimension', () => {
    // WHEN
    const r = bash([PUBLISH_METRICS], env, stub);

    // THEN
    expect(r.status).toEqual(0);
    const args = spawnSync('cat', [env.ARGS]).stdout.toString().trim().split('\n');
    expect(args.slice(0, 6)).toEqual(['cloudwatch', 'put-metric-data', '--region', 'eu-central-1', '--namespace', 'CachedImageBuild']);
    expect(args[6]).toEqual('--metric-data');
    const data = JSON.parse(args[7]);
    const dims = [{ Name: 'ProjectName', Value: 'api-image-build' }];
    expect(data).toEqual([
      { MetricName: 'CacheHitRatio', Unit: 'Percent', Value: 86, Dimensions: dims },
      { MetricName: 'CachedSteps', Unit: 'Count', Value: 6, Dimensions: dims },
      { MetricName: 'ExecutedSteps', Unit: 'Count', Value: 1, Dimensions: dims },
      { MetricName: 'BuildSeconds', Unit: 'Seconds', Value: 12.3, Dimensions: dims },
    ]);
  });

  test('a failure to publish warns and does not fail the build', () => {
    // WHEN
    const r = bash([PUBLISH_METRICS], env, 'aws() { echo "AccessDenied" >&2; return 255; }');

    // THEN
    expect(r.status).toEqual(0);
    expect(r.stderr).toContain('warning: could not publish the cache metrics to CloudWatch');
  });
});

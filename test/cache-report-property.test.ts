/**
 * The cache report's step counters, run in bash exactly as the buildspec runs them, on logs that
 * test/helpers/build-log-generator/ renders for random Dockerfile shapes with known counts: 1-40
 * instructions per stage, up to four named and unnamed stages (based on an image, scratch or an
 * earlier stage), ONBUILD triggers, one to three platforms, cached, executed and layer-fetch-only
 * steps, steps shown by two vertices, interleaved vertices, failures.
 *
 * The end-to-end harness's parser (test/e2e/lib/buildkit-log.ts) must give the same counts.
 *
 * Each property run renders a batch of logs and counts them all in one bash process, so a few
 * thousand logs take well under a minute. The seeds are fixed, so a run is repeatable; for a deeper search,
 * e.g. `COUNTER_SEED=$RANDOM COUNTER_RUNS=10 npx jest test/cache-report-property.test.ts`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as fc from 'fast-check';
import { RenderedLog, buildKitShape, buildahShape, renderBuildKitLog, renderBuildahLog } from './helpers/build-log-generator';
import { BuildLogFormat, START_TIMER, countCommands } from '../src/script/cache-report';
import { countCached, parseBuildKitLog, parseBuildahLog } from './e2e/lib/buildkit-log';

const BATCH = 50;
/** Property runs (batches) per format; BATCH logs each. */
const RUNS = { buildkit: 40, buildah: 20 };

function seed(fixed: number): number {
  return process.env.COUNTER_SEED ? Number(process.env.COUNTER_SEED) + fixed : fixed;
}
function runs(n: number): number {
  return Math.round(n * Number(process.env.COUNTER_RUNS ?? 1));
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cib-counter-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * Counts every log in one bash, with the build's own count command (`CIB_COUNTS="$(awk ...)"`,
 * verbatim); every FULL-th log also goes through all the report commands (timer, exports,
 * summary line), which the property checks too.
 */
const FULL = 10;
function countAll(format: BuildLogFormat, logs: RenderedLog[]): { summary?: string; cached: number; executed: number; ratio?: number }[] {
  const files = logs.map((l, i) => {
    const f = path.join(dir, `${format}-${i}.log`);
    fs.writeFileSync(f, l.log);
    return f;
  });
  const commands = [START_TIMER, ...countCommands(format)];
  const count = commands.filter((c) => c.startsWith('CIB_COUNTS='));
  expect(count).toHaveLength(1);
  const body = (cs: string[]) => cs.map((c) => `${c} || exit 99`).join('; ');
  const script = [
    'i=0; for CIB_BUILD_LOG in "$@"; do',
    `  if [ $((i % ${FULL})) = 0 ]; then ${body(commands)}; printf "full %s %s %s\\n" "$CACHED_STEPS" "$EXECUTED_STEPS" "$CACHE_HIT_RATIO";`,
    `  else ${body(count)}; printf "counts %s\\n" "$CIB_COUNTS"; fi; i=$((i + 1))`,
    'done',
  ].join('\n');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script, 'bash', ...files], { env: { PATH: process.env.PATH, LANG: 'C.UTF-8' }, encoding: 'utf8' });
  if (r.status !== 0 || r.stderr !== '') throw new Error(`bash exited ${r.status}: ${r.stderr}`);
  const lines = r.stdout.trimEnd().split('\n');
  return logs.map((_, i) => {
    const summary = i % FULL === 0 ? lines.shift() : undefined;
    const [kind, cached, executed, ratio] = (lines.shift() ?? '').split(' ');
    return kind === 'full' ? { summary, cached: Number(cached), executed: Number(executed), ratio: Number(ratio) } : { cached: Number(cached), executed: Number(executed) };
  });
}

function checkBatch(format: BuildLogFormat, logs: RenderedLog[]): void {
  const results = countAll(format, logs);
  results.forEach((r, i) => {
    const want = logs[i];
    if (r.cached !== want.cached || r.executed !== want.executed) {
      const log = want.log.length > 8000 ? want.log.slice(0, 8000) + '\n...' : want.log;
      throw new Error(`counted ${r.cached} cached, ${r.executed} executed; expected ${want.cached} and ${want.executed} ` +
        `(${(want.steps ?? []).join('; ')}) in this log:\n${log}`);
    }
    // The end-to-end harness's own parser (which checks the summary line) agrees.
    const records = format === 'buildkit' ? parseBuildKitLog(want.log) : parseBuildahLog(want.log.split(/^warning: the build with cache export failed/m)[0]);
    expect([countCached(records), records.length - countCached(records)]).toEqual([want.cached, want.executed]);
    if (r.summary !== undefined) {
      const total = want.cached + want.executed;
      const ratio = total === 0 ? 100 : Math.round((100 * want.cached) / total);
      expect(r.ratio).toEqual(ratio);
      expect(r.summary).toMatch(new RegExp(`^cache: ${want.cached}/${total} steps cached \\(${ratio}%\\), [0-9]+\\.[0-9] s$`));
    }
  });
}

/**
 * Runs the property over batches of shapes. No shrinking (each attempt is a bash run over a batch:
 * too slow): a failure reports the first miscounted log itself, and the seed and path to replay it.
 */
function assertBatches<T>(shape: fc.Arbitrary<T>, check: (shapes: T[]) => void, fixedSeed: number, numRuns: number): void {
  fc.assert(fc.property(fc.array(shape, { minLength: BATCH, maxLength: BATCH }), check), {
    seed: seed(fixedSeed),
    numRuns: runs(numRuns),
    endOnFailure: true,
    reporter: (details) => {
      if (details.failed) {
        const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
        throw new Error(`seed ${details.seed}, path ${details.counterexamplePath}: ${error}`);
      }
    },
  });
}

describe('step counting on generated logs, known counts', () => {
  test(`BuildKit plain progress (current and Docker 20.10), ${RUNS.buildkit * BATCH} logs`, () => {
    assertBatches(buildKitShape(), (shapes) => checkBatch('buildkit', shapes.map(renderBuildKitLog)), 1701, RUNS.buildkit);
  });

  test(`Buildah, ${RUNS.buildah * BATCH} logs`, () => {
    assertBatches(buildahShape(), (shapes) => checkBatch('buildah', shapes.map(renderBuildahLog)), 1702, RUNS.buildah);
  });

  test('the generated logs cover what the property is about', () => {
    // GIVEN: logs drawn the way the properties draw them
    const bk = fc.sample(buildKitShape(), { seed: seed(1701), numRuns: 300 }).map(renderBuildKitLog);
    const bh = fc.sample(buildahShape(), { seed: seed(1702), numRuns: 300 }).map(renderBuildahLog);
    const logs = bk.map((l) => l.log).join('\n');
    const buildah = bh.map((l) => l.log).join('\n');

    // THEN: padded labels, stage names, platform prefixes, triggers, interleaving, 20.10's lines
    expect(logs).toMatch(/^#\d+ \[ +\d\/\d{2}\] /m);
    expect(logs).toMatch(/^#\d+ \[[a-z][a-z0-9._-]* +\d\/\d{2}\] /m);
    expect(logs).toMatch(/^#\d+ \[stage-\d+ +\d+\/\d+\] /m);
    expect(logs).toMatch(/^#\d+ \[linux\/arm\/v7 (\S+ )? *\d+\/\d+\] /m);
    expect(logs).toMatch(/^#\d+ \[linux\/amd64->arm64 /m);
    expect(logs).toMatch(/^#\d+ \[windows\(10\.0\.17763\.1234\)\/amd64 /m);
    expect(logs).toMatch(/^#\d+ \[[^\]]*\] ONBUILD /m);
    // Docker 20.10's frontend leaves triggers out of the total: a step number above it
    expect([...logs.matchAll(/^#\d+ \[[^\]]*?(\d+)\/(\d+)\] /gm)].some((m) => Number(m[1]) > Number(m[2]))).toBe(true);
    expect(logs).toMatch(/^#\d+ \.\.\.$/m);
    expect(logs).toMatch(/^#\d+ sha256:[0-9a-f]{64}$/m);
    expect(logs).toMatch(/^#\d+ pulling sha256:[0-9a-f]{64}$/m);
    expect(logs).toMatch(/^#\d+ CANCELED$/m);
    expect(buildah).toMatch(/^\[linux\/[a-z0-9/]+\] \[\d\/\d\] STEP \d+\/\d+: /m);
    expect(buildah).toMatch(/^\[\d\/\d\] STEP \d+: /m);
    expect(buildah).toMatch(/^STEP \d+\/\d+: run /m);
    expect(buildah).toMatch(/^warning: the build with cache export failed/m);
    // mixes of cached and executed steps, and long builds
    for (const l of [bk, bh]) {
      expect(l.some((x) => x.cached > 0 && x.executed > 0)).toBe(true);
      expect(l.some((x) => x.cached + x.executed >= 100)).toBe(true);
    }
  });

  // CodeBuild images ship mawk (Ubuntu) or gawk (Amazon Linux); busybox awk is common in small images.
  const awks = [['mawk'], ['gawk'], ['busybox', 'awk'], ['original-awk']]
    .filter(([bin, applet]) => spawnSync(bin, applet ? [applet, 'BEGIN { exit 0 }'] : ['BEGIN { exit 0 }']).status === 0);
  test.each(awks.map((a) => [a.join(' ')]))('the same counts with %s', (awk) => {
    // GIVEN: `awk` is this implementation
    const bin = fs.mkdtempSync(path.join(dir, 'awk-'));
    fs.writeFileSync(path.join(bin, 'awk'), `#!/bin/sh\nexec ${awk} "$@"\n`, { mode: 0o755 });
    const env = process.env.PATH;
    process.env.PATH = `${bin}:${env}`;
    try {
      // WHEN/THEN
      checkBatch('buildkit', fc.sample(buildKitShape(), { seed: seed(1703), numRuns: 200 }).map(renderBuildKitLog));
      checkBatch('buildah', fc.sample(buildahShape(), { seed: seed(1704), numRuns: 100 }).map(renderBuildahLog));
    } finally {
      process.env.PATH = env;
    }
  });
});

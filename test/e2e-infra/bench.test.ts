import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { benchApp, layerSeeds, seededBytes, writeSeededFile } from '../e2e/lib/bench-app';
import { withFlags } from '../e2e/lib/bench-flags';
import { BenchRound, LIMIT, limitOf, median, phaseTable, ratio, sizeLabel, sizeTable, warmChart } from '../e2e/lib/bench-report';

/** Steps after FROM as BuildKit counts them: instructions that are not FROM, ARG, CMD or comments. */
function stepsOf(dockerfile: string): number {
  return dockerfile.split('\n').filter((l) => /^(WORKDIR|COPY|RUN|ADD) /.test(l)).length;
}

describe('bench sample apps', () => {
  test.each([
    [5, false], [30, false], [8, true], [30, true],
  ])('%i steps, multi-stage %s: the Dockerfile has exactly that many steps', (steps, multiStage) => {
    const app = benchApp({ bytes: 1000, steps, multiStage });
    expect(stepsOf(app.dockerfile)).toBe(steps);
    expect(app.totalSteps).toBe(steps);
    expect(app.dockerfile.split('\n').filter((l) => l.startsWith('FROM ')).length).toBe(multiStage ? 2 : 1);
  });

  test('GIVEN a single-stage app WHEN only the app file changes THEN every step but the last is unchanged; a dependency change keeps WORKDIR and the OS layer', () => {
    const app = benchApp({ bytes: 1000, steps: 30, multiStage: false });
    const lines = app.dockerfile.split('\n').filter((l) => /^(WORKDIR|COPY|RUN) /.test(l));
    expect(lines[lines.length - 1]).toBe('COPY app.txt .');
    expect(lines.slice(0, 2)).toEqual(['WORKDIR /app', 'COPY os.bin /opt/os/']);
    expect(lines[2]).toBe('COPY requirements.txt .');
    expect(app.unchangedOnAppChange).toBe(29);
    expect(app.unchangedOnDepsChange).toBe(2);
    expect(app.finalStageUnchangedOnAppChange).toBe(29);
  });

  test('GIVEN a multi-stage app THEN the runtime stage holds only the artifact, and min-mode can hit only its WORKDIR on an app change', () => {
    const app = benchApp({ bytes: 1000, steps: 30, multiStage: true });
    const runtime = app.dockerfile.split(/^FROM \$\{BASE_IMAGE\}$/m)[1];
    expect(stepsOf(runtime)).toBe(2);
    expect(runtime).toContain('COPY --from=build /artifact.txt /app/artifact.txt');
    expect(app.unchangedOnAppChange).toBe(27);
    expect(app.unchangedOnDepsChange).toBe(3);
    expect(app.finalStageUnchangedOnAppChange).toBe(1);
  });

  test('too few steps or no bytes are refused, naming the rule', () => {
    expect(() => benchApp({ bytes: 1000, steps: 4, multiStage: false })).toThrow(/steps must be an integer of at least 5; got 4/);
    expect(() => benchApp({ bytes: 1000, steps: 7, multiStage: true })).toThrow(/at least 8; got 7/);
    expect(() => benchApp({ bytes: 0, steps: 5, multiStage: false })).toThrow(/bytes must be an integer of at least 2/);
  });

  test('the large files are deterministic per seed, differ between seeds, and do not compress', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
    const a = path.join(dir, 'a.bin');
    writeSeededFile(a, 'seed-1', 3 * 1024 * 1024 + 17);
    const bytes = fs.readFileSync(a);
    expect(bytes.length).toBe(3 * 1024 * 1024 + 17);
    expect(bytes.equals(seededBytes('seed-1', bytes.length))).toBe(true);
    expect(seededBytes('seed-2', 4096).equals(bytes.subarray(0, 4096))).toBe(false);
    expect(zlib.gzipSync(bytes).length).toBeGreaterThan(bytes.length);
    fs.rmSync(dir, { recursive: true });
  });

  test('the dependency layer follows the dependency version; the OS layer does not', () => {
    expect(layerSeeds(1e6, 1).os).toBe(layerSeeds(1e6, 2).os);
    expect(layerSeeds(1e6, 1).deps).not.toBe(layerSeeds(1e6, 2).deps);
    expect(layerSeeds(1e6, 1).os).not.toBe(layerSeeds(3e6, 1).os);
  });
});

function round(config: string, scenario: BenchRound['scenario'], seconds: number, extra: Partial<BenchRound> = {}): BenchRound {
  return {
    app: 'single-stage, 5 steps',
    bytes: 50e6,
    config,
    scenario,
    exitCode: 0,
    seconds,
    cached: 4,
    steps: 5,
    expectedCached: scenario === 'cold' ? 0 : 4,
    up: 1e6,
    down: 2e6,
    mounts: 0,
    phases: { total: seconds, push: seconds / 10 },
    ...extra,
  };
}

describe('bench report', () => {
  const rounds: BenchRound[] = [
    round(LIMIT, 'cold', 10), round(LIMIT, 'app', 2), round(LIMIT, 'app', 4), round(LIMIT, 'deps', 5),
    round('registry', 'cold', 20, { up: 100e6 }), round('registry', 'app', 8), round('registry', 'app', 9), round('registry', 'app', 30, { exitCode: 1 }),
    round('registry', 'deps', 12, { cached: 1 }),
  ];

  test('median, sizes and ratios', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(sizeLabel(50e6)).toBe('50 MB');
    expect(sizeLabel(1e9)).toBe('1 GB');
    expect(ratio(9, 3)).toBe('3.0×');
    expect(ratio(NaN, 3)).toBe('-');
  });

  test('GIVEN warm rounds of a configuration and of the limit THEN the ratio is of the medians of successful rounds, the failure is counted', () => {
    const limit = limitOf(rounds, 'single-stage, 5 steps', 50e6);
    expect(limit.total).toBe(3);
    expect(limit.push).toBeCloseTo(0.3);
    const table = sizeTable(rounds, 50e6, ['single-stage, 5 steps'], ['registry']);
    const row = table.split('\n').find((l) => l.includes('| registry'))!;
    // warm median of 8 and 9 (the failed round is left out) over the limit's 3
    expect(row).toContain('| registry (1 failed) | 20.0 | 8.50 | 2.8× | 12.0 | 4.0× | 4 / 4 | 100 | 2.0 | 1.0 |');
    expect(table.split('\n').find((l) => l.includes(LIMIT))).toContain('| 1.0× |');
  });

  test('a warm round that cached fewer steps than it can is marked', () => {
    const table = sizeTable([...rounds, round('inline', 'app', 5, { cached: 2 })], 50e6, ['single-stage, 5 steps'], ['inline']);
    expect(table).toContain('| 2 / 4 ! |');
  });

  test('the phase table gives the median per phase; the chart has one line per configuration and the limit', () => {
    const phases = phaseTable(rounds, 50e6, ['single-stage, 5 steps'], ['registry']);
    expect(phases.split('\n').find((l) => l.includes('| registry |'))).toBe('| single-stage, 5 steps | registry | - | - | - | 0.85 | - | 8.50 |');
    const svg = warmChart('t', [...rounds, round('registry', 'app', 20, { bytes: 300e6 })], 'single-stage, 5 steps', ['registry']);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('>300 MB<');
    expect(svg).toContain(`>${LIMIT}<`);
  });
});

describe('bench flag experiments', () => {
  const phases = {
    pre_build: { commands: ['CIB_CACHE_TO="type=registry,ref=$R:$S,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"; fi'] },
  };

  test('appends the cache keys and switches to mode=min in the rendered commands', () => {
    // WHEN
    const rewritten = withFlags(phases, { cacheTo: 'compression=zstd', minMode: true });

    // THEN
    expect(rewritten.pre_build!.commands![0]).toEqual(
      'CIB_CACHE_TO="type=registry,ref=$R:$S,mode=min,image-manifest=true,oci-mediatypes=true,ignore-error=true,compression=zstd"; fi');
    expect(phases.pre_build.commands[0]).toContain('mode=max');
  });

  test('fails when the buildspec lacks the flag it rewrites, instead of measuring the default', () => {
    // WHEN / THEN
    expect(() => withFlags({ build: { commands: ['docker build .'] } }, { minMode: true })).toThrow(/the buildspec has no mode=max to rewrite/);
  });
});

/** The e2e report: the tables of every configuration's rounds, per-phase and warm/cold times, in results.md. */

import * as fs from 'fs';
import * as path from 'path';
import {
  CONTROL, LONG_SCENARIOS, LONG_TABLES, MULTI_CONFIGS, REG_CD, REG_DC, REPRO_CONFIGS, RERUN_CONFIGS, SECRET_CONFIGS, SINGLE_CONFIGS,
} from './configurations';
import { E2E_ROOT, OUT } from './env';
import { FAULTS, FIRST_FIVE, MULTI, SCENARIOS, SECRET, SINGLE } from './samples';
import { MultiArchResult, multiArchTable } from '../multi-arch';
import { RoundResult, markdownTable, phaseTable, svgChart } from '../report';
import { RERUN_STEPS, RerunResult, rerunTable } from '../reruns';

/** Everything the harness measured, per table. */
export interface HarnessResults {
  readonly single: RoundResult[];
  readonly multi: RoundResult[];
  readonly secrets: RoundResult[];
  readonly builder: RoundResult[];
  readonly reruns: RerunResult[];
  readonly repro: RerunResult[];
  /** Long Dockerfiles: per table, its configurations' rounds. */
  readonly long: Record<string, RoundResult[]>;
  readonly timings: Record<string, number>;
  readonly multiArch: MultiArchResult[];
}

function warmCold(results: RoundResult[], config: string, fullWarm: number): string {
  const rs = results.filter((x) => x.config === config);
  const cold = rs.find((x) => x.round === 1)?.seconds ?? NaN;
  // plain app-change rounds only (2-5): fault rounds would skew the mean
  const warm = rs.filter((x) => x.round >= 2 && x.round <= 5 && x.cacheable === fullWarm);
  const mean = warm.reduce((a, x) => a + x.seconds, 0) / Math.max(1, warm.length);
  return `| ${config} | ${cold.toFixed(1)} | ${mean.toFixed(1)} | ${(mean / cold).toFixed(2)} |`;
}

/** Writes results.md (printed too), results.json and cache-hits.svg into the output directory. */
export function writeReport(results: HarnessResults, leaks: string[], total: number): void {
  const { single, multi, secrets, builder, reruns, repro, long, timings, multiArch } = results;
  const singleNames = [CONTROL, ...SINGLE_CONFIGS.map((c) => c.name)];
  const multiNames = MULTI_CONFIGS.map((c) => c.name);
  const versions = fs.existsSync(path.join(E2E_ROOT, 'pkgs', 'versions.txt')) ? fs.readFileSync(path.join(E2E_ROOT, 'pkgs', 'versions.txt'), 'utf8').trim() : '';
  const md = [
    '### Single-stage sample app (6 steps after FROM; 5 unchanged when only the app file changes)',
    '',
    markdownTable([...SCENARIOS, ...FAULTS].map((s) => ({ round: s.round, scenario: s.label })), singleNames, single),
    '',
    'Cached = steps that did not execute: no RUN marker and no new layer in the pushed image (see lib/execution.ts); ' +
      'every round also checks that BuildKit\'s CACHED lines and the build\'s own summary line agree with that count. ' +
      `${REG_DC}: \`BuildxBuilder.dockerContainer()\` running the BuildKit image built from Debian sources, on the classic-store engine (as on CodeBuild). ` +
      `${REG_CD}: the engine's own builder on an engine with the containerd image store.`,
    '',
    'Round 16 runs two builds at once (docker-container: on two engines, like two CodeBuild hosts; currentDriver: on one engine); ' +
      'the row shows the fewer cached steps and the longer time of the two.',
    '',
    '### Multi-stage sample app (7 steps after FROM; 4 unchanged when the app file changes)',
    '',
    markdownTable(FIRST_FIVE.map((s) => ({ round: s.round, scenario: s.label })), multiNames, multi),
    '',
    ...LONG_TABLES.flatMap(({ title, table, configs }) => [
      `### ${title}`,
      '',
      markdownTable(LONG_SCENARIOS.map((sc) => ({ round: sc.round, scenario: sc.label })), configs.map((c) => c.name),
        long[table] ?? []),
      '',
    ]),
    '### Multi-architecture image (single-stage sample app, `platforms` linux/amd64 + linux/arm64; 5 of 6 steps unchanged when the app file changes)',
    '',
    multiArchTable(multiArch),
    '',
    'The batch build graph of one standalone CachedImageBuild, run as CodeBuild runs it: each architecture on a fresh build host ' +
      '(arm64 RUN steps under qemu-aarch64-static via binfmt_misc: emulated here, native on a Graviton host), its cache in its own scope ' +
      '(`main-amd64`, `main-arm64`), its image under `<commit>-<arch>` and `latest-<arch>`; then the index build ' +
      '(`docker buildx imagetools create`). Each round checks that the commit tag and `latest` hold an image index listing exactly ' +
      'linux/amd64 and linux/arm64 with the two builds\' digests, and that the index runs as either platform.',
    '',
    '### Build secret (a RUN step reads it; the image keeps only its length)',
    '',
    markdownTable(SCENARIOS.slice(0, 2).map((s) => ({ round: s.round, scenario: s.label })), SECRET_CONFIGS.map((c) => c.name), secrets),
    '',
    `The secret (${SECRET.length} bytes, random per run) was searched for in every blob of the registry, decompressed: found in ${leaks.length}.`,
    '',
    '### BuildKit image cannot be pulled (classic-store engine, as on CodeBuild)',
    '',
    '| configuration | exit code | CACHED / cacheable | s |',
    '|---|---|---|---|',
    ...builder.map((x) => `| ${x.config} | ${x.exitCode} | ${x.exitCode === 0 ? `${x.cached} / ${x.cacheable}` : '-'} | ${x.seconds.toFixed(1)} |`),
    '',
    '### Re-runs of a commit whose image exists (ECR proxy: commit tags immutable; outcome, exported digest, whole buildspec)',
    '',
    rerunTable(reruns.filter((x) => RERUN_STEPS.some((s) => s.label === x.label)),
      RERUN_CONFIGS.filter((c) => c.steps === RERUN_STEPS).map((c) => c.name)),
    '',
    rerunTable(reruns.filter((x) => !RERUN_STEPS.some((s) => s.label === x.label)), ['re-runs, registry, provenance: true', 're-runs, registry, rebuildExistingImages: true']),
    '',
    ...(repro.length ? [
      '### Rebuilds of one commit (rebuildExistingImages, mutable repository; E2E_REPRO=1): same digest as its first build?',
      '',
      rerunTable(repro, REPRO_CONFIGS.map((c) => c.name)),
      '',
    ] : []),
    '### Time per phase, single-stage sample app (s; cold = round 1, warm = mean of rounds 2-5, app file changed)',
    '',
    phaseTable(single, SINGLE_CONFIGS.filter((c) => c.strategy !== 'none').map((c) => c.name)),
    '',
    'builder start: `docker buildx create --bootstrap` (BuildKit image pulled from the local registry). cache import / build / push / cache export: ' +
      'BuildKit\'s `importing cache manifest`, Dockerfile step, `exporting to image` (with push) and `exporting cache to registry` vertices; ' +
      'inline: the `docker push` commands and the cache-tag push; Buildah: cache pulls and pushes between its step lines, and `buildah push`. ' +
      'From the arrival time of each log line (test/e2e/lib/phases.ts).',
    '',
    '### Warm/cold build time (whole buildspec: login, build, push), same run',
    '',
    '| configuration | cold round 1 (s) | warm rounds 2-5, app file changed (s, mean) | warm/cold |',
    '|---|---|---|---|',
    ...SINGLE_CONFIGS.filter((c) => c.strategy !== 'none').map((c) => warmCold(single, c.name, SINGLE.unchanged(['app.txt']))),
    ...MULTI_CONFIGS.map((c) => warmCold(multi, c.name, MULTI.unchanged(['app.txt'])).replace(`| ${c.name} |`, `| multi-stage ${c.name} |`)),
    '',
    `Harness time per configuration (s): ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}; total ${total.toFixed(0)} s.`,
    '',
    '```',
    versions,
    '```',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(OUT, 'results.md'), md);
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ single, multi, secrets, builder, long, reruns, repro, timings }, null, 2));
  fs.writeFileSync(path.join(OUT, 'cache-hits.svg'), svgChart('CACHED steps per round, single-stage sample app (5 = every unchanged step)',
    [...SCENARIOS, ...FAULTS].map((s) => s.round), singleNames, single, SINGLE.unchanged(['app.txt'])));
  console.log('\n' + md);
  console.log(`wrote ${path.join(OUT, 'results.md')} and ${path.join(OUT, 'cache-hits.svg')}`);
}

/**
 * Re-runs of commits whose image exists (issue 10), for every strategy, behind the ECR proxy
 * (tag immutability as ECR enforces it): the same commit built twice, a retry after a build that
 * pushed and then failed in post_build, an older commit rebuilt after the branch moved on, a
 * commit built on a branch and then on main, `provenance: true` built twice, and a forced rebuild.
 * Every re-run must succeed, export the digest first pushed for its commit, build nothing, and
 * leave the repository's tags as expected.
 */
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { BuildSpecPhases, RunResult, runBuildSpec } from './codebuild';
import { Registry } from './registry';
import { SynthesizedProject } from './stack';

/** One build of a re-run sequence. */
export interface RerunStep {
  readonly round: number;
  readonly label: string;
  /** The commit (a letter): its sha is fixed per configuration. */
  readonly commit: string;
  readonly branch: string;
  /**
   * What the build must do: build the image of a new commit, reuse the one pushed for its commit,
   * rebuild it (forced) to the same digest, or rebuild it to a new digest that ECR refuses.
   */
  readonly expect: 'built' | 'reused' | 'rebuilt' | 'refused';
  /** Empty the cache repository first (a rebuild without the cache). */
  readonly emptyCache?: boolean;
  /** A command appended to post_build fails: the image is pushed, the build fails. */
  readonly failPostBuild?: boolean;
}

export interface RerunConfig {
  readonly name: string;
  /** Construct id in the test stack. */
  readonly build: string;
  readonly engine: string;
  readonly repository: string;
  readonly steps: RerunStep[];
  /** The pushed manifest must be an image index (provenance attestation). */
  readonly index?: boolean;
}

/** What the harness provides: a fresh build host for a round, its checks and its registry. */
export interface RerunHost {
  readonly registry: Registry;
  /** host:port of the ECR proxy. */
  readonly ecr: string;
  /** A fresh host for one build of `commit` on `branch`, with the project's environment for `repository`. */
  round(config: RerunConfig, project: SynthesizedProject, step: RerunStep, app: string, commit: string):
  { dir: string; src: string; env: Record<string, string>; logFile: string; cleanup: () => void };
  check(name: string, ok: boolean, detail?: string): boolean;
}

export interface RerunResult {
  readonly config: string;
  readonly round: number;
  readonly label: string;
  readonly outcome: string;
  readonly digest: string;
  readonly seconds: number;
}

export const RERUN_STEPS: RerunStep[] = [
  { round: 1, label: 'commit A on main', commit: 'A', branch: 'main', expect: 'built' },
  { round: 2, label: 'commit A on main again (retry, full cache)', commit: 'A', branch: 'main', expect: 'reused' },
  { round: 3, label: 'commit B on main: pushed, then post_build failed', commit: 'B', branch: 'main', expect: 'built', failPostBuild: true },
  { round: 4, label: 'retry of commit B', commit: 'B', branch: 'main', expect: 'reused' },
  { round: 5, label: 'older commit A rebuilt after main moved on', commit: 'A', branch: 'main', expect: 'reused' },
  { round: 6, label: 'commit C on branch feature/x', commit: 'C', branch: 'feature/x', expect: 'built' },
  { round: 7, label: 'commit C on main (merged fast-forward)', commit: 'C', branch: 'main', expect: 'reused' },
];

export const PROVENANCE_STEPS: RerunStep[] = [
  { round: 1, label: 'provenance: true, commit P on main', commit: 'P', branch: 'main', expect: 'built' },
  { round: 2, label: 'provenance: true, commit P on main again', commit: 'P', branch: 'main', expect: 'reused' },
];

export const FORCED_STEPS: RerunStep[] = [
  { round: 1, label: 'rebuildExistingImages: true, commit F on main', commit: 'F', branch: 'main', expect: 'built' },
  { round: 2, label: 'rebuildExistingImages: true, commit F again (full cache)', commit: 'F', branch: 'main', expect: 'rebuilt' },
  { round: 3, label: 'rebuildExistingImages: true, commit F again (cache emptied)', commit: 'F', branch: 'main', expect: 'refused', emptyCache: true },
];

function sha(config: RerunConfig, commit: string): string {
  return createHash('sha1').update(`rerun ${config.repository} ${commit}`).digest('hex');
}

/** Runs one configuration's steps; returns a result per step. */
export async function runReruns(host: RerunHost, config: RerunConfig, project: SynthesizedProject): Promise<RerunResult[]> {
  const { check, registry } = host;
  const results: RerunResult[] = [];
  /** What the repository must hold after each step: tag -> digest. */
  const expected: Record<string, string> = {};
  const pushedFor: Record<string, string> = {};
  for (const step of config.steps) {
    const label = `re-runs: ${config.name} r${step.round} (${step.label})`;
    const commit = sha(config, step.commit);
    const app = `${config.name} re-run app, commit ${step.commit}`;
    if (step.emptyCache) await registry.emptyRepository(`${config.repository}-cache`);
    const r = host.round(config, project, step, app, commit);
    const phases = JSON.parse(JSON.stringify(project.buildSpec.phases)) as Record<string, { commands: string[] }>;
    if (step.failPostBuild) phases.post_build.commands.push('echo "e2e: injected post_build failure" >&2; false');
    const result: RunResult = await runBuildSpec({ phases: phases as BuildSpecPhases, env: r.env, sourceDir: r.src, workDir: path.join(r.dir, 'runner'), logFile: r.logFile });
    r.cleanup();
    const log = fs.readFileSync(r.logFile, 'utf8');
    const digest = result.variables.IMAGE_DIGEST ?? '';
    const tagged = (await registry.manifest(config.repository, commit))?.digest ?? '';
    const outcome = step.expect === 'refused'
      ? (result.exitCode !== 0 ? 'failed: ECR refused the commit tag' : `exit ${result.exitCode}`)
      : `${result.exitCode === 0 ? 'succeeded' : `exit ${result.exitCode}`}, ${result.variables.IMAGE_REUSED === 'true' ? 'reused' : 'built'}`;
    results.push({ config: config.name, round: step.round, label: step.label, outcome, digest: digest || tagged, seconds: result.seconds });
    console.log(`${label}: exit ${result.exitCode}, ${outcome}, ${digest}, ${result.seconds.toFixed(1)} s`);

    if (step.expect === 'refused') {
      check(`${label}: the build fails with ECR's refusal and a message naming rebuildExistingImages`, result.exitCode !== 0 &&
        /PUT request to [^ ]*\/manifests\/[0-9a-f]{40}: 400 Bad Request/.test(log) &&
        /^error: ECR refused to overwrite an immutable tag \(above; .*\): .*rebuildExistingImages is true/m.test(log),
      (log.match(/^error: .*$/m) ?? ['no error line'])[0]);
      check(`${label}: the commit tag still holds the first image`, tagged === pushedFor[step.commit], `${tagged}`);
    } else if (step.failPostBuild) {
      check(`${label}: the build pushed, then failed in post_build`, result.exitCode !== 0 && /injected post_build failure/.test(result.failedCommand ?? '') && /^sha256:[0-9a-f]{64}$/.test(digest),
        `exit ${result.exitCode}, ${result.failedCommand}`);
    } else {
      check(`${label}: build succeeded`, result.exitCode === 0, result.failedCommand ? `failed: ${result.failedCommand} (log ${r.logFile})` : '');
    }
    if (step.expect === 'refused') continue;

    if (step.expect === 'built') {
      check(`${label}: built and pushed (no image for the commit before)`, pushedFor[step.commit] === undefined && result.variables.IMAGE_REUSED === 'false' &&
        !/^cache: skipped/m.test(log), `${result.variables.IMAGE_REUSED}`);
      check(`${label}: exported IMAGE_DIGEST is the digest under the commit tag`, /^sha256:[0-9a-f]{64}$/.test(digest) && tagged === digest, `${digest} vs ${tagged}`);
      pushedFor[step.commit] = digest;
    } else if (step.expect === 'rebuilt') {
      // BuildKit finds the manifest under the tag already (HEAD by tag) and skips its PUT: the proxy, like ECR, would refuse it.
      check(`${label}: rebuilt to the same digest, and the push of the unchanged tag went through`, result.variables.IMAGE_REUSED === 'false' &&
        digest === pushedFor[step.commit] && /^cache: \d+\/\d+ steps cached/m.test(log), `${digest} (first ${pushedFor[step.commit]})`);
    } else {
      const first = pushedFor[step.commit];
      check(`${label}: reused the image first pushed for the commit, built nothing`, result.variables.IMAGE_REUSED === 'true' && digest === first &&
        !/^(#\d+ \[|STEP \d)/m.test(log) && !/docker buildx create|buildah build|docker build /.test(log.replace(/^\[Container\] Running command .*$/gm, '')),
      `${result.variables.IMAGE_REUSED} ${digest} (first ${first})`);
      check(`${label}: the summary line says skipped`, log.includes(`cache: skipped, image for ${commit} exists (${first})`),
        (log.match(/^cache: .*$/m) ?? ['no summary line'])[0]);
      const metrics = fs.existsSync(r.env.E2E_METRICS) ? fs.readFileSync(r.env.E2E_METRICS, 'utf8') : '';
      check(`${label}: published ReusedImages and no cache metrics`, /ReusedImages/.test(metrics) && !/CacheHitRatio/.test(metrics), metrics.trim());
    }
    check(`${label}: exported IMAGE_URI/IMAGE_TAG name the commit`, result.variables.IMAGE_TAG === commit && result.variables.IMAGE_URI === `${host.ecr}/${config.repository}:${commit}`,
      `${result.variables.IMAGE_URI}`);
    if (result.exitCode === 0) {
      const detail = JSON.parse(fs.readFileSync(path.join(r.src, 'imageDetail.json'), 'utf8'));
      check(`${label}: imageDetail.json names the digest`, detail.ImageURI === `${host.ecr}/${config.repository}@${digest}`, JSON.stringify(detail));
    }
    if (config.index) {
      const m = await registry.manifest(config.repository, commit);
      check(`${label}: the image is an index (provenance attestation)`, /index|manifest\.list/.test(m?.mediaType ?? ''), `${m?.mediaType}`);
    }
    // The repository: every commit tag holds its first image; latest the last main build's commit.
    expected[commit] = pushedFor[step.commit];
    if (step.branch === 'main') expected.latest = pushedFor[step.commit];
    const actual: Record<string, string> = {};
    for (const tag of (await registry.tags(config.repository)).sort()) actual[tag] = (await registry.manifest(config.repository, tag))?.digest ?? '';
    check(`${label}: the repository's tags are as expected`, JSON.stringify(sortKeys(actual)) === JSON.stringify(sortKeys(expected)),
      Object.entries(actual).map(([t, d]) => `${t.slice(0, 12)}=${d.slice(7, 19)}`).join(' '));
  }
  return results;
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

/** The e2e report's table: per step, per configuration, the outcome and the digest (first 12 hex digits). */
export function rerunTable(results: RerunResult[], configs: string[]): string {
  const steps = [...new Map(results.map((r) => [`${r.round} ${r.label}`, r])).values()];
  const cell = (c: string, s: RerunResult) => {
    const r = results.find((x) => x.config === c && x.round === s.round && x.label === s.label);
    return r ? `${r.outcome}, ${r.digest ? r.digest.slice(0, 19) : '-'}, ${r.seconds.toFixed(1)} s` : '';
  };
  return [
    `| round | scenario | ${configs.join(' | ')} |`,
    `|---|---|${configs.map(() => '---').join('|')}|`,
    ...steps.map((s) => `| ${s.round} | ${s.label} | ${configs.map((c) => cell(c, s)).join(' | ')} |`),
  ].join('\n');
}

// ------------------------------------------------------------------ reproducible digests (measurement)
/** Builds of a measurement (`rebuildExistingImages`): the same commit again on a fresh host, and again after another commit. */
export const REPRO_STEPS: RerunStep[] = [
  { round: 1, label: 'commit X', commit: 'X', branch: 'main', expect: 'built' },
  { round: 2, label: 'commit X again (fresh host, full cache)', commit: 'X', branch: 'main', expect: 'built' },
  { round: 3, label: 'commit Y (main moves on)', commit: 'Y', branch: 'main', expect: 'built' },
  { round: 4, label: 'commit X again (after Y)', commit: 'X', branch: 'main', expect: 'built' },
];

/** The committer time of each measured commit (git metadata in the source: SOURCE_DATE_EPOCH). */
const COMMIT_TIMES: Record<string, number> = { X: 1700000000, Y: 1700003600 };

function gitCommit(dir: string, epoch: number): void {
  const env = { ...process.env, HOME: dir, GIT_COMMITTER_DATE: `@${epoch} +0000`, GIT_AUTHOR_DATE: `@${epoch} +0000` };
  for (const args of [['init', '-q'], ['add', '-A'], ['-c', 'user.name=e2e', '-c', 'user.email=e2e@example.com', 'commit', '-q', '-m', 'e2e']]) {
    const r = spawnSync('git', ['-C', dir, ...args], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  }
}

/**
 * Rebuilds of one commit (forced: `rebuildExistingImages`, into a mutable repository) and whether
 * they give the first build's digest. Returns one result per build; the outcome says `same` or `new`.
 */
export async function measureReproducibility(host: RerunHost, config: RerunConfig, project: SynthesizedProject): Promise<RerunResult[]> {
  const results: RerunResult[] = [];
  const first: Record<string, string> = {};
  for (const step of config.steps) {
    const label = `reproducibility: ${config.name} r${step.round} (${step.label})`;
    const commit = sha(config, step.commit);
    const r = host.round(config, project, step, `${config.name} reproducibility app, commit ${step.commit}`, commit);
    gitCommit(r.src, COMMIT_TIMES[step.commit]);
    const result = await runBuildSpec({ phases: project.buildSpec.phases as BuildSpecPhases, env: r.env, sourceDir: r.src, workDir: path.join(r.dir, 'runner'), logFile: r.logFile });
    r.cleanup();
    const digest = result.variables.IMAGE_DIGEST ?? '';
    host.check(`${label}: build succeeded`, result.exitCode === 0 && /^sha256:[0-9a-f]{64}$/.test(digest), result.failedCommand ?? '');
    const outcome = first[step.commit] === undefined ? 'first' : digest === first[step.commit] ? 'same digest' : 'new digest';
    first[step.commit] ??= digest;
    results.push({ config: config.name, round: step.round, label: step.label, outcome, digest, seconds: result.seconds });
    console.log(`${label}: exit ${result.exitCode}, ${outcome}, ${digest}, ${result.seconds.toFixed(1)} s`);
  }
  return results;
}

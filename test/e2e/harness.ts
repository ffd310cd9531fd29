/**
 * End-to-end proof: executes the buildspec that CachedImageBuild synthesizes, round after round,
 * against real Docker engines and a registry on 127.0.0.1, and counts cache hits.
 *
 * Started by run.sh (which sets up the environment with env/env.sh and exports its variables).
 * Exits non-zero when any check fails: an expected cache hit missed, a build or push failed,
 * the pushed image does not run the new app file, or the control stopped alternating.
 */
import { spawn, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { countCached, markerContradictions, parseBuildKitLog } from './lib/buildkit-log';
import { BuildSpecPhases, runBuildSpec } from './lib/codebuild';
import { Registry } from './lib/registry';
import { RoundResult, markdownTable, svgChart } from './lib/report';
import { SynthesizedProject, synthesize } from './lib/stack';

// ------------------------------------------------------------------ environment (from env.sh vars)
function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the harness through test/e2e/run.sh`);
  return v;
}
const REGISTRY = need('REGISTRY');
const DOCKER_BIN_DIR = need('DOCKER_BIN_DIR');
const PLUGINS_DIR = path.join(need('DOCKER_CONFIG'), 'cli-plugins');
const E2E_ROOT = need('E2E_ROOT');
const DAEMONS = { cd: need('DOCKER_HOST_CD'), classic: need('DOCKER_HOST_CLASSIC') };
const ENV_SH = path.join(__dirname, 'env', 'env.sh');
const OUT = path.resolve(__dirname, 'out');
const SAMPLE_APP = path.join(__dirname, 'sample-app');
const READONLY_PORT = Number(process.env.E2E_READONLY_REGISTRY_PORT ?? '5001');
const READONLY_REGISTRY = `127.0.0.1:${READONLY_PORT}`;

// ------------------------------------------------------------------ checks
const checks: { name: string; ok: boolean; detail: string }[] = [];
function check(name: string, ok: boolean, detail = ''): boolean {
  checks.push({ name, ok, detail });
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  return ok;
}

// ------------------------------------------------------------------ the sample app's steps
/**
 * Dockerfile steps after FROM, with the file each one reads: a step can hit the cache only if
 * no step up to it reads a changed file.
 */
const STEPS: { name: string; reads?: 'requirements.txt' | 'app.txt' }[] = [
  { name: 'WORKDIR' },
  { name: 'RUN slow dependency step' },
  { name: 'COPY requirements.txt', reads: 'requirements.txt' },
  { name: 'RUN install dependencies' },
  { name: 'RUN configure' },
  { name: 'COPY app.txt', reads: 'app.txt' },
];
function unchangedSteps(changed: string[]): number {
  const i = STEPS.findIndex((s) => s.reads !== undefined && changed.includes(s.reads));
  return i < 0 ? STEPS.length : i;
}

// ------------------------------------------------------------------ scenarios
interface Scenario {
  readonly round: number;
  readonly label: string;
  readonly branch: string;
  /** Files changed since the previous round. */
  readonly changed: ('app.txt' | 'requirements.txt')[];
  /** The cache holds nothing usable for this round. */
  readonly cold?: boolean;
  /** The cache repository is served read-only (writes refused). */
  readonly readonlyCache?: boolean;
  /** Empty the cache repository before the round. */
  readonly emptyCache?: boolean;
}
const SCENARIOS: Scenario[] = [
  { round: 1, label: 'cold build', branch: 'main', changed: [], cold: true },
  { round: 2, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 3, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 4, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 5, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 6, label: 'dependency file changed', branch: 'main', changed: ['requirements.txt'] },
  { round: 7, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 8, label: 'new branch feature/login, app changed', branch: 'feature/login', changed: ['app.txt'] },
  { round: 9, label: 'cache repository emptied, app changed', branch: 'main', changed: ['app.txt'], cold: true, emptyCache: true },
  { round: 10, label: 'cache registry refuses writes, app changed', branch: 'main', changed: ['app.txt'], readonlyCache: true },
  { round: 11, label: 'app file changed (after the refused writes)', branch: 'main', changed: ['app.txt'] },
];
const CONTROL_ROUNDS = 5;
const NONE_ROUNDS = 7;

// ------------------------------------------------------------------ helpers
function docker(daemon: keyof typeof DAEMONS, args: string[], dockerConfig?: string) {
  return spawnSync(path.join(DOCKER_BIN_DIR, 'docker'), args, {
    env: { PATH: `${DOCKER_BIN_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`, DOCKER_HOST: DAEMONS[daemon], ...(dockerConfig ? { DOCKER_CONFIG: dockerConfig } : {}) },
    encoding: 'utf8',
  });
}

function resetDaemon(daemon: keyof typeof DAEMONS): void {
  const r = spawnSync('bash', [ENV_SH, 'reset-daemon', daemon], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reset-daemon ${daemon} failed: ${r.stderr}`);
}

/** The project's environment as CodeBuild would pass it, with the harness's overrides. */
function projectEnvironment(project: SynthesizedProject, overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(project.environment)) {
    if (k in overrides) continue;
    if (v === undefined) throw new Error(`${project.logicalId}: variable ${k} is a CloudFormation expression and the harness has no override for it`);
    env[k] = v;
  }
  return { ...env, ...overrides };
}

function writeStandIns(binDir: string): void {
  fs.mkdirSync(binDir, { recursive: true });
  // Stand-in for the AWS CLI: answers `aws ecr get-login-password` (the local registry needs no
  // password) and records each call, so the harness can check the region the build asked for.
  fs.writeFileSync(path.join(binDir, 'aws'), [
    '#!/bin/sh',
    'printf "%s\\n" "$*" >> "${E2E_AWS_CALLS:-/dev/null}"',
    'if [ "$1" = ecr ] && [ "$2" = get-login-password ]; then echo e2e-stand-in-password; exit 0; fi',
    'echo "aws stand-in: unsupported command: $*" >&2; exit 2',
    '',
  ].join('\n'), { mode: 0o755 });
}

interface Source { deps: number; app: string }

function prepareRound(config: string, round: number, branch: string, source: Source) {
  const dir = path.join(OUT, 'rounds', `${config}-r${String(round).padStart(2, '0')}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const src = path.join(dir, 'src');
  fs.mkdirSync(src, { recursive: true });
  fs.copyFileSync(path.join(SAMPLE_APP, 'Dockerfile'), path.join(src, 'Dockerfile'));
  fs.writeFileSync(path.join(src, 'requirements.txt'), `dependency-set-${source.deps}\n`);
  fs.writeFileSync(path.join(src, 'app.txt'), `${source.app}\n`);
  // A fresh build host: a new Docker client config (no builders, no logins) and home.
  const dockerConfig = path.join(dir, 'docker-config');
  fs.mkdirSync(dockerConfig, { recursive: true });
  fs.symlinkSync(PLUGINS_DIR, path.join(dockerConfig, 'cli-plugins'));
  const commit = createHash('sha1').update(`${config} ${round} ${source.app} ${source.deps}`).digest('hex');
  const codebuild = {
    CODEBUILD_BUILD_ID: `e2e-${config}:${round}`,
    CODEBUILD_BUILD_NUMBER: String(round),
    CODEBUILD_RESOLVED_SOURCE_VERSION: commit,
    CODEBUILD_SOURCE_VERSION: commit,
    CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${branch}`,
    CODEBUILD_WEBHOOK_EVENT: 'PUSH',
    CODEBUILD_SRC_DIR: src,
    CODEBUILD_BUILD_IMAGE: 'aws/codebuild/standard:7.0',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
  };
  const base = {
    PATH: `${path.join(OUT, 'bin')}:${DOCKER_BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: dir,
    DOCKER_CONFIG: dockerConfig,
    E2E_AWS_CALLS: path.join(dir, 'aws-calls.txt'),
    LANG: 'C.UTF-8',
  };
  return { dir, src, dockerConfig, commit, env: { ...base, ...codebuild }, logFile: path.join(dir, 'build.log') };
}

/** Pulls the pushed image by digest and runs it: it must print the round's app file. */
function runImage(daemon: keyof typeof DAEMONS, ref: string, dockerConfig: string): string {
  const r = docker(daemon, ['run', '--rm', '--network', 'none', ref], dockerConfig);
  return r.status === 0 ? r.stdout.trim() : `(docker run failed: ${r.stderr.trim()})`;
}

// ------------------------------------------------------------------ one configuration

async function runConstructRounds(config: string, daemon: keyof typeof DAEMONS, project: SynthesizedProject,
  repository: string, cacheRepository: string | undefined, scenarios: Scenario[], results: RoundResult[]): Promise<void> {
  const registry = new Registry(REGISTRY);
  const source: Source = { deps: 1, app: '' };
  for (const scenario of scenarios) {
    const { round } = scenario;
    if (scenario.changed.includes('requirements.txt')) source.deps += 1;
    source.app = `${config} app, version ${round}`;
    if (scenario.emptyCache && cacheRepository) {
      const n = await registry.emptyRepository(cacheRepository);
      check(`${config} r${round}: cache repository emptied`, n > 0 && (await registry.tags(cacheRepository)).length === 0, `${n} manifests deleted`);
    }
    const cacheBefore = cacheRepository ? await registry.manifest(cacheRepository, 'main') : undefined;
    resetDaemon(daemon);
    const r = prepareRound(config, round, scenario.branch, source);
    const overrides: Record<string, string> = { CIB_IMAGE_REPOSITORY_URI: `${REGISTRY}/${repository}` };
    if (cacheRepository) {
      overrides.CIB_CACHE_REPOSITORY_URI = `${scenario.readonlyCache ? READONLY_REGISTRY : REGISTRY}/${cacheRepository}`;
    }
    const env = { ...r.env, ...projectEnvironment(project, overrides), DOCKER_HOST: DAEMONS[daemon] };
    const result = runBuildSpec({ phases: project.buildSpec.phases as BuildSpecPhases, env, sourceDir: r.src, workDir: path.join(r.dir, 'runner'), logFile: r.logFile });
    const log = fs.readFileSync(r.logFile, 'utf8');
    const records = parseBuildKitLog(log);
    const cached = countCached(records);
    const cacheable = cacheRepository && !scenario.cold ? unchangedSteps(scenario.changed) : 0;
    const digest = result.variables.IMAGE_DIGEST ?? '';
    results.push({ config, round, scenario: scenario.label, exitCode: result.exitCode, cached, cacheable, seconds: result.seconds, digest });
    console.log(`${config} r${round} (${scenario.label}): exit ${result.exitCode}, CACHED ${cached}/${cacheable}, ${result.seconds.toFixed(1)} s, ${digest}`);

    if (!check(`${config} r${round}: build succeeded`, result.exitCode === 0, result.failedCommand ? `failed: ${result.failedCommand} (log ${r.logFile})` : '')) continue;
    check(`${config} r${round}: ${STEPS.length} steps reported`, records.length === STEPS.length, `${records.length}`);
    check(`${config} r${round}: CACHED steps = ${cacheable} (every step whose inputs did not change)`, cached === cacheable,
      records.map((s) => `${s.step}:${s.cached ? 'C' : '-'}`).join(' '));
    const contradictions = markerContradictions(records);
    check(`${config} r${round}: RUN markers agree with the cache classification`, contradictions.length === 0, contradictions.join('; '));
    check(`${config} r${round}: exported IMAGE_URI/IMAGE_TAG/IMAGE_DIGEST`,
      result.variables.IMAGE_TAG === r.commit && result.variables.IMAGE_URI === `${REGISTRY}/${repository}:${r.commit}` && /^sha256:[0-9a-f]{64}$/.test(digest),
      `${result.variables.IMAGE_URI} ${digest}`);
    const tagged = await registry.manifest(repository, r.commit);
    const latest = await registry.manifest(repository, 'latest');
    check(`${config} r${round}: registry holds the pushed digest under the commit tag and latest`, tagged?.digest === digest && latest?.digest === digest,
      `${tagged?.digest} / ${latest?.digest}`);
    const ran = runImage(daemon, `${REGISTRY}/${repository}@${digest}`, r.dockerConfig);
    check(`${config} r${round}: the pushed image runs the new app file`, ran === source.app, JSON.stringify(ran));
    const defs = JSON.parse(fs.readFileSync(path.join(r.src, 'imagedefinitions.json'), 'utf8'));
    const detail = JSON.parse(fs.readFileSync(path.join(r.src, 'imageDetail.json'), 'utf8'));
    check(`${config} r${round}: imagedefinitions.json and imageDetail.json name the image`,
      defs[0]?.name === 'app' && defs[0]?.imageUri === result.variables.IMAGE_URI && detail.ImageURI === `${REGISTRY}/${repository}@${digest}`);
    const calls = fs.existsSync(r.env.E2E_AWS_CALLS) ? fs.readFileSync(r.env.E2E_AWS_CALLS, 'utf8').trim().split('\n') : [];
    check(`${config} r${round}: ECR login asked for the repositories' region`, calls.length > 0 && calls.every((c) => c === 'ecr get-login-password --region us-east-1'), calls.join(' | '));

    if (cacheRepository) {
      const branchTag = scenario.branch.replace(/[^a-zA-Z0-9._-]/g, '-');
      const cacheAfter = await registry.manifest(cacheRepository, branchTag);
      if (scenario.readonlyCache) {
        const mainAfter = await registry.manifest(cacheRepository, 'main');
        const refused = /^#\d+ ERROR: .*405 Method Not Allowed/m.test(log);
        check(`${config} r${round}: the registry refused the cache export and the cache stayed as it was`, refused && mainAfter?.digest === cacheBefore?.digest,
          `export refused: ${refused}; ${cacheBefore?.digest} -> ${mainAfter?.digest}`);
      } else {
        check(`${config} r${round}: cache manifest ${cacheRepository}:${branchTag} is an OCI image manifest with a BuildKit cache config`,
          cacheAfter?.mediaType === 'application/vnd.oci.image.manifest.v1+json' && cacheAfter?.body?.config?.mediaType === 'application/vnd.buildkit.cacheconfig.v0',
          `${cacheAfter?.mediaType} / ${cacheAfter?.body?.config?.mediaType}`);
      }
      if (scenario.branch !== 'main') {
        const mainAfter = await registry.manifest(cacheRepository, 'main');
        check(`${config} r${round}: a branch build leaves the default-branch cache alone`, mainAfter?.digest === cacheBefore?.digest);
      }
    }
  }
}

/** The seed recipe (moby/buildkit#1981), run through the same runner on the classic-store daemon. */
async function runControl(results: RoundResult[]): Promise<number[]> {
  const repository = 'e2e-control';
  const phases: BuildSpecPhases = {
    build: {
      'on-failure': 'ABORT',
      'commands': [
        'docker build --progress=plain --network none --build-arg BASE_IMAGE="$BASE_IMAGE" --cache-from "$SEED_IMAGE:latest" --build-arg BUILDKIT_INLINE_CACHE=1 -t "$SEED_IMAGE:latest" .',
        'docker push "$SEED_IMAGE:latest"',
      ],
    },
  };
  const source: Source = { deps: 1, app: '' };
  const counts: number[] = [];
  for (let round = 1; round <= CONTROL_ROUNDS; round++) {
    source.app = `control app, version ${round}`;
    resetDaemon('classic');
    const r = prepareRound('control', round, 'main', source);
    const env = { ...r.env, DOCKER_HOST: DAEMONS.classic, DOCKER_BUILDKIT: '1', SEED_IMAGE: `${REGISTRY}/${repository}`, BASE_IMAGE: `${REGISTRY}/base:1` };
    const result = runBuildSpec({ phases, env, sourceDir: r.src, workDir: path.join(r.dir, 'runner'), logFile: r.logFile });
    const records = parseBuildKitLog(fs.readFileSync(r.logFile, 'utf8'));
    const cached = countCached(records);
    counts.push(cached);
    results.push({ config: 'seed recipe (control)', round, scenario: '', exitCode: result.exitCode, cached, cacheable: round === 1 ? 0 : STEPS.length - 1, seconds: result.seconds, digest: '' });
    console.log(`control r${round}: exit ${result.exitCode}, CACHED ${cached}, ${result.seconds.toFixed(1)} s`);
    check(`control r${round}: build and push succeeded`, result.exitCode === 0, result.failedCommand ?? '');
    const contradictions = markerContradictions(records);
    check(`control r${round}: RUN markers agree with the cache classification`, contradictions.length === 0, contradictions.join('; '));
  }
  return counts;
}

// ------------------------------------------------------------------ read-only view of the registry
async function startReadonlyRegistry(): Promise<() => void> {
  const mainConfig = fs.readFileSync(path.join(E2E_ROOT, 'etc', 'registry.yml'), 'utf8');
  const root = /rootdirectory:\s*(\S+)/.exec(mainConfig)?.[1];
  if (!root) throw new Error('cannot find the registry storage root in etc/registry.yml');
  const cfg = path.join(OUT, 'registry-readonly.yml');
  fs.writeFileSync(cfg, [
    'version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${root}`,
    '  maintenance:', '    readonly:', '      enabled: true', 'http:', `  addr: ${READONLY_REGISTRY}`, '',
  ].join('\n'));
  const logFd = fs.openSync(path.join(OUT, 'registry-readonly.log'), 'a');
  const child = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', logFd, logFd], detached: true });
  const pid = child.pid!;
  const stop = () => { try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ } };
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://${READONLY_REGISTRY}/v2/`);
      if (r.ok) return stop;
    } catch { /* not up yet */ }
    await new Promise((res) => setTimeout(res, 100));
  }
  stop();
  throw new Error(`read-only registry on ${READONLY_REGISTRY} did not start (see ${OUT}/registry-readonly.log)`);
}

// ------------------------------------------------------------------ main
async function main(): Promise<number> {
  const t0 = Date.now();
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  writeStandIns(path.join(OUT, 'bin'));
  const projects = synthesize(path.join(OUT, 'cdk.out'), `${REGISTRY}/base:1`);
  console.log(`synthesized the test stack in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const results: RoundResult[] = [];
  const timings: Record<string, number> = {};

  let t = Date.now();
  const controlCounts = await runControl(results);
  timings.control = (Date.now() - t) / 1000;
  check('control (seed recipe, classic store) alternates 0,5,0,5,0 so the harness can see misses',
    controlCounts.join(',') === '0,5,0,5,0', controlCounts.join(','));

  t = Date.now();
  const stopReadonly = await startReadonlyRegistry();
  try {
    await runConstructRounds('registry', 'cd', projects.registry, 'e2e-registry', 'e2e-registry-cache', SCENARIOS, results);
  } finally {
    stopReadonly();
  }
  timings.registry = (Date.now() - t) / 1000;

  t = Date.now();
  await runConstructRounds('none', 'classic', projects.none, 'e2e-none', undefined,
    SCENARIOS.filter((s) => s.round <= NONE_ROUNDS && s.branch === 'main'), results);
  timings.none = (Date.now() - t) / 1000;

  // ---- report
  const configs = ['seed recipe (control)', 'registry', 'none'];
  const table = markdownTable(SCENARIOS.map((s) => ({ round: s.round, scenario: s.label })), configs, results);
  const reg = results.filter((x) => x.config === 'registry');
  const cold = reg.find((x) => x.round === 1)!.seconds;
  const warm = reg.filter((x) => x.cacheable === STEPS.length - 1);
  const warmMean = warm.reduce((a, x) => a + x.seconds, 0) / Math.max(1, warm.length);
  const ratio = `registry strategy: cold round ${cold.toFixed(1)} s, warm rounds (app file changed) ${warmMean.toFixed(1)} s on average: warm/cold = ${(warmMean / cold).toFixed(2)}`;
  const total = (Date.now() - t0) / 1000;
  const timing = `harness time: control ${timings.control.toFixed(0)} s, registry ${timings.registry.toFixed(0)} s, none ${timings.none.toFixed(0)} s, total ${total.toFixed(0)} s`;
  const versions = fs.existsSync(path.join(E2E_ROOT, 'pkgs', 'versions.txt')) ? fs.readFileSync(path.join(E2E_ROOT, 'pkgs', 'versions.txt'), 'utf8').trim() : '';
  const md = [table, '', ratio, '', timing, '', '```', versions, '```', ''].join('\n');
  fs.writeFileSync(path.join(OUT, 'results.md'), md);
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ results, timings }, null, 2));
  fs.writeFileSync(path.join(OUT, 'cache-hits.svg'), svgChart('CACHED steps per round (5 cacheable steps when only the app file changes)',
    SCENARIOS.map((s) => s.round), configs, results, STEPS.length - 1));
  console.log('\n' + md);
  console.log(`wrote ${path.join(OUT, 'results.md')} and ${path.join(OUT, 'cache-hits.svg')}`);

  const failed = checks.filter((c) => !c.ok);
  for (const c of failed) console.log(`FAILED: ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
  console.log(`e2e: ${checks.length - failed.length} passed, ${failed.length} failed`);
  return failed.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(2);
});

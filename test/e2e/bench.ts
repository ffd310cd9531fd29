/**
 * The benchmark (`npm run bench`, `npm run bench:quick`): every cache configuration side by side in
 * one run, on generated apps of growing size, with the e2e's environment (env/env.sh), its ECR proxy
 * (which counts the bytes) and its CodeBuild emulation running the construct's synthesized
 * buildspecs. Started by bench.sh, which sets up and stops the environment.
 *
 * Per size and app (lib/bench-app.ts), each configuration runs a cold round, app-only changes and a
 * dependency change, each on a fresh build host (engine pruned, fresh Buildah storage, fresh client
 * configuration); the same-host limit runs the same rounds on one host that is never reset. The
 * report (lib/bench-report.ts) gives per size the times, their ratios against the limit of the same
 * run, the phases and the bytes to and from the registry.
 *
 * Options: --quick (20 MB, single-stage 5 steps, one warm round: the CI variant), --sizes 50,300,1000
 * (MB), --apps s5,s30,m30, --warm N, --only REGEX[,REGEX...] (configurations whose name one of them matches;
 * commas, not `|`, and `.` for a space: `npm run bench` passes its arguments through a shell unquoted), --report FILE (default
 * docs/benchmarks.md; --quick: test/e2e/out/bench/benchmarks.md). Exits 1 when a build failed or a warm
 * round cached fewer steps than it can (a round that is not warm measures nothing).
 */
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BenchApp, benchApp, layerSeeds, writeSeededFile } from './lib/bench-app';
import { FlagRewrites, withFlags } from './lib/bench-flags';
import { BenchRound, BenchScenario, LIMIT, limitOf, medianSeconds, phaseTable, ratio, sizeLabel, sizeTable, warmChart } from './lib/bench-report';
import { codeBuildEnvironment, freshBuildahStorage } from './lib/build-host';
import { countCached, parseBuildKitLog, parseBuildahLog } from './lib/buildkit-log';
import { BuildSpecPhases, runBuildSpec } from './lib/codebuild';
import { installAwsStandIn, startEcrProxyProcess } from './lib/ecr-env';
import { RepositorySettings, TRAFFIC_PATH, Traffic } from './lib/ecr-proxy';
import { phaseTimes } from './lib/phases';
import { BuildDefinition, SynthesizedProject, projectEnvironment, synthesize } from './lib/stack';

// ------------------------------------------------------------------ environment (from env.sh vars)
function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the benchmark through test/e2e/bench.sh (npm run bench)`);
  return v;
}
const REGISTRY = need('REGISTRY');
const DOCKER_BIN_DIR = need('DOCKER_BIN_DIR');
const PLUGINS_DIR = path.join(need('DOCKER_CONFIG'), 'cli-plugins');
const E2E_ROOT = need('E2E_ROOT');
const DAEMONS = { cd: need('DOCKER_HOST_CD'), classic: need('DOCKER_HOST_CLASSIC') };
const BUILDKIT_IMAGE = need('BUILDKIT_IMAGE');
const BUILDAH_TRIXIE_BIN_DIR = need('BUILDAH_TRIXIE_BIN_DIR');
const ECR = `127.0.0.1:${Number(process.env.E2E_ECR_PROXY_PORT ?? Number(REGISTRY.split(':')[1]) + 2)}`;
const ENV_SH = path.join(__dirname, 'env', 'env.sh');
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(__dirname, 'out', 'bench');
const WORK = path.join(E2E_ROOT, 'bench');
type Daemon = keyof typeof DAEMONS;
type Engine = Daemon | 'buildah';

// ------------------------------------------------------------------ options
interface Options { quick: boolean; sizes: number[]; apps: string[]; warm: number; only?: RegExp; report: string }
const APPS: Record<string, { label: string; steps: number; multiStage: boolean }> = {
  s5: { label: 'single-stage, 5 steps', steps: 5, multiStage: false },
  s30: { label: 'single-stage, 30 steps', steps: 30, multiStage: false },
  m30: { label: 'multi-stage, 30 steps', steps: 30, multiStage: true },
};
function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, sizes: [50, 300, 1000], apps: ['s5', 's30', 'm30'], warm: 3, report: path.join(REPO_ROOT, 'docs', 'benchmarks.md') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${a} needs a value`);
      return v;
    };
    if (a === '--quick') Object.assign(o, { quick: true, sizes: [20], apps: ['s5'], warm: 1, report: path.join(OUT, 'benchmarks.md') });
    else if (a === '--sizes') o.sizes = value().split(',').map(Number);
    else if (a === '--apps') o.apps = value().split(',');
    else if (a === '--warm') o.warm = Number(value());
    else if (a === '--only') o.only = new RegExp(value().split(',').map((r) => `(?:${r})`).join('|'));
    else if (a === '--report') o.report = path.resolve(value());
    else throw new Error(`bench: unknown option ${a} (see the header of test/e2e/bench.ts)`);
  }
  for (const s of o.sizes) if (!Number.isFinite(s) || s <= 0) throw new Error(`bench: --sizes takes MB numbers; got ${o.sizes.join(',')}`);
  for (const a of o.apps) if (!APPS[a]) throw new Error(`bench: --apps takes ${Object.keys(APPS).join(', ')}; got ${a}`);
  if (!Number.isInteger(o.warm) || o.warm < 1) throw new Error('bench: --warm takes a count of at least 1');
  return o;
}

// ------------------------------------------------------------------ configurations
/** What the docker-container builder needs here (as in the e2e): the host network, plain-HTTP registries. */
const DEFAULT_BUILDER = { builderImage: BUILDKIT_IMAGE, builderNetwork: 'host', buildkitdConfig: [REGISTRY, ECR].map((r) => `[registry."${r}"]\n  http = true\n`).join('') };
const CONTROL = 'seed recipe (control)';
interface Config {
  readonly name: string;
  /** A CachedImageBuild of the bench stack; the control and the limit are plain commands. */
  readonly build?: string;
  readonly kind: 'construct' | 'control' | 'limit';
  readonly engine: Engine;
  readonly slug: string;
  /** Min-mode cache: only the final stage's steps can hit. */
  readonly minMode?: boolean;
  readonly noCache?: boolean;
  /** Experiment (issue 16, item 2): the app file is copied with `COPY --link` (the user's Dockerfile). */
  readonly link?: boolean;
  /** Experiment: the cache goes to the image repository (made MUTABLE here), not to a cache repository of its own. */
  readonly cacheInImageRepository?: boolean;
  /**
   * Experiment (issue 16, item 2, the transfer): flags of the synthesized buildspec rewritten before the
   * rounds run: `cacheTo` is appended to the cache export's (`--cache-to`), `minMode` exports `mode=min`.
   * (A compression of both the image and the cache is the registry strategy's `compression` option.)
   */
  readonly flags?: FlagRewrites;
  /** Experiment: a `compression` of the registry strategy (its build definition sets it). */
  readonly compression?: boolean;
}
const BUILDS: Record<string, BuildDefinition> = {
  Registry: { strategy: 'registry', dockerfile: 'Dockerfile', ...DEFAULT_BUILDER },
  RegistryZstd: { strategy: 'registry', dockerfile: 'Dockerfile', ...DEFAULT_BUILDER, compression: { algorithm: 'zstd' } },
  RegistryGzip1: { strategy: 'registry', dockerfile: 'Dockerfile', ...DEFAULT_BUILDER, compression: { algorithm: 'gzip', level: 1 } },
  RegistryCd: { strategy: 'registry', dockerfile: 'Dockerfile' },
  Inline: { strategy: 'inline', dockerfile: 'Dockerfile' },
  Buildah: { strategy: 'buildah', dockerfile: 'Dockerfile' },
  None: { strategy: 'none', dockerfile: 'Dockerfile' },
};
const CONFIGS: Config[] = [
  { name: CONTROL, kind: 'control', engine: 'classic', slug: 'control', minMode: true },
  { name: 'registry: docker-container (default)', build: 'Registry', kind: 'construct', engine: 'classic', slug: 'reg-dc' },
  { name: 'registry: currentDriver, containerd store', build: 'RegistryCd', kind: 'construct', engine: 'cd', slug: 'reg-cd' },
  { name: 'inline', build: 'Inline', kind: 'construct', engine: 'classic', slug: 'inline', minMode: true },
  { name: 'buildah', build: 'Buildah', kind: 'construct', engine: 'buildah', slug: 'buildah' },
  { name: 'none', build: 'None', kind: 'construct', engine: 'classic', slug: 'none', noCache: true },
  // experiments of item 2, on the default configuration
  { name: 'registry: docker-container, app file COPY --link', build: 'Registry', kind: 'construct', engine: 'classic', slug: 'reg-dc-link', link: true },
  { name: 'registry: docker-container, cache in the image repository', build: 'Registry', kind: 'construct', engine: 'classic', slug: 'reg-dc-onerepo', cacheInImageRepository: true },
  { name: 'registry: docker-container, cache zstd', build: 'Registry', kind: 'construct', engine: 'classic', slug: 'reg-dc-czstd', flags: { cacheTo: 'compression=zstd' } },
  // the construct's compression option: LayerCompression.zstd() and LayerCompression.gzip({ level: 1 })
  { name: 'registry: docker-container, cache and image zstd', build: 'RegistryZstd', kind: 'construct', engine: 'classic', slug: 'reg-dc-zstd', compression: true },
  { name: 'registry: docker-container, cache and image gzip level 1', build: 'RegistryGzip1', kind: 'construct', engine: 'classic', slug: 'reg-dc-gz1', compression: true },
  { name: 'registry: docker-container, cache mode=min', build: 'Registry', kind: 'construct', engine: 'classic', slug: 'reg-dc-min', minMode: true, flags: { minMode: true } },
  { name: LIMIT, kind: 'limit', engine: 'classic', slug: 'limit' },
];

/** The seed recipe (moby/buildkit#1981), as the e2e's control runs it; its image goes through the ECR proxy. */
const CONTROL_PHASES: BuildSpecPhases = {
  build: {
    'on-failure': 'ABORT',
    'commands': [
      'docker build --progress=plain --network none --build-arg BASE_IMAGE="$BASE_IMAGE" --cache-from "$SEED_IMAGE:latest" --build-arg BUILDKIT_INLINE_CACHE=1 -t "$SEED_IMAGE:latest" .',
      'docker push "$SEED_IMAGE:latest"',
    ],
  },
};
/** The limit: the same build on a host whose builder keeps its cache, and a push of what is new. */
const LIMIT_PHASES: BuildSpecPhases = {
  build: {
    'on-failure': 'ABORT',
    'commands': [
      'docker build --progress=plain --network none --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$LIMIT_IMAGE:$LIMIT_TAG" .',
      'docker push "$LIMIT_IMAGE:$LIMIT_TAG"',
    ],
  },
};

// ------------------------------------------------------------------ helpers
function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}
function resetDaemon(daemon: Daemon): void { sh('bash', [ENV_SH, 'reset-daemon', daemon]); }
async function traffic(): Promise<Traffic> {
  const r = await fetch(`http://${ECR}${TRAFFIC_PATH}`);
  if (!r.ok) throw new Error(`ECR proxy traffic: HTTP ${r.status}`);
  return (await r.json()) as Traffic;
}
function trafficOf(before: Traffic, after: Traffic, repositories: string[]) {
  const get = (t: Traffic, r: string) => t[r] ?? { up: 0, down: 0, mounts: 0 };
  const d = { up: 0, down: 0, mounts: 0 };
  for (const r of repositories) {
    d.up += get(after, r).up - get(before, r).up;
    d.down += get(after, r).down - get(before, r).down;
    d.mounts += get(after, r).mounts - get(before, r).mounts;
  }
  return d;
}

/** Large files per size and dependency version, generated once per machine (kept under $E2E_ROOT/bench/data). */
function dataFile(bytes: number, which: 'os' | 'deps', depsVersion: number): string {
  const seeds = layerSeeds(bytes, depsVersion);
  const seed = which === 'os' ? seeds.os : seeds.deps;
  const half = which === 'os' ? Math.floor(bytes / 2) : bytes - Math.floor(bytes / 2);
  const dir = path.join(WORK, 'data');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${createHash('sha256').update(`${seed} ${half}`).digest('hex').slice(0, 16)}.bin`);
  if (!fs.existsSync(file) || fs.statSync(file).size !== half) {
    writeSeededFile(`${file}.part`, seed, half);
    fs.renameSync(`${file}.part`, file);
  }
  return file;
}

/** The source directory of an app at a size for one round: Dockerfile, the large files (hard links), the dependency and app files. */
function writeSource(dir: string, app: BenchApp, depsVersion: number, appText: string, link: boolean): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'Dockerfile'), link ? app.dockerfile.replace(/^COPY app\.txt \.$/m, 'COPY --link app.txt .') : app.dockerfile);
  for (const [name, file] of [['os.bin', dataFile(app.bytes, 'os', depsVersion)], ['deps.bin', dataFile(app.bytes, 'deps', depsVersion)]]) {
    fs.rmSync(path.join(dir, name), { force: true });
    fs.linkSync(file, path.join(dir, name));
  }
  fs.writeFileSync(path.join(dir, 'requirements.txt'), `dependency-set-${depsVersion}\n`);
  fs.writeFileSync(path.join(dir, 'app.txt'), `${appText}\n`);
}

function repositoryOf(sizeMb: number, appKey: string, config: Config): string {
  return `bench-${sizeMb}mb-${appKey}-${config.slug}`;
}

// ------------------------------------------------------------------ one round
interface RoundPlan { scenario: BenchScenario; depsVersion: number; index: number }

async function runRound(o: {
  config: Config; project?: SynthesizedProject; app: BenchApp; appKey: string; sizeMb: number; plan: RoundPlan;
}): Promise<BenchRound> {
  const { config, project, app, plan } = o;
  const repository = repositoryOf(o.sizeMb, o.appKey, config);
  const cacheRepository = !project?.repositories.cache ? undefined : config.cacheInImageRepository ? repository : `${repository}-cache`;
  const slug = `${repository}-${plan.scenario}${plan.index}`;
  const dir = path.join(WORK, 'rounds', slug);
  fs.rmSync(dir, { recursive: true, force: true });
  const src = path.join(WORK, 'src', `${o.sizeMb}mb-${o.appKey}`);
  const appText = `${config.name} app, ${plan.scenario} round ${plan.index}`;
  writeSource(src, app, plan.depsVersion, appText, config.link === true);
  const dockerConfig = path.join(dir, 'docker-config');
  fs.mkdirSync(dockerConfig, { recursive: true });
  fs.symlinkSync(PLUGINS_DIR, path.join(dockerConfig, 'cli-plugins'));
  const commit = createHash('sha1').update(`${slug} ${appText} ${plan.depsVersion}`).digest('hex');
  const env: Record<string, string> = {
    ...codeBuildEnvironment({
      binDir: path.join(OUT, 'bin'),
      dockerBinDir: DOCKER_BIN_DIR,
      dir,
      dockerConfig,
      ecrProxy: ECR,
      buildId: `bench-${slug}:${plan.index}`,
      buildNumber: plan.index,
      commit,
      sourceDir: src,
    }),
    CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/main',
    CODEBUILD_WEBHOOK_EVENT: 'PUSH',
  };

  let cleanup = () => {};
  if (config.engine === 'buildah') {
    const host = freshBuildahStorage(path.join(WORK, 'buildah', slug), dir, path.join(OUT, 'registries.conf'));
    // Debian 13's Buildah (1.39): the strategy's version check refuses Debian 12's 1.28 (its cache misses after an in-stage ARG)
    Object.assign(env, host.env, { PATH: `${BUILDAH_TRIXIE_BIN_DIR}:${env.PATH}`, E2E_BUILDAH_BINDS: OUT });
    cleanup = host.cleanup;
  } else {
    env.DOCKER_HOST = DAEMONS[config.engine];
    // the limit keeps its host from round to round: only its first (cold) round starts fresh
    if (config.kind !== 'limit' || plan.scenario === 'cold') resetDaemon(config.engine);
  }
  let phases: BuildSpecPhases;
  if (config.kind === 'control') {
    phases = CONTROL_PHASES;
    Object.assign(env, { DOCKER_BUILDKIT: '1', SEED_IMAGE: `${ECR}/${repository}`, BASE_IMAGE: `${REGISTRY}/base:1` });
  } else if (config.kind === 'limit') {
    phases = LIMIT_PHASES;
    Object.assign(env, { DOCKER_BUILDKIT: '1', LIMIT_IMAGE: `${ECR}/${repository}`, LIMIT_TAG: commit, BASE_IMAGE: `${REGISTRY}/base:1` });
  } else {
    phases = project!.buildSpec.phases as BuildSpecPhases;
    if (config.flags) phases = withFlags(phases, config.flags);
    const overrides: Record<string, string> = { CIB_IMAGE_REPOSITORY_URI: `${ECR}/${repository}` };
    if (cacheRepository) {
      overrides.CIB_CACHE_REPOSITORY_URI = `${ECR}/${cacheRepository}`;
      if ('CIB_CACHE_REPOSITORY_NAME' in project!.environment) overrides.CIB_CACHE_REPOSITORY_NAME = cacheRepository;
    }
    Object.assign(env, projectEnvironment(project!, overrides));
  }
  const logFile = path.join(dir, 'build.log');
  const before = await traffic();
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const result = await runBuildSpec({ phases, env, sourceDir: src, workDir: path.join(dir, 'runner'), logFile });
  const moved = trafficOf(before, await traffic(), [...new Set([repository, ...(cacheRepository ? [cacheRepository] : [])])]);
  cleanup();
  const log = fs.readFileSync(logFile, 'utf8');
  const summary = /^cache: (\d+)\/(\d+) steps cached/m.exec(log);
  const records = config.engine === 'buildah' ? parseBuildahLog(log) : parseBuildKitLog(log);
  const cached = summary ? Number(summary[1]) : countCached(records);
  const steps = summary ? Number(summary[2]) : records.length;
  const expectedCached = plan.scenario === 'cold' || config.noCache ? 0
    : plan.scenario === 'deps' ? (config.minMode && app.multiStage ? 1 : app.unchangedOnDepsChange)
      : config.minMode ? app.finalStageUnchangedOnAppChange : app.unchangedOnAppChange;
  const round: BenchRound = {
    app: APPS[o.appKey].label,
    bytes: app.bytes,
    config: config.name,
    scenario: plan.scenario,
    exitCode: result.exitCode,
    seconds: result.seconds,
    phases: phaseTimes(result.timed, result.seconds),
    cached,
    steps,
    expectedCached,
    ...moved,
  };
  console.log(`${sizeLabel(app.bytes)} ${o.appKey} ${config.name} ${plan.scenario}${plan.index}: exit ${result.exitCode}, ${result.seconds.toFixed(1)} s, ` +
    `cached ${cached}/${steps} (can ${expectedCached}), up ${(moved.up / 1e6).toFixed(1)} MB, down ${(moved.down / 1e6).toFixed(1)} MB, mounts ${moved.mounts}, load ${load}`);
  if (result.exitCode !== 0) {
    console.log(`  FAILED: ${result.failedCommand}\n  ${log.trim().split('\n').slice(-15).join('\n  ')}\n  (log ${logFile})`);
  }
  return round;
}

function rounds(warm: number): RoundPlan[] {
  return [
    { scenario: 'cold', depsVersion: 1, index: 1 },
    ...Array.from({ length: warm }, (_, i) => ({ scenario: 'app' as const, depsVersion: 1, index: i + 1 })),
    { scenario: 'deps', depsVersion: 2, index: 1 },
  ];
}

// ------------------------------------------------------------------ the machine
function machine(): string {
  const cpu = (/^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8')) ?? [])[1] ?? 'unknown CPU';
  const kernel = os.release();
  const mem = (os.totalmem() / 2 ** 30).toFixed(1);
  const disk = spawnSync('df', ['-h', '--output=source,fstype,size', WORK], { encoding: 'utf8' }).stdout.trim().split('\n').pop() ?? '';
  const osName = (/^PRETTY_NAME="?([^"\n]*)/m.exec(fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '') ?? [])[1] ?? os.type();
  return `${os.cpus().length} × ${cpu}, ${mem} GiB RAM, ${osName}, Linux ${kernel}, disk ${disk.replace(/\s+/g, ' ')}; registry (distribution 2.8) and ECR proxy on 127.0.0.1`;
}

// ------------------------------------------------------------------ main
async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const loadStart = fs.readFileSync('/proc/loadavg', 'utf8').trim();
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  fs.rmSync(path.join(WORK, 'rounds'), { recursive: true, force: true });
  fs.rmSync(path.join(WORK, 'src'), { recursive: true, force: true });
  installAwsStandIn(path.join(OUT, 'bin'));
  fs.writeFileSync(path.join(OUT, 'registries.conf'), [REGISTRY, ECR].map((r) => `[[registry]]\nlocation = "${r}"\ninsecure = true\n`).join('\n'));
  // the quick (CI) variant leaves the experiments out unless --only names them
  const experiment = (c: Config) => c.link === true || c.cacheInImageRepository === true || c.flags !== undefined || c.compression === true;
  const configs = CONFIGS.filter((c) => c.kind === 'limit' || (opts.only ? opts.only.test(c.name) : !(opts.quick && experiment(c))));
  const projects = synthesize(path.join(OUT, 'cdk.out'), `${REGISTRY}/base:1`, BUILDS);

  // every repository of the run exists behind the proxy, configured as the template creates it
  const repositories: Record<string, RepositorySettings> = {};
  for (const sizeMb of opts.sizes) {
    for (const appKey of opts.apps) {
      for (const c of configs) {
        const r = repositoryOf(sizeMb, appKey, c);
        const p = c.build ? projects[c.build] : undefined;
        repositories[r] = p && !c.cacheInImageRepository ? p.repositories.image : { imageTagMutability: 'MUTABLE' };
        if (p?.repositories.cache && !c.cacheInImageRepository) repositories[`${r}-cache`] = p.repositories.cache;
      }
    }
  }
  const ecr = await startEcrProxyProcess({ listen: ECR, upstream: REGISTRY, config: { registryId: '123456789012', repositories }, dir: OUT });
  const results: BenchRound[] = [];
  const loads: number[] = [];
  const names = configs.filter((c) => c.kind !== 'limit').map((c) => c.name);
  const write = (sizes: number[]) => {
    const md = report({
      opts: { ...opts, sizes },
      requested: opts.sizes,
      results,
      configs: names,
      seconds: (Date.now() - t0) / 1000,
      loads,
      loadStart,
      loadEnd: fs.readFileSync('/proc/loadavg', 'utf8').trim(),
    });
    fs.mkdirSync(path.dirname(opts.report), { recursive: true });
    fs.writeFileSync(opts.report, md);
    fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
    return md;
  };
  const done: number[] = [];
  try {
    for (const sizeMb of opts.sizes) {
      for (const appKey of opts.apps) {
        const app = benchApp({ bytes: Math.round(sizeMb * 1e6), steps: APPS[appKey].steps, multiStage: APPS[appKey].multiStage });
        for (const config of configs) {
          for (const plan of rounds(opts.warm)) {
            loads.push(Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
            results.push(await runRound({ config, project: config.build ? projects[config.build] : undefined, app, appKey, sizeMb, plan }));
          }
        }
      }
      // a run stopped at a larger size still leaves the report of the sizes that finished
      done.push(sizeMb);
      if (done.length < opts.sizes.length) write(done);
    }
  } finally {
    ecr.stop();
  }
  const seconds = (Date.now() - t0) / 1000;

  const failed = results.filter((r) => r.exitCode !== 0);
  const notWarm = results.filter((r) => r.exitCode === 0 && r.scenario !== 'cold' && r.config !== CONTROL && r.cached < r.expectedCached);
  const md = write(opts.sizes);
  console.log(`\n${md}\nwrote ${opts.report} (${seconds.toFixed(0)} s)`);
  for (const r of failed) console.log(`FAILED: ${sizeLabel(r.bytes)} ${r.app} ${r.config} ${r.scenario}: exit ${r.exitCode} (logs under ${path.join(WORK, 'rounds')})`);
  for (const r of notWarm) console.log(`FAILED: ${sizeLabel(r.bytes)} ${r.app} ${r.config} ${r.scenario}: cached ${r.cached} of ${r.expectedCached} possible steps: the round was not warm`);
  return failed.length + notWarm.length === 0 ? 0 : 1;
}

interface ReportInput {
  opts: Options;
  results: BenchRound[];
  configs: string[];
  seconds: number;
  loads: number[];
  loadStart: string;
  loadEnd: string;
  /** The sizes the run was asked for (more than opts.sizes when written before the end). */
  requested: number[];
}
function report(o: ReportInput): string {
  const { opts, results, configs } = o;
  const apps = opts.apps.map((a) => APPS[a].label);
  const chartApp = apps[0];
  const svgName = `${path.basename(opts.report, '.md')}-warm.svg`;
  fs.writeFileSync(path.join(path.dirname(opts.report), svgName), warmChart(`Warm rebuild (app change, median) against image size: ${chartApp}`, results, chartApp, configs));
  const versions = fs.existsSync(path.join(E2E_ROOT, 'pkgs', 'versions.txt')) ? fs.readFileSync(path.join(E2E_ROOT, 'pkgs', 'versions.txt'), 'utf8').trim() : '';
  const loadMin = Math.min(...o.loads), loadMax = Math.max(...o.loads);
  // arguments a shell would split or interpret are quoted, so that the command can be run again as written
  const args = process.argv.slice(2).filter((a) => a !== '--quick').map((a) => /^[\w.,=/:+@%-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  const command = `npm run bench${opts.quick ? ':quick' : ''}${args.length ? ` -- ${args.join(' ')}` : ''}`;
  const goal = opts.sizes.map((s) => {
    const b = Math.round(s * 1e6);
    const limit = limitOf(results, apps[0], b).total;
    return `| ${sizeLabel(b)} | ${configs.map((c) => ratio(medianSeconds(results, apps[0], b, c, 'app'), limit)).join(' | ')} | ${limit.toFixed(2)} s | ${limitOf(results, apps[0], b).push.toFixed(2)} s |`;
  });
  return [
    '# Benchmarks: warm rebuilds as images grow',
    '',
    `Generated by \`${command}\` (test/e2e/bench.ts) in ${(o.seconds / 60).toFixed(1)} min. Do not edit: run the command again.`,
    '',
    ...(o.requested.length > opts.sizes.length
      ? [`**Partial**: sizes ${o.requested.map((s) => sizeLabel(s * 1e6)).join(', ')} requested; written after ${sizeLabel(opts.sizes[opts.sizes.length - 1] * 1e6)}, the last size that finished (a run stopped later leaves this report).`, '']
      : []),
    `**Machine**: ${machine()}. Load average (1 min) at the start of each round: ${loadMin.toFixed(2)} to ${loadMax.toFixed(2)} ` +
      `(start of the run \`${o.loadStart}\`, end \`${o.loadEnd}\`). The machine is shared: absolute times are noisy, the ratios of one run ` +
      'compare configurations measured under the same load.',
    '',
    '**What runs**: the e2e environment (test/e2e/env/env.sh: dockerd 26.1 with the classic store as on CodeBuild, a containerd-store dockerd, ' +
      'the BuildKit image from Debian sources, Buildah 1.28, distribution 2.8 behind the ECR proxy), the construct\'s synthesized buildspecs run ' +
      'by the e2e\'s CodeBuild emulation (test/e2e/lib/codebuild.ts). Every round of a configuration starts on a fresh host (engine pruned, ' +
      'new Buildah storage, new client configuration), as every CodeBuild build does; the **same-host limit** runs the same build with ' +
      '`docker build` + `docker push` on one classic-store engine that is never reset, so its warm round rebuilds only the changed steps and ' +
      'pushes only the new layer.',
    '',
    '**Apps** (test/e2e/lib/bench-app.ts): large layers of seeded pseudo-random (incompressible) bytes, half an OS layer copied before the ' +
      'dependency file, half a dependency layer that changes with it; small `RUN` steps up to the step count; the app file last. Multi-stage: the ' +
      'same build stage ending in a step that makes a small artifact, and a runtime stage with only the artifact. Scenarios: **cold** (empty ' +
      `cache repository), **app change** (only the app file; ${opts.warm} round${opts.warm > 1 ? 's, median' : ''}), **dependency change** ` +
      '(the dependency file and layer).',
    '',
    '**Bytes** are counted at the ECR proxy for the configuration\'s image and cache repositories (the base image and the BuildKit image ' +
      'come from the registry directly and are not counted). `!` after the cache hits: fewer than possible (the control\'s known alternation).',
    '',
    `## Warm rebuild against the limit (${apps[0]})`,
    '',
    `| size | ${configs.join(' | ')} | limit (same-host rebuild) | limit: push of the new layer |`,
    `|---|${configs.map(() => '---').join('|')}|---|---|`,
    ...goal,
    '',
    `![warm rebuild time against image size](${svgName})`,
    '',
    ...opts.sizes.flatMap((s) => {
      const b = Math.round(s * 1e6);
      return [
        `## ${sizeLabel(b)}`,
        '',
        sizeTable(results, b, apps, configs),
        '',
        `### ${sizeLabel(b)}: phases of the warm rounds (median s)`,
        '',
        phaseTable(results, b, apps, configs),
        '',
      ];
    }),
    'Phases (test/e2e/lib/phases.ts): builder start = `docker buildx create --bootstrap` (BuildKit image pull included); cache import = ' +
      'BuildKit\'s `importing cache manifest` vertices, Buildah\'s cache pulls; steps = the Dockerfile step vertices, first line to last (layer ' +
      'downloads and extraction of cached steps happen here); push = `exporting to image` with push, or `docker push` / `buildah push`; cache ' +
      'export = `exporting cache to registry`, the inline cache-tag push, Buildah\'s cache pushes.',
    '',
    ['```', versions, '```', ''].join('\n'),
  ].join('\n');
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(2);
});

/**
 * End-to-end proof: executes the buildspecs that CachedImageBuild synthesizes, round after round,
 * against real Docker engines, Buildah and a registry on 127.0.0.1, and counts cache hits.
 *
 * Started by run.sh (which sets up the environment with env/env.sh and exports its variables).
 * Exits non-zero when any check fails: an expected cache hit missed, a build or push failed,
 * the pushed image does not run the new app file, or the control stopped alternating.
 */
import { spawn, spawnSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { codeBuildEnvironment, freshBuildahStorage } from './lib/build-host';
import { StepRecord, countCached, markerContradictions, parseBuildKitLog, parseBuildahLog } from './lib/buildkit-log';
import { BuildSpecPhases, runBuildSpec } from './lib/codebuild';
import { ecrFidelityChecks } from './lib/ecr-checks';
import { installAwsStandIn, startEcrProxyProcess } from './lib/ecr-env';
import { EcrProxyConfig, RepositorySettings } from './lib/ecr-proxy';
import { PushedImage, judgeExecution, logDisagreements, verdictMask } from './lib/execution';
import { MultiArchResult, multiArchTable, runMultiArch } from './lib/multi-arch';
import { phaseTimes } from './lib/phases';
import { Registry } from './lib/registry';
import { RoundResult, markdownTable, phaseTable, svgChart } from './lib/report';
import { FORCED_STEPS, PROVENANCE_STEPS, REPRO_STEPS, RERUN_STEPS, RerunConfig, RerunHost, RerunResult, measureReproducibility, rerunTable, runReruns } from './lib/reruns';
import { BuildDefinition, SynthesizedProject, projectEnvironment, synthesize } from './lib/stack';
import { modelBuild } from '../helpers/build-context-model';

// ------------------------------------------------------------------ environment (from env.sh vars)
function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the harness through test/e2e/run.sh`);
  return v;
}
const REGISTRY = need('REGISTRY');
const DOCKER_BIN_DIR = need('DOCKER_BIN_DIR');
const DOCKER20_BIN_DIR = need('DOCKER20_BIN_DIR');
const PLUGINS_DIR = path.join(need('DOCKER_CONFIG'), 'cli-plugins');
const E2E_ROOT = need('E2E_ROOT');
const DAEMONS = { cd: need('DOCKER_HOST_CD'), classic: need('DOCKER_HOST_CLASSIC'), classic2: need('DOCKER_HOST_CLASSIC2'), d20: need('DOCKER_HOST_D20') };
/** The BuildKit image built from Debian sources by env/buildkit-image.sh, in the local registry, by digest. */
const BUILDKIT_IMAGE = need('BUILDKIT_IMAGE');
/** Debian 13's Buildah 1.39 (env/buildah-trixie.sh): the wrapper's directory, put first on a build's PATH. */
const BUILDAH_TRIXIE_BIN_DIR = need('BUILDAH_TRIXIE_BIN_DIR');
type Daemon = keyof typeof DAEMONS;
type Engine = Daemon | 'buildah';
const ENV_SH = path.join(__dirname, 'env', 'env.sh');
const OUT = path.resolve(__dirname, 'out');
const SAMPLE_APP = path.join(__dirname, 'sample-app');
const READONLY_REGISTRY = `127.0.0.1:${Number(process.env.E2E_READONLY_REGISTRY_PORT ?? '5001')}`;
/** A port nothing listens on (checked at start). */
const UNREACHABLE_REGISTRY = `127.0.0.1:${Number(process.env.E2E_UNREACHABLE_REGISTRY_PORT ?? '5999')}`;
/** Only the configurations whose name matches (for working on the harness; CI runs them all). */
const ONLY = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : undefined;
/** The ECR proxy (lib/ecr-proxy.ts) in front of REGISTRY: the construct's repositories are behind it. */
const ECR = `127.0.0.1:${Number(process.env.E2E_ECR_PROXY_PORT ?? Number(REGISTRY.split(':')[1]) + 2)}`;

// ------------------------------------------------------------------ checks
const checks: { name: string; ok: boolean; detail: string }[] = [];
function check(name: string, ok: boolean, detail = ''): boolean {
  checks.push({ name, ok, detail });
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  return ok;
}

// ------------------------------------------------------------------ sample apps
type SourceFile = 'app.txt' | 'requirements.txt';
interface SampleApp {
  readonly dockerfile: string;
  /** What the built image prints when run: the app file by default. */
  readonly output?: (app: string) => string;
  /** Steps after FROM, as BuildKit and Buildah report them. */
  readonly steps: number;
  /** Steps of the final stage (after its FROM): their layers are in the pushed image. */
  readonly finalSteps: number;
  /** Steps whose inputs did not change when `changed` files changed (all stages). */
  unchanged(changed: SourceFile[]): number;
}
const SINGLE: SampleApp = {
  dockerfile: 'Dockerfile',
  // WORKDIR, RUN slow, COPY requirements.txt, RUN deps, RUN configure, COPY app.txt
  steps: 6,
  finalSteps: 6,
  unchanged: (changed) => (changed.includes('requirements.txt') ? 2 : changed.includes('app.txt') ? 5 : 6),
};
const MULTI: SampleApp = {
  dockerfile: 'Dockerfile.multistage',
  // build: WORKDIR, COPY requirements.txt, RUN slow, COPY app.txt, RUN compile; runtime: WORKDIR, COPY --from
  steps: 7,
  finalSteps: 2,
  unchanged: (changed) => (changed.includes('requirements.txt') ? 2 : changed.includes('app.txt') ? 4 : 7),
};

/** A random build secret for this run: the harness checks it is used and never stored or logged. */
const SECRET = `e2e-${randomBytes(24).toString('hex')}`;
const SECRET_APP: SampleApp = {
  dockerfile: 'Dockerfile.secret',
  output: () => String(SECRET.length),
  // WORKDIR, RUN with the secret mounted, COPY app.txt
  steps: 3,
  finalSteps: 3,
  unchanged: (changed) => (changed.includes('app.txt') ? 2 : 3),
};

// ------------------------------------------------------------------ scenarios
interface Scenario {
  readonly round: number;
  readonly label: string;
  readonly branch: string;
  /** Files changed since the previous round. */
  readonly changed: SourceFile[];
  /** The cache holds nothing usable for this round. */
  readonly cold?: boolean;
  /** The cache repository is served read-only (writes refused). */
  readonly readonlyCache?: boolean;
  /** Empty the cache repository before the round. */
  readonly emptyCache?: boolean;
  /** A fault injected for the round. */
  readonly fault?: 'delete-cache-tag' | 'garbage-cache' | 'unreachable-cache' | 'concurrent';
  /** Webhook variables of the round, instead of a push of `branch` (pull requests, git tags). */
  readonly webhook?: Record<string, string>;
  /** The tag the build must push and export as IMAGE_TAG (default: the commit). */
  readonly imageTag?: string;
}

/**
 * Pull requests, git tags and a non-ASCII branch, after main's cache exists (issue 9): each builds
 * from main's cache; none may change main's cache or move `latest`; main's next build hits every
 * unchanged step.
 */
const EVENT_SCENARIOS: Scenario[] = [
  {
    round: 18,
    label: 'pull request #123 from a fork\'s main, app changed',
    branch: 'pr-123',
    changed: ['app.txt'],
    imageTag: 'pr-123',
    webhook: { CODEBUILD_WEBHOOK_EVENT: 'PULL_REQUEST_CREATED', CODEBUILD_WEBHOOK_TRIGGER: 'pr/123', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/main', CODEBUILD_WEBHOOK_BASE_REF: 'refs/heads/main' },
  },
  { round: 19, label: 'app file changed on main (after the pull request)', branch: 'main', changed: ['app.txt'] },
  {
    round: 20,
    label: 'git tag v1.2.3, app changed',
    branch: 'v1.2.3',
    changed: ['app.txt'],
    imageTag: 'v1.2.3',
    webhook: { CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: 'tag/v1.2.3', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/tags/v1.2.3' },
  },
  { round: 21, label: 'branch ブランチ (non-ASCII), app changed', branch: 'ブランチ', changed: ['app.txt'] },
  { round: 22, label: 'app file changed on main (after the tag and the branch)', branch: 'main', changed: ['app.txt'] },
];

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
const FIRST_FIVE = SCENARIOS.slice(0, 5);
/** Faults the default strategy must survive: the build succeeds, the image is pushed, nothing is lost. */
const FAULTS: Scenario[] = [
  { round: 12, label: 'fault: default-branch cache manifest deleted', branch: 'main', changed: ['app.txt'], cold: true, fault: 'delete-cache-tag' },
  { round: 13, label: 'fault: cache manifest replaced by garbage', branch: 'main', changed: ['app.txt'], cold: true, fault: 'garbage-cache' },
  { round: 14, label: 'app file changed (after the garbage)', branch: 'main', changed: ['app.txt'] },
  { round: 15, label: 'fault: cache registry unreachable (import and export)', branch: 'main', changed: ['app.txt'], cold: true, fault: 'unreachable-cache' },
  { round: 16, label: 'fault: two builds of main at the same time', branch: 'main', changed: ['app.txt'], fault: 'concurrent' },
  { round: 17, label: 'app file changed (after the concurrent builds)', branch: 'main', changed: ['app.txt'] },
];

/** One column of the results: a CachedImageBuild (or the control) on one engine. */
interface Config {
  readonly name: string;
  /** Construct id in the test stack. */
  readonly build: string;
  readonly strategy: BuildDefinition['strategy'];
  readonly engine: Engine;
  readonly sample: SampleApp;
  readonly scenarios: Scenario[];
  /** Repository name in the local registry (the cache repository is `<name>-cache`). */
  readonly repository: string;
  /**
   * Cached steps expected in a warm round, when not every unchanged step: inline cache is
   * min-mode and caches only the final stage of a multi-stage Dockerfile.
   */
  readonly warmHits?: number;
  /** The build must fail, with a log matching this. */
  readonly expectFailure?: RegExp;
  /** Cache repository to use instead of `<repository>-cache`. */
  readonly cacheRepository?: string;
  /** Version of the dependency file in round 1 (default 1). */
  readonly initialDeps?: number;
  /** The CACHED count is reported, not asserted, for this reason. */
  readonly hitsNotAsserted?: string;
  /**
   * Where the second of two concurrent builds runs: on CodeBuild they run on two hosts (a second
   * classic engine here); with the engine's own builder both share one engine.
   */
  readonly concurrentEngine?: Engine;
  /** Buildah: a directory put first on the build's PATH, holding another `buildah` (default: Debian 12's /usr/bin/buildah). */
  readonly buildahBinDir?: string;
  /** Why `warmHits` differs from every unchanged step (default: min-mode inline cache). */
  readonly warmHitsReason?: string;
}

/**
 * What the docker-container builder needs here, as construct options: the engines have no bridge
 * network (so the builder shares the host's, where the registries are on 127.0.0.1), and the
 * registries speak plain HTTP (ECR speaks HTTPS with a public CA, which needs neither option).
 */
const BUILDER_HERE = {
  builderNetwork: 'host',
  buildkitdConfig: [REGISTRY, READONLY_REGISTRY, UNREACHABLE_REGISTRY].map((r) => `[registry."${r}"]\n  http = true\n`).join(''),
};
const DEFAULT_BUILDER = { builderImage: BUILDKIT_IMAGE, ...BUILDER_HERE };
/** Names of the two registry-strategy configurations. */
const REG_DC = 'registry: docker-container (default)';
const REG_CD = 'registry: currentDriver, containerd store';

const BUILDS: Record<string, BuildDefinition> = {
  Registry: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER },
  RegistryCd: { strategy: 'registry', dockerfile: SINGLE.dockerfile },
  Inline: { strategy: 'inline', dockerfile: SINGLE.dockerfile },
  Buildah: { strategy: 'buildah', dockerfile: SINGLE.dockerfile, allowOlderBuildah: true },
  BuildahNew: { strategy: 'buildah', dockerfile: SINGLE.dockerfile },
  None: { strategy: 'none', dockerfile: SINGLE.dockerfile },
  RegistryMulti: { strategy: 'registry', dockerfile: MULTI.dockerfile, ...DEFAULT_BUILDER },
  RegistryMultiCd: { strategy: 'registry', dockerfile: MULTI.dockerfile },
  InlineMulti: { strategy: 'inline', dockerfile: MULTI.dockerfile },
  BuildahMulti: { strategy: 'buildah', dockerfile: MULTI.dockerfile, allowOlderBuildah: true },
  BuildahMultiNew: { strategy: 'buildah', dockerfile: MULTI.dockerfile },
  RegistrySecret: { strategy: 'registry', dockerfile: SECRET_APP.dockerfile, secret: true, ...DEFAULT_BUILDER },
  RegistrySecretCd: { strategy: 'registry', dockerfile: SECRET_APP.dockerfile, secret: true },
  InlineSecret: { strategy: 'inline', dockerfile: SECRET_APP.dockerfile, secret: true },
  BuildahSecret: { strategy: 'buildah', dockerfile: SECRET_APP.dockerfile, secret: true, allowOlderBuildah: true },
  // The BuildKit image cannot be pulled (nothing under that name in the registry).
  NoBuilder: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...BUILDER_HERE, builderImage: `${REGISTRY}/missing/buildkit:none` },
  NoBuilderFallback: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...BUILDER_HERE, builderImage: `${REGISTRY}/missing/buildkit:none`, fallbackToEngineBuilder: true },
};

/**
 * Buildah at the harness's version (Debian 12's 1.28.2, built with allowOlderBuildah) and at a recent one
 * (Debian 13's 1.39.3). 1.28 misses the remote cache for every step after the in-stage ARG of the sample
 * apps (containers/buildah#4315, fixed in 1.29): every warm round, exactly.
 */
const BUILDAH_NEW = 'buildah 1.39 (Debian 13)';
const BUILDAH_128 = { warmHits: 0, warmHitsReason: ' (Buildah 1.28: every step after the ARG inside the stage misses, containers/buildah#4315)' };

const SINGLE_CONFIGS: Config[] = [
  { name: REG_DC, build: 'Registry', strategy: 'registry', engine: 'classic', sample: SINGLE, scenarios: [...SCENARIOS, ...FAULTS, ...EVENT_SCENARIOS], repository: 'e2e-registry', concurrentEngine: 'classic2' },
  { name: REG_CD, build: 'RegistryCd', strategy: 'registry', engine: 'cd', sample: SINGLE, scenarios: [...SCENARIOS, ...FAULTS], repository: 'e2e-registry-cd' },
  { name: 'inline', build: 'Inline', strategy: 'inline', engine: 'classic', sample: SINGLE, scenarios: [...SCENARIOS, ...EVENT_SCENARIOS], repository: 'e2e-inline' },
  { name: 'inline, Docker 20.10', build: 'Inline', strategy: 'inline', engine: 'd20', sample: SINGLE, scenarios: SCENARIOS, repository: 'e2e-inline20' },
  // Not the refused-writes round with 1.28: its first attempt stops at the in-stage ARG (the first step whose
  // cache push is refused), so the build's count of that attempt holds no step (see docs/strategies.md).
  { name: 'buildah', build: 'Buildah', strategy: 'buildah', engine: 'buildah', sample: SINGLE, scenarios: SCENARIOS.filter((x) => !x.readonlyCache), repository: 'e2e-buildah', ...BUILDAH_128 },
  { name: BUILDAH_NEW, build: 'BuildahNew', strategy: 'buildah', engine: 'buildah', sample: SINGLE, scenarios: SCENARIOS, repository: 'e2e-buildah-new', buildahBinDir: BUILDAH_TRIXIE_BIN_DIR },
  { name: 'none', build: 'None', strategy: 'none', engine: 'classic', sample: SINGLE, scenarios: SCENARIOS.slice(0, 3), repository: 'e2e-none' },
];
const SECRET_CONFIGS: Config[] = [
  { name: REG_DC, build: 'RegistrySecret', strategy: 'registry', engine: 'classic', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-registry' },
  { name: REG_CD, build: 'RegistrySecretCd', strategy: 'registry', engine: 'cd', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-registry-cd' },
  { name: 'inline', build: 'InlineSecret', strategy: 'inline', engine: 'classic', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-inline' },
  { name: 'inline, Docker 20.10', build: 'InlineSecret', strategy: 'inline', engine: 'd20', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-inline20' },
  { name: 'buildah', build: 'BuildahSecret', strategy: 'buildah', engine: 'buildah', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-buildah' },
];
/** The BuildKit image cannot be pulled, on CodeBuild's (classic-store) engine. */
const BUILDER_CONFIGS: Config[] = [
  {
    name: 'builder image missing',
    build: 'NoBuilder',
    strategy: 'registry',
    engine: 'classic',
    sample: SINGLE,
    scenarios: SCENARIOS.slice(0, 1),
    repository: 'e2e-nobuilder',
    expectFailure: /^error: could not start a BuildKit builder from the image 127\.0\.0\.1:\d+\/missing\/buildkit:none \(docker buildx create failed, above\)\. If the image pull was refused/m,
  },
  // Imports the registry strategy's cache (from the single-stage rounds) with the engine's builder.
  {
    name: 'builder image missing, fallbackToEngineBuilder',
    build: 'NoBuilderFallback',
    strategy: 'registry',
    engine: 'classic',
    sample: SINGLE,
    scenarios: [{ round: 1, label: 'app file changed, builder fallback', branch: 'main', changed: ['app.txt'] }],
    repository: 'e2e-fallback',
    cacheRepository: 'e2e-registry-cache',
    // Same dependency file as the registry configuration's last build: only the app file differs.
    initialDeps: 2,
    hitsNotAsserted: 'the classic store builder imports the registry cache, but one early run reused none of it: reported, not asserted',
    // the cache of the default (docker-container) configuration, which ran just before
  },
];
const MULTI_CONFIGS: Config[] = [
  { name: REG_DC, build: 'RegistryMulti', strategy: 'registry', engine: 'classic', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-registry' },
  { name: REG_CD, build: 'RegistryMultiCd', strategy: 'registry', engine: 'cd', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-registry-cd' },
  { name: 'inline', build: 'InlineMulti', strategy: 'inline', engine: 'classic', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-inline', warmHits: 1 },
  { name: 'buildah', build: 'BuildahMulti', strategy: 'buildah', engine: 'buildah', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-buildah', ...BUILDAH_128 },
  { name: BUILDAH_NEW, build: 'BuildahMultiNew', strategy: 'buildah', engine: 'buildah', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-buildah-new', buildahBinDir: BUILDAH_TRIXIE_BIN_DIR },
];
// ------------------------------------------------------------------ long Dockerfiles (issue 17)
// More than ten instructions per stage: BuildKit pads the step numbers ("[ 2/15]", "[build  2/14]"),
// which the build's cache report must read. Every strategy, with exact hits per round.
const LONG: SampleApp = {
  dockerfile: 'Dockerfile.long',
  // WORKDIR, 4 RUN, COPY requirements.txt, 4 RUN, COPY app.txt, 3 RUN (LABEL and ENV are not steps)
  steps: 14,
  finalSteps: 14,
  unchanged: (changed) => (changed.includes('requirements.txt') ? 5 : changed.includes('app.txt') ? 10 : 14),
};
const LONG_MULTI: SampleApp = {
  dockerfile: 'Dockerfile.long-multistage',
  // build: 13 steps (COPY requirements.txt 5th, COPY app.txt 10th); runtime: 9 independent steps, 2 COPY --from, 1 RUN
  steps: 25,
  // runtime: WORKDIR, 8 RUN, 2 COPY --from, 1 RUN (LABEL and ENV are not steps)
  finalSteps: 12,
  unchanged: (changed) => 9 + (changed.includes('requirements.txt') ? 4 : changed.includes('app.txt') ? 9 : 16),
};
const LONG_SCENARIOS: Scenario[] = [
  { round: 1, label: 'cold build', branch: 'main', changed: [], cold: true },
  { round: 2, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 3, label: 'dependency file changed', branch: 'main', changed: ['requirements.txt'] },
];
Object.assign(BUILDS, {
  RegistryLong: { strategy: 'registry', dockerfile: LONG.dockerfile },
  InlineLong: { strategy: 'inline', dockerfile: LONG.dockerfile },
  BuildahLong: { strategy: 'buildah', dockerfile: LONG.dockerfile, allowOlderBuildah: true },
  RegistryLongMulti: { strategy: 'registry', dockerfile: LONG_MULTI.dockerfile },
  InlineLongMulti: { strategy: 'inline', dockerfile: LONG_MULTI.dockerfile },
  BuildahLongMulti: { strategy: 'buildah', dockerfile: LONG_MULTI.dockerfile, allowOlderBuildah: true },
});
/** Per table: the configurations. Inline cache is min-mode: only the runtime stage's 9 independent steps hit. */
const LONG_TABLES: { title: string; table: string; sample: SampleApp; configs: Config[] }[] = [
  {
    title: 'Long sample app (14 steps after FROM in one stage; 10 unchanged when the app file changes, 5 when the dependency file does)',
    table: 'long',
    sample: LONG,
    configs: [
      { name: 'registry', build: 'RegistryLong', strategy: 'registry', engine: 'cd', sample: LONG, scenarios: LONG_SCENARIOS, repository: 'e2e-long-registry' },
      { name: 'inline', build: 'InlineLong', strategy: 'inline', engine: 'classic', sample: LONG, scenarios: LONG_SCENARIOS, repository: 'e2e-long-inline' },
      { name: 'inline, Docker 20.10', build: 'InlineLong', strategy: 'inline', engine: 'd20', sample: LONG, scenarios: LONG_SCENARIOS, repository: 'e2e-long-inline20' },
      { name: 'buildah', build: 'BuildahLong', strategy: 'buildah', engine: 'buildah', sample: LONG, scenarios: LONG_SCENARIOS, repository: 'e2e-long-buildah' },
    ],
  },
  {
    title: 'Long multi-stage sample app (13 + 12 steps after FROM; 18 unchanged when the app file changes, 13 when the dependency file does)',
    table: 'long multi-stage',
    sample: LONG_MULTI,
    configs: [
      { name: 'registry', build: 'RegistryLongMulti', strategy: 'registry', engine: 'cd', sample: LONG_MULTI, scenarios: LONG_SCENARIOS, repository: 'e2e-long-ms-registry' },
      { name: 'inline', build: 'InlineLongMulti', strategy: 'inline', engine: 'classic', sample: LONG_MULTI, scenarios: LONG_SCENARIOS, repository: 'e2e-long-ms-inline', warmHits: 9 },
      { name: 'inline, Docker 20.10', build: 'InlineLongMulti', strategy: 'inline', engine: 'd20', sample: LONG_MULTI, scenarios: LONG_SCENARIOS, repository: 'e2e-long-ms-inline20', warmHits: 9 },
      { name: 'buildah', build: 'BuildahLongMulti', strategy: 'buildah', engine: 'buildah', sample: LONG_MULTI, scenarios: LONG_SCENARIOS, repository: 'e2e-long-ms-buildah' },
    ],
  },
];

// ------------------------------------------------------------------ re-runs (issue 10)
Object.assign(BUILDS, {
  RerunRegistry: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER },
  RerunInline: { strategy: 'inline', dockerfile: SINGLE.dockerfile },
  RerunBuildah: { strategy: 'buildah', dockerfile: SINGLE.dockerfile },
  RerunProvenance: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, provenance: true },
  RerunForced: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, rebuildExistingImages: true },
});
const RERUN_CONFIGS: RerunConfig[] = [
  { name: 're-runs, registry (docker-container)', build: 'RerunRegistry', engine: 'classic', repository: 'e2e-rerun-registry', steps: RERUN_STEPS },
  { name: 're-runs, inline', build: 'RerunInline', engine: 'classic', repository: 'e2e-rerun-inline', steps: RERUN_STEPS },
  { name: 're-runs, buildah', build: 'RerunBuildah', engine: 'buildah', repository: 'e2e-rerun-buildah', steps: RERUN_STEPS },
  { name: 're-runs, registry, provenance: true', build: 'RerunProvenance', engine: 'classic', repository: 'e2e-rerun-provenance', steps: PROVENANCE_STEPS, index: true },
  { name: 're-runs, registry, rebuildExistingImages: true', build: 'RerunForced', engine: 'classic', repository: 'e2e-rerun-forced', steps: FORCED_STEPS },
];

/**
 * Which forced rebuilds of a commit give the same digest (docs/re-runs.md): a measurement, run only
 * with E2E_REPRO=1 (four builds per configuration: too long for CI), into mutable repositories.
 */
const REPRO = { rebuildExistingImages: true, reproducibleTimestamps: true };
Object.assign(BUILDS, {
  ReproRegistryOff: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, rebuildExistingImages: true },
  ReproRegistry: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, ...REPRO },
  ReproProvenance: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, ...REPRO, provenance: true },
  ReproInline: { strategy: 'inline', dockerfile: SINGLE.dockerfile, ...REPRO },
  ReproBuildah: { strategy: 'buildah', dockerfile: SINGLE.dockerfile, ...REPRO },
});
const REPRO_CONFIGS: RerunConfig[] = process.env.E2E_REPRO === '1' ? [
  { name: 'reproducibility, registry', build: 'ReproRegistryOff', engine: 'classic', repository: 'e2e-repro-registry-off', steps: REPRO_STEPS },
  { name: 'reproducibility, registry, reproducibleTimestamps', build: 'ReproRegistry', engine: 'classic', repository: 'e2e-repro-registry', steps: REPRO_STEPS },
  { name: 'reproducibility, registry, reproducibleTimestamps, provenance', build: 'ReproProvenance', engine: 'classic', repository: 'e2e-repro-provenance', steps: REPRO_STEPS },
  { name: 'reproducibility, inline, reproducibleTimestamps', build: 'ReproInline', engine: 'classic', repository: 'e2e-repro-inline', steps: REPRO_STEPS },
  { name: 'reproducibility, buildah, reproducibleTimestamps', build: 'ReproBuildah', engine: 'buildah', repository: 'e2e-repro-buildah', steps: REPRO_STEPS },
] : [];

/** Fresh build hosts for the re-run scenarios (lib/reruns.ts), with the fixed commit of each step. */
const RERUN_HOST: RerunHost = {
  round: (config, project, step, app, commit) => {
    const r = prepareRound(`rerun-${config.name}`, config.engine as Engine, step.round, step.branch, { deps: 1, app }, undefined, commit);
    const overrides: Record<string, string> = {
      CIB_IMAGE_REPOSITORY_URI: `${ECR}/${config.repository}`,
      CIB_CACHE_REPOSITORY_URI: `${ECR}/${config.repository}-cache`,
      ...('CIB_CACHE_REPOSITORY_NAME' in project.environment ? { CIB_CACHE_REPOSITORY_NAME: `${config.repository}-cache` } : {}),
    };
    const env = { ...r.env, ...projectEnvironment(project, overrides) };
    // Buildah at a version the strategy accepts (1.29+): Debian 13's, as for the other supported-version rounds.
    if (config.engine === 'buildah') Object.assign(env, { PATH: `${BUILDAH_TRIXIE_BIN_DIR}:${env.PATH}`, E2E_BUILDAH_BINDS: OUT });
    return { ...r, env };
  },
  check,
  registry: new Registry(REGISTRY),
  ecr: ECR,
};

// ------------------------------------------------------------------ multi-architecture (issue 12)
/** The single-stage sample app built for linux/amd64 and linux/arm64 FROM an image index of both bases (env.sh). */
const MULTI_ARCH = 'multi-arch';
BUILDS.MultiArch = { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, multiArch: true, baseImage: `${REGISTRY}/base-multi:1` };
const MULTI_ARCH_ROUNDS = [
  { round: 1, label: 'cold build', cold: true },
  { round: 2, label: 'app file changed', cold: false },
  { round: 3, label: 'app file changed', cold: false },
];

const CONTROL = 'seed recipe (control)';

// ------------------------------------------------------------------ helpers
function docker(daemon: Daemon, args: string[], dockerConfig?: string) {
  const bin = daemon === 'd20' ? DOCKER20_BIN_DIR : DOCKER_BIN_DIR;
  return spawnSync(path.join(bin, 'docker'), args, {
    env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, DOCKER_HOST: DAEMONS[daemon], ...(dockerConfig ? { DOCKER_CONFIG: dockerConfig } : {}) },
    encoding: 'utf8',
  });
}

function resetDaemon(daemon: Daemon): void {
  const r = spawnSync('bash', [ENV_SH, 'reset-daemon', daemon], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reset-daemon ${daemon} failed: ${r.stderr}`);
}

function writeStandIns(binDir: string): void {
  // `aws` answers the buildspec's ECR calls from the ECR proxy (lib/aws-stand-in.ts) and records
  // every call, so the harness can check what the build asked for; CloudWatch metrics are recorded.
  installAwsStandIn(binDir);
  fs.writeFileSync(path.join(OUT, 'registries.conf'), [REGISTRY, READONLY_REGISTRY, ECR]
    .map((r) => `[[registry]]\nlocation = "${r}"\ninsecure = true\n`).join('\n'));
}

/** The construct's repositories as the template creates them (app: immutable but for its fixed tags; cache: mutable). */
function ecrRepositories(projects: Record<string, SynthesizedProject>): EcrProxyConfig {
  const repositories: Record<string, RepositorySettings> = {};
  const add = (name: string, settings: RepositorySettings) => {
    if (repositories[name] && JSON.stringify(repositories[name]) !== JSON.stringify(settings)) throw new Error(`repository ${name} is configured twice, differently`);
    repositories[name] = settings;
  };
  for (const config of [...SINGLE_CONFIGS, ...MULTI_CONFIGS, ...SECRET_CONFIGS, ...BUILDER_CONFIGS, ...LONG_TABLES.flatMap((t) => t.configs)]) {
    const { image, cache } = projects[config.build].repositories;
    add(config.repository, image);
    if (cache) add(config.cacheRepository ?? `${config.repository}-cache`, cache);
  }
  for (const config of RERUN_CONFIGS) {
    const { image, cache } = projects[config.build].repositories;
    add(config.repository, image);
    if (cache) add(`${config.repository}-cache`, cache);
  }
  // Measurements push a commit tag again: their repositories are mutable.
  for (const config of REPRO_CONFIGS) {
    add(config.repository, { imageTagMutability: 'MUTABLE' });
    add(`${config.repository}-cache`, { imageTagMutability: 'MUTABLE' });
  }
  add('e2e-multiarch', projects.MultiArch.repositories.image);
  add('e2e-multiarch-cache', projects.MultiArch.repositories.cache!);
  return { registryId: '123456789012', repositories };
}

interface Source { deps: number; app: string }

function prepareRound(config: string, engine: Engine, round: number, branch: string, source: Source, webhook?: Record<string, string>,
  commitOverride?: string) {
  const slug = config.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const dir = path.join(OUT, 'rounds', `${slug}-r${String(round).padStart(2, '0')}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const src = path.join(dir, 'src');
  fs.mkdirSync(src, { recursive: true });
  for (const f of fs.readdirSync(SAMPLE_APP).filter((x) => x.startsWith('Dockerfile'))) {
    fs.copyFileSync(path.join(SAMPLE_APP, f), path.join(src, f));
  }
  fs.writeFileSync(path.join(src, 'requirements.txt'), `dependency-set-${source.deps}\n`);
  fs.writeFileSync(path.join(src, 'app.txt'), `${source.app}\n`);
  // A fresh build host: a new Docker client config (no builders, no logins) and home.
  const dockerConfig = path.join(dir, 'docker-config');
  fs.mkdirSync(dockerConfig, { recursive: true });
  // Docker 20.10 as on CodeBuild standard:5.0/6.0: no buildx plugin.
  if (engine !== 'd20') fs.symlinkSync(PLUGINS_DIR, path.join(dockerConfig, 'cli-plugins'));
  const commit = commitOverride ?? createHash('sha1').update(`${config} ${round} ${source.app} ${source.deps}`).digest('hex');
  const bin = engine === 'd20' ? DOCKER20_BIN_DIR : DOCKER_BIN_DIR;
  const env: Record<string, string> = {
    ...codeBuildEnvironment({
      binDir: path.join(OUT, 'bin'), dockerBinDir: bin, dir, dockerConfig, ecrProxy: ECR, buildId: `e2e-${slug}:${round}`, buildNumber: round, commit, sourceDir: src,
    }),
    E2E_REGISTRY: REGISTRY,
    ...(webhook ?? { CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${branch}`, CODEBUILD_WEBHOOK_EVENT: 'PUSH' }),
  };

  let cleanup = () => {};
  if (engine === 'buildah') {
    const host = freshBuildahStorage(path.join(E2E_ROOT, 'buildah', `${slug}-r${round}`), dir, path.join(OUT, 'registries.conf'));
    Object.assign(env, host.env);
    cleanup = host.cleanup;
  } else {
    env.DOCKER_HOST = DAEMONS[engine];
    resetDaemon(engine);
  }
  return { dir, src, dockerConfig, commit, env, cleanup, logFile: path.join(dir, 'build.log') };
}

/** Pulls the pushed image by digest and runs it: it must print the round's app file. */
function runImage(daemon: Daemon, ref: string, dockerConfig: string): string {
  const r = docker(daemon, ['run', '--rm', '--network', 'none', ref], dockerConfig);
  return r.status === 0 ? r.stdout.trim() : `(docker run failed: ${r.stderr.trim()})`;
}

async function cacheSnapshot(registry: Registry, repository: string, prefix: string): Promise<string> {
  const tags = (await registry.tags(repository)).filter((t) => t.startsWith(prefix)).sort();
  const parts: string[] = [];
  for (const t of tags) parts.push(`${t}=${(await registry.manifest(repository, t))?.digest}`);
  return parts.join(' ');
}

// ------------------------------------------------------------------ one configuration
/** Uploads a blob of random bytes and points the tag at an OCI manifest whose "cache config" is that blob. */
async function putGarbageCache(repository: string, tag: string): Promise<void> {
  const garbage = randomBytes(512);
  const digest = `sha256:${createHash('sha256').update(garbage).digest('hex')}`;
  // Blob upload: open a session, then PUT the bytes with their digest.
  const start = await fetch(`http://${REGISTRY}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`garbage blob upload: HTTP ${start.status}`);
  const url = new URL(location, `http://${REGISTRY}`);
  url.searchParams.set('digest', digest);
  const up = await fetch(url, { method: 'PUT', body: garbage, headers: { 'Content-Type': 'application/octet-stream' } });
  if (up.status !== 201) throw new Error(`garbage blob upload: HTTP ${up.status}`);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.buildkit.cacheconfig.v0', digest, size: garbage.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: garbage.length }],
  });
  const put = await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (put.status !== 201) throw new Error(`garbage manifest upload: HTTP ${put.status}`);
}

interface RoundRun {
  readonly config: Config;
  readonly project: SynthesizedProject;
  readonly scenario: Scenario;
  readonly app: string;
  readonly deps: number;
  /** Distinguishes the builds of one round (the concurrency fault). */
  readonly variant?: string;
  readonly cacheHost: string;
  readonly table: string;
  /** Engine for this build, when not the configuration's (the second of two concurrent builds). */
  readonly engine?: Engine;
  /** Blobs the registry held before the round (taken before both of two concurrent builds). */
  readonly blobsBefore?: Set<string>;
  /** Another build runs on the same engine at the same time: its RUN markers may show in this log. */
  readonly sharedEngine?: boolean;
}

/** Prepares a round (fresh build host) and returns a function that runs it and checks it. */
function prepare(run: RoundRun): () => Promise<RoundResult> {
  const { config, project, scenario, table } = run;
  const { round } = scenario;
  const cacheRepository = config.strategy === 'none' ? undefined : config.cacheRepository ?? `${config.repository}-cache`;
  const label = `${table}: ${config.name} r${round}${run.variant ? run.variant : ''}`;
  const engine = run.engine ?? config.engine;
  const r = prepareRound(`${table}-${config.name}${run.variant ?? ''}`, engine, round, scenario.branch, { deps: run.deps, app: run.app }, scenario.webhook);
  const overrides: Record<string, string> = { CIB_IMAGE_REPOSITORY_URI: `${ECR}/${config.repository}` };
  if (cacheRepository) {
    overrides.CIB_CACHE_REPOSITORY_URI = `${run.cacheHost}/${cacheRepository}`;
    if ('CIB_CACHE_REPOSITORY_NAME' in project.environment) overrides.CIB_CACHE_REPOSITORY_NAME = cacheRepository;
  }
  // CodeBuild resolves the Secrets Manager variable at build start; here the harness supplies it.
  if ('CIB_SECRET_1' in project.environment) overrides.CIB_SECRET_1 = SECRET;
  const env = { ...r.env, ...projectEnvironment(project, overrides) };
  if (config.buildahBinDir) Object.assign(env, { PATH: `${config.buildahBinDir}:${env.PATH}`, E2E_BUILDAH_BINDS: OUT });

  return async () => {
    const registry = new Registry(REGISTRY);
    const blobsBefore = run.blobsBefore ?? registryBlobs();
    const result = await runBuildSpec({ phases: project.buildSpec.phases as BuildSpecPhases, env, sourceDir: r.src, workDir: path.join(r.dir, 'runner'), logFile: r.logFile });
    r.cleanup();
    const log = fs.readFileSync(r.logFile, 'utf8');
    // Buildah's fallback build (after a refused cache export) only reuses local layers: count the first attempt.
    const firstAttempt = log.split(/^warning: the build with cache export failed/m)[0];
    const records: StepRecord[] = config.engine === 'buildah' ? parseBuildahLog(firstAttempt) : parseBuildKitLog(log);
    // Cache hits by what executed (markers, new layers); the log's CACHED lines are cross-checked against it.
    const logCached = countCached(records);
    const digest = result.variables.IMAGE_DIGEST ?? '';
    const image = result.exitCode === 0 && digest ? await pushedImage(registry, config.repository, digest) : undefined;
    const execution = judgeExecution({ records, image, base: await baseImage(registry), blobsBefore, markersAreOwn: !run.sharedEngine });
    const cached = result.exitCode === 0 ? execution.cached : logCached;
    const cacheable = cacheRepository && !scenario.cold ? config.sample.unchanged(scenario.changed) : 0;
    const expected = cacheable > 0 && config.warmHits !== undefined ? config.warmHits : cacheable;
    const phases = phaseTimes(result.timed, result.seconds);
    const roundResult: RoundResult = {
      config: config.name, round, scenario: scenario.label, exitCode: result.exitCode, cached, cacheable, seconds: result.seconds, digest, phases,
    };
    console.log(`${label} (${scenario.label}): exit ${result.exitCode}, cached ${cached}/${cacheable} (log ${logCached}), ${result.seconds.toFixed(1)} s, ${digest}`);

    if (config.expectFailure) {
      check(`${label}: the build fails with a clear message`, result.exitCode !== 0 && config.expectFailure.test(log),
        `exit ${result.exitCode}; ${(log.match(/^(error|warning): .*$/m) ?? ['no message'])[0]}`);
      return roundResult;
    }
    if (!check(`${label}: build succeeded`, result.exitCode === 0, result.failedCommand ? `failed: ${result.failedCommand} (log ${r.logFile})` : '')) {
      return roundResult;
    }
    check(`${label}: ${config.sample.steps} steps reported`, records.length === config.sample.steps, `${records.length}`);
    const mask = verdictMask(execution);
    if (config.hitsNotAsserted) {
      console.log(`  info ${label}: ${cached} steps cached, not asserted: ${config.hitsNotAsserted} (${mask})`);
    } else {
      const why = expected === cacheable ? ' (every step whose inputs did not change)' : config.warmHitsReason ?? ' (min-mode: final stage only)';
      check(`${label}: steps cached (by what executed) = ${expected}${why}`, cached === expected, mask);
    }
    check(`${label}: the final stage's layers map to its steps (${config.sample.finalSteps})`, execution.layerProblem === undefined, execution.layerProblem ?? '');
    // With two builds on one engine, a step run by one shows up (with its output) in both logs: markers are not used then.
    const disagreements = logDisagreements(execution);
    check(`${label}: the log's CACHED lines agree with what executed`, disagreements.length === 0, disagreements.join('; '));
    // The tag by event (issue 9): the commit for branch builds, pr-<N> for a pull request, the git tag for a tag build.
    const imageTag = scenario.imageTag ?? r.commit;
    check(`${label}: exported IMAGE_URI/IMAGE_TAG/IMAGE_DIGEST (${scenario.imageTag ?? 'the commit'})`,
      result.variables.IMAGE_TAG === imageTag && result.variables.IMAGE_URI === `${ECR}/${config.repository}:${imageTag}` && /^sha256:[0-9a-f]{64}$/.test(digest),
      `${result.variables.IMAGE_URI} ${digest}`);
    const tagged = await registry.manifest(config.repository, imageTag);
    check(`${label}: registry holds the pushed digest under ${imageTag === r.commit ? 'the commit tag' : imageTag}`, tagged?.digest === digest, `${tagged?.digest}`);
    if (imageTag !== r.commit) {
      check(`${label}: the commit tag was not pushed`, (await registry.manifest(config.repository, r.commit)) === undefined);
    }
    if (!run.variant) {
      // Only a build of the default branch moves latest.
      const latest = await registry.manifest(config.repository, 'latest');
      const moves = scenario.branch === 'main' && scenario.webhook === undefined;
      check(`${label}: latest ${moves ? 'points at the pushed digest' : 'did not move'}`, (latest?.digest === digest) === moves, `${latest?.digest}`);
    }
    const runDaemon: Daemon = config.engine === 'buildah' ? 'cd' : config.engine;
    const ran = runImage(runDaemon, `${ECR}/${config.repository}@${digest}`, r.dockerConfig);
    const want = config.sample.output ? config.sample.output(run.app) : run.app;
    check(`${label}: the pushed image runs and prints ${config.sample.output ? 'the secret\'s length' : 'the new app file'}`, ran === want, JSON.stringify(ran));
    const defs = JSON.parse(fs.readFileSync(path.join(r.src, 'imagedefinitions.json'), 'utf8'));
    const detail = JSON.parse(fs.readFileSync(path.join(r.src, 'imageDetail.json'), 'utf8'));
    check(`${label}: imagedefinitions.json and imageDetail.json name the image`,
      defs[0]?.name === 'app' && defs[0]?.imageUri === result.variables.IMAGE_URI && detail.ImageURI === `${ECR}/${config.repository}@${digest}`);
    const calls = fs.existsSync(r.env.E2E_AWS_CALLS) ? fs.readFileSync(r.env.E2E_AWS_CALLS, 'utf8').trim().split('\n') : [];
    const ecrCalls = calls.filter((c) => c.startsWith('ecr '));
    check(`${label}: ECR calls name the repositories' region`, ecrCalls.length > 0 && ecrCalls.every((c) => c.includes('--region us-east-1')), ecrCalls.join(' | '));
    check(`${label}: the AWS CLI was asked for ECR and CloudWatch only`, calls.every((c) => /^(ecr|cloudwatch) /.test(c)), calls.join(' | '));

    // The build's own cache report must agree with the harness's count.
    const summary = /^cache: (\d+)\/(\d+) steps cached \((\d+)%\), ([0-9.]+) s$/m.exec(log);
    check(`${label}: the build's summary line reports ${cached}/${records.length} steps cached`,
      summary !== null && Number(summary[1]) === cached && Number(summary[2]) === records.length, summary?.[0] ?? 'no summary line');
    check(`${label}: exported CACHED_STEPS and CACHE_HIT_RATIO match`,
      result.variables.CACHED_STEPS === String(cached) && result.variables.CACHE_HIT_RATIO === String(Math.round((100 * cached) / records.length)),
      `${result.variables.CACHED_STEPS} ${result.variables.CACHE_HIT_RATIO}`);
    const metrics = fs.existsSync(r.env.E2E_METRICS) ? fs.readFileSync(r.env.E2E_METRICS, 'utf8') : '';
    const published = /--metric-data (\[.*\])$/m.exec(metrics);
    const values = published ? Object.fromEntries(JSON.parse(published[1]).map((m: any) => [m.MetricName, m.Value])) : {};
    check(`${label}: published CachedSteps=${cached} and ExecutedSteps=${records.length - cached} to CloudWatch namespace CachedImageBuild`,
      metrics.includes('--namespace CachedImageBuild') && values.CachedSteps === cached && values.ExecutedSteps === records.length - cached,
      published?.[1] ?? 'nothing published');
    if (config.sample === SECRET_APP) {
      check(`${label}: the secret is in no build log`, !log.includes(SECRET));
    }

    if (!cacheRepository || scenario.fault === 'unreachable-cache' || config.cacheRepository) return roundResult;
    // The scope the build must write, from the TypeScript model of the build context (issue 9).
    const model = modelBuild({ defaultBranch: 'main', policy: 'push', mountSecrets: false, imageTags: ['commit', 'git-tag', 'latest'] }, r.env);
    const branchTag = model.writeScope;
    check(`${label}: the build's cache scope is ${branchTag}`, result.variables.CACHE_SCOPE === branchTag, `${result.variables.CACHE_SCOPE}`);
    if (scenario.readonlyCache) {
      const refused = { registry: /^#\d+ ERROR: .*405 Method Not Allowed/m, inline: /^warning: pushing the cache tag failed/m, buildah: /^warning: the build with cache export failed/m }[config.strategy as 'registry'];
      check(`${label}: the cache export was refused and the build went on`, refused.test(log));
    } else if (config.strategy === 'registry') {
      const m = await registry.manifest(cacheRepository, branchTag);
      check(`${label}: cache ${cacheRepository}:${branchTag} is an OCI image manifest with a BuildKit cache config`,
        m?.mediaType === 'application/vnd.oci.image.manifest.v1+json' && m?.body?.config?.mediaType === 'application/vnd.buildkit.cacheconfig.v0',
        `${m?.mediaType} / ${m?.body?.config?.mediaType}`);
    } else if (config.strategy === 'inline') {
      // the tag is named by the build's own count (the log's)
      const executed = records.length - logCached;
      const m = await registry.manifest(cacheRepository, `${branchTag}-e${executed}`);
      check(`${label}: cache tag ${branchTag}-e${executed} holds this build's image`, m?.digest === digest, `${m?.digest}`);
    } else if (config.strategy === 'buildah') {
      const pushed = (log.match(/^--> Pushing cache /gm) ?? []).length;
      check(`${label}: buildah pushed one cache tag per executed step`, pushed >= records.length - cached && pushed > 0, `${pushed} pushed`);
    }
    return roundResult;
  };
}

async function runConfig(config: Config, project: SynthesizedProject, results: RoundResult[], table: string): Promise<void> {
  const registry = new Registry(REGISTRY);
  const cacheRepository = config.strategy === 'none' ? undefined : config.cacheRepository ?? `${config.repository}-cache`;
  let deps = config.initialDeps ?? 1;
  for (const scenario of config.scenarios) {
    const { round } = scenario;
    const tag = `${table}: ${config.name} r${round}`;
    if (scenario.changed.includes('requirements.txt')) deps += 1;
    const app = `${config.name} app, version ${round}`;
    if (scenario.emptyCache && cacheRepository) {
      const n = await registry.emptyRepository(cacheRepository);
      check(`${tag}: cache repository emptied`, n > 0 && (await registry.tags(cacheRepository)).length === 0, `${n} manifests deleted`);
    }
    if (scenario.fault === 'delete-cache-tag' && cacheRepository) {
      const m = await registry.manifest(cacheRepository, 'main');
      const del = m ? await fetch(`http://${REGISTRY}/v2/${cacheRepository}/manifests/${m.digest}`, { method: 'DELETE' }) : undefined;
      check(`${tag}: default-branch cache manifest deleted`, del?.status === 202 && !(await registry.manifest(cacheRepository, 'main')));
    }
    if (scenario.fault === 'garbage-cache' && cacheRepository) {
      await putGarbageCache(cacheRepository, 'main');
      const m = await registry.manifest(cacheRepository, 'main');
      check(`${tag}: default-branch cache replaced by a manifest whose cache config is random bytes`, m?.body?.config?.size === 512);
    }
    // What a round must not change: the default branch's cache (registry, inline); with refused writes, all of it.
    const guardPrefix = scenario.readonlyCache ? '' : scenario.branch !== 'main' && config.strategy !== 'buildah' ? 'main' : undefined;
    const before = cacheRepository && guardPrefix !== undefined ? await cacheSnapshot(registry, cacheRepository, guardPrefix) : '';
    const cacheHost = scenario.readonlyCache ? READONLY_REGISTRY : scenario.fault === 'unreachable-cache' ? UNREACHABLE_REGISTRY : ECR;

    if (scenario.fault === 'concurrent') {
      // Both builds are prepared first (fresh hosts), then run at the same time: on two engines (two
      // CodeBuild hosts) for the docker-container builder, on one engine for the engine's builder.
      const blobsBefore = registryBlobs();
      const engineB = config.concurrentEngine ?? config.engine;
      const sharedEngine = engineB === config.engine;
      const a = prepare({ config, project, scenario, app: `${app}a`, deps, variant: 'a', cacheHost, table, blobsBefore, sharedEngine });
      const b = prepare({ config, project, scenario, app: `${app}b`, deps, variant: 'b', cacheHost, table, blobsBefore, sharedEngine, engine: engineB });
      const both = await Promise.all([a(), b()]);
      results.push({ ...both[0], cached: Math.min(both[0].cached, both[1].cached), seconds: Math.max(both[0].seconds, both[1].seconds) });
      check(`${tag}: both concurrent builds succeeded`, both.every((x) => x.exitCode === 0), both.map((x) => x.exitCode).join(','));
    } else {
      results.push(await prepare({ config, project, scenario, app, deps, cacheHost, table })());
    }

    if (cacheRepository && guardPrefix !== undefined) {
      const after = await cacheSnapshot(registry, cacheRepository, guardPrefix);
      check(`${tag}: ${scenario.readonlyCache ? 'refused cache writes left the cache repository' : 'the branch build left the default-branch cache'} as it was`,
        before === after && before !== '', `${before} -> ${after}`);
    }
  }
}

/** Where the local registry keeps its blobs (distribution's filesystem layout). */
function registryBlobDir(): string {
  const mainConfig = fs.readFileSync(path.join(E2E_ROOT, 'etc', 'registry.yml'), 'utf8');
  const root = /rootdirectory:\s*(\S+)/.exec(mainConfig)![1];
  return path.join(root, 'docker', 'registry', 'v2', 'blobs');
}

/** Digests of every blob the registry holds now. */
function registryBlobs(): Set<string> {
  const dir = path.join(registryBlobDir(), 'sha256');
  const out = new Set<string>();
  if (!fs.existsSync(dir)) return out;
  for (const prefix of fs.readdirSync(dir)) {
    for (const hex of fs.readdirSync(path.join(dir, prefix))) out.add(`sha256:${hex}`);
  }
  return out;
}

/** Layers and history of an image in the local registry. */
async function pushedImage(registry: Registry, repository: string, reference: string): Promise<PushedImage | undefined> {
  const m = await registry.manifest(repository, reference);
  if (!m?.body?.config?.digest) return undefined;
  const r = await fetch(`http://${REGISTRY}/v2/${repository}/blobs/${m.body.config.digest}`);
  if (!r.ok) return undefined;
  const config = (await r.json()) as { history?: PushedImage['history'] };
  return { layers: (m.body.layers ?? []).map((l: { digest: string }) => l.digest), history: config.history ?? [] };
}
let base: PushedImage | undefined;
async function baseImage(registry: Registry): Promise<PushedImage | undefined> {
  base ??= await pushedImage(registry, 'base', '1');
  return base;
}

/** Searches every blob the registry stores (layers decompressed) for the secret. */
function blobsContaining(secret: string): string[] {
  const blobs = registryBlobDir();
  const found: string[] = [];
  const needle = Buffer.from(secret);
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {walk(full);} else if (entry.name === 'data') {
        const raw = fs.readFileSync(full);
        let content = raw;
        if (raw[0] === 0x1f && raw[1] === 0x8b) {
          try { content = zlib.gunzipSync(raw); } catch { /* not gzip after all */ }
        }
        if (raw.includes(needle) || content.includes(needle)) found.push(full);
      }
    }
  };
  walk(blobs);
  return found;
}

/** The seed recipe (moby/buildkit#1981), run through the same runner on the classic-store daemon. */
async function runControl(results: RoundResult[]): Promise<number[]> {
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
  for (const scenario of FIRST_FIVE) {
    const { round } = scenario;
    source.app = `control app, version ${round}`;
    const r = prepareRound('control', 'classic', round, 'main', source);
    const env = { ...r.env, DOCKER_BUILDKIT: '1', SEED_IMAGE: `${REGISTRY}/e2e-control`, BASE_IMAGE: `${REGISTRY}/base:1` };
    const result = await runBuildSpec({ phases, env, sourceDir: r.src, workDir: path.join(r.dir, 'runner'), logFile: r.logFile });
    const records = parseBuildKitLog(fs.readFileSync(r.logFile, 'utf8'));
    const cached = countCached(records);
    counts.push(cached);
    const cacheable = scenario.cold ? 0 : SINGLE.unchanged(scenario.changed);
    results.push({ config: CONTROL, round, scenario: scenario.label, exitCode: result.exitCode, cached, cacheable, seconds: result.seconds, digest: '' });
    console.log(`control r${round}: exit ${result.exitCode}, CACHED ${cached}/${cacheable}, ${result.seconds.toFixed(1)} s`);
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
function warmCold(results: RoundResult[], config: string, fullWarm: number): string {
  const rs = results.filter((x) => x.config === config);
  const cold = rs.find((x) => x.round === 1)?.seconds ?? NaN;
  // plain app-change rounds only (2-5): fault rounds would skew the mean
  const warm = rs.filter((x) => x.round >= 2 && x.round <= 5 && x.cacheable === fullWarm);
  const mean = warm.reduce((a, x) => a + x.seconds, 0) / Math.max(1, warm.length);
  return `| ${config} | ${cold.toFixed(1)} | ${mean.toFixed(1)} | ${(mean / cold).toFixed(2)} |`;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  writeStandIns(path.join(OUT, 'bin'));
  const projects = synthesize(path.join(OUT, 'cdk.out'), `${REGISTRY}/base:1`, BUILDS);
  console.log(`synthesized the test stack in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const single: RoundResult[] = [];
  const multi: RoundResult[] = [];
  const secrets: RoundResult[] = [];
  const builder: RoundResult[] = [];
  const reruns: RerunResult[] = [];
  const repro: RerunResult[] = [];
  /** Long Dockerfiles: per table, its configurations' rounds. */
  const long: Record<string, RoundResult[]> = {};
  const timings: Record<string, number> = {};
  let multiArch: MultiArchResult[] = [];

  const selected = (c: { name: string }) => !ONLY || ONLY.test(c.name);
  let t = Date.now();
  if (selected({ name: CONTROL })) {
    const controlCounts = await runControl(single);
    timings[CONTROL] = (Date.now() - t) / 1000;
    check('control (seed recipe, classic store) alternates 0,5,0,5,0 so the harness can see misses',
      controlCounts.join(',') === '0,5,0,5,0', controlCounts.join(','));
  }

  const unreachable = await fetch(`http://${UNREACHABLE_REGISTRY}/v2/`).then(() => 'answers', () => 'refused');
  if (!check(`nothing listens on ${UNREACHABLE_REGISTRY} (the unreachable cache registry; set E2E_UNREACHABLE_REGISTRY_PORT)`, unreachable === 'refused', unreachable)) return 1;

  const ecr = await startEcrProxyProcess({ listen: ECR, upstream: REGISTRY, config: ecrRepositories(projects), dir: OUT });
  console.log(`ECR proxy on ${ECR} in front of ${REGISTRY} (${OUT}/ecr-repositories.json)`);
  const stopReadonly = await startReadonlyRegistry();
  try {
    for (const config of SINGLE_CONFIGS.filter(selected)) {
      t = Date.now();
      await runConfig(config, projects[config.build], single, 'single-stage');
      timings[config.name] = (Date.now() - t) / 1000;
    }
    for (const config of MULTI_CONFIGS.filter(selected)) {
      t = Date.now();
      await runConfig(config, projects[config.build], multi, 'multi-stage');
      timings[`multi-stage ${config.name}`] = (Date.now() - t) / 1000;
    }
    for (const { table, configs } of LONG_TABLES) {
      t = Date.now();
      long[table] = [];
      for (const config of configs.filter(selected)) await runConfig(config, projects[config.build], long[table], table);
      timings[`${table} (all)`] = (Date.now() - t) / 1000;
    }
    if (selected({ name: MULTI_ARCH })) {
      t = Date.now();
      multiArch = await runMultiArch({
        project: projects.MultiArch,
        registry: REGISTRY,
        ecr: ECR,
        repository: 'e2e-multiarch',
        steps: SINGLE.steps,
        warmHits: SINGLE.unchanged(['app.txt']),
        check,
        prepare: (name, round, app) => prepareRound(name, 'classic', round, 'main', { deps: 1, app }),
        environment: (overrides) => projectEnvironment(projects.MultiArch, overrides),
        runImage: (ref, dockerConfig, platform) => {
          // The classic image store keeps one image per reference: drop the other platform's first.
          docker('classic', ['image', 'rm', '--force', ref], dockerConfig);
          const r = docker('classic', ['run', '--rm', '--network', 'none', '--platform', platform, ref], dockerConfig);
          return r.status === 0 ? r.stdout.trim() : `(docker run failed: ${r.stderr.trim()})`;
        },
      }, process.env.E2E_ARM64_EMULATION === 'yes' ? MULTI_ARCH_ROUNDS : []);
      check('multi-arch: arm64 RUN steps can run here (qemu-aarch64-static registered with binfmt_misc by env.sh)', process.env.E2E_ARM64_EMULATION === 'yes');
      timings[MULTI_ARCH] = (Date.now() - t) / 1000;
    }
    t = Date.now();
    for (const config of SECRET_CONFIGS.filter(selected)) await runConfig(config, projects[config.build], secrets, 'build secret');
    timings['build secret (all)'] = (Date.now() - t) / 1000;
    t = Date.now();
    for (const config of BUILDER_CONFIGS.filter(selected)) await runConfig(config, projects[config.build], builder, 'builder');
    timings['builder image missing (both)'] = (Date.now() - t) / 1000;
    t = Date.now();
    for (const config of RERUN_CONFIGS.filter(selected)) reruns.push(...await runReruns(RERUN_HOST, config, projects[config.build]));
    timings['re-runs (all)'] = (Date.now() - t) / 1000;
    for (const config of REPRO_CONFIGS.filter(selected)) repro.push(...await measureReproducibility(RERUN_HOST, config, projects[config.build]));
    const ecrEnv = { PATH: `${path.join(OUT, 'bin')}:/usr/bin:/bin`, E2E_ECR_PROXY: ECR, AWS_REGION: 'us-east-1' };
    const clientConfig = fs.mkdtempSync(path.join(OUT, 'docker-config-'));
    for (const c of await ecrFidelityChecks({ ecr: ECR, registry: REGISTRY, repository: 'e2e-inline', env: ecrEnv, docker: (args) => docker('classic', args, clientConfig) })) {
      check(c.name, c.ok, c.detail);
    }
  } finally {
    stopReadonly();
    ecr.stop();
  }
  const leaks = blobsContaining(SECRET);
  check('the build secret is in no blob of the registry (image layers decompressed, configs, cache manifests and cache layers)',
    leaks.length === 0, leaks.join(', '));

  // ---- report
  const singleNames = [CONTROL, ...SINGLE_CONFIGS.map((c) => c.name)];
  const multiNames = MULTI_CONFIGS.map((c) => c.name);
  const total = (Date.now() - t0) / 1000;
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

  const failed = checks.filter((c) => !c.ok);
  for (const c of failed) console.log(`FAILED: ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
  console.log(`e2e: ${checks.length - failed.length} passed, ${failed.length} failed`);
  return failed.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(2);
});

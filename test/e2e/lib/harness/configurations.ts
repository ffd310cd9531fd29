/**
 * The configurations the harness runs (a CachedImageBuild, or the control, on one engine, over its
 * scenarios), the builds of the test stack they use, and the ECR repositories those builds push to.
 */

import { EcrProxyConfig, RepositorySettings } from '../ecr-proxy';
import { FORCED_STEPS, PROVENANCE_STEPS, REPRO_STEPS, RERUN_STEPS, RerunConfig } from '../reruns';
import { BuildDefinition, SynthesizedProject } from '../stack';
import { BUILDAH_TRIXIE_BIN_DIR, BUILDKIT_IMAGE, Engine, READONLY_REGISTRY, REGISTRY, UNREACHABLE_REGISTRY } from './env';
import { EVENT_SCENARIOS, FAULTS, FIRST_FIVE, MULTI, SCENARIOS, SECRET_APP, SINGLE, SampleApp, Scenario } from './samples';

/** One column of the results: a CachedImageBuild (or the control) on one engine. */
export interface Config {
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
export const BUILDER_HERE = {
  builderNetwork: 'host',
  buildkitdConfig: [REGISTRY, READONLY_REGISTRY, UNREACHABLE_REGISTRY].map((r) => `[registry."${r}"]\n  http = true\n`).join(''),
};
export const DEFAULT_BUILDER = { builderImage: BUILDKIT_IMAGE, ...BUILDER_HERE };
/** Names of the two registry-strategy configurations. */
export const REG_DC = 'registry: docker-container (default)';
export const REG_CD = 'registry: currentDriver, containerd store';

export const BUILDS: Record<string, BuildDefinition> = {
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
export const BUILDAH_NEW = 'buildah 1.39 (Debian 13)';
export const BUILDAH_128 = { warmHits: 0, warmHitsReason: ' (Buildah 1.28: every step after the ARG inside the stage misses, containers/buildah#4315)' };

export const SINGLE_CONFIGS: Config[] = [
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
export const SECRET_CONFIGS: Config[] = [
  { name: REG_DC, build: 'RegistrySecret', strategy: 'registry', engine: 'classic', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-registry' },
  { name: REG_CD, build: 'RegistrySecretCd', strategy: 'registry', engine: 'cd', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-registry-cd' },
  { name: 'inline', build: 'InlineSecret', strategy: 'inline', engine: 'classic', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-inline' },
  { name: 'inline, Docker 20.10', build: 'InlineSecret', strategy: 'inline', engine: 'd20', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-inline20' },
  { name: 'buildah', build: 'BuildahSecret', strategy: 'buildah', engine: 'buildah', sample: SECRET_APP, scenarios: SCENARIOS.slice(0, 2), repository: 'e2e-secret-buildah' },
];
/** The BuildKit image cannot be pulled, on CodeBuild's (classic-store) engine. */
export const BUILDER_CONFIGS: Config[] = [
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
export const MULTI_CONFIGS: Config[] = [
  { name: REG_DC, build: 'RegistryMulti', strategy: 'registry', engine: 'classic', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-registry' },
  { name: REG_CD, build: 'RegistryMultiCd', strategy: 'registry', engine: 'cd', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-registry-cd' },
  { name: 'inline', build: 'InlineMulti', strategy: 'inline', engine: 'classic', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-inline', warmHits: 1 },
  { name: 'buildah', build: 'BuildahMulti', strategy: 'buildah', engine: 'buildah', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-buildah', ...BUILDAH_128 },
  { name: BUILDAH_NEW, build: 'BuildahMultiNew', strategy: 'buildah', engine: 'buildah', sample: MULTI, scenarios: FIRST_FIVE, repository: 'e2e-ms-buildah-new', buildahBinDir: BUILDAH_TRIXIE_BIN_DIR },
];
// ------------------------------------------------------------------ long Dockerfiles (issue 17)
// More than ten instructions per stage: BuildKit pads the step numbers ("[ 2/15]", "[build  2/14]"),
// which the build's cache report must read. Every strategy, with exact hits per round.
export const LONG: SampleApp = {
  dockerfile: 'Dockerfile.long',
  // WORKDIR, 4 RUN, COPY requirements.txt, 4 RUN, COPY app.txt, 3 RUN (LABEL and ENV are not steps)
  steps: 14,
  finalSteps: 14,
  unchanged: (changed) => (changed.includes('requirements.txt') ? 5 : changed.includes('app.txt') ? 10 : 14),
};
export const LONG_MULTI: SampleApp = {
  dockerfile: 'Dockerfile.long-multistage',
  // build: 13 steps (COPY requirements.txt 5th, COPY app.txt 10th); runtime: 9 independent steps, 2 COPY --from, 1 RUN
  steps: 25,
  // runtime: WORKDIR, 8 RUN, 2 COPY --from, 1 RUN (LABEL and ENV are not steps)
  finalSteps: 12,
  unchanged: (changed) => 9 + (changed.includes('requirements.txt') ? 4 : changed.includes('app.txt') ? 9 : 16),
};
export const LONG_SCENARIOS: Scenario[] = [
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
export const LONG_TABLES: { title: string; table: string; sample: SampleApp; configs: Config[] }[] = [
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
export const RERUN_CONFIGS: RerunConfig[] = [
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
export const REPRO = { rebuildExistingImages: true, reproducibleTimestamps: true };
Object.assign(BUILDS, {
  ReproRegistryOff: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, rebuildExistingImages: true },
  ReproRegistry: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, ...REPRO },
  ReproProvenance: { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, ...REPRO, provenance: true },
  ReproInline: { strategy: 'inline', dockerfile: SINGLE.dockerfile, ...REPRO },
  ReproBuildah: { strategy: 'buildah', dockerfile: SINGLE.dockerfile, ...REPRO },
});
export const REPRO_CONFIGS: RerunConfig[] = process.env.E2E_REPRO === '1' ? [
  { name: 'reproducibility, registry', build: 'ReproRegistryOff', engine: 'classic', repository: 'e2e-repro-registry-off', steps: REPRO_STEPS },
  { name: 'reproducibility, registry, reproducibleTimestamps', build: 'ReproRegistry', engine: 'classic', repository: 'e2e-repro-registry', steps: REPRO_STEPS },
  { name: 'reproducibility, registry, reproducibleTimestamps, provenance', build: 'ReproProvenance', engine: 'classic', repository: 'e2e-repro-provenance', steps: REPRO_STEPS },
  { name: 'reproducibility, inline, reproducibleTimestamps', build: 'ReproInline', engine: 'classic', repository: 'e2e-repro-inline', steps: REPRO_STEPS },
  { name: 'reproducibility, buildah, reproducibleTimestamps', build: 'ReproBuildah', engine: 'buildah', repository: 'e2e-repro-buildah', steps: REPRO_STEPS },
] : [];

// ------------------------------------------------------------------ multi-architecture (issue 12)
/** The single-stage sample app built for linux/amd64 and linux/arm64 FROM an image index of both bases (env.sh). */
export const MULTI_ARCH = 'multi-arch';
BUILDS.MultiArch = { strategy: 'registry', dockerfile: SINGLE.dockerfile, ...DEFAULT_BUILDER, multiArch: true, baseImage: `${REGISTRY}/base-multi:1` };
export const MULTI_ARCH_ROUNDS = [
  { round: 1, label: 'cold build', cold: true },
  { round: 2, label: 'app file changed', cold: false },
  { round: 3, label: 'app file changed', cold: false },
];

export const CONTROL = 'seed recipe (control)';

/** The construct's repositories as the template creates them (app: immutable but for its fixed tags; cache: mutable). */
export function ecrRepositories(projects: Record<string, SynthesizedProject>): EcrProxyConfig {
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

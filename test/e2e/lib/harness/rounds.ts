/** One round of one configuration: its faults, its build on a fresh host, and every check of its outcome; and the control. */

import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { check } from './checks';
import { CONTROL, Config } from './configurations';
import { Daemon, ECR, Engine, OUT, READONLY_REGISTRY, REGISTRY, UNREACHABLE_REGISTRY } from './env';
import { Source, baseImage, cacheSnapshot, prepareRound, pushedImage, registryBlobs, runImage } from './host';
import { FIRST_FIVE, SECRET, SECRET_APP, SINGLE, Scenario } from './samples';
import { modelBuild } from '../../../helpers/build-context-model';
import { StepRecord, countCached, markerContradictions, parseBuildKitLog, parseBuildahLog } from '../buildkit-log';
import { BuildSpecPhases, runBuildSpec } from '../codebuild';
import { judgeExecution, logDisagreements, verdictMask } from '../execution';
import { phaseTimes } from '../phases';
import { Registry } from '../registry';
import { RoundResult } from '../report';
import { SynthesizedProject, projectEnvironment } from '../stack';

// ------------------------------------------------------------------ one configuration
/** Uploads a blob of random bytes and points the tag at an OCI manifest whose "cache config" is that blob. */
export async function putGarbageCache(repository: string, tag: string): Promise<void> {
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

export interface RoundRun {
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
export function prepare(run: RoundRun): () => Promise<RoundResult> {
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

export async function runConfig(config: Config, project: SynthesizedProject, results: RoundResult[], table: string): Promise<void> {
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

/** The seed recipe (moby/buildkit#1981), run through the same runner on the classic-store daemon. */
export async function runControl(results: RoundResult[]): Promise<number[]> {
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

/**
 * End-to-end proof: executes the buildspecs that CachedImageBuild synthesizes, round after round,
 * against real Docker engines, Buildah and a registry on 127.0.0.1, and counts cache hits.
 *
 * Started by run.sh (which sets up the environment with env/env.sh and exports its variables).
 * Exits non-zero when any check fails: an expected cache hit missed, a build or push failed,
 * the pushed image does not run the new app file, or the control stopped alternating.
 *
 * This file runs the tables in order; its parts are in lib/harness/: env (env.sh's variables),
 * checks, samples (sample apps, scenarios), configurations (and the test stack's builds), host
 * (fresh build hosts, the registry's contents), rounds (one configuration, round by round; the
 * control) and report (results.md).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ecrFidelityChecks } from './lib/ecr-checks';
import { startEcrProxyProcess } from './lib/ecr-env';
import { check, checks } from './lib/harness/checks';
import {
  BUILDER_CONFIGS, BUILDS, CONTROL, LONG_TABLES, MULTI_ARCH, MULTI_ARCH_ROUNDS, MULTI_CONFIGS, REPRO_CONFIGS, RERUN_CONFIGS,
  SECRET_CONFIGS, SINGLE_CONFIGS, ecrRepositories,
} from './lib/harness/configurations';
import { ECR, ONLY, OUT, REGISTRY, UNREACHABLE_REGISTRY } from './lib/harness/env';
import { RERUN_HOST, blobsContaining, docker, prepareRound, startReadonlyRegistry, writeStandIns } from './lib/harness/host';
import { writeReport } from './lib/harness/report';
import { runConfig, runControl } from './lib/harness/rounds';
import { SECRET, SINGLE } from './lib/harness/samples';
import { MultiArchResult, runMultiArch } from './lib/multi-arch';
import { RoundResult } from './lib/report';
import { RerunResult, measureReproducibility, runReruns } from './lib/reruns';
import { projectEnvironment, synthesize } from './lib/stack';

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

  writeReport({ single, multi, secrets, builder, reruns, repro, long, timings, multiArch }, leaks, (Date.now() - t0) / 1000);

  const failed = checks.filter((c) => !c.ok);
  for (const c of failed) console.log(`FAILED: ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
  console.log(`e2e: ${checks.length - failed.length} passed, ${failed.length} failed`);
  return failed.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(2);
});

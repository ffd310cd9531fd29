/**
 * End-to-end proof of a multi-architecture build (issue 12): the batch build graph of a standalone
 * CachedImageBuild with `platforms`, executed as CodeBuild would run it: the linux/amd64 and
 * linux/arm64 builds (each on a fresh build host, with the graph's variables), then the index
 * build. arm64 RUN steps run under qemu-aarch64-static (binfmt_misc) on this amd64 machine.
 *
 * Checks per round: each architecture hits its own cache scope (`main-amd64`, `main-arm64`) by
 * the exact count; the index lists both platforms with the per-architecture digests; the commit
 * tag and `latest` name the index; the deploy files and the exported variables name it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { countCached, markerContradictions, parseBuildKitLog } from './buildkit-log';
import { BuildSpecPhases, runBuildSpec } from './codebuild';
import { Registry } from './registry';
import { SynthesizedProject } from './stack';

export interface MultiArchRound {
  readonly round: number;
  readonly label: string;
  /** Files changed since the previous round ('app.txt' only here). */
  readonly cold: boolean;
}

/** Per round and architecture: CACHED steps and seconds; per round: the index digest and its checks. */
export interface MultiArchResult {
  readonly round: number;
  readonly label: string;
  readonly arch: Record<string, { exitCode: number; cached: number; cacheable: number; seconds: number; digest: string }>;
  readonly index: { exitCode: number; digest: string; seconds: number; platforms: string };
}

/** A fresh build host, as the harness prepares it. */
export interface PreparedBuild {
  readonly dir: string;
  readonly src: string;
  readonly env: Record<string, string>;
  readonly logFile: string;
  readonly commit: string;
  readonly dockerConfig: string;
}

export interface MultiArchContext {
  readonly project: SynthesizedProject;
  readonly registry: string;
  readonly ecr: string;
  readonly repository: string;
  /** Steps after FROM, and those unchanged when the app file changes. */
  readonly steps: number;
  readonly warmHits: number;
  readonly check: (name: string, ok: boolean, detail?: string) => boolean;
  /** A fresh build host for one build of a round: env, source dir, log file. */
  readonly prepare: (name: string, round: number, app: string) => PreparedBuild;
  /** The project's environment with the repository overrides. */
  readonly environment: (overrides: Record<string, string>) => Record<string, string>;
  readonly runImage: (ref: string, dockerConfig: string, platform: string) => string;
}

const ARCHS = ['amd64', 'arm64'];

export async function runMultiArch(ctx: MultiArchContext, rounds: MultiArchRound[]): Promise<MultiArchResult[]> {
  const { check } = ctx;
  const registry = new Registry(ctx.registry);
  const graph: any[] = ctx.project.buildSpec.batch['build-graph'];
  check('multi-arch: the buildspec has a batch build graph: a build per architecture, then the index depending on them',
    graph.length === 3 && graph[2]['depend-on'].join(',') === 'build_amd64,build_arm64', JSON.stringify(graph.map((g) => g.identifier)));
  const phases = { ...ctx.project.buildSpec.phases } as BuildSpecPhases;
  // A fresh pair of repositories (a harness run on an E2E_ROOT that kept its registry would find the commit tags taken).
  for (const repository of [ctx.repository, `${ctx.repository}-cache`]) await registry.emptyRepository(repository);
  const results: MultiArchResult[] = [];
  for (const { round, label, cold } of rounds) {
    const app = `multi-arch app, version ${round}`;
    const arch: MultiArchResult['arch'] = {};
    let commit = '';
    const run = async (entry: any) => {
      const r = ctx.prepare(`multi-arch ${entry.identifier}`, round, app);
      commit ||= r.commit;
      const env = {
        ...r.env,
        // One commit for every build of the batch, as CodeBuild gives them.
        CODEBUILD_RESOLVED_SOURCE_VERSION: commit,
        CODEBUILD_SOURCE_VERSION: commit,
        CODEBUILD_BATCH_BUILD_IDENTIFIER: entry.identifier,
        ...ctx.environment({
          CIB_IMAGE_REPOSITORY_URI: `${ctx.ecr}/${ctx.repository}`,
          CIB_CACHE_REPOSITORY_URI: `${ctx.ecr}/${ctx.repository}-cache`,
        }),
        ...entry.env.variables,
      };
      const result = await runBuildSpec({ phases, env, sourceDir: r.src, workDir: path.join(r.dir, 'runner'), logFile: r.logFile });
      return { r, result, log: fs.readFileSync(r.logFile, 'utf8') };
    };
    for (const entry of graph.slice(0, 2)) {
      const a = entry.env.variables.CIB_ARCH as string;
      const { r, result, log } = await run(entry);
      const records = parseBuildKitLog(log);
      const cached = countCached(records);
      const cacheable = cold ? 0 : ctx.warmHits;
      const digest = result.variables.IMAGE_DIGEST ?? '';
      arch[a] = { exitCode: result.exitCode, cached, cacheable, seconds: result.seconds, digest };
      const tag = `multi-arch r${round} ${a}`;
      console.log(`${tag} (${label}): exit ${result.exitCode}, CACHED ${cached}/${cacheable}, ${result.seconds.toFixed(1)} s, ${digest}`);
      if (!check(`${tag}: build succeeded`, result.exitCode === 0, result.failedCommand ? `failed: ${result.failedCommand} (log ${r.logFile})` : '')) continue;
      check(`${tag}: ${ctx.steps} steps reported`, records.length === ctx.steps, `${records.length}`);
      check(`${tag}: steps cached = ${cacheable} (its own cache scope main-${a})`, cached === cacheable);
      const contradictions = markerContradictions(records);
      check(`${tag}: RUN markers agree with the CACHED lines`, contradictions.length === 0, contradictions.join('; '));
      check(`${tag}: cache scope main-${a}`, result.variables.CACHE_SCOPE === `main-${a}`, `${result.variables.CACHE_SCOPE}`);
      const cache = await registry.manifest(`${ctx.repository}-cache`, `main-${a}`);
      check(`${tag}: cache ${ctx.repository}-cache:main-${a} is a BuildKit cache manifest`,
        cache?.body?.config?.mediaType === 'application/vnd.buildkit.cacheconfig.v0', `${cache?.body?.config?.mediaType}`);
      check(`${tag}: no cache written to the single-platform scope main`, (await registry.manifest(`${ctx.repository}-cache`, 'main')) === undefined);
      check(`${tag}: IMAGE_TAG ${commit.slice(0, 8)}…-${a}`, result.variables.IMAGE_TAG === `${commit}-${a}`, `${result.variables.IMAGE_TAG}`);
      const pushed = await registry.manifest(ctx.repository, `${commit}-${a}`);
      const latestArch = await registry.manifest(ctx.repository, `latest-${a}`);
      check(`${tag}: ${commit.slice(0, 8)}…-${a} and latest-${a} hold the pushed single-platform manifest`,
        pushed?.digest === digest && latestArch?.digest === digest && /manifest\.v1\+json|manifest\.v2\+json/.test(pushed?.mediaType ?? ''),
        `${pushed?.digest} ${latestArch?.digest} ${pushed?.mediaType}`);
      const config = pushed ? await (await fetch(`http://${ctx.registry}/v2/${ctx.repository}/blobs/${pushed.body.config.digest}`)).json() as any : {};
      check(`${tag}: the image's config says ${a}`, config.architecture === a && config.os === 'linux', `${config.os}/${config.architecture}`);
      if (a === 'arm64') check(`${tag}: the build warned that RUN steps were emulated`, /^warning: building linux\/arm64 on a amd64 host: RUN steps are emulated$/m.test(log));
    }
    const { r, result, log } = await run(graph[2]);
    const digest = result.variables.IMAGE_DIGEST ?? '';
    const tag = `multi-arch r${round} index`;
    const index = await registry.manifest(ctx.repository, commit);
    const listed = (index?.body?.manifests ?? []).map((m: any) => `${m.platform?.os}/${m.platform?.architecture}@${m.digest}`);
    results.push({ round, label, arch, index: { exitCode: result.exitCode, digest, seconds: result.seconds, platforms: listed.map((l: string) => l.split('@')[0]).join(', ') } });
    console.log(`${tag}: exit ${result.exitCode}, ${result.seconds.toFixed(1)} s, ${digest}: ${listed.join(' ')}`);
    if (!check(`${tag}: index build succeeded`, result.exitCode === 0, result.failedCommand ? `failed: ${result.failedCommand} (log ${r.logFile})` : '')) continue;
    check(`${tag}: no Dockerfile step ran in the index build`, parseBuildKitLog(log).length === 0);
    check(`${tag}: the commit tag holds an image index with exactly linux/amd64@<amd64 digest> and linux/arm64@<arm64 digest>`,
      /manifest\.list\.v2\+json|image\.index\.v1\+json/.test(index?.mediaType ?? '') &&
        listed.join(' ') === `linux/amd64@${arch.amd64?.digest} linux/arm64@${arch.arm64?.digest}`, `${index?.mediaType} ${listed.join(' ')}`);
    const latest = await registry.manifest(ctx.repository, 'latest');
    check(`${tag}: latest and the commit tag name the index (IMAGE_DIGEST)`, index?.digest === digest && latest?.digest === digest && digest !== '',
      `${index?.digest} ${latest?.digest} ${digest}`);
    check(`${tag}: exports IMAGE_URI_AMD64 / IMAGE_URI_ARM64 by digest`,
      ARCHS.every((a) => result.variables[`IMAGE_URI_${a.toUpperCase()}`] === `${ctx.ecr}/${ctx.repository}@${arch[a]?.digest}`));
    const defs = JSON.parse(fs.readFileSync(path.join(r.src, 'imagedefinitions.json'), 'utf8'));
    const detail = JSON.parse(fs.readFileSync(path.join(r.src, 'imageDetail.json'), 'utf8'));
    check(`${tag}: imagedefinitions.json and imageDetail.json name the index`,
      defs[0]?.imageUri === `${ctx.ecr}/${ctx.repository}:${commit}` && detail.ImageURI === `${ctx.ecr}/${ctx.repository}@${digest}`,
      `${defs[0]?.imageUri} ${detail.ImageURI}`);
    for (const a of ARCHS) {
      const ran = ctx.runImage(`${ctx.ecr}/${ctx.repository}@${digest}`, r.dockerConfig, `linux/${a}`);
      check(`${tag}: the index runs as linux/${a} and prints the new app file`, ran === app, JSON.stringify(ran));
    }
  }
  return results;
}

/** The report's table: per round, each architecture's CACHED / cacheable and the index. */
export function multiArchTable(results: MultiArchResult[]): string {
  const rows = results.map((x) => `| ${x.round} | ${x.label} | ${ARCHS.map((a) => {
    const r = x.arch[a];
    return r ? `${r.exitCode === 0 ? `${r.cached} / ${r.cacheable}` : `exit ${r.exitCode}`} | ${r.seconds.toFixed(1)}` : '- | -';
  }).join(' | ')} | ${x.index.exitCode === 0 ? `${x.index.platforms} (${x.index.digest.slice(0, 19)}…)` : `exit ${x.index.exitCode}`} | ${x.index.seconds.toFixed(1)} |`);
  return [
    '| round | scenario | amd64 CACHED / cacheable | amd64 s | arm64 CACHED / cacheable | arm64 s | index (commit tag = latest) | index s |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

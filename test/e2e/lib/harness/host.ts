/**
 * Fresh build hosts for a round (the Docker engines, Buildah's storage, CodeBuild's environment), the
 * registry's contents as the checks read them, and the read-only view of the registry.
 */

import { spawn, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { check } from './checks';
import {
  BUILDAH_TRIXIE_BIN_DIR, DAEMONS, DOCKER20_BIN_DIR, DOCKER_BIN_DIR, Daemon, E2E_ROOT, ECR, ENV_SH, Engine, OUT, PLUGINS_DIR,
  READONLY_REGISTRY, REGISTRY, SAMPLE_APP,
} from './env';
import { codeBuildEnvironment, freshBuildahStorage } from '../build-host';
import { installAwsStandIn } from '../ecr-env';
import { PushedImage } from '../execution';
import { Registry } from '../registry';
import { RerunHost } from '../reruns';
import { projectEnvironment } from '../stack';

// ------------------------------------------------------------------ helpers
export function docker(daemon: Daemon, args: string[], dockerConfig?: string) {
  const bin = daemon === 'd20' ? DOCKER20_BIN_DIR : DOCKER_BIN_DIR;
  return spawnSync(path.join(bin, 'docker'), args, {
    env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, DOCKER_HOST: DAEMONS[daemon], ...(dockerConfig ? { DOCKER_CONFIG: dockerConfig } : {}) },
    encoding: 'utf8',
  });
}

export function resetDaemon(daemon: Daemon): void {
  const r = spawnSync('bash', [ENV_SH, 'reset-daemon', daemon], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reset-daemon ${daemon} failed: ${r.stderr}`);
}

export function writeStandIns(binDir: string): void {
  // `aws` answers the buildspec's ECR calls from the ECR proxy (lib/aws-stand-in.ts) and records
  // every call, so the harness can check what the build asked for; CloudWatch metrics are recorded.
  installAwsStandIn(binDir);
  fs.writeFileSync(path.join(OUT, 'registries.conf'), [REGISTRY, READONLY_REGISTRY, ECR]
    .map((r) => `[[registry]]\nlocation = "${r}"\ninsecure = true\n`).join('\n'));
}

export interface Source { deps: number; app: string }

export function prepareRound(config: string, engine: Engine, round: number, branch: string, source: Source, webhook?: Record<string, string>,
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
export function runImage(daemon: Daemon, ref: string, dockerConfig: string): string {
  const r = docker(daemon, ['run', '--rm', '--network', 'none', ref], dockerConfig);
  return r.status === 0 ? r.stdout.trim() : `(docker run failed: ${r.stderr.trim()})`;
}

export async function cacheSnapshot(registry: Registry, repository: string, prefix: string): Promise<string> {
  const tags = (await registry.tags(repository)).filter((t) => t.startsWith(prefix)).sort();
  const parts: string[] = [];
  for (const t of tags) parts.push(`${t}=${(await registry.manifest(repository, t))?.digest}`);
  return parts.join(' ');
}

/** Where the local registry keeps its blobs (distribution's filesystem layout). */
export function registryBlobDir(): string {
  const mainConfig = fs.readFileSync(path.join(E2E_ROOT, 'etc', 'registry.yml'), 'utf8');
  const root = /rootdirectory:\s*(\S+)/.exec(mainConfig)![1];
  return path.join(root, 'docker', 'registry', 'v2', 'blobs');
}

/** Digests of every blob the registry holds now. */
export function registryBlobs(): Set<string> {
  const dir = path.join(registryBlobDir(), 'sha256');
  const out = new Set<string>();
  if (!fs.existsSync(dir)) return out;
  for (const prefix of fs.readdirSync(dir)) {
    for (const hex of fs.readdirSync(path.join(dir, prefix))) out.add(`sha256:${hex}`);
  }
  return out;
}

/** Layers and history of an image in the local registry. */
export async function pushedImage(registry: Registry, repository: string, reference: string): Promise<PushedImage | undefined> {
  const m = await registry.manifest(repository, reference);
  if (!m?.body?.config?.digest) return undefined;
  const r = await fetch(`http://${REGISTRY}/v2/${repository}/blobs/${m.body.config.digest}`);
  if (!r.ok) return undefined;
  const config = (await r.json()) as { history?: PushedImage['history'] };
  return { layers: (m.body.layers ?? []).map((l: { digest: string }) => l.digest), history: config.history ?? [] };
}
let base: PushedImage | undefined;
export async function baseImage(registry: Registry): Promise<PushedImage | undefined> {
  base ??= await pushedImage(registry, 'base', '1');
  return base;
}

/** Searches every blob the registry stores (layers decompressed) for the secret. */
export function blobsContaining(secret: string): string[] {
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

// ------------------------------------------------------------------ read-only view of the registry
export async function startReadonlyRegistry(): Promise<() => void> {
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

/** Fresh build hosts for the re-run scenarios (lib/reruns.ts), with the fixed commit of each step. */
export const RERUN_HOST: RerunHost = {
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

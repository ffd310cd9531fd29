/** The e2e harness's environment: what test/e2e/env/env.sh set up, from its variables, and the harness's paths and ports. */

import * as path from 'path';

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the harness through test/e2e/run.sh`);
  return v;
}
export const REGISTRY = need('REGISTRY');
export const DOCKER_BIN_DIR = need('DOCKER_BIN_DIR');
export const DOCKER20_BIN_DIR = need('DOCKER20_BIN_DIR');
export const PLUGINS_DIR = path.join(need('DOCKER_CONFIG'), 'cli-plugins');
export const E2E_ROOT = need('E2E_ROOT');
export const DAEMONS = { cd: need('DOCKER_HOST_CD'), classic: need('DOCKER_HOST_CLASSIC'), classic2: need('DOCKER_HOST_CLASSIC2'), d20: need('DOCKER_HOST_D20') };
/** The BuildKit image built from Debian sources by env/buildkit-image.sh, in the local registry, by digest. */
export const BUILDKIT_IMAGE = need('BUILDKIT_IMAGE');
/** Debian 13's Buildah 1.39 (env/buildah-trixie.sh): the wrapper's directory, put first on a build's PATH. */
export const BUILDAH_TRIXIE_BIN_DIR = need('BUILDAH_TRIXIE_BIN_DIR');
export type Daemon = keyof typeof DAEMONS;
export type Engine = Daemon | 'buildah';
export const ENV_SH = path.join(__dirname, '..', '..', 'env', 'env.sh');
export const OUT = path.resolve(__dirname, '..', '..', 'out');
export const SAMPLE_APP = path.join(__dirname, '..', '..', 'sample-app');
export const READONLY_REGISTRY = `127.0.0.1:${Number(process.env.E2E_READONLY_REGISTRY_PORT ?? '5001')}`;
/** A port nothing listens on (checked at start). */
export const UNREACHABLE_REGISTRY = `127.0.0.1:${Number(process.env.E2E_UNREACHABLE_REGISTRY_PORT ?? '5999')}`;
/** Only the configurations whose name matches (for working on the harness; CI runs them all). */
export const ONLY = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : undefined;
/** The ECR proxy (lib/ecr-proxy.ts) in front of REGISTRY: the construct's repositories are behind it. */
export const ECR = `127.0.0.1:${Number(process.env.E2E_ECR_PROXY_PORT ?? Number(REGISTRY.split(':')[1]) + 2)}`;

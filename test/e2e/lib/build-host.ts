/** What a round of the e2e and of the benchmark gets as a fresh build host: its environment, its Buildah storage. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** Unmounts everything mounted under dir, deepest first. */
export function unmountUnder(dir: string): void {
  const r = spawnSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' });
  for (const m of (r.stdout ?? '').split('\n').filter((x) => x.startsWith(dir)).sort().reverse()) {
    spawnSync('umount', ['-l', m]);
  }
}

/**
 * A new, empty Buildah storage at `storage` (its storage.conf in `dir`); registries.conf lets
 * Buildah talk HTTP to 127.0.0.1; OCI isolation supports `--network none`. Returns the build's
 * environment variables and the cleanup.
 */
export function freshBuildahStorage(storage: string, dir: string, registriesConf: string): { env: Record<string, string>; cleanup: () => void } {
  fs.rmSync(storage, { recursive: true, force: true });
  fs.mkdirSync(storage, { recursive: true });
  const conf = path.join(dir, 'storage.conf');
  fs.writeFileSync(conf, `[storage]\ndriver = "overlay"\ngraphroot = "${storage}/graph"\nrunroot = "${storage}/run"\n`);
  return {
    env: { CONTAINERS_STORAGE_CONF: conf, CONTAINERS_REGISTRIES_CONF: registriesConf, BUILDAH_ISOLATION: 'oci' },
    cleanup: () => { unmountUnder(storage); fs.rmSync(storage, { recursive: true, force: true }); },
  };
}

/**
 * The build container's environment as CodeBuild sets it for a push webhook build (the harness
 * adds its own, e.g. other webhook variables), with the `aws` stand-in first on PATH.
 */
export function codeBuildEnvironment(o: {
  /** Directory of the `aws` stand-in. */
  readonly binDir: string;
  readonly dockerBinDir: string;
  /** The round's directory (HOME, the stand-in's records). */
  readonly dir: string;
  readonly dockerConfig: string;
  readonly ecrProxy: string;
  readonly buildId: string;
  readonly buildNumber: number;
  readonly commit: string;
  readonly sourceDir: string;
}): Record<string, string> {
  return {
    PATH: `${o.binDir}:${o.dockerBinDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: o.dir,
    LANG: 'C.UTF-8',
    DOCKER_CONFIG: o.dockerConfig,
    E2E_AWS_CALLS: path.join(o.dir, 'aws-calls.txt'),
    E2E_METRICS: path.join(o.dir, 'metrics.txt'),
    E2E_ECR_PROXY: o.ecrProxy,
    CODEBUILD_BUILD_ID: o.buildId,
    CODEBUILD_BUILD_NUMBER: String(o.buildNumber),
    CODEBUILD_RESOLVED_SOURCE_VERSION: o.commit,
    CODEBUILD_SOURCE_VERSION: o.commit,
    CODEBUILD_SRC_DIR: o.sourceDir,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
  };
}

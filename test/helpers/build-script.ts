import { spawnSync } from 'child_process';
import { BuildxBuilder, CacheStrategy, ImageTag, PullRequestPolicy } from '../../src';
import { BuildScript, BuildScriptOptions } from '../../src/script/build-script';

/** Shared by the build script tests: options with markers, readers of the commands, and bash. */

export function markedOptions(overrides: Partial<BuildScriptOptions> = {}): BuildScriptOptions {
  return {
    strategy: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: 'mk01img.example/buildkit:mk01' }) }),
    imageRepositoryUri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/mk02repo',
    imageRepositoryRegion: 'mk03region',
    cacheRepositoryUri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/mk04cache',
    cacheRepositoryRegion: 'mk05region',
    cacheRepositoryName: 'mk17cachename',
    dockerfile: 'mk06dir/Dockerfile.mk06',
    buildContext: 'mk07ctx',
    target: 'mk08target',
    buildArgs: {
      MK09_NAME: 'mk10 value with "quotes" $(touch /tmp/x) `id` ; | &&',
      OTHER_ARG: 'mk11=second=equals',
    },
    networkMode: 'mk12net',
    platform: 'linux/amd64',
    defaultBranch: 'mk18branch',
    defaultCacheTag: 'mk13default',
    pullRequests: PullRequestPolicy.push(),
    imageTags: [ImageTag.commit(), ImageTag.of('mk14tag'), ImageTag.of('mk15tag')],
    provenance: false,
    containerName: 'mk16container',
    ...overrides,
  };
}

/** The image and cache repositories of {@link plainOptions}. */
export const PLAIN_REPO = '123456789012.dkr.ecr.us-east-1.amazonaws.com/api';
export const PLAIN_CACHE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/api-cache';

/**
 * Options of a build with the props' defaults (repository `api`, branch `main`, the default tags
 * and pull-request policy), for the tests that run the whole script under stand-ins.
 */
export function plainOptions(strategy: CacheStrategy, overrides: Partial<BuildScriptOptions> = {}): BuildScriptOptions {
  return {
    strategy,
    imageRepositoryUri: PLAIN_REPO,
    imageRepositoryRegion: 'us-east-1',
    cacheRepositoryUri: strategy.usesCacheRepository ? PLAIN_CACHE : undefined,
    cacheRepositoryRegion: strategy.usesCacheRepository ? 'us-east-1' : undefined,
    cacheRepositoryName: strategy.usesCacheRepository ? 'api-cache' : undefined,
    dockerfile: 'Dockerfile',
    buildContext: '.',
    buildArgs: {},
    platform: 'linux/amd64',
    defaultBranch: 'main',
    defaultCacheTag: 'main',
    pullRequests: PullRequestPolicy.push(),
    imageTags: [ImageTag.commit(), ImageTag.gitTag(), ImageTag.of('latest')],
    provenance: false,
    containerName: 'app',
    ...overrides,
  };
}

export const MARKERS = Array.from({ length: 18 }, (_, i) => `mk${String(i + 1).padStart(2, '0')}`);

export function allCommands(script: BuildScript): string[] {
  return [...script.phases.install, ...script.phases.pre_build, ...script.phases.build, ...script.phases.post_build];
}

/** A command as the strategy wrote it: without the guard that skips it when the image of the commit is reused. */
export function unguarded(command: string): string {
  const m = /^if \[ "\$CIB_SKIP_BUILD" != true \]; then (.*); fi$/s.exec(command);
  return m ? m[1] : command;
}

/** The phases with every command unguarded (see `unguarded`). */
export function unguardedPhases(script: BuildScript): BuildScript['phases'] {
  const p = script.phases;
  return { install: p.install, pre_build: p.pre_build.map(unguarded), build: p.build.map(unguarded), post_build: p.post_build.map(unguarded) };
}

export function buildCommand(script: BuildScript): string {
  const builds = unguardedPhases(script).build.filter((c) => /\b(docker buildx build|buildah build)\b/.test(c));
  expect(builds).toHaveLength(1);
  return builds[0];
}

/** The command text with every `$( ... )` command substitution removed (balanced parentheses). */
export function withoutCommandSubstitutions(command: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < command.length; i++) {
    if (depth === 0 && command[i] === '$' && command[i + 1] === '(') {
      depth = 1;
      i++;
    } else if (depth > 0) {
      if (command[i] === '(') depth++;
      if (command[i] === ')') depth--;
    } else {
      out += command[i];
    }
  }
  return out;
}

/** A `|` that is not part of `||`. */
export const TOP_LEVEL_PIPE = /(^|[^|])\|([^|]|$)/;

/** Commands with a top-level pipe not preceded by `set -o pipefail;`. */
export function pipesWithoutPipefail(commands: string[]): string[] {
  return commands.filter((command) => {
    const text = withoutCommandSubstitutions(command);
    const firstPipe = text.search(TOP_LEVEL_PIPE);
    if (firstPipe < 0) return false;
    const pipefail = text.indexOf('set -o pipefail;');
    return pipefail < 0 || pipefail > firstPipe;
  });
}

/** Shell functions and arrays defined in one command and used in another: `name: defined in command i, used in command j`. */
export function crossingDefinitions(commands: string[]): string[] {
  const crossing: string[] = [];
  commands.forEach((command, i) => {
    const functions = [...command.matchAll(/(?:^|[\s;(])([A-Za-z_][A-Za-z0-9_]*)\s*\(\)\s*\{/g)].map((m) => m[1]);
    const arrays = [...command.matchAll(/(?:^|[\s;(])([A-Za-z_][A-Za-z0-9_]*)\+?=\(/g)].map((m) => m[1]);
    for (const name of new Set([...functions, ...arrays])) {
      const use = new RegExp(`(^|[^A-Za-z0-9_])${name}([^A-Za-z0-9_]|$)`);
      commands.forEach((other, j) => {
        if (j !== i && use.test(other)) crossing.push(`${name}: defined in command ${i}, used in command ${j}`);
      });
    }
  });
  return crossing;
}

export const STRATEGIES: Array<[string, () => CacheStrategy]> = [
  ['registry with a docker-container builder', () => CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: 'mk01img.example/buildkit:mk01' }) })],
  ['registry with the current driver', () => CacheStrategy.registry({ builder: BuildxBuilder.currentDriver() })],
  ['inline', () => CacheStrategy.inline()],
  ['buildah', () => CacheStrategy.buildah()],
  ['buildah without install', () => CacheStrategy.buildah({ install: false })],
  ['none', () => CacheStrategy.none()],
];


export function runCommands(commands: string[], env: Record<string, string>, stubs = ''): { stdout: string; stderr: string; status: number | null } {
  const program = [stubs, ...commands.map((c) => `${c} || exit 99`)].join('\n');
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', program], {
    env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...env },
  });
  return { stdout: result.stdout.toString(), stderr: result.stderr.toString(), status: result.status };
}

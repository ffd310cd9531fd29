import { spawnSync } from 'child_process';
import { BuildxBuilder, CacheStrategy, ImageTag } from '../src';
import { BuildScriptOptions, renderBuildScript, toBuildSpecObject, BuildScript } from '../src/build-script';

/** Options with a value for everything, each user value carrying a distinctive marker. */
function markedOptions(overrides: Partial<BuildScriptOptions> = {}): BuildScriptOptions {
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
    defaultCacheTag: 'mk13default',
    imageTags: [ImageTag.commit(), ImageTag.of('mk14tag'), ImageTag.of('mk15tag')],
    provenance: false,
    containerName: 'mk16container',
    ...overrides,
  };
}

const MARKERS = Array.from({ length: 17 }, (_, i) => `mk${String(i + 1).padStart(2, '0')}`);

function allCommands(script: BuildScript): string[] {
  return [...script.phases.install, ...script.phases.pre_build, ...script.phases.build, ...script.phases.post_build];
}

function buildCommand(script: BuildScript): string {
  const builds = script.phases.build.filter((c) => /\b(docker buildx build|buildah build)\b/.test(c));
  expect(builds).toHaveLength(1);
  return builds[0];
}

/** The command text with every `$( ... )` command substitution removed (balanced parentheses). */
function withoutCommandSubstitutions(command: string): string {
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
const TOP_LEVEL_PIPE = /(^|[^|])\|([^|]|$)/;

/** Commands with a top-level pipe not preceded by `set -o pipefail;`. */
function pipesWithoutPipefail(commands: string[]): string[] {
  return commands.filter((command) => {
    const text = withoutCommandSubstitutions(command);
    const firstPipe = text.search(TOP_LEVEL_PIPE);
    if (firstPipe < 0) return false;
    const pipefail = text.indexOf('set -o pipefail;');
    return pipefail < 0 || pipefail > firstPipe;
  });
}

/** Shell functions and arrays defined in one command and used in another: `name: defined in command i, used in command j`. */
function crossingDefinitions(commands: string[]): string[] {
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

const STRATEGIES: Array<[string, () => CacheStrategy]> = [
  ['registry with a docker-container builder', () => CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: 'mk01img.example/buildkit:mk01' }) })],
  ['registry with the current driver', () => CacheStrategy.registry({ builder: BuildxBuilder.currentDriver() })],
  ['inline', () => CacheStrategy.inline()],
  ['buildah', () => CacheStrategy.buildah()],
  ['buildah without install', () => CacheStrategy.buildah({ install: false })],
  ['none', () => CacheStrategy.none()],
];

describe('command shape', () => {
  test.each(STRATEGIES)('every command is a single line (%s)', (_name, strategy) => {
    // GIVEN
    const options = markedOptions({ strategy: strategy() });

    // WHEN
    const commands = allCommands(renderBuildScript(options));

    // THEN
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.filter((c) => /[\n\r]/.test(c))).toEqual([]);
  });

  test.each(STRATEGIES)('every command that pipes sets pipefail itself, before its first pipe (%s)', (_name, strategy) => {
    // GIVEN
    const options = markedOptions({ strategy: strategy() });

    // WHEN
    const commands = allCommands(renderBuildScript(options));

    // THEN: pipes inside $( ... ) only decide the substitution's value; top-level pipes decide the command's status
    expect(pipesWithoutPipefail(commands)).toEqual([]);
  });

  test.each(STRATEGIES.filter(([name]) => !name.startsWith('buildah')))('the docker login pipes the ECR password into docker login (%s)', (_name, strategy) => {
    // GIVEN
    const options = markedOptions({ strategy: strategy() });

    // WHEN
    const commands = allCommands(renderBuildScript(options));

    // THEN: the pipefail check above has pipes to look at
    expect(commands.filter((c) => TOP_LEVEL_PIPE.test(withoutCommandSubstitutions(c))).length).toBeGreaterThan(0);
  });

  test('the pipefail check finds a top-level pipe without pipefail, and ignores || and $( | )', () => {
    // GIVEN
    const commands = ['a | b', 'set -o pipefail; a | b', 'a || b', 'x="$(a | b)"', 'a | b; set -o pipefail'];

    // WHEN
    const found = pipesWithoutPipefail(commands);

    // THEN
    expect(found).toEqual(['a | b', 'a | b; set -o pipefail']);
  });

  test.each(STRATEGIES)('no command defines a shell function or array that another command uses (%s)', (_name, strategy) => {
    // GIVEN: CodeBuild carries only scalar variables from one command to the next
    const options = markedOptions({ strategy: strategy() });

    // WHEN
    const commands = allCommands(renderBuildScript(options));

    // THEN
    expect(crossingDefinitions(commands)).toEqual([]);
  });

  test('the function and array check finds definitions used by other commands', () => {
    // GIVEN: commands in the style the check forbids, and a self-contained array
    const commands = ['A=(x y)', 'echo "${A[@]}"', 'f() { :; }', 'f', 'B=(); B+=(z); echo "${B[@]}"'];

    // WHEN
    const crossing = crossingDefinitions(commands);

    // THEN
    expect(crossing).toEqual(['A: defined in command 0, used in command 1', 'f: defined in command 2, used in command 3']);
  });

  test.each(STRATEGIES)('no command contains a user value; every user value is in the environment (%s)', (name, strategy) => {
    // GIVEN
    const options = markedOptions({ strategy: strategy() });

    // WHEN
    const script = renderBuildScript(options);

    // THEN
    const leaking = allCommands(script).filter((c) => MARKERS.some((m) => c.toLowerCase().includes(m)));
    expect(leaking).toEqual([]);
    const environment = JSON.stringify(script.environment).toLowerCase();
    const expected = MARKERS
      .filter((m) => m !== 'mk01' || name === 'registry with a docker-container builder')
      .filter((m) => !['mk04', 'mk05'].includes(m) || name !== 'none')
      // only the inline strategy calls the ECR API with the cache repository's name
      .filter((m) => m !== 'mk17' || name === 'inline');
    expect(expected.length).toBeGreaterThanOrEqual(13);
    expect(expected.filter((m) => !environment.includes(m))).toEqual([]);
  });

  test('user values reach the build command only as quoted variable expansions', () => {
    // GIVEN
    const options = markedOptions();

    // WHEN
    const command = buildCommand(renderBuildScript(options));

    // THEN: every $VAR / ${VAR} expansion sits inside double quotes
    const unquoted = command
      .replace(/"(?:[^"\\]|\\.)*"/g, '')
      .match(/\$\{?[A-Za-z_]/g);
    expect(unquoted).toBeNull();
  });
});

describe('environment', () => {
  test('passes each build argument as NAME=value in CIB_BUILD_ARG_n, sorted by name', () => {
    // GIVEN
    const options = markedOptions({ buildArgs: { ZED: 'z', ALPHA: 'a', MID: 'm=x' } });

    // WHEN
    const script = renderBuildScript(options);

    // THEN
    expect(Object.keys(script.environment).filter((k) => k.startsWith('CIB_BUILD_ARG_'))).toEqual([
      'CIB_BUILD_ARG_1', 'CIB_BUILD_ARG_2', 'CIB_BUILD_ARG_3',
    ]);
    expect(script.environment.CIB_BUILD_ARG_1).toEqual('ALPHA=a');
    expect(script.environment.CIB_BUILD_ARG_2).toEqual('MID=m=x');
    expect(script.environment.CIB_BUILD_ARG_3).toEqual('ZED=z');
  });

  test('the build command passes the build arguments in order', () => {
    // GIVEN
    const options = markedOptions({ buildArgs: { ZED: 'z', ALPHA: 'a' } });

    // WHEN
    const command = buildCommand(renderBuildScript(options));

    // THEN
    expect(command).toContain('--build-arg "$CIB_BUILD_ARG_1" --build-arg "$CIB_BUILD_ARG_2"');
    expect(command).not.toContain('CIB_BUILD_ARG_3');
  });

  test('has no target or network variable when neither is given', () => {
    // GIVEN
    const options = markedOptions({ target: undefined, networkMode: undefined });

    // WHEN
    const script = renderBuildScript(options);

    // THEN
    expect(script.environment).not.toHaveProperty('CIB_TARGET');
    expect(script.environment).not.toHaveProperty('CIB_NETWORK_MODE');
    expect(buildCommand(script)).not.toMatch(/--target|--network/);
  });

  test('passes target and network mode through variables', () => {
    // GIVEN
    const options = markedOptions({ target: 'prod', networkMode: 'host' });

    // WHEN
    const script = renderBuildScript(options);

    // THEN
    expect(script.environment).toMatchObject({ CIB_TARGET: 'prod', CIB_NETWORK_MODE: 'host' });
    expect(buildCommand(script)).toContain('--target "$CIB_TARGET"');
    expect(buildCommand(script)).toContain('--network "$CIB_NETWORK_MODE"');
  });

  test.each([[false, 'false'], [true, 'true']])('provenance %s sets CIB_PROVENANCE=%s', (provenance, expected) => {
    // WHEN
    const script = renderBuildScript(markedOptions({ provenance }));

    // THEN
    expect(script.environment.CIB_PROVENANCE).toEqual(expected);
    expect(buildCommand(script)).toContain('--provenance="$CIB_PROVENANCE"');
  });

  test('numbers fixed tags CIB_IMAGE_TAG_1..n in the given order', () => {
    // GIVEN
    const options = markedOptions({ imageTags: [ImageTag.of('stable'), ImageTag.commit(), ImageTag.of('latest')] });

    // WHEN
    const script = renderBuildScript(options);

    // THEN
    expect(script.environment.CIB_IMAGE_TAG_1).toEqual('stable');
    expect(script.environment.CIB_IMAGE_TAG_2).toEqual('latest');
    expect(buildCommand(script)).toContain(
      '--tag "$CIB_IMAGE_REPOSITORY_URI:$CIB_IMAGE_TAG_1" --tag "$CIB_IMAGE_REPOSITORY_URI:$CIB_COMMIT_TAG" --tag "$CIB_IMAGE_REPOSITORY_URI:$CIB_IMAGE_TAG_2"',
    );
  });

  test.each([
    ['the commit tag', [ImageTag.commit(), ImageTag.of('latest')], 'export IMAGE_TAG="$CIB_COMMIT_TAG"'],
    ['the fixed tag', [ImageTag.of('latest'), ImageTag.commit()], 'export IMAGE_TAG="$CIB_IMAGE_TAG_1"'],
  ])('exports %s as IMAGE_TAG when it comes first', (_name, imageTags, expected) => {
    // WHEN
    const script = renderBuildScript(markedOptions({ imageTags }));

    // THEN
    expect(script.phases.pre_build).toContain(expected);
  });

  test('throws when no image tag is given', () => {
    // WHEN / THEN
    expect(() => renderBuildScript(markedOptions({ imageTags: [] }))).toThrow(/imageTags/);
  });
});

describe('registry cache strategy', () => {
  test('imports the branch cache and falls back to the default branch cache', () => {
    // WHEN
    const command = buildCommand(renderBuildScript(markedOptions()));

    // THEN
    expect(command).toContain('--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG"');
    expect(command).toContain('--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_DEFAULT_CACHE_TAG"');
  });

  test('exports the cache to the branch cache tag with mode=max as an OCI image manifest, ignoring export errors', () => {
    // WHEN
    const script = renderBuildScript(markedOptions());

    // THEN
    expect(buildCommand(script)).toContain('--cache-to "$CIB_CACHE_TO"');
    expect(script.phases.pre_build).toContain(
      'CIB_CACHE_TO="type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"',
    );
  });

  test('pushes the image and reports its digest from the metadata file', () => {
    // WHEN
    const script = renderBuildScript(markedOptions());

    // THEN
    expect(buildCommand(script)).toMatch(/--push .*--metadata-file "\$CIB_METADATA_FILE"/);
    expect(script.phases.build.some((c) => c.startsWith('export IMAGE_DIGEST='))).toBe(true);
  });

  test('sets the cache repository variables', () => {
    // WHEN
    const script = renderBuildScript(markedOptions());

    // THEN
    expect(script.environment.CIB_CACHE_REPOSITORY_URI).toEqual('123456789012.dkr.ecr.us-east-1.amazonaws.com/mk04cache');
    expect(script.environment.CIB_CACHE_REGION).toEqual('mk05region');
  });

  test('throws without a cache repository', () => {
    // WHEN / THEN
    expect(() => renderBuildScript(markedOptions({ cacheRepositoryUri: undefined, cacheRepositoryRegion: undefined })))
      .toThrow(/needs a cache repository/);
  });

  test('creates a docker-container builder from CIB_BUILDER_IMAGE and builds with it', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry() }));

    // THEN
    expect(script.environment.CIB_BUILDER_IMAGE).toEqual('moby/buildkit:buildx-stable-1');
    const create = script.phases.pre_build.filter((c) => c.includes('docker buildx create'));
    expect(create).toHaveLength(1);
    expect(create[0]).toContain('--driver docker-container');
    expect(create[0]).toContain('--driver-opt "image=$CIB_BUILDER_IMAGE"');
    expect(script.phases.pre_build).toContain('CIB_BUILDER=cib-builder');
    expect(buildCommand(script)).toContain('--builder "$CIB_BUILDER"');
  });

  test.each([
    ['fails the build with advice by default', {}, 1, /^error: could not start a BuildKit builder from the image moby\/buildkit:buildx-stable-1\. If Docker Hub refused the pull/m, 'cib-builder', 'type=registry,'],
    ['falls back to the engine builder, importing but not exporting the cache, when allowed', { fallbackToEngineBuilder: true },
      0, /^warning: could not start a BuildKit builder from the image moby\/buildkit:buildx-stable-1; building with the engine's builder, which cannot export the cache/m, 'default', 'type=inline'],
  ])('when the builder cannot start, %s, in bash', (_name, options, status, message, builder, cacheTo) => {
    // GIVEN: docker buildx create fails, as when the image cannot be pulled
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer(options) }) }));
    const commands = script.phases.pre_build.filter((c) => c.startsWith('CIB_CACHE_TO=') || c.startsWith('CIB_BUILDER=') || c.startsWith('if docker buildx create'));
    expect(commands).toHaveLength(3);

    // WHEN
    const r = runCommands([...commands.map((c) => `${c} || { printf "%s" "$CIB_BUILDER" > /tmp/cib-builder-${process.pid}; exit 1; }`),
      'printf "%s %s" "$CIB_BUILDER" "${CIB_CACHE_TO%%ref=*}"'],
    { CIB_BUILDER_IMAGE: 'moby/buildkit:buildx-stable-1', CIB_CACHE_REPOSITORY_URI: 'r', CIB_CACHE_TAG: 'main' },
    'docker() { echo "ERROR: failed to pull moby/buildkit: toomanyrequests" >&2; return 1; }');

    // THEN
    expect(r.status === 0 ? 0 : 1).toEqual(status);
    expect(r.stderr).toMatch(message as RegExp);
    if (status === 0) expect(r.stdout).toEqual(`${builder} ${cacheTo}`);
  });

  test('uses a custom BuildKit image', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({
      strategy: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/buildkit:v0.13' }) }),
    }));

    // THEN
    expect(script.environment.CIB_BUILDER_IMAGE).toEqual('123456789012.dkr.ecr.us-east-1.amazonaws.com/buildkit:v0.13');
  });

  test('passes no network and no buildkitd configuration unless asked', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry() }));

    // THEN
    const create = script.phases.pre_build.filter((c) => c.includes('docker buildx create'));
    expect(create[0]).not.toMatch(/network=|--config|--buildkitd-config/);
    expect(allCommands(script).filter((c) => c.includes('CIB_BUILDKITD_CONFIG'))).toEqual([]);
    expect(script.environment).not.toHaveProperty('CIB_BUILDER_NETWORK');
    expect(script.environment).not.toHaveProperty('CIB_BUILDKITD_CONFIG');
  });

  test('creates the builder on the given network, with the given buildkitd configuration, both from variables', () => {
    // GIVEN
    const buildkitdConfig = '[registry."127.0.0.1:5000"]\n  http = true\n';

    // WHEN
    const script = renderBuildScript(markedOptions({
      strategy: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: 'mk01img.example/buildkit:mk01', network: 'host', buildkitdConfig }) }),
    }));

    // THEN
    expect(script.environment.CIB_BUILDER_NETWORK).toEqual('host');
    expect(script.environment.CIB_BUILDKITD_CONFIG).toEqual(buildkitdConfig);
    const pre = script.phases.pre_build;
    const create = pre.findIndex((c) => c.includes('docker buildx create'));
    const write = pre.findIndex((c) => c.startsWith('CIB_BUILDKITD_CONFIG_FILE='));
    expect(write).toBeGreaterThanOrEqual(0);
    expect(write).toBeLessThan(create);
    expect(pre[create]).toContain('--driver-opt "network=$CIB_BUILDER_NETWORK"');
    expect(pre[create]).toContain('--config "$CIB_BUILDKITD_CONFIG_FILE"');
    expect(allCommands(script).join('\n')).not.toContain('127.0.0.1:5000');
  });

  test('writes the buildkitd configuration byte-exact to the file it passes, in bash', () => {
    // GIVEN: TOML with quotes, shell syntax and printf formats, which the shell must not touch
    const buildkitdConfig = 'debug = true\n[registry."r.example:5000"]\n  http = true # $(touch /tmp/cib-never) `id` %s %n \\n \'\n';
    const script = renderBuildScript(markedOptions({
      strategy: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ buildkitdConfig }) }),
    }));
    const write = script.phases.pre_build.filter((c) => c.startsWith('CIB_BUILDKITD_CONFIG_FILE='));
    expect(write).toHaveLength(1);

    // WHEN
    const r = runCommands([write[0], 'cat "$CIB_BUILDKITD_CONFIG_FILE"; rm -f "$CIB_BUILDKITD_CONFIG_FILE"'], { CIB_BUILDKITD_CONFIG: buildkitdConfig });

    // THEN: the text, plus the line break that ends the file
    expect(r.status).toEqual(0);
    expect(r.stdout).toEqual(`${buildkitdConfig}\n`);
  });

  test('with the current driver creates no builder and sets no builder image', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry({ builder: BuildxBuilder.currentDriver() }) }));

    // THEN
    expect(allCommands(script).filter((c) => c.includes('buildx create'))).toEqual([]);
    expect(buildCommand(script)).not.toContain('--builder');
    expect(script.environment).not.toHaveProperty('CIB_BUILDER_IMAGE');
  });
});

describe('no cache strategy', () => {
  test('neither imports nor exports a cache and builds with --no-cache', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({
      strategy: CacheStrategy.none(),
      cacheRepositoryUri: undefined,
      cacheRepositoryRegion: undefined,
    }));

    // THEN
    expect(allCommands(script).filter((c) => /--cache-(from|to)/.test(c))).toEqual([]);
    expect(buildCommand(script)).toContain('--no-cache');
  });

  test('has no cache repository variables, even when a cache repository is passed', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.none() }));

    // THEN
    expect(script.environment).not.toHaveProperty('CIB_CACHE_REPOSITORY_URI');
    expect(script.environment).not.toHaveProperty('CIB_CACHE_REGION');
    expect(allCommands(script).filter((c) => c.includes('CIB_CACHE_REPOSITORY_URI'))).toEqual([]);
  });
});

describe('toBuildSpecObject', () => {
  test('is a version 0.2 buildspec run by bash', () => {
    // WHEN
    const spec = toBuildSpecObject(renderBuildScript(markedOptions()));

    // THEN
    expect(spec.version).toEqual('0.2');
    expect(spec.env.shell).toEqual('bash');
  });

  test('exports IMAGE_URI, IMAGE_TAG, IMAGE_DIGEST, CACHE_HIT_RATIO and CACHED_STEPS', () => {
    // WHEN
    const spec = toBuildSpecObject(renderBuildScript(markedOptions()));

    // THEN
    expect(spec.env['exported-variables']).toEqual(['IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST', 'CACHE_HIT_RATIO', 'CACHED_STEPS']);
  });

  test('leaves imagedefinitions.json and imageDetail.json as artifacts', () => {
    // WHEN
    const spec = toBuildSpecObject(renderBuildScript(markedOptions()));

    // THEN
    expect(spec.artifacts).toEqual({ 'files': ['imagedefinitions.json', 'imageDetail.json'], 'discard-paths': 'yes' });
  });

  test.each(STRATEGIES)('every phase aborts on failure and empty phases are left out (%s)', (_name, strategy) => {
    // GIVEN
    const script = renderBuildScript(markedOptions({ strategy: strategy() }));

    // WHEN
    const spec = toBuildSpecObject(script);

    // THEN
    const nonEmpty = Object.entries(script.phases).filter(([, c]) => c.length > 0).map(([n]) => n);
    expect(Object.keys(spec.phases)).toEqual(nonEmpty);
    for (const name of nonEmpty) {
      expect(spec.phases[name]).toEqual({ 'on-failure': 'ABORT', 'commands': (script.phases as any)[name] });
    }
  });

  test('writes the artifact files in post_build', () => {
    // WHEN
    const spec = toBuildSpecObject(renderBuildScript(markedOptions()));

    // THEN
    const postBuild: string[] = spec.phases.post_build.commands;
    expect(postBuild.some((c) => c.includes('"$CIB_CONTAINER_NAME" "$IMAGE_URI"') && c.endsWith('> imagedefinitions.json'))).toBe(true);
    expect(postBuild.some((c) => c.includes('"$CIB_IMAGE_REPOSITORY_URI@$IMAGE_DIGEST"') && c.endsWith('> imageDetail.json'))).toBe(true);
  });
});

describe('pre_build commands executed by bash', () => {
  /**
   * Runs the pre_build commands in bash, one line each, with `aws` and `docker` stubbed, and
   * prints the variables they set.
   */
  function runPreBuild(script: BuildScript, env: Record<string, string>): Record<string, string> {
    const stubs = 'aws() { :; }; docker() { :; }';
    const program = [stubs, ...script.phases.pre_build, 'printf "\\0CIB-VARS\\0%s\\0%s\\0%s" "$CIB_CACHE_TAG" "$IMAGE_TAG" "$IMAGE_URI"'].join('\n');
    const result = spawnSync('bash', ['--norc', '--noprofile', '-e', '-c', program], {
      env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...script.environment, ...env },
    });
    expect(result.stderr.toString()).toEqual('');
    expect(result.status).toEqual(0);
    const [, vars] = result.stdout.toString().split('\0CIB-VARS\0');
    const [cacheTag, imageTag, imageUri] = vars.split('\0');
    return { cacheTag, imageTag, imageUri };
  }

  const script = renderBuildScript(markedOptions({
    defaultCacheTag: 'main',
    imageTags: [ImageTag.commit(), ImageTag.of('latest')],
    imageRepositoryUri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/api',
  }));
  const sha = '0123456789abcdef0123456789abcdef01234567';

  test.each([
    ['CIB_BRANCH', { CIB_BRANCH: 'feature/x', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/other' }, 'feature-x'],
    ['the webhook head ref', { CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/feature/y' }, 'feature-y'],
    ['a branch source version', { CODEBUILD_SOURCE_VERSION: 'refs/heads/dev' }, 'dev'],
    ['the default branch for a commit SHA source version', { CODEBUILD_SOURCE_VERSION: sha }, 'main'],
    ['the default branch for an S3 source version', { CODEBUILD_SOURCE_VERSION: 'arn:aws:s3:::bucket/key.zip' }, 'main'],
    ['the default branch when nothing names a branch', {}, 'main'],
    ['the default branch when the branch maps to nothing', { CIB_BRANCH: '...' }, 'main'],
  ])('picks the cache tag from %s', (_name, env, expected) => {
    // WHEN
    const vars = runPreBuild(script, env as Record<string, string>);

    // THEN
    expect(vars.cacheTag).toEqual(expected);
  });

  test('tags the image with the resolved commit and exports it as IMAGE_TAG and IMAGE_URI', () => {
    // WHEN
    const vars = runPreBuild(script, { CODEBUILD_RESOLVED_SOURCE_VERSION: sha });

    // THEN
    expect(vars.imageTag).toEqual(sha);
    expect(vars.imageUri).toEqual(`123456789012.dkr.ecr.us-east-1.amazonaws.com/api:${sha}`);
  });

  test('falls back to build-<build number> without a resolved source version', () => {
    // WHEN
    const vars = runPreBuild(script, { CODEBUILD_BUILD_NUMBER: '42' });

    // THEN
    expect(vars.imageTag).toEqual('build-42');
  });
});

/** Runs commands in one bash process (each must succeed) and returns stdout. */
function runCommands(commands: string[], env: Record<string, string>, stubs = ''): { stdout: string; stderr: string; status: number | null } {
  const program = [stubs, ...commands.map((c) => `${c} || exit 99`)].join('\n');
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', program], {
    env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...env },
  });
  return { stdout: result.stdout.toString(), stderr: result.stderr.toString(), status: result.status };
}

describe('inline cache strategy', () => {
  const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.inline() }));
  const build = script.phases.build;
  const pre = script.phases.pre_build;

  test('builds with the default builder and BUILDKIT_INLINE_CACHE=1, without buildx', () => {
    // THEN
    const docker = build.filter((c) => /\bdocker build\b/.test(c));
    expect(docker).toHaveLength(1);
    expect(docker[0]).toContain('DOCKER_BUILDKIT=1 docker build --progress=plain');
    expect(docker[0]).toContain('--build-arg BUILDKIT_INLINE_CACHE=1');
    expect(allCommands(script).filter((c) => /buildx/.test(c))).toEqual([]);
  });

  test('imports every listed cache tag and keeps the build log', () => {
    // THEN
    const docker = build.find((c) => /\bdocker build\b/.test(c))!;
    expect(docker).toMatch(/^CIB_FROM=\(\); for t in \$CIB_INLINE_CACHE_TAGS; do CIB_FROM\+=\(--cache-from "\$CIB_CACHE_REPOSITORY_URI:\$t"\); done;/);
    expect(docker).toContain('"${CIB_FROM[@]}"');
    expect(docker).toMatch(/\| tee "\$CIB_BUILD_LOG"$/);
  });

  test('pushes every image tag, then the cache tag keyed by the number of executed steps, tolerating a failed cache push', () => {
    // THEN
    expect(build.filter((c) => c.startsWith('docker push "$CIB_IMAGE_REPOSITORY_URI:'))).toEqual([
      'docker push "$CIB_IMAGE_REPOSITORY_URI:$CIB_COMMIT_TAG"',
      'docker push "$CIB_IMAGE_REPOSITORY_URI:$CIB_IMAGE_TAG_1"',
      'docker push "$CIB_IMAGE_REPOSITORY_URI:$CIB_IMAGE_TAG_2"',
    ]);
    const cachePush = build.find((c) => c.includes('CIB_INLINE_TAG='))!;
    expect(cachePush).toContain('CIB_INLINE_TAG="$CIB_CACHE_TAG-e$EXECUTED_STEPS"');
    expect(cachePush).toContain('if [ "$EXECUTED_STEPS" -gt 0 ]');
    // after the cache report has counted the executed steps
    expect(build.indexOf(cachePush)).toBeGreaterThan(build.findIndex((c) => c.startsWith('export CACHED_STEPS=')));
    expect(cachePush).toContain('|| echo "warning: pushing the cache tag failed');
  });

  test('lists the branch and default-branch cache tags from ECR, in bash', () => {
    // GIVEN: an aws stub answering list-images like `--output text` does (tab-separated)
    const listing = pre.find((c) => c.startsWith('CIB_INLINE_CACHE_TAGS='))!;
    const stubs = 'aws() { printf "%s\\n" "$*" > "$CALLS"; printf \'main-e6\\tfeature-x-e2\\tmain-e1\\tmain\\tmain-ex\\tfeature-x-e10\\tother-e3\\tmain-e1x\\n\'; }';
    const calls = `/tmp/cib-inline-calls-${process.pid}`;

    // WHEN
    const r = runCommands([listing, 'printf "[%s]" "$CIB_INLINE_CACHE_TAGS"'], {
      CALLS: calls,
      CIB_CACHE_TAG: 'feature-x',
      CIB_DEFAULT_CACHE_TAG: 'main',
      CIB_CACHE_REGION: 'eu-west-1',
      CIB_CACHE_REGISTRY: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      CIB_CACHE_REPOSITORY_NAME: 'api-cache',
    }, stubs);

    // THEN
    expect(r.status).toEqual(0);
    expect(r.stdout).toEqual('[feature-x-e10 feature-x-e2 main-e1 main-e6 ]');
    expect(spawnSync('cat', [calls]).stdout.toString().trim()).toEqual(
      'ecr list-images --region eu-west-1 --registry-id 123456789012 --repository-name api-cache --filter tagStatus=TAGGED --query imageIds[].imageTag --output text');
  });

  test('builds without the cache when the tags cannot be listed, in bash', () => {
    // GIVEN
    const listing = pre.find((c) => c.startsWith('CIB_INLINE_CACHE_TAGS='))!;

    // WHEN
    const r = runCommands([listing, 'printf "[%s]" "$CIB_INLINE_CACHE_TAGS"'], { CIB_CACHE_TAG: 'main', CIB_DEFAULT_CACHE_TAG: 'main' },
      'aws() { echo "AccessDeniedException" >&2; return 254; }');

    // THEN
    expect(r.status).toEqual(0);
    expect(r.stdout).toEqual('[]');
    expect(r.stderr).toContain('warning: could not list the cache tags');
  });

  test('reads the pushed digest from the image RepoDigests of the application repository', () => {
    // THEN
    const digest = build.find((c) => c.startsWith('export IMAGE_DIGEST='))!;
    expect(digest).toContain('docker image inspect --format \'{{range .RepoDigests}}{{println .}}{{end}}\' "$IMAGE_URI"');
    expect(digest).toContain('-v r="$CIB_IMAGE_REPOSITORY_URI@"');
  });
});

describe('buildah cache strategy', () => {
  const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.buildah() }));

  test('installs buildah with apt-get, dnf or yum when missing', () => {
    // THEN
    expect(script.phases.install).toHaveLength(2);
    expect(script.phases.install[0]).toMatch(/^if command -v buildah/);
    for (const tool of ['apt-get install -y -q buildah', 'dnf install -y -q buildah', 'yum install -y -q buildah']) {
      expect(script.phases.install[0]).toContain(tool);
    }
    expect(script.phases.install[1]).toEqual('buildah --version');
  });

  test('has no install phase with install: false', () => {
    // WHEN
    const withoutInstall = renderBuildScript(markedOptions({ strategy: CacheStrategy.buildah({ install: false }) }));

    // THEN
    expect(withoutInstall.phases.install).toEqual([]);
    expect(toBuildSpecObject(withoutInstall).phases).not.toHaveProperty('install');
  });

  test('builds with --layers, imports and exports the cache repository, and builds again without export when that fails', () => {
    // THEN
    const command = buildCommand(script);
    const [first, fallback] = command.split(' || ');
    expect(first).toMatch(/^set -o pipefail; \{ buildah build --layers --cache-from "\$CIB_CACHE_REPOSITORY_URI" --cache-to "\$CIB_CACHE_REPOSITORY_URI" /);
    expect(command).toMatch(/ 2>&1 \| tee "\$CIB_BUILD_LOG"$/);
    expect(fallback).toContain('buildah build --layers --cache-from "$CIB_CACHE_REPOSITORY_URI" --file');
    expect(fallback).not.toContain('--cache-to');
  });

  test('pushes every tag, the first with --digestfile, and exports the digest', () => {
    // THEN
    expect(script.phases.build.filter((c) => c.startsWith('buildah push'))).toEqual([
      'buildah push --digestfile "$CIB_DIGEST_FILE" "$CIB_IMAGE_REPOSITORY_URI:$CIB_COMMIT_TAG"',
      'buildah push "$CIB_IMAGE_REPOSITORY_URI:$CIB_IMAGE_TAG_1"',
      'buildah push "$CIB_IMAGE_REPOSITORY_URI:$CIB_IMAGE_TAG_2"',
    ]);
    expect(script.phases.build).toContain('export IMAGE_DIGEST="$(cat "$CIB_DIGEST_FILE")"');
  });

  test.each([
    ['one registry', '123456789012.dkr.ecr.us-east-1.amazonaws.com', ['123456789012.dkr.ecr.us-east-1.amazonaws.com']],
    ['two registries', '210987654321.dkr.ecr.eu-west-1.amazonaws.com', ['123456789012.dkr.ecr.us-east-1.amazonaws.com', '210987654321.dkr.ecr.eu-west-1.amazonaws.com']],
  ])('writes the ECR credentials for %s into a private auth file, in bash', (_name, cacheRegistry, hosts) => {
    // GIVEN
    const [mkAuthFile, writeAuth] = script.phases.pre_build.filter((c) => c.includes('REGISTRY_AUTH_FILE'));
    const authFile = `/tmp/cib-auth-${process.pid}-${hosts.length}`;

    // WHEN
    const r = runCommands([mkAuthFile.replace('$(mktemp)', authFile), writeAuth], {
      CIB_IMAGE_REGISTRY: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      CIB_CACHE_REGISTRY: cacheRegistry,
      CIB_IMAGE_REGION: 'us-east-1',
      CIB_CACHE_REGION: 'eu-west-1',
    }, 'aws() { echo "token-for-$4"; }');

    // THEN
    expect(r.status).toEqual(0);
    const auth = JSON.parse(spawnSync('cat', [authFile]).stdout.toString());
    expect(Object.keys(auth.auths)).toEqual(hosts);
    expect(Buffer.from(auth.auths[hosts[0]].auth, 'base64').toString()).toEqual('AWS:token-for-us-east-1');
    if (hosts.length > 1) {
      expect(Buffer.from(auth.auths[hosts[1]].auth, 'base64').toString()).toEqual('AWS:token-for-eu-west-1');
    }
  });

  test('fails the command when the ECR token cannot be had, in bash', () => {
    // GIVEN
    const writeAuth = script.phases.pre_build.find((c) => c.startsWith('( set -o pipefail;'))!;

    // WHEN
    const r = runCommands([writeAuth], { REGISTRY_AUTH_FILE: `/tmp/cib-auth-${process.pid}-fail`, CIB_IMAGE_REGISTRY: 'a', CIB_CACHE_REGISTRY: 'a' },
      'aws() { return 255; }');

    // THEN
    expect(r.status).toEqual(99);
  });
});

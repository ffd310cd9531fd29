/** The commands each cache strategy renders, read and executed in bash. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BuildxBuilder, CacheStrategy, LayerCompression } from '../src';
import { allCommands, buildCommand, markedOptions, runCommands, unguardedPhases } from './helpers/build-script';
import { renderBuildScript } from '../src/script/build-script';
import { toBuildSpecObject } from '../src/script/buildspec';

describe('registry cache strategy', () => {
  test('imports every scope the build reads (its own, a base branch, the default branch)', () => {
    // WHEN
    const command = buildCommand(renderBuildScript(markedOptions()));

    // THEN
    expect(command).toContain(
      'CIB_CACHE=(); for s in $CIB_CACHE_READ_SCOPES; do CIB_CACHE+=(--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$s"); done;');
    expect(command).toContain('"${CIB_CACHE[@]}"');
  });

  test('exports the cache to the build\'s own scope with mode=max as an OCI image manifest, ignoring export errors; none without a scope', () => {
    // WHEN
    const script = renderBuildScript(markedOptions());

    // THEN
    expect(buildCommand(script)).toContain('if [ -n "$CIB_CACHE_TO" ]; then CIB_CACHE+=(--cache-to "$CIB_CACHE_TO"); fi;');
    const cacheTo = unguardedPhases(script).pre_build.find((c) => c.startsWith('CIB_CACHE_TO='))!;
    const r = runCommands([cacheTo, 'printf "[%s]" "$CIB_CACHE_TO"'], { CIB_CACHE_REPOSITORY_URI: 'r', CIB_CACHE_WRITE_SCOPE: 'br-x' });
    expect(r.stdout).toEqual('[type=registry,ref=r:br-x,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true]');
    expect(runCommands([cacheTo, 'printf "[%s]" "$CIB_CACHE_TO"'], { CIB_CACHE_REPOSITORY_URI: 'r', CIB_CACHE_WRITE_SCOPE: '' }).stdout).toEqual('[]');
  });

  test('pushes the image when the build pushes, and reports its digest from the metadata file', () => {
    // WHEN
    const script = renderBuildScript(markedOptions());

    // THEN
    expect(buildCommand(script)).toContain('CIB_OUTPUT=(); if [ "$CIB_PUSH" = true ]; then CIB_OUTPUT=(--push);');
    expect(buildCommand(script)).toMatch(/"\$\{CIB_OUTPUT\[@\]\}" .*--metadata-file "\$CIB_METADATA_FILE"/);
    expect(unguardedPhases(script).build.some((c) => c.startsWith('export IMAGE_DIGEST='))).toBe(true);
  });

  describe('layer compression', () => {
    const compressed = (compression: LayerCompression, builder = BuildxBuilder.dockerContainer({ image: 'mk01img.example/buildkit:mk01' })) =>
      renderBuildScript(markedOptions({ strategy: CacheStrategy.registry({ builder, compression }) }));
    /** The image output the build command computes, run in bash: its CIB_OUTPUT array, one element in brackets each. */
    const outputArray = (command: string, env: Record<string, string>) => {
      const start = command.indexOf('CIB_OUTPUT=();');
      const endMarker = 'else CIB_OUTPUT=(--output "${CIB_OUTPUT[1]},$CIB_IMAGE_COMPRESSION"); fi; fi;';
      const end = command.indexOf(endMarker);
      expect(start).toBeGreaterThanOrEqual(0);
      expect(end).toBeGreaterThan(start);
      // without the last `;`: runCommands appends `|| exit 99`
      return runCommands([command.slice(start, end + endMarker.length - 1), 'printf "[%s]" "${CIB_OUTPUT[@]}"'], env).stdout;
    };

    test('the default (gzip at BuildKit\'s level) adds no flag and no variable', () => {
      // WHEN
      const script = compressed(LayerCompression.gzip());

      // THEN
      expect(script.environment.CIB_CACHE_COMPRESSION).toBeUndefined();
      expect(script.environment.CIB_IMAGE_COMPRESSION).toBeUndefined();
      expect(allCommands(script).join('\n')).not.toContain('COMPRESSION');
    });

    test.each([
      ['zstd', LayerCompression.zstd(), 'compression=zstd', 'compression=zstd,oci-mediatypes=true'],
      ['zstd at level 9', LayerCompression.zstd({ level: 9 }), 'compression=zstd,compression-level=9', 'compression=zstd,compression-level=9,oci-mediatypes=true'],
      ['gzip at level 1', LayerCompression.gzip({ level: 1 }), 'compression=gzip,compression-level=1', 'compression=gzip,compression-level=1'],
    ])('%s: the cache export and the pushed image get the same compression, in bash', (_name, compression, cacheKeys, imageKeys) => {
      // GIVEN
      const script = compressed(compression);
      const env: Record<string, string> = { ...script.environment, CIB_CACHE_WRITE_SCOPE: 'br-x' };

      // WHEN
      const cacheTo = unguardedPhases(script).pre_build.find((c) => c.startsWith('CIB_CACHE_TO='))!;
      const r = runCommands([cacheTo, 'printf "[%s]" "$CIB_CACHE_TO"'], env);

      // THEN
      expect(r.stdout).toEqual(`[type=registry,ref=${env.CIB_CACHE_REPOSITORY_URI}:br-x,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true,${cacheKeys}]`);
      expect(outputArray(buildCommand(script), { ...env, CIB_PUSH: 'true' })).toEqual(`[--output][type=image,push=true,${imageKeys}]`);
      expect(outputArray(buildCommand(script), { ...env, CIB_PUSH: 'true', CIB_REPRODUCIBLE: 'true', SOURCE_DATE_EPOCH: '1700000000' }))
        .toEqual(`[--output][type=image,push=true,rewrite-timestamp=true,${imageKeys}]`);
      expect(outputArray(buildCommand(script), { ...env, CIB_PUSH: 'false' })).toEqual('[]');
    });

    test('falls back to the engine builder without the compression keys, in bash', () => {
      // GIVEN: docker buildx create fails, the fallback allowed
      const script = compressed(LayerCompression.zstd(), BuildxBuilder.dockerContainer({ fallbackToEngineBuilder: true }));
      const commands = unguardedPhases(script).pre_build.filter((c) => c.startsWith('CIB_CACHE_TO=') || c.includes('CIB_BUILDER="cib-') || c.startsWith('if CIB_CREATE_OUTPUT='));
      expect(commands).toHaveLength(3);

      // WHEN
      const r = runCommands([...commands, 'printf "%s %s [%s]" "$CIB_BUILDER" "$CIB_CACHE_TO" "$CIB_IMAGE_COMPRESSION"'],
        { ...script.environment, CIB_CACHE_WRITE_SCOPE: 'main', CODEBUILD_BUILD_ID: 'p:b1' },
        'docker() { echo "ERROR: failed to pull" >&2; return 1; }');

      // THEN
      expect(r.status).toEqual(0);
      expect(r.stdout).toEqual('default type=inline []');
      expect(outputArray(buildCommand(script), { ...script.environment, CIB_PUSH: 'true', CIB_IMAGE_COMPRESSION: '' })).toEqual('[--push]');
    });
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
    expect(script.environment.CIB_BUILDER_IMAGE).toEqual(BuildxBuilder.DEFAULT_BUILDKIT_IMAGE);
    expect(BuildxBuilder.DEFAULT_BUILDKIT_IMAGE).toMatch(/^moby\/buildkit:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$/);
    const create = unguardedPhases(script).pre_build.filter((c) => c.includes('docker buildx create'));
    expect(create).toHaveLength(1);
    expect(create[0]).toContain('--driver docker-container');
    expect(create[0]).toContain('--driver-opt "image=$CIB_BUILDER_IMAGE"');
    expect(create[0]).toContain('--name "$CIB_BUILDER"');
    expect(buildCommand(script)).toContain('--builder "$CIB_BUILDER"');
  });

  test('names the builder after the build, so that a stale builder of an earlier build never collides, in bash', () => {
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry() }));
    const naming = unguardedPhases(script).pre_build.find((c) => c.includes('CIB_BUILDER="cib-'))!;
    const r = runCommands([naming, 'printf "%s" "$CIB_BUILDER"'], { CODEBUILD_BUILD_ID: 'my-project:0f1e2d3c-aaaa-bbbb-cccc-123456789abc' });
    expect(r.stdout).toEqual('cib-0f1e2d3c-aaaa-bbbb-cccc-123456789abc');
  });

  test.each([
    ['fails the build with advice by default', {}, 1,
      /^error: could not start a BuildKit builder from the image moby\/buildkit:buildx-stable-1 \(docker buildx create failed, above\)\. If the image pull was refused/m,
      'cib-b1', 'type=registry,'],
    ['falls back to the engine builder, importing but not exporting the cache, when allowed', { fallbackToEngineBuilder: true }, 0,
      /^warning: could not start a BuildKit builder from the image moby\/buildkit:buildx-stable-1 \(docker buildx create failed, above\); building with the engine's builder, which cannot export the cache/m,
      'default', 'type=inline'],
  ])('when the builder cannot start, %s, in bash, after what docker said', (_name, options, status, message, builder, cacheTo) => {
    // GIVEN: docker buildx create fails, as when the image cannot be pulled
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer(options) }) }));
    const commands = unguardedPhases(script).pre_build.filter((c) => c.startsWith('CIB_CACHE_TO=') || c.includes('CIB_BUILDER="cib-') || c.startsWith('if CIB_CREATE_OUTPUT='));
    expect(commands).toHaveLength(3);

    // WHEN
    const r = runCommands([...commands, 'printf "%s %s" "$CIB_BUILDER" "${CIB_CACHE_TO%%ref=*}"'],
      { CIB_BUILDER_IMAGE: 'moby/buildkit:buildx-stable-1', CIB_CACHE_REPOSITORY_URI: 'r', CIB_CACHE_WRITE_SCOPE: 'main', CODEBUILD_BUILD_ID: 'p:b1' },
      'docker() { echo "ERROR: failed to pull moby/buildkit: toomanyrequests" >&2; return 1; }');

    // THEN: the real cause first, then the advice
    expect(r.status === 0 ? 0 : 1).toEqual(status);
    expect(r.stderr).toMatch(/^ERROR: failed to pull moby\/buildkit: toomanyrequests\n/);
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
    const create = unguardedPhases(script).pre_build.filter((c) => c.includes('docker buildx create'));
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
    const pre = unguardedPhases(script).pre_build;
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
    const write = unguardedPhases(script).pre_build.filter((c) => c.startsWith('CIB_BUILDKITD_CONFIG_FILE='));
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

describe('inline cache strategy', () => {
  const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.inline() }));
  const build = unguardedPhases(script).build;
  const pre = unguardedPhases(script).pre_build;

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
    expect(docker).toContain('CIB_FROM=(); for t in $CIB_INLINE_CACHE_TAGS; do CIB_FROM+=(--cache-from "$CIB_CACHE_REPOSITORY_URI:$t"); done;');
    expect(docker).toContain('"${CIB_FROM[@]}"');
    expect(docker).toMatch(/\| tee "\$CIB_BUILD_LOG"$/);
  });

  test('pushes every image tag, then the cache tag keyed by the number of executed steps, tolerating a failed cache push', () => {
    // THEN
    const push = build.find((c) => c.startsWith('if [ "$CIB_PUSH" = true ]; then set -o pipefail; s=0;'))!;
    expect(push).toContain('docker push "$CIB_IMAGE_REPOSITORY_URI:$t" 2>&1 | tee -a "$CIB_PUSH_LOG" || s=1');
    const cachePush = build.find((c) => c.includes('CIB_INLINE_TAG='))!;
    expect(cachePush).toContain('CIB_INLINE_TAG="$CIB_CACHE_WRITE_SCOPE-e$EXECUTED_STEPS"');
    expect(cachePush).toContain('elif [ "$EXECUTED_STEPS" -gt 0 ]');
    expect(cachePush).toContain('if [ -z "$CIB_CACHE_WRITE_SCOPE" ]; then echo "inline cache: this build writes no cache";');
    expect(build.indexOf(cachePush)).toBeGreaterThan(build.indexOf(push));
    // after the cache report has counted the executed steps
    expect(build.indexOf(cachePush)).toBeGreaterThan(build.findIndex((c) => c.startsWith('export CACHED_STEPS=')));
    expect(cachePush).toContain('|| echo "warning: pushing the cache tag failed');
  });

  test('lists the cache tags of the scopes the build reads from ECR, and only those, in bash', () => {
    // GIVEN: an aws stub answering list-images like `--output text` does (tab-separated)
    const listing = pre.find((c) => c.startsWith('CIB_INLINE_CACHE_TAGS='))!;
    const stubs = 'aws() { printf "%s\\n" "$*" > "$CALLS"; printf \'main-e6\\tbr-feature-x-e2\\tmain-e1\\tmain\\tmain-ex\\tbr-feature-x-e10\\tbr-main-e3\\tmain-e1x\\tmain-experiment-e4\\n\'; }';
    const calls = `/tmp/cib-inline-calls-${process.pid}`;

    // WHEN
    const r = runCommands([listing, 'printf "[%s]" "$CIB_INLINE_CACHE_TAGS"'], {
      CALLS: calls,
      CIB_CACHE_READ_SCOPES: 'br-feature-x main',
      CIB_CACHE_REGION: 'eu-west-1',
      CIB_CACHE_REGISTRY: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      CIB_CACHE_REPOSITORY_NAME: 'api-cache',
    }, stubs);

    // THEN
    expect(r.status).toEqual(0);
    expect(r.stdout).toEqual('[br-feature-x-e10 br-feature-x-e2 main-e1 main-e6 ]');
    expect(spawnSync('cat', [calls]).stdout.toString().trim()).toEqual(
      'ecr list-images --region eu-west-1 --registry-id 123456789012 --repository-name api-cache --filter tagStatus=TAGGED --query imageIds[].imageTag --output text');
  });

  test('builds without the cache when the tags cannot be listed, in bash', () => {
    // GIVEN
    const listing = pre.find((c) => c.startsWith('CIB_INLINE_CACHE_TAGS='))!;

    // WHEN
    const r = runCommands([listing, 'printf "[%s]" "$CIB_INLINE_CACHE_TAGS"'], { CIB_CACHE_READ_SCOPES: 'main' },
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
    expect(unguardedPhases(script).install).toHaveLength(2);
    expect(unguardedPhases(script).install[0]).toMatch(/^if command -v buildah/);
    for (const tool of ['apt-get install -y -q buildah', 'dnf install -y -q buildah', 'yum install -y -q buildah']) {
      expect(unguardedPhases(script).install[0]).toContain(tool);
    }
    expect(unguardedPhases(script).install[1]).toEqual('buildah --version');
  });

  test.each([
    ['Amazon Linux 2023 (no buildah in its repository): SPAL is enabled and buildah comes from it', 'spal', 0,
      ['install -y -q buildah', 'install -y -q spal-release', 'install -y -q buildah']],
    ['no buildah anywhere: the install fails, saying so', 'none', 99, ['install -y -q buildah', 'install -y -q spal-release']],
    ['buildah in the repository: one install', 'repo', 0, ['install -y -q buildah']],
  ])('with dnf, %s, in bash', (_name, has, status, calls) => {
    // GIVEN: a PATH with only a dnf that has buildah in its repository, only after spal-release, or nowhere
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cib-dnf-'));
    fs.writeFileSync(path.join(dir, 'dnf'), [
      '#!/bin/bash', 'PATH=/usr/bin:/bin', `echo "$*" >> ${dir}/calls`,
      `case "$*:${has}:$(test -e ${dir}/spal && echo spal)" in`,
      '  *spal-release:spal:*) touch ' + dir + '/spal ;;', '  *buildah:repo:*|*buildah:spal:spal) ;;', '  *) exit 1 ;;', 'esac', '',
    ].join('\n'), { mode: 0o755 });

    // WHEN
    const r = runCommands([`PATH="${dir}"`, script.phases.install[0]], {});

    // THEN
    expect(r.status).toEqual(status);
    expect(fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n')).toEqual(calls);
    if (status !== 0) expect(r.stderr).toMatch(/^error: dnf found no buildah package \(Amazon Linux 2023 has none in its own repository, and none came from SPAL\)\. Use a build image with Buildah 1\.29 or later, or CacheStrategy\.registry\(\)\.$/m);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('has no install phase with install: false', () => {
    // WHEN
    const withoutInstall = renderBuildScript(markedOptions({ strategy: CacheStrategy.buildah({ install: false }) }));

    // THEN
    expect(unguardedPhases(withoutInstall).install).toEqual([]);
    expect(toBuildSpecObject(withoutInstall).phases).not.toHaveProperty('install');
  });

  test('builds with --layers, imports the cache repository, and exports to it unless the build is a pull request', () => {
    // THEN
    const command = buildCommand(script);
    expect(command).toContain('CIB_CACHE_TO=(); if [ -n "$CIB_CACHE_WRITE_SCOPE" ] && [ "$CIB_EVENT" != pull-request ]; then');
    expect(command).toContain('set -o pipefail; if buildah build --layers --cache-from "$CIB_CACHE_REPOSITORY_URI" "${CIB_CACHE_TO[@]}" --file');
  });

  /** The build command with a buildah stub that fails as given: the build runs once, or twice when only the cache push failed. */
  function buildahRun(failure: string): { status: number | null; stderr: string; builds: string[] } {
    const calls = `/tmp/cib-buildah-calls-${process.pid}-${failure.length}`;
    const stub = `buildah() { printf "%s\\n" "$*" >> ${calls}; if [[ " $* " == *" --cache-to "* ]]; then ${failure}; fi; }`;
    const r = runCommands([`rm -f ${calls}`, buildCommand(script)], {
      CIB_CACHE_REPOSITORY_URI: 'c',
      CIB_CACHE_WRITE_SCOPE: 'main',
      CIB_EVENT: 'push',
      CIB_BUILD_LOG: `${calls}.log`,
      CIB_BUILD_CONTEXT: '.',
      CIB_DOCKERFILE: 'Dockerfile',
      CIB_PUSH_TAGS: 'a',
    }, stub);
    return { status: r.status, stderr: r.stderr, builds: spawnSync('cat', [calls]).stdout.toString().trim().split('\n') };
  }

  test('builds again without exporting only when the cache push failed, in bash', () => {
    const r = buildahRun('echo "Error: failed pushing cache to {c}: StatusCode: 405" >&2; return 125');
    expect(r.status).toEqual(0);
    expect(r.builds).toHaveLength(2);
    expect(r.builds[0]).toContain('--cache-to c');
    expect(r.builds[1]).not.toContain('--cache-to');
    expect(r.stderr).toContain('warning: the build with cache export failed; building again without exporting the cache');
  });

  test('a build that genuinely fails (a RUN step) fails once, with its own error, in bash', () => {
    const r = buildahRun('echo "Error: building at STEP \\"RUN npm test\\": exit status 1" >&2; return 1');
    expect(r.status).toEqual(99);
    expect(r.builds).toHaveLength(1);
    expect(r.stderr).not.toContain('warning: the build with cache export failed');
  });

  test('pushes every tag, the first with --digestfile, and exports the digest', () => {
    // THEN
    const push = unguardedPhases(script).build.find((c) => c.startsWith('if [ "$CIB_PUSH" = true ]; then set -o pipefail; s=0;'))!;
    expect(push).toContain('buildah push --digestfile "$CIB_DIGEST_FILE" "$CIB_IMAGE_REPOSITORY_URI:$t"');
    expect(push).toContain('else buildah push "$CIB_IMAGE_REPOSITORY_URI:$t"');
    expect(unguardedPhases(script).build).toContain('export IMAGE_DIGEST=""; if [ "$CIB_PUSH" = true ]; then IMAGE_DIGEST="$(cat "$CIB_DIGEST_FILE")"; fi');
  });

  test.each([
    ['one registry', '123456789012.dkr.ecr.us-east-1.amazonaws.com', ['123456789012.dkr.ecr.us-east-1.amazonaws.com']],
    ['two registries', '210987654321.dkr.ecr.eu-west-1.amazonaws.com', ['123456789012.dkr.ecr.us-east-1.amazonaws.com', '210987654321.dkr.ecr.eu-west-1.amazonaws.com']],
  ])('writes the ECR credentials for %s into a private auth file, in bash', (_name, cacheRegistry, hosts) => {
    // GIVEN
    const [mkAuthFile, writeAuth] = unguardedPhases(script).pre_build.filter((c) => c.includes('REGISTRY_AUTH_FILE'));
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
    const writeAuth = unguardedPhases(script).pre_build.find((c) => c.startsWith('( set -o pipefail;'))!;

    // WHEN
    const r = runCommands([writeAuth], { REGISTRY_AUTH_FILE: `/tmp/cib-auth-${process.pid}-fail`, CIB_IMAGE_REGISTRY: 'a', CIB_CACHE_REGISTRY: 'a' },
      'aws() { return 255; }');

    // THEN
    expect(r.status).toEqual(99);
  });
});

/** The commands each cache strategy renders, read and executed in bash. */
import { spawnSync } from 'child_process';
import { BuildxBuilder, CacheStrategy } from '../src';
import { allCommands, buildCommand, markedOptions, runCommands } from './helpers/build-script';
import { renderBuildScript } from '../src/script/build-script';
import { toBuildSpecObject } from '../src/script/buildspec';

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

/** The builder of a pull-through cache, in bash: the login to the cache's registry, the pull by tag, the builder from the pinned digest. */
import * as fs from 'fs';
import { CacheStrategy, DockerHubPullThroughCache } from '../../src';
import { renderBuildScript } from '../../src/script/build-script';
import { markedOptions, runCommands, unguarded, unguardedPhases } from '../helpers/build-script';
import { newStack } from '../helpers/construct';
import { PINNED, callsFile, credential, evaluate } from '../helpers/docker-hub';

describe('the builder of a pull-through cache, in bash', () => {
  function builderCommands(): { pre: string[]; env: Record<string, string> } {
    const stack = newStack();
    const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry({ builder: cache.builder({ mirrorDockerHub: false }) }) }));
    const resolved = stack.resolve(script.environment);
    return { pre: script.phases.pre_build.map(unguarded), env: Object.fromEntries(Object.entries(resolved).map(([k, v]) => [k, evaluate(v)])) };
  }

  /** docker and aws stand-ins: record every call; `docker pull` of a reference with a digest fails, as on ECR before a tag pull imported it. */
  const STUBS = [
    'aws() { printf \'aws %s\\n\' "$*" >> "$CALLS"; echo ecr-token; }',
    // A login records after reading its stdin, so after the aws call that feeds it.
    'docker() { if [ "$1" = login ]; then t="$(cat)"; printf \'docker %s <<< %s\\n\' "$*" "$t" >> "$CALLS"; return; fi; printf \'docker %s\\n\' "$*" >> "$CALLS";',
    'if [ "$1" = pull ] && [ -n "${PULL_FAILS:-}" ]; then echo "Error response from daemon: manifest unknown" >&2; return 1; fi; }',
  ].join('\n');

  test('logs in to the cache\'s registry when it is not the image registry, pulls the image by tag, then starts the builder from the pinned digest', () => {
    // GIVEN
    const { pre, env } = builderCommands();
    const commands = pre.filter((c) => c.includes('CIB_BUILDER_REGISTRY') || c.includes('CIB_BUILDER="cib-') || c.startsWith('if CIB_CREATE_OUTPUT='));
    expect(commands).toHaveLength(3);
    const calls = callsFile();

    // WHEN
    const r = runCommands(commands, {
      CALLS: calls,
      CIB_IMAGE_REGISTRY: '210987654321.dkr.ecr.eu-west-1.amazonaws.com',
      CIB_BUILDER_IMAGE: env.CIB_BUILDER_IMAGE,
      CIB_BUILDER_REGISTRY: env.CIB_BUILDER_REGISTRY,
      CIB_BUILDER_REGION: env.CIB_BUILDER_REGION,
      CODEBUILD_BUILD_ID: 'p:b1',
    }, STUBS);

    // THEN
    expect(r.status).toEqual(0);
    expect(env.CIB_BUILDER_IMAGE).toEqual(`123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/${PINNED}`);
    expect(fs.readFileSync(calls, 'utf8').split('\n')).toEqual([
      'aws ecr get-login-password --region us-east-1',
      'docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com <<< ecr-token',
      'docker pull --quiet 123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/moby/buildkit:v0.33.1',
      `docker buildx create --name cib-b1 --driver docker-container --driver-opt image=123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/${PINNED} --bootstrap`,
      '',
    ]);
    expect(r.stdout).toContain('BuildKit builder cib-b1 started');
  });

  test('does not log in again when the cache is the image registry', () => {
    // GIVEN
    const { pre, env } = builderCommands();
    const login = pre.find((c) => c.includes('CIB_BUILDER_REGISTRY'))!;
    const calls = callsFile();
    fs.writeFileSync(calls, '');

    // WHEN
    const r = runCommands([login], { CALLS: calls, CIB_IMAGE_REGISTRY: env.CIB_BUILDER_REGISTRY, CIB_BUILDER_REGISTRY: env.CIB_BUILDER_REGISTRY, CIB_BUILDER_REGION: 'us-east-1' }, STUBS);

    // THEN
    expect(r.status).toEqual(0);
    expect(fs.readFileSync(calls, 'utf8')).toEqual('');
  });

  test('when the pull fails, fails the build with what docker said and what to check', () => {
    // GIVEN
    const { pre, env } = builderCommands();
    const commands = pre.filter((c) => c.includes('CIB_BUILDER="cib-') || c.startsWith('if CIB_CREATE_OUTPUT='));
    const calls = callsFile();

    // WHEN
    const r = runCommands(commands, { CALLS: calls, PULL_FAILS: '1', CIB_BUILDER_IMAGE: env.CIB_BUILDER_IMAGE, CODEBUILD_BUILD_ID: 'p:b1' }, STUBS);

    // THEN
    expect(r.status).toEqual(99);
    expect(r.stderr).toMatch(/^Error response from daemon: manifest unknown\nerror: could not start a BuildKit builder from the image 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/docker-hub\/moby\/buildkit:v0\.33\.1@sha256:[0-9a-f]{64} of the ECR pull-through cache \(pulling it by tag, or docker buildx create, failed, above\)\. Check the Docker Hub credential of the cache rule/);
    expect(fs.readFileSync(calls, 'utf8')).not.toContain('buildx create');
  });

  test('a plain docker-container builder neither pulls first nor logs in to another registry', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry() }));

    // THEN
    const create = unguardedPhases(script).pre_build.find((c) => c.startsWith('if CIB_CREATE_OUTPUT='))!;
    expect(create).not.toContain('docker pull');
    expect(script.phases.pre_build.filter((c) => c.includes('CIB_BUILDER_REGISTRY'))).toEqual([]);
    expect(script.environment).not.toHaveProperty('CIB_BUILDER_REGISTRY');
  });
});

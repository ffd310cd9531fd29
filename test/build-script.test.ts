import { spawnSync } from 'child_process';
import { ImageTag } from '../src';
import {
  MARKERS,
  STRATEGIES,
  TOP_LEVEL_PIPE,
  allCommands,
  buildCommand,
  crossingDefinitions,
  markedOptions,
  runCommands,
  pipesWithoutPipefail,
  withoutCommandSubstitutions,
} from './helpers/build-script';
import { renderBuildScript, BuildScript } from '../src/script/build-script';
import { toBuildSpecObject } from '../src/script/buildspec';

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

    // THEN: every $VAR / ${VAR} expansion sits inside double quotes, except the lists the build splits
    // on purpose (`for t in $CIB_PUSH_TAGS`): they hold ECR tag characters only (see test/build-context.*)
    const unquoted = command
      .replace(/ in \$(CIB_PUSH_TAGS|CIB_CACHE_READ_SCOPES|CIB_INLINE_CACHE_TAGS); do /g, ' in LIST; do ')
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

    // THEN: the tags join CIB_PUSH_TAGS in the order given, each under its condition
    expect(script.environment.CIB_IMAGE_TAG_1).toEqual('stable');
    expect(script.environment.CIB_IMAGE_TAG_2).toEqual('latest');
    const order = ['$CIB_IMAGE_TAG_1"', '$CIB_COMMIT_TAG"', '$CIB_IMAGE_TAG_2"']
      .map((v) => script.phases.pre_build.findIndex((c) => c.includes(`CIB_PUSH_TAGS="$CIB_PUSH_TAGS ${v}`)));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(buildCommand(script)).toContain('"${CIB_TAGS[@]}"');
  });

  test.each([
    ['the commit tag', [ImageTag.commit(), ImageTag.of('latest')], 'c0ffee'],
    ['the fixed tag', [ImageTag.of('latest'), ImageTag.commit()], 'latest'],
  ])('exports %s as IMAGE_TAG when it comes first, in bash (a default-branch build)', (_name, imageTags, expected) => {
    // WHEN
    const script = renderBuildScript(markedOptions({ imageTags, defaultBranch: 'main', defaultCacheTag: 'main' }));
    const r = runCommands([...script.phases.pre_build, 'printf "%s" "$IMAGE_TAG"'],
      { ...script.environment, CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/main', CODEBUILD_RESOLVED_SOURCE_VERSION: 'c0ffee' },
      'aws() { :; }; docker() { :; }');

    // THEN
    expect(r.stdout.split('\n').pop()).toEqual(expected);
  });

  test('throws when no image tag is given', () => {
    // WHEN / THEN
    expect(() => renderBuildScript(markedOptions({ imageTags: [] }))).toThrow(/imageTags/);
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

  test('exports IMAGE_URI, IMAGE_TAG, IMAGE_DIGEST, CACHE_HIT_RATIO, CACHED_STEPS and the build context', () => {
    // WHEN
    const spec = toBuildSpecObject(renderBuildScript(markedOptions()));

    // THEN
    expect(spec.env['exported-variables']).toEqual(['IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST', 'IMAGE_REUSED', 'CACHE_HIT_RATIO', 'CACHED_STEPS',
      'BUILD_EVENT', 'BUILD_REF', 'BUILD_REF_TYPE', 'BUILD_COMMIT', 'PULL_REQUEST_NUMBER', 'PULL_REQUEST_ACTION', 'PULL_REQUEST_BASE', 'CACHE_SCOPE']);
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
    expect(postBuild.some((c) => c.includes('"$CIB_CONTAINER_NAME" "$IMAGE_URI" > imagedefinitions.json'))).toBe(true);
    expect(postBuild.some((c) => c.includes('"$CIB_IMAGE_REPOSITORY_URI@$IMAGE_DIGEST" > imageDetail.json'))).toBe(true);
  });
});

describe('pre_build commands executed by bash', () => {
  /**
   * Runs the pre_build commands in bash, one line each, with `aws` and `docker` stubbed, and
   * prints the variables they set.
   */
  function runPreBuild(script: BuildScript, env: Record<string, string>): Record<string, string> {
    const stubs = 'aws() { :; }; docker() { :; }';
    const program = [stubs, ...script.phases.pre_build,
      'printf "\\0CIB-VARS\\0%s\\0%s\\0%s\\0%s" "$CIB_CACHE_WRITE_SCOPE" "$IMAGE_TAG" "$IMAGE_URI" "$CIB_CACHE_READ_SCOPES"'].join('\n');
    const result = spawnSync('bash', ['--norc', '--noprofile', '-e', '-c', program], {
      env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...script.environment, ...env },
    });
    expect(result.stderr.toString()).toEqual('');
    expect(result.status).toEqual(0);
    const [, vars] = result.stdout.toString().split('\0CIB-VARS\0');
    const [cacheTag, imageTag, imageUri, reads] = vars.split('\0');
    return { cacheTag, imageTag, imageUri, reads };
  }

  const script = renderBuildScript(markedOptions({
    defaultBranch: 'main',
    defaultCacheTag: 'main',
    imageTags: [ImageTag.commit(), ImageTag.of('latest')],
    imageRepositoryUri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/api',
  }));
  const sha = '0123456789abcdef0123456789abcdef01234567';

  test.each([
    ['the pipeline action\'s branch', { CIB_TRIGGER: 'pipeline', CIB_BRANCH: 'feature/x', CODEBUILD_WEBHOOK_HEAD_REF: '' }, 'br-feature-x-h', 'br-feature-x-h main'],
    ['the webhook head ref', { CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/feature/y' }, 'br-feature-y-h', 'br-feature-y-h main'],
    ['a branch source version', { CODEBUILD_SOURCE_VERSION: 'refs/heads/dev' }, 'br-dev', 'br-dev main'],
    ['nothing for a commit SHA source version', { CODEBUILD_SOURCE_VERSION: sha }, '', 'main'],
    ['nothing for an S3 source version', { CODEBUILD_SOURCE_VERSION: 'arn:aws:s3:::bucket/key.zip' }, '', 'main'],
    ['nothing when nothing names a branch', {}, '', 'main'],
    ['a scope of its own for a branch made of dots', { CIB_TRIGGER: 'pipeline', CIB_BRANCH: '...' }, 'br-...', 'br-... main'],
    ['nothing from CIB_BRANCH without the pipeline action', { CIB_BRANCH: 'main' }, '', 'main'],
  ])('writes the cache scope of %s', (_name, env, expected, reads) => {
    // WHEN
    const vars = runPreBuild(script, env as Record<string, string>);

    // THEN: hashed names end in 12 hex digits
    expect(vars.cacheTag.replace(/-h[0-9a-f]{12}$/, '-h')).toEqual(expected);
    expect(vars.reads.replace(/-h[0-9a-f]{12}\b/, '-h')).toEqual(reads);
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

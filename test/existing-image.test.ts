import { BuildxBuilder, CacheStrategy } from '../src';
import { runCases } from './helpers/bash-cases';
import { PLAIN_REPO, plainOptions, runCommands } from './helpers/build-script';
import { appRepository, cacheRepository, ecrPermissionsOfProjectRole, plainEnv, synth } from './helpers/construct';
import { PUSH_PULL_ACTIONS } from './helpers/ecr-actions';
import { BuildScriptOptions, renderBuildScript } from '../src/script/build-script';
import { ACCEPTED_MEDIA_TYPES, REUSE_EXISTING_IMAGE, explainImmutableRefusal, unlessSkipped } from '../src/script/existing-image';

/**
 * Re-runs of a commit whose image exists (issue 10): the whole rendered build script executed in
 * bash, with stand-ins for docker, buildah and aws that record their arguments. The aws stand-in
 * answers batch-get-image from $LOOKUP (`exists`, `missing`, `denied`) and put-image from $PUT
 * (`ok`, `same`: the tag holds the manifest already, `refused`); docker and buildah refuse to push
 * an existing commit tag when $REFUSE is set, with ECR's text.
 */

const REPO = PLAIN_REPO;
const COMMIT = 'c'.repeat(40);
const EXISTING = `sha256:${'e'.repeat(64)}`;
/** A manifest with spaces, quotes and a newline: it must reach put-image byte for byte. */
const MANIFEST = '{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.oci.image.manifest.v1+json", "x": "a b"}';
const REFUSAL = `tag invalid: The image tag '${COMMIT}' already exists in the 'api' repository and cannot be overwritten because the tag is immutable.`;

function options(strategy: CacheStrategy, overrides: Partial<BuildScriptOptions> = {}): BuildScriptOptions {
  return plainOptions(strategy, { metricsNamespace: 'CachedImageBuild', ...overrides });
}

const STAND_INS = {
  docker: [
    'printf "%s\\n" docker "$@" -- >> "$CALLS"',
    'case "$1 $2" in',
    '  "buildx build") if [ -n "${REFUSE:-}" ]; then echo "ERROR: failed to push: $REFUSAL_TEXT"; exit 1; fi;',
    '    while [ $# -gt 0 ]; do [ "$1" = --metadata-file ] && printf \'{"containerimage.digest": "sha256:%064d"}\' 1 > "$2"; shift; done;',
    '    printf "#5 [2/2] RUN make\\n#5 DONE 0.1s\\n" ;;',
    '  "build --progress=plain") printf "#5 [2/2] RUN make\\n#5 DONE 0.1s\\n" ;;',
    '  "push "*) if [ -n "${REFUSE:-}" ] && [[ "$2" == *:c* ]]; then echo "$REFUSAL_TEXT"; exit 1; fi ;;',
    '  "image inspect") printf "%s@sha256:%064d\\n" "$REPO" 2 ;;',
    '  "login --username") cat > /dev/null ;;',
    'esac',
  ],
  buildah: [
    'printf "%s\\n" buildah "$@" -- >> "$CALLS"',
    'case "$1" in',
    '  --version) echo "buildah version 1.39.3 (image-spec 1.1.1, runtime-spec 1.2.0)" ;;',
    '  build) printf "STEP 1/2: FROM base\\nSTEP 2/2: RUN make\\n" ;;',
    '  push) if [ -n "${REFUSE:-}" ] && [ "$2" = --digestfile ]; then echo "Error: $REFUSAL_TEXT" >&2; exit 125; fi;',
    '    if [ "$2" = --digestfile ]; then printf "sha256:%064d" 3 > "$3"; fi ;;',
    'esac',
  ],
  aws: [
    'printf "%s\\n" aws "$@" -- >> "$CALLS"',
    'q=""; a=("$@"); for ((i = 0; i < ${#a[@]}; i++)); do [ "${a[i]}" = --query ] && q="${a[i+1]}";',
    '  [ "${a[i]}" = --image-manifest ] && printf "%s" "${a[i+1]}" > "$CALLS-manifest"; done',
    'case "$2" in',
    '  get-login-password) echo token ;;',
    '  list-images) printf "main-e1\\n" ;;',
    '  batch-get-image) case "$LOOKUP" in',
    '    denied) printf "\\nAn error occurred (AccessDeniedException) when calling the BatchGetImage operation: not authorized\\n" >&2; exit 254 ;;',
    '    missing) echo None ;;',
    '    exists) case "$q" in images\\[0\\].imageId.imageDigest) echo "$EXISTING" ;; images\\[0\\].imageManifest) printf "%s\\n" "$MANIFEST" ;;',
    '      images\\[0\\].imageManifestMediaType) echo application/vnd.oci.image.manifest.v1+json ;; *) echo "bad query $q" >&2; exit 2 ;; esac ;;',
    '    esac ;;',
    '  put-image) case "$PUT" in',
    '    ok) echo "$EXISTING" ;;',
    '    same) printf "\\nAn error occurred (ImageAlreadyExistsException) when calling the PutImage operation: Image with digest \'%s\' already exists\\n" "$EXISTING" >&2; exit 254 ;;',
    '    refused) printf "\\nAn error occurred (ImageTagAlreadyExistsException) when calling the PutImage operation: immutable\\n" >&2; exit 254 ;;',
    '    esac ;;',
    'esac',
  ],
};

function scriptCommands(o: BuildScriptOptions): { commands: string[]; env: Record<string, string> } {
  const script = renderBuildScript(o);
  const dir = '$__dir';
  const standIns = Object.entries(STAND_INS).map(([tool, body]) =>
    `mkdir -p ${dir}/bin; cat > ${dir}/bin/${tool} <<'EOS'\n#!/bin/bash\n${body.join('\n')}\nEOS\nchmod +x ${dir}/bin/${tool}`);
  return {
    commands: [
      ...standIns,
      `export PATH="${dir}/bin:$PATH" CALLS="${dir}/calls-$BASHPID" REPO="${REPO}"; : > "$CALLS"; cd "$(mktemp -d)"`,
      ...script.phases.pre_build,
      ...script.phases.build,
      ...script.phases.post_build,
      'CIB_CALLS="$(cat "$CALLS")"; CIB_PUT_MANIFEST="$(cat "$CALLS-manifest" 2>/dev/null)"; CIB_IMAGEDEFS="$(cat imagedefinitions.json)"; CIB_DETAIL="$(cat imageDetail.json)"',
    ],
    env: {
      ...script.environment,
      CODEBUILD_BUILD_ID: 'p:0000-1111',
      CODEBUILD_RESOLVED_SOURCE_VERSION: COMMIT,
      AWS_REGION: 'us-east-1',
      EXISTING,
      MANIFEST,
      REFUSAL_TEXT: REFUSAL,
      ...PUSH_MAIN,
    },
  };
}

const PUSH_MAIN = { CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: 'branch/main', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/main' };
const PUSH_BRANCH = { CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: 'branch/feature', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/feature' };
const TAG_V1 = { CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: 'tag/v1.0.0', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/tags/v1.0.0' };
const PR = { CODEBUILD_WEBHOOK_EVENT: 'PULL_REQUEST_CREATED', CODEBUILD_WEBHOOK_TRIGGER: 'pr/7', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/feature', CODEBUILD_WEBHOOK_BASE_REF: 'refs/heads/main' };
const OUTPUTS = ['CIB_CALLS', 'CIB_PUT_MANIFEST', 'CIB_IMAGEDEFS', 'CIB_DETAIL', 'IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST', 'IMAGE_REUSED', 'CACHED_STEPS', 'CACHE_HIT_RATIO'];

/** The calls of one tool: each call's arguments. */
function calls(recorded: string, tool: string): string[][] {
  return recorded.split('\n--\n').map((c) => c.split('\n').filter((l) => l !== '--' && l !== '')).filter((c) => c[0] === tool).map((c) => c.slice(1));
}
function argAfter(call: string[], flag: string): string[] {
  return call.flatMap((a, i) => (a === flag ? [call[i + 1]] : []));
}
/** Whether the recorded calls include a build (or a builder start, or a login). */
function builderCalls(recorded: string): string[][] {
  return [...calls(recorded, 'docker'), ...calls(recorded, 'buildah')];
}

const STRATEGIES = [
  ['registry', () => CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: 'b/k:1' }) })],
  ['inline', () => CacheStrategy.inline()],
  ['buildah', () => CacheStrategy.buildah({ install: false })],
  ['none', () => CacheStrategy.none()],
] as const;

describe.each(STRATEGIES)('%s: a build of a commit whose image exists', (_name, strategy) => {
  const { commands, env } = scriptCommands(options(strategy()));
  const [exists, same, missing, denied, putRefused, branch, tag, pr] = runCases(commands, [
    { ...env, LOOKUP: 'exists', PUT: 'ok' },
    { ...env, LOOKUP: 'exists', PUT: 'same' },
    { ...env, LOOKUP: 'missing', PUT: 'ok' },
    { ...env, LOOKUP: 'denied', PUT: 'ok' },
    { ...env, LOOKUP: 'exists', PUT: 'refused' },
    { ...env, ...PUSH_BRANCH, LOOKUP: 'exists', PUT: 'ok' },
    { ...env, ...TAG_V1, LOOKUP: 'exists', PUT: 'ok' },
    { ...env, ...PR, LOOKUP: 'exists', PUT: 'ok' },
  ], OUTPUTS);
  const ok = (r: typeof exists) => (r.failed === -1 ? 'ok' : `${commands[r.failed]}: ${r.stderr}`);

  test('every command succeeds, whether the image exists, does not, or the lookup is denied', () => {
    expect([exists, same, missing, denied, branch, tag, pr].map(ok)).toEqual(Array(7).fill('ok'));
  });

  test('looks the commit tag up once, by tag, accepting every manifest type, on the application repository', () => {
    const lookups = calls(missing.vars.CIB_CALLS, 'aws').filter((c) => c[1] === 'batch-get-image');
    expect(lookups).toHaveLength(1);
    expect(argAfter(lookups[0], '--repository-name')).toEqual(['api']);
    expect(argAfter(lookups[0], '--registry-id')).toEqual(['123456789012']);
    expect(argAfter(lookups[0], '--image-ids')).toEqual([`imageTag=${COMMIT}`]);
    const accepted = lookups[0].slice(lookups[0].indexOf('--accepted-media-types') + 1, lookups[0].indexOf('--accepted-media-types') + 5);
    expect(accepted).toEqual(ACCEPTED_MEDIA_TYPES);
  });

  test('image exists: nothing is built, started or logged in to; latest moves to the existing manifest, byte for byte, by digest', () => {
    expect(builderCalls(exists.vars.CIB_CALLS)).toEqual([]);
    const puts = calls(exists.vars.CIB_CALLS, 'aws').filter((c) => c[1] === 'put-image');
    expect(puts).toHaveLength(1);
    expect(argAfter(puts[0], '--image-tag')).toEqual(['latest']);
    // (recorded one argument a line: the manifest's own lines are checked in the file the stand-in wrote)
    expect(exists.vars.CIB_PUT_MANIFEST).toEqual(MANIFEST);
    expect(argAfter(puts[0], '--image-digest')).toEqual([EXISTING]);
    expect(argAfter(puts[0], '--image-manifest-media-type')).toEqual(['application/vnd.oci.image.manifest.v1+json']);
    expect(exists.stderr).toMatch(new RegExp(`^moved latest to ${EXISTING}$`, 'm'));
  });

  test('image exists: exports the existing image, writes the deploy files, reports it skipped, publishes no cache metrics', () => {
    expect([exists.vars.IMAGE_URI, exists.vars.IMAGE_TAG, exists.vars.IMAGE_DIGEST, exists.vars.IMAGE_REUSED])
      .toEqual([`${REPO}:${COMMIT}`, COMMIT, EXISTING, 'true']);
    expect(JSON.parse(exists.vars.CIB_IMAGEDEFS)).toEqual([{ name: 'app', imageUri: `${REPO}:${COMMIT}` }]);
    expect(JSON.parse(exists.vars.CIB_DETAIL)).toEqual({ ImageURI: `${REPO}@${EXISTING}` });
    expect(exists.stderr).toMatch(new RegExp(`^cache: skipped, image for ${COMMIT} exists \\(${EXISTING}\\)$`, 'm'));
    expect(exists.stderr).not.toMatch(/^cache: \d/m);
    const metrics = calls(exists.vars.CIB_CALLS, 'aws').filter((c) => c[0] === 'cloudwatch');
    expect(metrics).toHaveLength(1);
    const data = JSON.parse(argAfter(metrics[0], '--metric-data')[0].replace(/\$CIB_DIMS/g, '[]'));
    expect(data.map((d: { MetricName: string; Value: number }) => [d.MetricName, d.Value])).toEqual([['ReusedImages', 1]]);
    expect([exists.vars.CACHED_STEPS, exists.vars.CACHE_HIT_RATIO]).toEqual(['0', '100']);
  });

  test('image exists and latest holds it already (ImageAlreadyExistsException): the build succeeds', () => {
    expect(same.stderr).toMatch(new RegExp(`^latest already points at ${EXISTING}$`, 'm'));
    expect(same.vars.IMAGE_DIGEST).toBe(EXISTING);
  });

  test('image exists but a tag cannot be moved: the build fails and says which tag', () => {
    expect(commands[putRefused.failed]).toBe(REUSE_EXISTING_IMAGE);
    expect(putRefused.stderr).toMatch(new RegExp(`^error: could not move the tag latest to the existing image ${EXISTING} \\(aws ecr put-image failed, above\\)$`, 'm'));
  });

  test('no image yet: builds and pushes as usual, and publishes the cache metrics', () => {
    expect(builderCalls(missing.vars.CIB_CALLS).length).toBeGreaterThan(0);
    expect(calls(missing.vars.CIB_CALLS, 'aws').filter((c) => c[1] === 'put-image')).toEqual([]);
    expect(missing.stderr).toMatch(new RegExp(`^image lookup: no image tagged ${COMMIT} yet; building it$`, 'm'));
    expect(missing.vars.IMAGE_REUSED).toBe('false');
    expect(missing.vars.IMAGE_DIGEST).toMatch(/^sha256:0+[123]$/);
    expect(missing.stderr).toMatch(/^cache: \d+\/\d+ steps cached/m);
  });

  test('lookup denied: says so and builds as usual (the push decides)', () => {
    expect(denied.stderr).toMatch(/AccessDeniedException/);
    expect(denied.stderr).toMatch(new RegExp(`^warning: could not look up the image tag ${COMMIT} .*building as usual: the push decides$`, 'm'));
    expect(builderCalls(denied.vars.CIB_CALLS).length).toBeGreaterThan(0);
    expect(denied.vars.IMAGE_DIGEST).toMatch(/^sha256:0+[123]$/);
  });

  test('another branch: reuses the image and moves no fixed tag', () => {
    expect(builderCalls(branch.vars.CIB_CALLS)).toEqual([]);
    expect(calls(branch.vars.CIB_CALLS, 'aws').filter((c) => c[1] === 'put-image')).toEqual([]);
    expect(branch.vars.IMAGE_DIGEST).toBe(EXISTING);
  });

  test('a git tag build looks the git tag up', () => {
    const lookups = calls(tag.vars.CIB_CALLS, 'aws').filter((c) => c[1] === 'batch-get-image');
    expect(argAfter(lookups[0], '--image-ids')).toEqual(['imageTag=v1.0.0']);
    expect(tag.vars.IMAGE_URI).toBe(`${REPO}:v1.0.0`);
  });

  test('a pull request (pr-<N> is mutable) looks nothing up and builds', () => {
    expect(calls(pr.vars.CIB_CALLS, 'aws').filter((c) => c[1] === 'batch-get-image')).toEqual([]);
    expect(builderCalls(pr.vars.CIB_CALLS).length).toBeGreaterThan(0);
    expect(pr.vars.IMAGE_REUSED).toBe('false');
  });
});

describe.each(STRATEGIES)('%s: rebuildExistingImages', (name, strategy) => {
  const { commands, env } = scriptCommands(options(strategy(), { rebuildExistingImages: true }));
  const [refused, fresh] = runCases(commands, [
    { ...env, LOOKUP: 'exists', PUT: 'ok', REFUSE: '1' },
    { ...env, LOOKUP: 'exists', PUT: 'ok' },
  ], OUTPUTS);

  test('looks nothing up and builds', () => {
    expect(calls(fresh.vars.CIB_CALLS, 'aws').filter((c) => c[1] === 'batch-get-image')).toEqual([]);
    expect(fresh.failed).toBe(-1);
    expect(fresh.stderr).toMatch(new RegExp(`^image lookup: off \\(rebuildExistingImages\\), building ${COMMIT}$`, 'm'));
  });

  test('ECR refuses the commit tag: the build fails with a message naming the prop', () => {
    expect(refused.failed).toBeGreaterThan(-1);
    expect(commands[refused.failed]).toMatch(name === 'inline' || name === 'buildah' ? /(docker|buildah) push/ : /docker buildx build/);
    expect(refused.stderr).toMatch(/^error: ECR refused to overwrite an immutable tag \(above; .*\): .*rebuildExistingImages is true/m);
  });
});

test('commands of the build path are skipped for a reused image, each still one line', () => {
  expect(unlessSkipped('a; b;')).toBe('if [ "$CIB_SKIP_BUILD" != true ]; then a; b; fi');
  const script = renderBuildScript(options(CacheStrategy.registry()));
  for (const c of [...script.phases.pre_build, ...script.phases.build, ...script.phases.post_build]) expect(c).not.toContain('\n');
  expect(script.environment.CIB_REUSE_IMAGE).toBe('true');
  expect(renderBuildScript(options(CacheStrategy.registry(), { rebuildExistingImages: true })).environment.CIB_REUSE_IMAGE).toBe('false');
  expect(script.exportedVariables).toContain('IMAGE_REUSED');
});

describe.each(STRATEGIES)('%s: what the lookup and the re-tag may do', (name, strategy) => {
  test('GIVEN the construct WHEN synthesized THEN the role may BatchGetImage and PutImage on the application repository, as a push needs anyway, and nothing more', () => {
    // GIVEN / WHEN
    const { template } = synth({ repositoryName: 'api', cache: strategy() });

    // THEN: no DescribeImages, no ListImages on the application repository, nothing on other repositories
    const [appId] = appRepository(template);
    const permissions = ecrPermissionsOfProjectRole(template);
    expect(permissions[JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]).toEqual(PUSH_PULL_ACTIONS);
    const others = Object.keys(permissions).filter((k) => k !== JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] }) && k !== '"*"');
    if (name === 'none') {
      expect(others).toEqual([]);
    } else {
      const [cacheId] = cacheRepository(template);
      expect(others).toEqual([JSON.stringify({ 'Fn::GetAtt': [cacheId, 'Arn'] })]);
    }
    expect(permissions['"*"']).toEqual(['ecr:GetAuthorizationToken']);
  });
});

describe('the rebuildExistingImages prop', () => {
  test('GIVEN no prop WHEN synthesized THEN the build reuses existing images', () => {
    expect(plainEnv(synth({ repositoryName: 'api' }).template).CIB_REUSE_IMAGE).toBe('true');
  });

  test('GIVEN rebuildExistingImages: true WHEN synthesized THEN the build always builds', () => {
    expect(plainEnv(synth({ repositoryName: 'api', rebuildExistingImages: true }).template).CIB_REUSE_IMAGE).toBe('false');
  });
});

test.each([
  ['docker and buildah (ECR\'s text)', REFUSAL, true],
  ['ECR\'s text before 2025', REFUSAL.replace('the tag is immutable', 'the repository is immutable'), true],
  ['BuildKit (the status of the manifest PUT only)',
    'ERROR: failed to push r/api:c: failed commit on ref "manifest-sha256:ab": unexpected status from PUT request to https://r/v2/api/manifests/c: 400 Bad Request', true],
  ['another push failure', 'ERROR: failed to push: unexpected status from PUT request to https://r/v2/api/blobs/uploads/x: 500 Internal Server Error', false],
] as const)('the refusal is explained for %s', (_name, output, explained) => {
  const r = runCommands([`f="$(mktemp)"; printf '%s\\n' "$OUT" > "$f"; L="$f"; ${explainImmutableRefusal('L')}`], { OUT: output });
  expect(r.status).toBe(0);
  expect(/^error: ECR refused to overwrite an immutable tag/m.test(r.stderr)).toBe(explained);
});

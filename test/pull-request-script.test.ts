import { BuildxBuilder, CacheStrategy, PullRequestPolicy } from '../src';
import { runCases } from './helpers/bash-cases';
import { PLAIN_CACHE, PLAIN_REPO, plainOptions } from './helpers/build-script';
import { BuildScriptOptions, renderBuildScript } from '../src/script/build-script';

/**
 * The whole rendered build script (pre_build, build, post_build), executed in bash with stand-ins
 * for docker, buildah and aws that record their arguments, for the events of the pull-request
 * issue: what each strategy reads, writes and pushes, and whether the secrets are mounted.
 */

const REPO = PLAIN_REPO;
const CACHE = PLAIN_CACHE;

function options(strategy: CacheStrategy, pullRequests = PullRequestPolicy.push()): BuildScriptOptions {
  return plainOptions(strategy, { pullRequests, secretIds: ['npm'] });
}

/**
 * Stand-ins, on PATH: each records `<tool> <args>` (one argument a line, `--` between calls) in
 * $CALLS and prints what the build reads back: a BuildKit log with one executed step, a digest.
 */
const STAND_INS = {
  docker: [
    'printf "%s\\n" docker "$@" -- >> "$CALLS"',
    'case "$1 $2" in',
    '  "buildx build") while [ $# -gt 0 ]; do [ "$1" = --metadata-file ] && printf \'{"containerimage.digest": "sha256:%064d"}\' 1 > "$2"; shift; done;',
    '    printf "#5 [2/2] RUN make\\n#5 DONE 0.1s\\n" ;;',
    '  "build --progress=plain") printf "#5 [2/2] RUN make\\n#5 DONE 0.1s\\n" ;;',
    '  "image inspect") printf "%s@sha256:%064d\\n" "$REPO" 2 ;;',
    '  "login --username") cat > /dev/null ;;',
    'esac',
  ],
  buildah: [
    'printf "%s\\n" buildah "$@" -- >> "$CALLS"',
    'case "$1" in',
    '  build) printf "STEP 1/2: FROM base\\nSTEP 2/2: RUN make\\n" ;;',
    '  push) if [ "$2" = --digestfile ]; then printf "sha256:%064d" 3 > "$3"; fi ;;',
    '  --version) echo "buildah version 1.39.3 (image-spec 1.1.0, runtime-spec 1.2.0)" ;;',
    'esac',
  ],
  aws: [
    'printf "%s\\n" aws "$@" -- >> "$CALLS"',
    'case "$2" in get-login-password) echo token ;; list-images) printf "main-e1\\tmain-e3\\tpr-123-e1\\tbr-main-e2\\tmain-experiment-e4\\n" ;; esac',
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
      `export PATH="${dir}/bin:$PATH" CALLS="${dir}/calls-$BASHPID" REPO="${REPO}"; cd "$(mktemp -d)"`,
      ...script.phases.pre_build,
      ...script.phases.build,
      ...script.phases.post_build,
      'CIB_CALLS="$(cat "$CALLS")"; CIB_IMAGEDEFS="$(cat imagedefinitions.json)"',
    ],
    env: { ...script.environment, CIB_SECRET_1: 'secret-value', CODEBUILD_BUILD_ID: 'p:0000-1111', CODEBUILD_RESOLVED_SOURCE_VERSION: 'c'.repeat(40) },
  };
}

const FORK_PR_FROM_MAIN = { CODEBUILD_WEBHOOK_EVENT: 'PULL_REQUEST_CREATED', CODEBUILD_WEBHOOK_TRIGGER: 'pr/123', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/main', CODEBUILD_WEBHOOK_BASE_REF: 'refs/heads/main' };
const PUSH_MAIN = { CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: 'branch/main', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/main' };
const TAG_MAIN = { CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: 'tag/main', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/tags/main' };

/** The calls of one tool: each call's arguments. */
function calls(recorded: string, tool: string): string[][] {
  return recorded.split('\n--\n').map((c) => c.split('\n').filter((l) => l !== '--')).filter((c) => c[0] === tool).map((c) => c.slice(1));
}
function argAfter(call: string[], flag: string): string[] {
  return call.flatMap((a, i) => (a === flag ? [call[i + 1]] : []));
}

describe.each([
  ['registry', CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: 'b/k:1' }) })],
  ['inline', CacheStrategy.inline()],
  ['buildah', CacheStrategy.buildah({ install: false })],
  ['none', CacheStrategy.none()],
] as const)('%s: the build script executed for each event', (name, strategy) => {
  const { commands, env } = scriptCommands(options(strategy));
  const [pr, main, tag] = runCases(commands, [FORK_PR_FROM_MAIN, PUSH_MAIN, TAG_MAIN].map((e) => ({ ...env, ...e })), ['CIB_CALLS', 'CIB_IMAGEDEFS', 'IMAGE_URI', 'IMAGE_DIGEST']);

  test('every command succeeds', () => {
    expect([pr, main, tag].map((r) => (r.failed === -1 ? 'ok' : `${commands[r.failed]}: ${r.stderr}`))).toEqual(['ok', 'ok', 'ok']);
  });

  test('a pull request from a fork\'s main: reads main, writes only pr-123, pushes only pr-123, no secrets', () => {
    const recorded = pr.vars.CIB_CALLS;
    const tool = name === 'buildah' ? 'buildah' : 'docker';
    const build = calls(recorded, tool).find((c) => c[0] === 'build' || c[1] === 'build')!;
    expect(build).toBeDefined();
    expect(build).not.toContain('--secret');
    expect(argAfter(build, '--tag')).toEqual([`${REPO}:pr-123`]);
    const pushed = [...calls(recorded, 'docker'), ...calls(recorded, 'buildah')].filter((c) => c[0] === 'push').map((c) => c[c.length - 1]);
    const writes = [...argAfter(build, '--cache-to'), ...pushed.filter((p) => p.startsWith(CACHE))];
    if (name === 'registry') {
      expect(argAfter(build, '--cache-from')).toEqual([`type=registry,ref=${CACHE}:pr-123`, `type=registry,ref=${CACHE}:main`]);
      expect(writes).toEqual([`type=registry,ref=${CACHE}:pr-123,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true`]);
    } else if (name === 'inline') {
      // Only the pull request's and main's own cache tags: not br-main-e2, not main-experiment-e4.
      expect(argAfter(build, '--cache-from')).toEqual([`${CACHE}:main-e1`, `${CACHE}:main-e3`, `${CACHE}:pr-123-e1`]);
      expect(writes).toEqual([`${CACHE}:pr-123-e1`]);
    } else {
      expect(writes).toEqual([]);
    }
    expect(pushed.filter((p) => p.startsWith(REPO + ':'))).toEqual(name === 'inline' || name === 'buildah' ? [`${REPO}:pr-123`] : []);
    expect(pr.vars.IMAGE_URI).toBe(`${REPO}:pr-123`);
    expect(JSON.parse(pr.vars.CIB_IMAGEDEFS)).toEqual([{ name: 'app', imageUri: `${REPO}:pr-123` }]);
  });

  test('a push of main: mounts the secret, pushes the commit tag and latest, writes main', () => {
    const recorded = main.vars.CIB_CALLS;
    const tool = name === 'buildah' ? 'buildah' : 'docker';
    const build = calls(recorded, tool).find((c) => c[0] === 'build' || c[1] === 'build')!;
    expect(build).toContain('--secret');
    expect(argAfter(build, '--tag')).toEqual([`${REPO}:${'c'.repeat(40)}`, `${REPO}:latest`]);
    if (name === 'registry') expect(argAfter(build, '--cache-to')[0]).toMatch(new RegExp(`^type=registry,ref=${CACHE}:main,`));
    if (name === 'buildah') expect(argAfter(build, '--cache-to')).toEqual([CACHE]);
    expect(main.vars.IMAGE_DIGEST).toMatch(/^sha256:0+[123]$/);
  });

  test('a git tag named main: pushes the image tag main, writes tag-main, moves no fixed tag', () => {
    const tool = name === 'buildah' ? 'buildah' : 'docker';
    const build = calls(tag.vars.CIB_CALLS, tool).find((c) => c[0] === 'build' || c[1] === 'build')!;
    expect(argAfter(build, '--tag')).toEqual([`${REPO}:main`]);
    if (name === 'registry') expect(argAfter(build, '--cache-to')[0]).toMatch(new RegExp(`^type=registry,ref=${CACHE}:tag-main,`));
  });
});

test('buildOnly: a pull request pushes nothing and writes no cache; the deploy files name no image', () => {
  const strategy = CacheStrategy.registry({ builder: BuildxBuilder.currentDriver() });
  const { commands, env } = scriptCommands(options(strategy, PullRequestPolicy.buildOnly()));
  const [r] = runCases(commands, [{ ...env, ...FORK_PR_FROM_MAIN }], ['CIB_CALLS', 'CIB_IMAGEDEFS', 'IMAGE_URI', 'IMAGE_DIGEST']);
  expect(r.failed).toBe(-1);
  const build = calls(r.vars.CIB_CALLS, 'docker').find((c) => c[1] === 'build')!;
  expect(build).not.toContain('--push');
  expect(build).not.toContain('--cache-to');
  expect(argAfter(build, '--tag')).toEqual([]);
  expect([r.vars.IMAGE_URI, r.vars.IMAGE_DIGEST, JSON.parse(r.vars.CIB_IMAGEDEFS)]).toEqual(['', '', []]);
});

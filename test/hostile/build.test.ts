/** Hostile input, the build, run in bash with stand-ins for docker, aws and buildah; see arbitraries.ts for the whole approach. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as fc from 'fast-check';
import {
  ANY,
  BuildInput,
  CACHE_REPOSITORY_URI,
  CANARY,
  IMAGE_REPOSITORY_URI,
  PAYLOADS,
  REGION,
  REPOSITORY,
  StrategyName,
  Synthesized,
  buildInput,
  contextArgument,
  distinctive,
  message,
  normalizedPath,
  propsOf,
  runs,
  seed,
  synthesize,
} from './arbitraries';
import { BuildxBuilder, CachedImageBuildProps } from '../../src';
import { BuildSpecPhases, runBuildSpec } from '../e2e/lib/codebuild';
import { modelBuild } from '../helpers/build-context-model';

// ------------------------------------------------------------------ the build, run in bash

const DIGEST = 'ab'.repeat(32);

/** Each stand-in appends its argv to $STUB_CALLS: the argument count, then every argument, NUL-terminated. */
function record(tool: string): string {
  return `printf '%s\\0' "$(($# + 1))" ${tool} "$@" >> "$STUB_CALLS"`;
}

/** A builder reads each `--secret id=<id>,src=<file>`: append the id and the file's content to $STUB_SECRETS. */
const READ_SECRETS = 'prev=""; for a in "$@"; do if [ "$prev" = --secret ]; then id="${a#id=}"; id="${id%%,src=*}"; ' +
  '{ printf \'%s\\0\' "$id"; cat "${a##*,src=}"; printf \'\\0\'; } >> "$STUB_SECRETS"; fi; prev="$a"; done';

const STAND_INS: Record<string, string[]> = {
  docker: [
    record('docker'),
    'if [ "$1" = login ]; then cat > /dev/null; exit 0; fi',
    // `docker image inspect --format ... <repository>:<tag>`: the repository digest of the pushed image
    'if [ "$1" = image ] && [ "$2" = inspect ]; then ref="${@: -1}"; printf \'%s@sha256:%s\\n\' "${ref%:*}" "$STUB_DIGEST"; exit 0; fi',
    'if [ "$1" = build ] || { [ "$1" = buildx ] && [ "$2" = build ]; }; then',
    `  ${READ_SECRETS}`,
    '  prev=""; for a in "$@"; do if [ "$prev" = --metadata-file ]; then printf \'{"containerimage.digest": "sha256:%s"}\\n\' "$STUB_DIGEST" > "$a"; fi; prev="$a"; done',
    // a BuildKit plain-progress log: one step from the cache, one executed
    '  printf \'#5 [2/3] RUN true\\n#5 CACHED\\n#6 [3/3] RUN date\\n#6 DONE 0.1s\\n\'',
    'fi',
    'exit 0',
  ],
  buildah: [
    record('buildah'),
    `if [ "$1" = build ]; then ${READ_SECRETS}; fi`,
    'if [ "$1" = build ]; then printf \'STEP 1/3: FROM busybox\\nSTEP 2/3: RUN true\\n--> Using cache 0123456789ab\\nSTEP 3/3: RUN date\\n\'; fi',
    'if [ "$1" = push ]; then prev=""; for a in "$@"; do if [ "$prev" = --digestfile ]; then printf \'sha256:%s\' "$STUB_DIGEST" > "$a"; fi; prev="$a"; done; fi',
    'if [ "$1" = --version ]; then echo "buildah version 1.39.3 (image-spec 1.1.0, runtime-spec 1.2.0)"; fi',
    'exit 0',
  ],
  aws: [
    record('aws'),
    'case "$1 $2" in',
    '  "ecr get-login-password") echo stand-in-password ;;',
    '  "ecr list-images") printf \'%s\\n\' "$STUB_ECR_TAGS" ;;',
    '  "cloudwatch put-metric-data") ;;',
    '  *) echo "aws stand-in: unsupported command: $*" >&2; exit 2 ;;',
    'esac',
  ],
};

let root: string;
let binDir: string;
/** Where the builds run: in memory when possible, since every command writes the runner's state files. */
let runsDir: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cib-hostile-'));
  binDir = path.join(root, 'bin');
  fs.mkdirSync(binDir);
  runsDir = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/cib-hostile-') : root;
  for (const [tool, lines] of Object.entries(STAND_INS)) {
    fs.writeFileSync(path.join(binDir, tool), ['#!/bin/bash', ...lines, ''].join('\n'), { mode: 0o755 });
  }
  fs.rmSync(CANARY, { force: true });
});

afterAll(() => {
  fs.rmSync(runsDir, { recursive: true, force: true });
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(CANARY, { force: true });
});

/** One recorded call of a stand-in: argv[0] is the tool. */
type Call = string[];

/**
 * The NUL-terminated fields of a file (none when there is no file). Each must be valid UTF-8, so
 * comparing the decoded strings compares the bytes.
 */
function readNulSeparated(file: string): string[] {
  const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  const fields: string[] = [];
  for (let start = 0; start < data.length;) {
    const end = data.indexOf(0, start);
    if (end < 0) throw new Error(`unterminated field in ${file}`);
    const raw = data.subarray(start, end);
    const text = raw.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(raw)) throw new Error(`field is not valid UTF-8: ${raw.toString('hex')}`);
    fields.push(text);
    start = end + 1;
  }
  return fields;
}

/** Reads the calls recorded by the stand-ins. */
function readCalls(file: string): Call[] {
  const fields = readNulSeparated(file);
  const calls: Call[] = [];
  for (let i = 0; i < fields.length;) {
    const count = Number(fields[i]);
    calls.push(fields.slice(i + 1, i + 1 + count));
    i += 1 + count;
  }
  return calls;
}

const VALUE_OPTIONS = new Set([
  '--file', '--platform', '--tag', '--target', '--network', '--build-arg', '--cache-from', '--cache-to', '--metadata-file',
  '--builder', '--digestfile', '--name', '--driver', '--driver-opt', '--username', '--region', '--format', '--secret',
]);
const FLAG_OPTIONS = new Set(['--push', '--no-cache', '--layers', '--bootstrap', '--password-stdin']);

interface ParsedArgs {
  readonly options: Record<string, string[]>;
  readonly positional: string[];
  /** Arguments that look like options the build script never passes: a value read as an option. */
  readonly unknown: string[];
}

/** Parses the arguments after the subcommand the way the CLIs do (an option's value is the next argument). */
function parseArgs(args: string[]): ParsedArgs {
  const options: Record<string, string[]> = {};
  const positional: string[] = [];
  const unknown: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (VALUE_OPTIONS.has(a)) {
      (options[a] = options[a] ?? []).push(args[++i]);
    } else if (FLAG_OPTIONS.has(a) || /^--(progress|provenance)=/.test(a)) {
      (options[a] = options[a] ?? []).push('');
    } else if (a.startsWith('-')) {
      unknown.push(a);
    } else {
      positional.push(a);
    }
  }
  return { options, positional, unknown };
}

function callsOf(calls: Call[], ...prefix: string[]): Call[] {
  return calls.filter((c) => prefix.every((p, i) => c[i] === p));
}

interface BuildRun {
  readonly exitCode: number;
  readonly failedCommand?: string;
  readonly variables: Record<string, string>;
  readonly calls: Call[];
  /** What the builder read from each --secret file: id, then content, alternating. */
  readonly secrets: string[];
  readonly imageDefinitions?: string;
  readonly log: string;
  /** Files left in the build's temporary directory. */
  readonly temporaryFiles: string[];
}

/**
 * Runs the synthesized buildspec in bash, as CodeBuild would, with the stand-ins first on PATH.
 * `resolvedValues`: what CodeBuild resolves the Parameter Store / Secrets Manager variables to.
 */
async function runBuild(synthesized: Synthesized, callerEnv: Record<string, string>, resolvedValues: Record<string, string> = {}): Promise<BuildRun> {
  const overrides: Record<string, string> = {
    CIB_IMAGE_REPOSITORY_URI: IMAGE_REPOSITORY_URI,
    CIB_CACHE_REPOSITORY_URI: CACHE_REPOSITORY_URI,
    CIB_CACHE_REPOSITORY_NAME: `${REPOSITORY}-cache`,
  };
  const projectEnv: Record<string, string> = {};
  for (const [name, value] of synthesized.environment) {
    if (name in overrides) continue;
    if (synthesized.resolved.has(name)) {
      if (!(name in resolvedValues)) throw new Error(`no resolved value for ${name}`);
      projectEnv[name] = resolvedValues[name];
      continue;
    }
    if (typeof value !== 'string') throw new Error(`${name} is a CloudFormation expression: ${JSON.stringify(value)}`);
    projectEnv[name] = value;
  }
  for (const name of Object.keys(overrides)) {
    if (synthesized.environment.has(name)) projectEnv[name] = overrides[name];
  }
  const dir = fs.mkdtempSync(path.join(runsDir, 'run-'));
  try {
    const src = path.join(dir, 'src');
    const tmp = path.join(dir, 'tmp');
    fs.mkdirSync(src);
    fs.mkdirSync(tmp);
    const callsFile = path.join(dir, 'calls');
    const secretsFile = path.join(dir, 'secrets');
    const logFile = path.join(dir, 'log');
    const result = await runBuildSpec({
      phases: JSON.parse(synthesized.buildSpec).phases as BuildSpecPhases,
      env: {
        PATH: `${binDir}:${process.env.PATH}`,
        LANG: 'C.UTF-8',
        HOME: dir,
        TMPDIR: tmp,
        AWS_REGION: REGION,
        CODEBUILD_BUILD_ID: 'api-build:0123',
        CODEBUILD_BUILD_NUMBER: '7',
        STUB_CALLS: callsFile,
        STUB_SECRETS: secretsFile,
        STUB_DIGEST: DIGEST,
        ...callerEnv,
        ...projectEnv,
      },
      sourceDir: src,
      workDir: path.join(dir, 'runner'),
      logFile,
    });
    const definitions = path.join(src, 'imagedefinitions.json');
    return {
      ...result,
      calls: readCalls(callsFile),
      secrets: readNulSeparated(secretsFile),
      imageDefinitions: fs.existsSync(definitions) ? fs.readFileSync(definitions, 'utf8') : undefined,
      log: fs.readFileSync(logFile, 'utf8'),
      temporaryFiles: fs.readdirSync(tmp).map((f) => path.join(tmp, f)),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What ECR lists in the cache repository for the inline strategy: tags of the scopes the build reads, and decoys. */
function ecrCacheTags(readScopes: string[]): string[] {
  const [first, ...rest] = readScopes.length > 0 ? readScopes : ['main'];
  return [`${first}-e3`, ...rest.map((r) => `${r}-e5`), `${first}-e`, `${first}-e1x`, `x${first}-e2`, 'zz-decoy-e4', `br-${first}-e6`];
}

/** The inline strategy's rule: a tag `<scope>-e<digits>` of a scope the build reads, sorted, once each. */
function inlineImports(tags: string[], readScopes: string[]): string[] {
  const keyed = (t: string, prefix: string) => t.startsWith(prefix) && /^[0-9]+$/.test(t.slice(prefix.length));
  return [...new Set(tags.filter((t) => readScopes.some((s) => keyed(t, `${s}-e`))))].sort();
}

async function checkBuild(input: BuildInput): Promise<void> {
  // GIVEN: a stack with the hostile values, synthesized; the branch and commit variables of the build
  const synthesized = synthesize((stack) => propsOf(input, stack));
  const values = [
    ...input.buildArgs.map(([, value]) => value), input.target, input.dockerfile, input.buildContext, ...input.tags, input.containerName,
    input.defaultBranch, ...input.userVariables.flat(), input.builderImage, ...input.secrets.flat(),
  ].filter((v): v is string => v !== undefined && distinctive(v));
  expect(values.filter((v) => synthesized.buildSpec.includes(JSON.stringify(v).slice(1, -1)))).toEqual([]);
  // the secrets' values, as CodeBuild resolves them: CIB_SECRET_<n> holds the secret CIB_SECRET_<n>_ID names
  const secretValues = new Map(input.secrets);
  const resolvedValues: Record<string, string> = {};
  input.secrets.forEach((_, i) => {
    resolvedValues[`CIB_SECRET_${i + 1}`] = secretValues.get(synthesized.environment.get(`CIB_SECRET_${i + 1}_ID`) as string)!;
  });
  // The oracle: the TypeScript model of the build context (its agreement with bash is tested in build-context.property)
  const model = modelBuild({
    defaultBranch: input.defaultBranch.replace(/^refs\/heads\//, ''),
    policy: 'push',
    mountSecrets: false,
    imageTags: input.tags.map((t) => t ?? 'commit'),
  }, { ...input.source, CODEBUILD_BUILD_NUMBER: '7' });
  const callerEnv: Record<string, string> = { STUB_ECR_TAGS: ecrCacheTags(model.readScopes).join('\t') };
  for (const [name, value] of Object.entries(input.source)) {
    if (value !== undefined) callerEnv[name] = value;
  }

  // WHEN
  const run = await runBuild(synthesized, callerEnv, resolvedValues);

  // THEN: nothing ran
  expect(fs.existsSync(CANARY)).toBe(false);
  expect(run.log).not.toMatch(/command not found|syntax error|unexpected EOF|bad substitution/);
  // THEN: a build for which no tag of imageTags applies (and that is not a pull request) fails, saying so
  if (model.pushTags.length === 0 && model.event !== 'pull-request') {
    expect(run.exitCode).not.toEqual(0);
    expect(run.log).toMatch(/^error: no tag of imageTags applies to this build \(event /m);
    return;
  }
  if (run.exitCode !== 0) throw new Error(`build failed (exit ${run.exitCode}) at: ${run.failedCommand}\n${run.log.slice(-3000)}`);

  // THEN: the builder got every value byte-exact, each as one argument
  const context = contextArgument(input.buildContext);
  const imageRefs = model.pushTags.map((t) => `${IMAGE_REPOSITORY_URI}:${t}`);
  const buildArgs = [...input.buildArgs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, value]) => `${name}=${value}`);
  const command = { registry: ['docker', 'buildx', 'build'], none: ['docker', 'buildx', 'build'], inline: ['docker', 'build'], buildah: ['buildah', 'build'] }[input.strategy];
  const builds = callsOf(run.calls, ...command);
  expect(builds).toHaveLength(1);
  const args = parseArgs(builds[0].slice(command.length));
  expect(args.unknown).toEqual([]);
  expect(args.positional).toEqual([context]);
  expect(args.options['--file']).toEqual([`${context}/${normalizedPath(input.dockerfile)}`]);
  expect(args.options['--target']).toEqual(input.target === undefined ? undefined : [input.target]);
  expect(args.options['--tag'] ?? []).toEqual(imageRefs);
  expect(args.options['--build-arg'] ?? []).toEqual(input.strategy === 'inline' ? [...buildArgs, 'BUILDKIT_INLINE_CACHE=1'] : buildArgs);

  // THEN: each secret reached the builder as a file, byte-exact, on no command line; the files are gone
  const secretArgs = (args.options['--secret'] ?? []).map((a) => /^id=(.*),src=(.*)$/s.exec(a)!);
  // (a pull request gets none of them)
  const mounted = model.mountSecrets ? input.secrets : [];
  expect(secretArgs.map((m) => m[1]).sort()).toEqual(mounted.map(([id]) => id).sort());
  const read = new Map<string, string>();
  for (let i = 0; i + 1 < run.secrets.length; i += 2) read.set(run.secrets[i], run.secrets[i + 1]);
  expect(read).toEqual(new Map(mounted));
  const secretsOnCommandLines = input.secrets.map(([, v]) => v).filter((v) => distinctive(v) && run.calls.some((c) => c.some((a) => a.includes(v))));
  expect(secretsOnCommandLines).toEqual([]);
  expect(secretArgs.map((m) => m[2]).filter((file) => run.temporaryFiles.includes(file))).toEqual([]);

  // THEN: the cache refs are the scopes the build reads and the one it writes
  const pushed = imageRefs.length > 0;
  switch (input.strategy) {
    case 'registry':
      expect(args.options['--cache-from']).toEqual(model.readScopes.map((s) => `type=registry,ref=${CACHE_REPOSITORY_URI}:${s}`));
      expect(args.options['--cache-to']).toEqual(model.writeScope === '' ? undefined : [
        `type=registry,ref=${CACHE_REPOSITORY_URI}:${model.writeScope},mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true`,
      ]);
      expect(callsOf(run.calls, 'docker', 'buildx', 'create').map((c) => parseArgs(c.slice(3)).options['--driver-opt'])).toEqual([
        [`image=${input.builderImage ?? BuildxBuilder.DEFAULT_BUILDKIT_IMAGE}`],
      ]);
      break;
    case 'inline': {
      const imports = inlineImports(ecrCacheTags(model.readScopes), model.readScopes);
      expect(args.options['--cache-from'] ?? []).toEqual(imports.map((t) => `${CACHE_REPOSITORY_URI}:${t}`));
      // one step executed: the build's image goes to its own scope's cache tag <scope>-e1, if it writes one
      const cacheRefs = model.writeScope !== '' && pushed ? [`${CACHE_REPOSITORY_URI}:${model.writeScope}-e1`] : [];
      expect(callsOf(run.calls, 'docker', 'push').map((c) => c.slice(2))).toEqual([...imageRefs, ...cacheRefs].map((r) => [r]));
      expect(callsOf(run.calls, 'docker', 'tag').map((c) => c.slice(2))).toEqual(cacheRefs.map((r) => [imageRefs[0], r]));
      break;
    }
    case 'buildah':
      expect(args.options['--cache-from']).toEqual([CACHE_REPOSITORY_URI]);
      expect(args.options['--cache-to']).toEqual(model.writeScope !== '' && model.event !== 'pull-request' ? [CACHE_REPOSITORY_URI] : undefined);
      expect(callsOf(run.calls, 'buildah', 'push').map((c) => c[c.length - 1])).toEqual(imageRefs);
      break;
    case 'none':
      expect(args.options['--cache-from']).toBeUndefined();
      expect(args.options['--cache-to']).toBeUndefined();
      expect(args.options['--no-cache']).toEqual(['']);
      break;
  }

  // THEN: the outputs name the image exactly
  expect(run.variables.IMAGE_TAG).toEqual(model.pushTags[0] ?? '');
  expect(run.variables.IMAGE_URI).toEqual(imageRefs[0] ?? '');
  expect(run.variables.IMAGE_DIGEST).toEqual(pushed ? `sha256:${DIGEST}` : '');
  expect(JSON.parse(run.imageDefinitions!)).toEqual(pushed ? [{ name: input.containerName, imageUri: imageRefs[0] }] : []);
}

describe('the build with hostile values, run in bash with stand-ins for docker, aws and buildah', () => {
  test.each([
    ['registry', runs(20)],
    ['inline', runs(15)],
    ['buildah', runs(15)],
    ['none', runs(10)],
  ] as Array<[StrategyName, number]>)('%s: every value arrives byte-exact and nothing runs (%d builds)', async (strategy, numRuns) => {
    await fc.assert(fc.asyncProperty(buildInput(strategy), (input) => checkBuild(input)), { numRuns, seed: seed(11) });
  }, 3_600_000);

  test('the stand-ins and the canary work: a payload run by bash creates the canary, and the calls are recorded', async () => {
    // GIVEN: a buildspec that does what the build script must never do
    const synthesized: Synthesized = {
      template: {},
      buildSpec: JSON.stringify({ phases: { build: { commands: ['eval "$HOSTILE"', 'docker buildx build --tag "a b" $HOSTILE_SPLIT .'] } } }),
      environment: new Map([['HOSTILE', PAYLOADS[0]], ['HOSTILE_SPLIT', 'x y']]),
      resolved: new Set(),
    };

    try {
      // WHEN
      const run = await runBuild(synthesized, {});

      // THEN
      expect(run.exitCode).toEqual(0);
      expect(fs.existsSync(CANARY)).toBe(true);
      expect(run.calls).toEqual([['docker', 'buildx', 'build', '--tag', 'a b', 'x', 'y', '.']]);
    } finally {
      fs.rmSync(CANARY, { force: true });
    }
  });
});

describe('regressions found by these properties', () => {
  function synthesizeOrError(props: CachedImageBuildProps): Synthesized | Error {
    try {
      return synthesize(props);
    } catch (e) {
      return e as Error;
    }
  }

  test.each([
    ['buildContext', '\\etc', 'the source root'],
    ['buildContext', '\\\\host\\share', 'the source root'],
    ['dockerfile', '\\..\\..\\etc\\passwd', 'the build context'],
  ])('rejects %s %j, absolute once its backslashes are read as slashes', (prop, value, parent) => {
    // WHEN
    const result = synthesizeOrError({ [prop]: value });

    // THEN: it used to synthesize, with the path normalized to an absolute one
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toMatch(message(`${prop} must be a path relative to ${parent}`, ANY, `, not an absolute path; got '${value}'`));
  });

  test.each([['-'], ['-f'], ['--output=type=local,dest=out'], ['-/x']])('passes the build context %j as a path, not as an option', (buildContext) => {
    // WHEN
    const result = synthesize({ buildContext });

    // THEN: it used to reach the builder as '-f', read as an option (and '-' as "the context is on stdin")
    expect(result.environment.get('CIB_BUILD_CONTEXT')).toEqual(`./${buildContext}`);
  });

  test('rejects a build argument value with NUL, which no environment variable can hold', () => {
    // WHEN
    const result = synthesizeOrError({ buildArgs: { TOKEN: 'abc\0def' } });

    // THEN: it used to synthesize a value the build could never receive
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toEqual(
      'buildArgs: the value of build argument \'TOKEN\' must not contain NUL (environment variables cannot hold it)');
  });

  test.each([['moby/buildkit:v0.13,network=host'], ['moby/buildkit"'], ['moby/buildkit\nx']])(
    'rejects the BuildKit image %j, which would add driver options of its own', (image) => {
      // WHEN / THEN: buildx reads --driver-opt as comma-separated values
      expect(() => BuildxBuilder.dockerContainer({ image })).toThrow(message(
        'BuildxBuilder.dockerContainer(): image must be a non-empty image reference made of [A-Za-z0-9._/:@+-] and the brackets of an IPv6 host; ',
        `got '${image}'`));
    });
});

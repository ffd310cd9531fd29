/**
 * Hostile input (issue #5, "Shell and input safety"), property-based.
 *
 * fast-check builds values meant to break out of the shell: quotes, `$(...)`, backticks, `;`, `|`,
 * `&&`, redirections, line breaks, globs, brace expansion, printf formats, leading dashes, `=`
 * signs, unicode (emoji, RTL marks, combining marks, look-alikes) and 4 KB strings. Every payload
 * that could run tries to create a canary file, so execution is detectable.
 *
 * - Synthesis: each prop either synthesizes or fails with an error that names the prop and the
 *   rule; which one is decided by the rule as written here, independently of src/. A value that
 *   is accepted is in the project's environment and nowhere in the buildspec: the buildspec is the
 *   same as for plain values of the same shape.
 * - Build: the synthesized buildspec runs in bash the way CodeBuild runs it (the end-to-end
 *   harness's runner: a fresh bash per command, inheriting only scalar variables and the working
 *   directory), with stand-ins for docker, aws and buildah that record their argv. Every valid
 *   value arrives byte-exact, as one argument; the build succeeds; no canary file appears.
 *
 * Environment variables cannot hold NUL bytes, so the values given to a build never contain NUL
 * (synthesis rejects NUL in build-arg values and paths: the synthesis properties check that).
 *
 * The seeds are fixed, so a run is repeatable. For a deeper search, e.g.
 * `HOSTILE_SEED=$RANDOM HOSTILE_RUNS=10 npx jest test/hostile-input.test.ts` (10 times the runs).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack, aws_ssm as ssm } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as fc from 'fast-check';
import { BuildSecret, BuildxBuilder, CacheStrategy, CachedImageBuild, CachedImageBuildProps, ImageTag } from '../src';
import { branchToTag } from '../src/tags';
import { BuildSpecPhases, runBuildSpec } from './e2e/lib/codebuild';

/** Seed of every property: fixed unless HOSTILE_SEED is set. */
function seed(fixed: number): number {
  return process.env.HOSTILE_SEED ? Number(process.env.HOSTILE_SEED) + fixed : fixed;
}

/** Number of runs of a property, times HOSTILE_RUNS. */
function runs(n: number): number {
  return Math.round(n * Number(process.env.HOSTILE_RUNS ?? 1));
}

// ------------------------------------------------------------------ hostile values

/** Created by any payload that runs. */
const CANARY = path.join(os.tmpdir(), `cib-canary-${process.pid}`);

/** Ways to run `touch $CANARY` if a value were ever read as shell (or awk, or printf) code. */
const PAYLOADS = [
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `;touch ${CANARY};`,
  `; touch ${CANARY} #`,
  `| touch ${CANARY}`,
  `|| touch ${CANARY}`,
  `&& touch ${CANARY}`,
  `& touch ${CANARY} &`,
  `\ntouch ${CANARY}\n`,
  `\rtouch ${CANARY}\r`,
  `'; touch ${CANARY}; '`,
  `"; touch ${CANARY}; "`,
  `'"$(touch ${CANARY})"'`,
  `\\"$(touch ${CANARY})\\"`,
  `$(touch\t${CANARY})`,
  `\${IFS}touch\${IFS}${CANARY}`,
  `\${x:-$(touch ${CANARY})}`,
  `$((0))$(touch ${CANARY})`,
  `a[$(touch ${CANARY})]`,
  `x[$(touch ${CANARY})]=1`,
  `<(touch ${CANARY})`,
  `>(touch ${CANARY})`,
  `$'\\x24(touch ${CANARY})'`,
  `{touch,${CANARY}}`,
  `*$(touch ${CANARY})*`,
  `$(touch ${CANARY}`,
  `--build-arg=X=$(touch ${CANARY})`,
  `\\\n$(touch ${CANARY})`,
  `() { :; }; touch ${CANARY}`,
  `%s%n%b $(touch ${CANARY})`,
  `-e $(touch ${CANARY})`,
  `"); system("touch ${CANARY}"); ("`,
  `\u00a0$(touch ${CANARY})`,
];

const METACHARACTERS = [
  '\'', '"', '`', '$', '$(', ')', '(', ';', '|', '&', '&&', '||', '>', '>>', '<', '<<EOF', '\n', '\r', '\r\n', '\t', ' ',
  '\\', '\\\\', '*', '?', '[a]', '~', '~root', '{a,b}', '{1..3}', '!', '!!', '!$', '#', '=', '==', 'A=B', '--privileged',
  '-f', '-', '--', '-e', '-n', '%s', '%n', '%%', '\\0', '\\x00', '%00', '$HOME', '${HOME}', '$0', '$@', '$*', '$$', '$?',
  '$IFS', '^', '\\n', ',', ',mode=min', 'type=local,dest=/tmp', ':', '@', '/', '//', './', '../', '.', '..',
];

const UNICODE = [
  '\u00e9', 'e\u0301', '\u0301\u0302\u0303', '\u{1F600}', '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}', '\u202e', '\u202egnp.exe',
  '\u05e9\u05dc\u05d5\u05dd', '\u0645\u0631\u062d\u0628\u0627', '\u6f22\u5b57', '\ufeff', '\ufffd', '\u200b', '\u2028', '\u2029',
  '\u0085', '\u00a0', '\uff04\uff08touch\uff09', '\u{10FFFF}', '\ue000', '\u009b31m', '\u001b[31m', '\u0007', '\u007f',
  '\u00c0\u00af', '\u00ff\u00fe', '\ufb01', '\u0130', '\u00df',
];

const fragment: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...PAYLOADS), weight: 4 },
  { arbitrary: fc.constantFrom(...METACHARACTERS), weight: 3 },
  { arbitrary: fc.constantFrom(...UNICODE), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 12 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 12 }), weight: 1 },
  { arbitrary: fc.constant('\0'), weight: 1 },
);

/** At least 4 KB: a fragment repeated, then a payload. */
const long: fc.Arbitrary<string> = fc
  .tuple(fragment.filter((f) => f.length > 0), fc.constantFrom(...PAYLOADS))
  .map(([f, payload]) => f.repeat(Math.ceil(4096 / Buffer.byteLength(f))) + payload);

/** Any hostile string (NUL included). */
const hostile: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.array(fragment, { maxLength: 6 }).map((parts) => parts.join('')), weight: 9 },
  { arbitrary: long, weight: 1 },
);

/** A hostile string an environment variable can hold. */
const hostileNoNul = hostile.map((s) => s.replace(/\0/g, ''));

// ------------------------------------------------------------------ the rules, written independently of src/

const ECR_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const BUILD_ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CONTAINER_NAME = /^[a-zA-Z0-9_-]{1,255}$/;
const REPOSITORY_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const IMAGE_REFERENCE = /^[A-Za-z0-9._/:@+[\]-]+$/;
const METRICS_NAMESPACE = /^[0-9A-Za-z.\-_/#:]{1,255}$/;
const SECRET_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Stands for any text in {@link message}. */
const ANY = Symbol('any text');

/** A regular expression for a whole error message: literal parts, and any text (across lines) for ANY. */
function message(...parts: Array<string | typeof ANY>): RegExp {
  return new RegExp(`^${parts.map((p) => (p === ANY ? '.*' : escapeRegExp(p))).join('')}$`, 's');
}

/** The error a build context or Dockerfile path must cause, or undefined when it is valid. */
function pathError(prop: string, value: string): RegExp | undefined {
  if (value === '') return message(`${prop} must not be empty`);
  if (/[\0\r\n]/.test(value)) return message(`${prop} must not contain NUL or line breaks; got ${JSON.stringify(value)}`);
  const slashed = value.replace(/\\/g, '/');
  if (slashed.startsWith('/') || /^[A-Za-z]:\//.test(slashed)) {
    return message(`${prop} must be a path relative to `, ANY, `, not an absolute path; got '${value}'`);
  }
  const normalized = path.posix.normalize(slashed);
  if (normalized === '..' || normalized.startsWith('../')) return message(`${prop} must stay inside `, ANY, `; '${value}' points outside it`);
  return undefined;
}

/** A valid path as the build receives it: slashes for backslashes, normalized. */
function normalizedPath(value: string): string {
  return path.posix.normalize(value.replace(/\\/g, '/'));
}

/** The build context as the builder's positional argument: never one that starts with '-'. */
function contextArgument(value: string): string {
  const normalized = normalizedPath(value);
  return normalized.startsWith('-') ? `./${normalized}` : normalized;
}

// ------------------------------------------------------------------ valid hostile values (for the build)

const validTag = fc.oneof(
  fc.stringMatching(ECR_TAG),
  fc.constantFrom('_', '_--privileged', '0', 'a'.repeat(128), '9.-_', 'latest'),
);
const validBuildArgName = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/),
  fc.constantFrom('PATH', 'IFS', 'BASH_ENV', 'ENV', 'PS4', 'SHELLOPTS', 'LD_PRELOAD', 'HOME', 'BUILDKIT_INLINE_CACHE',
    'HTTP_PROXY', '__proto__', 'constructor', 'toString', '_'),
);
const validTarget = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$/),
  fc.constantFrom('0', 'a--privileged', 'x.-_', 'A'.repeat(4096)),
);
const validContainerName = fc.oneof(
  fc.stringMatching(/^[a-zA-Z0-9_-]{1,64}$/),
  fc.constantFrom('-', '--privileged', '-f', '_', 'x'.repeat(255)),
);
const hostilePath = fc.oneof(
  hostile,
  fc.array(fragment.map((f) => f.replace(/[/\\]/g, '')), { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')),
  fc.constantFrom('-', '--privileged', '-f', '--output=type=local,dest=/tmp/x', '-/Dockerfile', 'a b/c d', '*', '~', '~/x',
    '{a,b}', 'a/../b', './x/', 'x\\y', '.', '..a', 'a..', '...', '\\etc', '\\\\host\\share', 'a/../../x', 'C:\\x', 'c:/x'),
);
const validPath = hostilePath.map((p) => p.replace(/[\0\r\n]/g, '')).filter((p) => pathError('path', p) === undefined);
const validBranch = hostile.filter((b) => branchToTag(b) !== '');
const validBuilderImage = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._/:@+[\]-]{1,60}$/),
  fc.constantFrom('-', '--privileged', '[::1]:5000/buildkit:v0.13', 'buildkit@sha256:' + 'a'.repeat(64)),
);
const validSecretId = fc.oneof(
  fc.stringMatching(SECRET_ID),
  fc.constantFrom('-', '--privileged', '...', '.x', 'a'.repeat(64), 'id', 'src'),
).filter((id) => id !== '.' && id !== '..');
/** Names of user environment variables that bash cannot read as variables (valid identifiers are the user's own business). */
const userVariableName = hostileNoNul.filter((n) => n.length > 0 && !n.includes('=') && !BUILD_ARG_NAME.test(n) &&
  !n.startsWith('CODEBUILD_') && !n.startsWith('CIB_') && !n.startsWith('BASH_FUNC_'));

const SHA = '0123456789abcdef0123456789abcdef01234567';
const ref = fc.oneof(
  { arbitrary: hostileNoNul, weight: 4 },
  { arbitrary: hostileNoNul.map((s) => `refs/heads/${s}`), weight: 1 },
  { arbitrary: hostileNoNul.map((s) => `refs/tags/${s}`), weight: 1 },
  { arbitrary: fc.constantFrom('', 'main', 'feature/x', '...', '\u00e9\u00e9'), weight: 1 },
);

/** The variables CodeBuild (or the pipeline action) sets from the branch and commit: all attacker-controlled. */
interface SourceVariables {
  CIB_BRANCH?: string;
  CODEBUILD_WEBHOOK_HEAD_REF?: string;
  CODEBUILD_SOURCE_VERSION?: string;
  CODEBUILD_RESOLVED_SOURCE_VERSION?: string;
}

const sourceVariables: fc.Arbitrary<SourceVariables> = fc.record({
  CIB_BRANCH: ref,
  CODEBUILD_WEBHOOK_HEAD_REF: ref,
  CODEBUILD_SOURCE_VERSION: fc.oneof(ref, fc.constantFrom(SHA, `arn:aws:s3:::bucket/$(touch ${CANARY}).zip`)),
  CODEBUILD_RESOLVED_SOURCE_VERSION: fc.oneof(hostileNoNul, fc.constant(SHA)),
}, { requiredKeys: [] });

type StrategyName = 'registry' | 'inline' | 'buildah' | 'none';

/** Everything a build is given, valid and hostile. */
interface BuildInput {
  readonly strategy: StrategyName;
  /** BuildKit image of the docker-container builder (registry only); undefined: the default. */
  readonly builderImage?: string;
  readonly buildArgs: Array<[string, string]>;
  readonly target?: string;
  readonly dockerfile: string;
  readonly buildContext: string;
  /** Fixed tags, and undefined for the commit tag. */
  readonly tags: Array<string | undefined>;
  readonly containerName: string;
  readonly defaultBranch: string;
  readonly userVariables: Array<[string, string]>;
  /** Build secrets: id and the value CodeBuild resolves it to. */
  readonly secrets: Array<[string, string]>;
  readonly source: SourceVariables;
}

function buildInput(strategy: StrategyName): fc.Arbitrary<BuildInput> {
  const tags = fc.tuple(fc.uniqueArray(validTag, { maxLength: 4 }), fc.option(fc.nat())).map(([fixed, commitAt]) => {
    const all: Array<string | undefined> = [...fixed];
    if (commitAt !== null || fixed.length === 0) all.splice((commitAt ?? 0) % (fixed.length + 1), 0, undefined);
    return all;
  });
  return fc.record({
    strategy: fc.constant(strategy),
    builderImage: strategy === 'registry' ? fc.option(validBuilderImage, { nil: undefined }) : fc.constant(undefined),
    buildArgs: fc.uniqueArray(fc.tuple(validBuildArgName, hostileNoNul), { selector: ([name]) => name, maxLength: 4 }),
    target: fc.option(validTarget, { nil: undefined }),
    dockerfile: validPath,
    buildContext: validPath,
    tags,
    containerName: validContainerName,
    defaultBranch: validBranch,
    userVariables: fc.uniqueArray(fc.tuple(userVariableName, hostileNoNul), { selector: ([name]) => name, maxLength: 2 }),
    secrets: fc.uniqueArray(fc.tuple(validSecretId, hostileNoNul), { selector: ([id]) => id, maxLength: 2 }),
    source: sourceVariables,
  });
}

function strategyOf(input: BuildInput): CacheStrategy {
  switch (input.strategy) {
    case 'registry': return CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: input.builderImage }) });
    case 'inline': return CacheStrategy.inline();
    case 'buildah': return CacheStrategy.buildah();
    case 'none': return CacheStrategy.none();
  }
}

/** An SSM parameter of the stack, as a build secret. */
function ssmSecret(stack: Stack, n: number): BuildSecret {
  return BuildSecret.fromSsmParameter(ssm.StringParameter.fromStringParameterName(stack, `Secret${n}`, `/build/secret-${n}`));
}

function propsOf(input: BuildInput, stack: Stack): CachedImageBuildProps {
  return {
    repositoryName: REPOSITORY,
    cache: strategyOf(input),
    buildArgs: Object.fromEntries(input.buildArgs),
    target: input.target,
    dockerfile: input.dockerfile,
    buildContext: input.buildContext,
    imageTags: input.tags.map((t) => (t === undefined ? ImageTag.commit() : ImageTag.of(t))),
    containerName: input.containerName,
    defaultBranch: input.defaultBranch,
    environmentVariables: Object.fromEntries(input.userVariables.map(([name, value]) => [name, { value }])),
    buildSecrets: Object.fromEntries(input.secrets.map(([id], i) => [id, ssmSecret(stack, i)])),
  };
}

// ------------------------------------------------------------------ synthesis

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const REPOSITORY = 'api';
const IMAGE_REPOSITORY_URI = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${REPOSITORY}`;
const CACHE_REPOSITORY_URI = `${IMAGE_REPOSITORY_URI}-cache`;

interface Synthesized {
  readonly template: any;
  /** The buildspec as CloudFormation gets it (a JSON string). */
  readonly buildSpec: string;
  /** Project environment variables by name; a CloudFormation expression stays an object. */
  readonly environment: Map<string, unknown>;
  /** Names of the variables CodeBuild resolves (Parameter Store, Secrets Manager). */
  readonly resolved: Set<string>;
}

/** Synthesizes a CachedImageBuild with the props (made in its stack, for imports). */
function synthesize(props: CachedImageBuildProps | ((stack: Stack) => CachedImageBuildProps)): Synthesized {
  const stack = new Stack(new App(), 'Hostile', { env: { account: ACCOUNT, region: REGION } });
  new CachedImageBuild(stack, 'Api', typeof props === 'function' ? props(stack) : props);
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON();
  const projects = Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::CodeBuild::Project');
  expect(projects).toHaveLength(1);
  const environment = new Map<string, unknown>();
  const resolved = new Set<string>();
  for (const v of projects[0].Properties.Environment.EnvironmentVariables) {
    expect(environment.has(v.Name)).toBe(false);
    environment.set(v.Name, v.Value);
    if (v.Type !== 'PLAINTEXT') resolved.add(v.Name);
  }
  return { template, buildSpec: projects[0].Properties.Source.BuildSpec, environment, resolved };
}

/** The template without the project's environment variables and buildspec (compared on its own), as text. */
function templateOutsideEnvironment(template: any): string {
  const copy = JSON.parse(JSON.stringify(template));
  for (const r of Object.values<any>(copy.Resources)) {
    if (r.Type === 'AWS::CodeBuild::Project') {
      delete r.Properties.Environment.EnvironmentVariables;
      delete r.Properties.Source.BuildSpec;
    }
  }
  return JSON.stringify(copy);
}

/** Whether a value is distinctive enough that finding it in the template cannot be a coincidence. */
function distinctive(value: string): boolean {
  return value.length >= 8 && /[^A-Za-z0-9]/.test(value);
}

const plainBuildSpecs = new Map<string, string>();

/** The buildspec for plain values, synthesized once per shape. */
function plainBuildSpec(props: CachedImageBuildProps | ((stack: Stack) => CachedImageBuildProps), key: string): string {
  if (!plainBuildSpecs.has(key)) plainBuildSpecs.set(key, synthesize(props).buildSpec);
  return plainBuildSpecs.get(key)!;
}

/** One prop under attack: which values it must reject (and how), and where an accepted value must be. */
interface PropCase {
  readonly prop: string;
  readonly values: fc.Arbitrary<string>;
  readonly props: (value: string, stack: Stack) => CachedImageBuildProps;
  /** Props of the same shape with a plain value (same buildspec expected). */
  readonly plain: CachedImageBuildProps | ((stack: Stack) => CachedImageBuildProps);
  /** The error the value must cause, or undefined when the value is valid. */
  readonly error: (value: string) => RegExp | undefined;
  /** The project variables an accepted value must produce. */
  readonly environment: (value: string) => Record<string, string>;
  /** Where else in the template an accepted value may appear (the rest is checked to not hold it). */
  readonly alsoIn?: string;
}

const PROP_CASES: PropCase[] = [
  {
    prop: 'buildArgs (names)',
    values: fc.oneof(hostile, validBuildArgName),
    props: (name) => ({ buildArgs: { [name]: 'value' } }),
    plain: { buildArgs: { PLAIN: 'value' } },
    error: (name) => (BUILD_ARG_NAME.test(name) ? undefined : message(`buildArgs: build argument name '${name}' must match [A-Za-z_][A-Za-z0-9_]*`)),
    environment: (name) => ({ CIB_BUILD_ARG_1: `${name}=value` }),
  },
  {
    prop: 'buildArgs (values)',
    values: hostile,
    props: (value) => ({ buildArgs: { NAME: value } }),
    plain: { buildArgs: { NAME: 'plain' } },
    error: (value) => (value.includes('\0')
      ? message('buildArgs: the value of build argument \'NAME\' must not contain NUL (environment variables cannot hold it)')
      : undefined),
    environment: (value) => ({ CIB_BUILD_ARG_1: `NAME=${value}` }),
  },
  {
    prop: 'ImageTag.of(tag)',
    values: fc.oneof(hostile, validTag),
    props: (tag) => ({ imageTags: [ImageTag.commit(), ImageTag.of(tag)] }),
    plain: { imageTags: [ImageTag.commit(), ImageTag.of('plain')] },
    error: (tag) => (ECR_TAG.test(tag)
      ? undefined
      : message(`ImageTag.of(tag) must be a valid ECR tag: 1 to 128 characters from [a-zA-Z0-9._-], starting with [a-zA-Z0-9_]; got '${tag}'`)),
    environment: (tag) => ({ CIB_IMAGE_TAG_1: tag }),
    alsoIn: 'the tag mutability exclusion filters of the application repository',
  },
  {
    prop: 'defaultBranch',
    values: fc.oneof(hostile, fc.constantFrom('', '...', '-', '\u00e9', 'refs/heads/', 'refs/heads/main', 'refs/tags/-.x')),
    props: (branch) => ({ defaultBranch: branch }),
    plain: { defaultBranch: 'main' },
    error: (branch) => (branchToTag(branch) === ''
      ? message(`defaultBranch '${branch}' has no character that can start an ECR tag ([a-zA-Z0-9_])`)
      : undefined),
    environment: (branch) => ({ CIB_DEFAULT_CACHE_TAG: branchToTag(branch) }),
    alsoIn: 'the lifecycle rules of the cache repository (as its cache tag)',
  },
  {
    prop: 'target',
    values: fc.oneof(hostile, validTarget),
    props: (target) => ({ target }),
    plain: { target: 'plain' },
    error: (target) => (STAGE_NAME.test(target)
      ? undefined
      : message(`target must be a Dockerfile stage name ([A-Za-z0-9][A-Za-z0-9._-]*); got '${target}'`)),
    environment: (target) => ({ CIB_TARGET: target }),
  },
  {
    prop: 'dockerfile',
    values: hostilePath,
    props: (dockerfile) => ({ dockerfile }),
    plain: { dockerfile: 'Dockerfile' },
    error: (dockerfile) => pathError('dockerfile', dockerfile),
    environment: (dockerfile) => ({ CIB_DOCKERFILE: normalizedPath(dockerfile) }),
  },
  {
    prop: 'buildContext',
    values: hostilePath,
    props: (buildContext) => ({ buildContext }),
    plain: { buildContext: '.' },
    error: (buildContext) => pathError('buildContext', buildContext),
    environment: (buildContext) => ({ CIB_BUILD_CONTEXT: contextArgument(buildContext) }),
  },
  {
    prop: 'containerName',
    values: fc.oneof(hostile, validContainerName),
    props: (containerName) => ({ containerName }),
    plain: { containerName: 'plain' },
    error: (name) => (CONTAINER_NAME.test(name) ? undefined : message(`containerName must match [a-zA-Z0-9_-]{1,255}; got '${name}'`)),
    environment: (name) => ({ CIB_CONTAINER_NAME: name }),
  },
  {
    prop: 'repositoryName',
    values: fc.oneof(
      hostile,
      fc.stringMatching(/^[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,3}(?:\/[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}){0,3}$/),
      fc.constantFrom('a', 'ab', 'a'.repeat(250), 'a'.repeat(251), 'a'.repeat(257), 'Api', 'a//b', '-a', 'a-', 'a._b', 'a/b.c_d-e'),
    ),
    props: (repositoryName) => ({ repositoryName }),
    plain: { repositoryName: 'plain' },
    error: (name) => {
      if (name.length < 2 || name.length > 256) return message(`repositoryName must be 2 to 256 characters long, got ${name.length}: '${name}'`);
      if (!REPOSITORY_NAME.test(name)) return message('repositoryName must be lowercase letters, ', ANY, `; got '${name}'`);
      if (name.length + '-cache'.length > 256) {
        return message(`repositoryName (with -cache appended for the cache repository) must be 2 to 256 characters long, got ${name.length + 6}: '${name}-cache'`);
      }
      return undefined;
    },
    environment: () => ({}),
    alsoIn: 'the repositories, their URIs and the IAM policies',
  },
  {
    prop: 'environmentVariables (names)',
    values: fc.oneof(
      hostile,
      hostile.map((s) => `CIB_${s}`),
      hostile.map((s) => `CODEBUILD_${s}`),
      // not '__proto__': aws-codebuild copies the variables by assignment, which drops that one (a CDK quirk)
      fc.constantFrom('CIB_', 'CODEBUILD_', 'cib_branch', ' CIB_BRANCH', 'PATH', 'constructor', 'toString'),
    ).filter((name) => name !== '__proto__'),
    props: (name) => ({ environmentVariables: { [name]: { value: 'value' } } }),
    plain: { environmentVariables: { PLAIN: { value: 'value' } } },
    error: (name) => {
      if (name.startsWith('CODEBUILD_')) return message(`environmentVariables: '${name}' is reserved (CodeBuild rejects names starting with CODEBUILD_)`);
      if (name.startsWith('CIB_')) return message(`environmentVariables: '${name}' is reserved (names starting with CIB_ belong to the build script)`);
      return undefined;
    },
    environment: (name) => ({ [name]: 'value' }),
  },
  {
    prop: 'BuildxBuilder.dockerContainer({ image })',
    values: fc.oneof(hostile, validBuilderImage),
    props: (image) => ({ cache: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image }) }) }),
    plain: { cache: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: 'plain/buildkit' }) }) },
    error: (image) => (IMAGE_REFERENCE.test(image)
      ? undefined
      : message(`BuildxBuilder.dockerContainer(): image must be a non-empty image reference made of [A-Za-z0-9._/:@+-] and the brackets of an IPv6 host; got '${image}'`)),
    environment: (image) => ({ CIB_BUILDER_IMAGE: image }),
  },
  {
    prop: 'BuildxBuilder.dockerContainer({ network })',
    values: fc.oneof(hostile, fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/), fc.constantFrom('host', 'bridge', '-host', 'host,image=x', 'a b')),
    props: (network) => ({ cache: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ network }) }) }),
    plain: { cache: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ network: 'plain' }) }) },
    error: (network) => (NETWORK_NAME.test(network)
      ? undefined
      : message(`BuildxBuilder.dockerContainer(): network must be a Docker network name made of [A-Za-z0-9_.-], starting with a letter or digit (e.g. 'host'); got '${network}'`)),
    environment: (network) => ({ CIB_BUILDER_NETWORK: network }),
  },
  {
    prop: 'BuildxBuilder.dockerContainer({ buildkitdConfig })',
    values: fc.oneof(hostile, fc.constantFrom('', ' ', '\n\t', '[registry."r:5000"]\n  http = true\n')),
    props: (buildkitdConfig) => ({ cache: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ buildkitdConfig }) }) }),
    plain: { cache: CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ buildkitdConfig: 'debug = true' }) }) },
    error: (config) => (config.trim() === '' || config.includes('\0')
      ? message(`BuildxBuilder.dockerContainer(): buildkitdConfig must be non-empty TOML text without NUL (leave it out for BuildKit's defaults); got ${JSON.stringify(config)}`)
      : undefined),
    environment: (config) => ({ CIB_BUILDKITD_CONFIG: config }),
  },
  {
    prop: 'buildSecrets (ids)',
    values: fc.oneof(hostile, validSecretId, fc.constantFrom('.', '..', 'a'.repeat(65), 'a,src=/etc/passwd', 'id=x')),
    props: (id, stack) => ({ buildSecrets: { [id]: ssmSecret(stack, 0) } }),
    plain: (stack) => ({ buildSecrets: { plain: ssmSecret(stack, 0) } }),
    error: (id) => (SECRET_ID.test(id) && id !== '.' && id !== '..'
      ? undefined
      : message(`buildSecrets: secret id '${id}' must be 1 to 64 characters from [A-Za-z0-9_.-] (not '.' or '..'), and not a token`)),
    environment: (id) => ({ CIB_SECRET_1_ID: id }),
  },
  {
    prop: 'metricsNamespace',
    values: fc.oneof(hostile, fc.stringMatching(/^[0-9A-Za-z.\-_/#:]{1,40}$/), fc.constantFrom('AWS/x', 'aws/x', 'x'.repeat(256))),
    props: (metricsNamespace) => ({ metricsNamespace }),
    plain: { metricsNamespace: 'Plain' },
    error: (ns) => (METRICS_NAMESPACE.test(ns) && !ns.startsWith('AWS/')
      ? undefined
      : message(`metricsNamespace must be 1 to 255 characters from [0-9A-Za-z.-_/#:] and not start with AWS/; got '${ns}'`)),
    environment: (ns) => ({ CIB_METRICS_NAMESPACE: ns }),
    alsoIn: 'the IAM condition on cloudwatch:namespace',
  },
];

describe('synthesis with hostile values', () => {
  test.each(PROP_CASES.map((c, i) => [c.prop, c, i] as const))('%s: synthesizes, or fails naming the prop and the rule', (_prop, c, i) => {
    fc.assert(
      fc.property(c.values, (value) => {
        // GIVEN
        const expectedError = c.error(value);

        // WHEN
        let synthesized: Synthesized | undefined;
        let error: unknown;
        try {
          synthesized = synthesize((stack) => c.props(value, stack));
        } catch (e) {
          error = e;
        }

        // THEN
        if (expectedError !== undefined) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message).toMatch(expectedError);
          return;
        }
        if (error !== undefined) throw error;
        // the value is in the project's environment, the buildspec is the one plain values give
        for (const [name, expected] of Object.entries(c.environment(value))) {
          expect([name, synthesized!.environment.get(name)]).toEqual([name, expected]);
        }
        expect(synthesized!.buildSpec).toEqual(plainBuildSpec(c.plain, c.prop));
        if (c.alsoIn === undefined && distinctive(value)) {
          expect(templateOutsideEnvironment(synthesized!.template)).not.toContain(JSON.stringify(value).slice(1, -1));
        }
      }),
      { numRuns: runs(50), seed: seed(5 + i) },
    );
  }, 3_600_000);
});

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

/** The branch the build script must pick (CIB_BRANCH, else the webhook head ref, else a branch-like source version). */
function expectedBranchRef(source: SourceVariables): string {
  let r = source.CIB_BRANCH || source.CODEBUILD_WEBHOOK_HEAD_REF || '';
  const version = source.CODEBUILD_SOURCE_VERSION;
  if (r === '' && version && !version.startsWith('arn:') && !/^[0-9a-fA-F]{40}$/.test(version)) r = version;
  return r;
}

/** What ECR lists in the cache repository for the inline strategy: the branch's and default branch's tags, and decoys. */
function ecrCacheTags(branchTag: string, defaultTag: string): string[] {
  return [`${branchTag}-e3`, `${defaultTag}-e5`, `${branchTag}-e`, `${branchTag}-e1x`, `x${defaultTag}-e2`, 'zz-decoy-e4'];
}

/** The inline strategy's rule: a tag `<branch tag>-e<digits>` or `<default tag>-e<digits>`, sorted, once each. */
function inlineImports(tags: string[], branchTag: string, defaultTag: string): string[] {
  const keyed = (t: string, prefix: string) => t.startsWith(prefix) && /^[0-9]+$/.test(t.slice(prefix.length));
  const picked = tags.filter((t) => keyed(t, `${branchTag}-e`) || keyed(t, `${defaultTag}-e`));
  return [...new Set(picked)].sort();
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
  const defaultTag = branchToTag(input.defaultBranch);
  const branchTag = branchToTag(expectedBranchRef(input.source)) || defaultTag;
  const commitTag = branchToTag(input.source.CODEBUILD_RESOLVED_SOURCE_VERSION ?? '') || 'build-7';
  const callerEnv: Record<string, string> = { STUB_ECR_TAGS: ecrCacheTags(branchTag, defaultTag).join('\t') };
  for (const [name, value] of Object.entries(input.source)) {
    if (value !== undefined) callerEnv[name] = value;
  }

  // WHEN
  const run = await runBuild(synthesized, callerEnv, resolvedValues);

  // THEN: the build succeeded and nothing ran
  if (run.exitCode !== 0) throw new Error(`build failed (exit ${run.exitCode}) at: ${run.failedCommand}\n${run.log.slice(-3000)}`);
  expect(fs.existsSync(CANARY)).toBe(false);
  expect(run.log).not.toMatch(/command not found|syntax error|unexpected EOF|bad substitution/);

  // THEN: the builder got every value byte-exact, each as one argument
  const context = contextArgument(input.buildContext);
  const imageRefs = input.tags.map((t) => `${IMAGE_REPOSITORY_URI}:${t ?? commitTag}`);
  const buildArgs = [...input.buildArgs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, value]) => `${name}=${value}`);
  const command = { registry: ['docker', 'buildx', 'build'], none: ['docker', 'buildx', 'build'], inline: ['docker', 'build'], buildah: ['buildah', 'build'] }[input.strategy];
  const builds = callsOf(run.calls, ...command);
  expect(builds).toHaveLength(1);
  const args = parseArgs(builds[0].slice(command.length));
  expect(args.unknown).toEqual([]);
  expect(args.positional).toEqual([context]);
  expect(args.options['--file']).toEqual([`${context}/${normalizedPath(input.dockerfile)}`]);
  expect(args.options['--target']).toEqual(input.target === undefined ? undefined : [input.target]);
  expect(args.options['--tag']).toEqual(imageRefs);
  expect(args.options['--build-arg'] ?? []).toEqual(input.strategy === 'inline' ? [...buildArgs, 'BUILDKIT_INLINE_CACHE=1'] : buildArgs);

  // THEN: each secret reached the builder as a file, byte-exact, on no command line; the files are gone
  const secretArgs = (args.options['--secret'] ?? []).map((a) => /^id=(.*),src=(.*)$/s.exec(a)!);
  expect(secretArgs.map((m) => m[1]).sort()).toEqual(input.secrets.map(([id]) => id).sort());
  const read = new Map<string, string>();
  for (let i = 0; i + 1 < run.secrets.length; i += 2) read.set(run.secrets[i], run.secrets[i + 1]);
  expect(read).toEqual(secretValues);
  const secretsOnCommandLines = input.secrets.map(([, v]) => v).filter((v) => distinctive(v) && run.calls.some((c) => c.some((a) => a.includes(v))));
  expect(secretsOnCommandLines).toEqual([]);
  expect(secretArgs.map((m) => m[2]).filter((file) => run.temporaryFiles.includes(file))).toEqual([]);

  // THEN: the cache refs use the branch's tag (or the default branch's)
  switch (input.strategy) {
    case 'registry':
      expect(args.options['--cache-from']).toEqual([
        `type=registry,ref=${CACHE_REPOSITORY_URI}:${branchTag}`,
        `type=registry,ref=${CACHE_REPOSITORY_URI}:${defaultTag}`,
      ]);
      expect(args.options['--cache-to']).toEqual([
        `type=registry,ref=${CACHE_REPOSITORY_URI}:${branchTag},mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true`,
      ]);
      expect(callsOf(run.calls, 'docker', 'buildx', 'create').map((c) => parseArgs(c.slice(3)).options['--driver-opt'])).toEqual([
        [`image=${input.builderImage ?? BuildxBuilder.DEFAULT_BUILDKIT_IMAGE}`],
      ]);
      break;
    case 'inline': {
      const imports = inlineImports(ecrCacheTags(branchTag, defaultTag), branchTag, defaultTag);
      expect(args.options['--cache-from']).toEqual(imports.map((t) => `${CACHE_REPOSITORY_URI}:${t}`));
      // one step executed: the build's image goes to the branch's cache tag <tag>-e1
      const cacheRef = `${CACHE_REPOSITORY_URI}:${branchTag}-e1`;
      expect(callsOf(run.calls, 'docker', 'push').map((c) => c.slice(2))).toEqual([...imageRefs.map((r) => [r]), [cacheRef]]);
      expect(callsOf(run.calls, 'docker', 'tag').map((c) => c.slice(2))).toEqual([[imageRefs[0], cacheRef]]);
      break;
    }
    case 'buildah':
      expect(args.options['--cache-from']).toEqual([CACHE_REPOSITORY_URI]);
      expect(args.options['--cache-to']).toEqual([CACHE_REPOSITORY_URI]);
      expect(callsOf(run.calls, 'buildah', 'push').map((c) => c[c.length - 1])).toEqual(imageRefs);
      break;
    case 'none':
      expect(args.options['--cache-from']).toBeUndefined();
      expect(args.options['--cache-to']).toBeUndefined();
      expect(args.options['--no-cache']).toEqual(['']);
      break;
  }

  // THEN: the outputs name the image exactly
  expect(run.variables.IMAGE_TAG).toEqual(input.tags[0] ?? commitTag);
  expect(run.variables.IMAGE_URI).toEqual(imageRefs[0]);
  expect(run.variables.IMAGE_DIGEST).toEqual(`sha256:${DIGEST}`);
  expect(JSON.parse(run.imageDefinitions!)).toEqual([{ name: input.containerName, imageUri: imageRefs[0] }]);
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

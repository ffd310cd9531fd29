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
 * `HOSTILE_SEED=$RANDOM HOSTILE_RUNS=10 npx jest test/hostile/` (10 times the runs).
 */
import * as os from 'os';
import * as path from 'path';
import { App, Stack, aws_ssm as ssm } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as fc from 'fast-check';
import { BuildSecret, BuildxBuilder, CacheStrategy, CachedImageBuild, CachedImageBuildProps, ImageTag } from '../../src';
import { branchToTag } from '../../src/ecr-naming';

/** The arbitraries, inputs and synthesis helpers shared by the hostile-input properties (synthesis.test.ts, build.test.ts). */

/** Seed of every property: fixed unless HOSTILE_SEED is set. */
export function seed(fixed: number): number {
  return process.env.HOSTILE_SEED ? Number(process.env.HOSTILE_SEED) + fixed : fixed;
}

/** Number of runs of a property, times HOSTILE_RUNS. */
export function runs(n: number): number {
  return Math.round(n * Number(process.env.HOSTILE_RUNS ?? 1));
}

// ------------------------------------------------------------------ hostile values

/** Created by any payload that runs. */
export const CANARY = path.join(os.tmpdir(), `cib-canary-${process.pid}`);

/** Ways to run `touch $CANARY` if a value were ever read as shell (or awk, or printf) code. */
export const PAYLOADS = [
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

export const METACHARACTERS = [
  '\'', '"', '`', '$', '$(', ')', '(', ';', '|', '&', '&&', '||', '>', '>>', '<', '<<EOF', '\n', '\r', '\r\n', '\t', ' ',
  '\\', '\\\\', '*', '?', '[a]', '~', '~root', '{a,b}', '{1..3}', '!', '!!', '!$', '#', '=', '==', 'A=B', '--privileged',
  '-f', '-', '--', '-e', '-n', '%s', '%n', '%%', '\\0', '\\x00', '%00', '$HOME', '${HOME}', '$0', '$@', '$*', '$$', '$?',
  '$IFS', '^', '\\n', ',', ',mode=min', 'type=local,dest=/tmp', ':', '@', '/', '//', './', '../', '.', '..',
];

export const UNICODE = [
  '\u00e9', 'e\u0301', '\u0301\u0302\u0303', '\u{1F600}', '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}', '\u202e', '\u202egnp.exe',
  '\u05e9\u05dc\u05d5\u05dd', '\u0645\u0631\u062d\u0628\u0627', '\u6f22\u5b57', '\ufeff', '\ufffd', '\u200b', '\u2028', '\u2029',
  '\u0085', '\u00a0', '\uff04\uff08touch\uff09', '\u{10FFFF}', '\ue000', '\u009b31m', '\u001b[31m', '\u0007', '\u007f',
  '\u00c0\u00af', '\u00ff\u00fe', '\ufb01', '\u0130', '\u00df',
];

export const fragment: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...PAYLOADS), weight: 4 },
  { arbitrary: fc.constantFrom(...METACHARACTERS), weight: 3 },
  { arbitrary: fc.constantFrom(...UNICODE), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 12 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 12 }), weight: 1 },
  { arbitrary: fc.constant('\0'), weight: 1 },
);

/** At least 4 KB: a fragment repeated, then a payload. */
export const long: fc.Arbitrary<string> = fc
  .tuple(fragment.filter((f) => f.length > 0), fc.constantFrom(...PAYLOADS))
  .map(([f, payload]) => f.repeat(Math.ceil(4096 / Buffer.byteLength(f))) + payload);

/** Any hostile string (NUL included). */
export const hostile: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.array(fragment, { maxLength: 6 }).map((parts) => parts.join('')), weight: 9 },
  { arbitrary: long, weight: 1 },
);

/** A hostile string an environment variable can hold. */
export const hostileNoNul = hostile.map((s) => s.replace(/\0/g, ''));

// ------------------------------------------------------------------ the rules, written independently of src/

export const ECR_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const BUILD_ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const STAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const CONTAINER_NAME = /^[a-zA-Z0-9_-]{1,255}$/;
export const REPOSITORY_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const IMAGE_REFERENCE = /^[A-Za-z0-9._/:@+[\]-]+$/;
export const METRICS_NAMESPACE = /^[0-9A-Za-z.\-_/#:]{1,255}$/;
export const SECRET_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Stands for any text in {@link message}. */
export const ANY = Symbol('any text');

/** A regular expression for a whole error message: literal parts, and any text (across lines) for ANY. */
export function message(...parts: Array<string | typeof ANY>): RegExp {
  return new RegExp(`^${parts.map((p) => (p === ANY ? '.*' : escapeRegExp(p))).join('')}$`, 's');
}

/** The rules of defaultBranch, in order: `refs/heads/` is stripped; a tag character, no NUL, no other ref, no reserved namespace. */
export function defaultBranchError(raw: string): RegExp | undefined {
  const branch = raw.replace(/^refs\/heads\//, '');
  const tag = branchToTag(branch);
  if (tag === '') return message(`defaultBranch '${branch}' has no character that can start an ECR tag ([a-zA-Z0-9_])`);
  if (branch.includes('\0')) return message('defaultBranch must not contain NUL (no environment variable can hold it)');
  if (branch.startsWith('refs/')) return message(`defaultBranch must be a branch name as git names it (such as 'main'), not a ref; got '${branch}'`);
  const reserved = ['br-', 'pr-', 'tag-'].find((p) => `${tag}-`.startsWith(p));
  return reserved === undefined ? undefined : message(
    `defaultBranch '${branch}' maps to the cache tag '${tag}', in the namespace '${reserved}' reserved for other builds' caches ` +
    '(br-, pr-, tag-): pick a default branch whose name does not start with one of them');
}

/** The error a build context or Dockerfile path must cause, or undefined when it is valid. */
export function pathError(prop: string, value: string): RegExp | undefined {
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
export function normalizedPath(value: string): string {
  return path.posix.normalize(value.replace(/\\/g, '/'));
}

/** The build context as the builder's positional argument: never one that starts with '-'. */
export function contextArgument(value: string): string {
  const normalized = normalizedPath(value);
  return normalized.startsWith('-') ? `./${normalized}` : normalized;
}

// ------------------------------------------------------------------ valid hostile values (for the build)

export const validTag = fc.oneof(
  fc.stringMatching(ECR_TAG),
  fc.constantFrom('_', '_--privileged', '0', 'a'.repeat(128), '9.-_', 'latest'),
);
export const validBuildArgName = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/),
  fc.constantFrom('PATH', 'IFS', 'BASH_ENV', 'ENV', 'PS4', 'SHELLOPTS', 'LD_PRELOAD', 'HOME', 'BUILDKIT_INLINE_CACHE',
    'HTTP_PROXY', '__proto__', 'constructor', 'toString', '_'),
);
export const validTarget = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$/),
  fc.constantFrom('0', 'a--privileged', 'x.-_', 'A'.repeat(4096)),
);
export const validContainerName = fc.oneof(
  fc.stringMatching(/^[a-zA-Z0-9_-]{1,64}$/),
  fc.constantFrom('-', '--privileged', '-f', '_', 'x'.repeat(255)),
);
export const hostilePath = fc.oneof(
  hostile,
  fc.array(fragment.map((f) => f.replace(/[/\\]/g, '')), { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')),
  fc.constantFrom('-', '--privileged', '-f', '--output=type=local,dest=/tmp/x', '-/Dockerfile', 'a b/c d', '*', '~', '~/x',
    '{a,b}', 'a/../b', './x/', 'x\\y', '.', '..a', 'a..', '...', '\\etc', '\\\\host\\share', 'a/../../x', 'C:\\x', 'c:/x'),
);
export const validPath = hostilePath.map((p) => p.replace(/[\0\r\n]/g, '')).filter((p) => pathError('path', p) === undefined);
/** Default branches that synthesize (see defaultBranchError). */
export const validBranch = hostile.filter((b) => defaultBranchError(b) === undefined);
export const validBuilderImage = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._/:@+[\]-]{1,60}$/),
  fc.constantFrom('-', '--privileged', '[::1]:5000/buildkit:v0.13', 'buildkit@sha256:' + 'a'.repeat(64)),
);
export const validSecretId = fc.oneof(
  fc.stringMatching(SECRET_ID),
  fc.constantFrom('-', '--privileged', '...', '.x', 'a'.repeat(64), 'id', 'src'),
).filter((id) => id !== '.' && id !== '..');
/** Names of user environment variables that bash cannot read as variables (valid identifiers are the user's own business). */
export const userVariableName = hostileNoNul.filter((n) => n.length > 0 && !n.includes('=') && !BUILD_ARG_NAME.test(n) &&
  !n.startsWith('CODEBUILD_') && !n.startsWith('CIB_') && !n.startsWith('BASH_FUNC_'));

export const SHA = '0123456789abcdef0123456789abcdef01234567';
export const ref = fc.oneof(
  { arbitrary: hostileNoNul, weight: 4 },
  { arbitrary: hostileNoNul.map((s) => `refs/heads/${s}`), weight: 1 },
  { arbitrary: hostileNoNul.map((s) => `refs/tags/${s}`), weight: 1 },
  { arbitrary: fc.constantFrom('', 'main', 'feature/x', '...', '\u00e9\u00e9'), weight: 1 },
);

/** The variables CodeBuild (or the pipeline action) sets from the event, branch and commit: all attacker-controlled but CIB_TRIGGER. */
export interface SourceVariables {
  CIB_TRIGGER?: string;
  CIB_BRANCH?: string;
  CODEBUILD_WEBHOOK_EVENT?: string;
  CODEBUILD_WEBHOOK_TRIGGER?: string;
  CODEBUILD_WEBHOOK_HEAD_REF?: string;
  CODEBUILD_WEBHOOK_BASE_REF?: string;
  CODEBUILD_SOURCE_VERSION?: string;
  CODEBUILD_RESOLVED_SOURCE_VERSION?: string;
}

export const sourceVariables: fc.Arbitrary<SourceVariables> = fc.record({
  CIB_TRIGGER: fc.constant('pipeline'),
  CIB_BRANCH: ref,
  CODEBUILD_WEBHOOK_EVENT: fc.oneof(fc.constantFrom('PUSH', 'PULL_REQUEST_CREATED', 'PULL_REQUEST_MERGED'), hostileNoNul),
  CODEBUILD_WEBHOOK_TRIGGER: fc.oneof(fc.constantFrom('pr/12', 'pr/x', 'branch/', 'tag/'), ref.map((r) => `branch/${r}`),
    ref.map((r) => `tag/${r}`), ref.map((r) => `pr/${r}`), hostileNoNul),
  CODEBUILD_WEBHOOK_HEAD_REF: ref,
  CODEBUILD_WEBHOOK_BASE_REF: ref,
  CODEBUILD_SOURCE_VERSION: fc.oneof(ref, fc.constantFrom(SHA, `arn:aws:s3:::bucket/$(touch ${CANARY}).zip`)),
  CODEBUILD_RESOLVED_SOURCE_VERSION: fc.oneof(hostileNoNul, fc.constant(SHA)),
}, { requiredKeys: [] });

export type StrategyName = 'registry' | 'inline' | 'buildah' | 'none';

/** Everything a build is given, valid and hostile. */
export interface BuildInput {
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

export function buildInput(strategy: StrategyName): fc.Arbitrary<BuildInput> {
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

export function strategyOf(input: BuildInput): CacheStrategy {
  switch (input.strategy) {
    case 'registry': return CacheStrategy.registry({ builder: BuildxBuilder.dockerContainer({ image: input.builderImage }) });
    case 'inline': return CacheStrategy.inline();
    case 'buildah': return CacheStrategy.buildah();
    case 'none': return CacheStrategy.none();
  }
}

/** An SSM parameter of the stack, as a build secret. */
export function ssmSecret(stack: Stack, n: number): BuildSecret {
  return BuildSecret.fromSsmParameter(ssm.StringParameter.fromStringParameterName(stack, `Secret${n}`, `/build/secret-${n}`));
}

export function propsOf(input: BuildInput, stack: Stack): CachedImageBuildProps {
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

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
export const REPOSITORY = 'api';
export const IMAGE_REPOSITORY_URI = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${REPOSITORY}`;
export const CACHE_REPOSITORY_URI = `${IMAGE_REPOSITORY_URI}-cache`;

export interface Synthesized {
  readonly template: any;
  /** The buildspec as CloudFormation gets it (a JSON string). */
  readonly buildSpec: string;
  /** Project environment variables by name; a CloudFormation expression stays an object. */
  readonly environment: Map<string, unknown>;
  /** Names of the variables CodeBuild resolves (Parameter Store, Secrets Manager). */
  readonly resolved: Set<string>;
}

/** Synthesizes a CachedImageBuild with the props (made in its stack, for imports). */
export function synthesize(props: CachedImageBuildProps | ((stack: Stack) => CachedImageBuildProps)): Synthesized {
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
export function templateOutsideEnvironment(template: any): string {
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
export function distinctive(value: string): boolean {
  return value.length >= 8 && /[^A-Za-z0-9]/.test(value);
}

export const plainBuildSpecs = new Map<string, string>();

/** The buildspec for plain values, synthesized once per shape. */
export function plainBuildSpec(props: CachedImageBuildProps | ((stack: Stack) => CachedImageBuildProps), key: string): string {
  if (!plainBuildSpecs.has(key)) plainBuildSpecs.set(key, synthesize(props).buildSpec);
  return plainBuildSpecs.get(key)!;
}

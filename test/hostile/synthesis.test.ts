/** Hostile input, synthesis: each prop synthesizes or fails naming the prop and rule; see arbitraries.ts for the whole approach. */
import { Stack } from 'aws-cdk-lib';
import * as fc from 'fast-check';
import {
  ANY,
  BUILD_ARG_NAME,
  CONTAINER_NAME,
  ECR_TAG,
  IMAGE_REFERENCE,
  METRICS_NAMESPACE,
  REPOSITORY_NAME,
  SECRET_ID,
  STAGE_NAME,
  Synthesized,
  contextArgument,
  defaultBranchError,
  distinctive,
  hostile,
  hostilePath,
  message,
  normalizedPath,
  pathError,
  plainBuildSpec,
  runs,
  seed,
  ssmSecret,
  synthesize,
  templateOutsideEnvironment,
  validBuildArgName,
  validBuilderImage,
  validContainerName,
  validSecretId,
  validTag,
  validTarget,
} from './arbitraries';
import { BuildxBuilder, CacheStrategy, CachedImageBuildProps, ImageTag } from '../../src';
import { branchToTag } from '../../src/ecr-naming';

/** A Docker network name (the rule of BuildxBuilder.dockerContainer({ network })). */
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

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
    error: (branch) => defaultBranchError(branch),
    environment: (branch) => ({ CIB_DEFAULT_CACHE_TAG: branchToTag(branch), CIB_DEFAULT_BRANCH: branch.replace(/^refs\/heads\//, '') }),
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

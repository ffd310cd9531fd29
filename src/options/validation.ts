import * as path from 'path';
import { Duration, Token, aws_codebuild as codebuild, aws_ec2 as ec2, aws_ecr as ecr } from 'aws-cdk-lib';
import { ECR_REPOSITORY_NAME_PATTERN, isValidTag } from '../ecr-naming';
import { ImageTag } from '../image-tag';
import { RESERVED_SCOPE_PREFIXES } from '../script/build-context';
import { ENV_PREFIX } from '../script/build-script';
import { CacheStrategy } from '../strategies/cache-strategy';

/**
 * Synth-time validation: the rule library that `resolveOptions()` calls, one function a rule.
 * Every error names the prop and the rule it broke.
 * Values that are unresolved tokens are not validated (they are only known at deploy time).
 */

/** Build argument names: what Dockerfile `ARG` accepts and a shell variable can hold. */
const BUILD_ARG_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** CodePipeline variable namespace rule. */
const NAMESPACE_PATTERN = /^[A-Za-z0-9@_-]{1,100}$/;

function unresolved(value: string | undefined): boolean {
  return value === undefined || Token.isUnresolved(value);
}

export function validateRepositoryName(prop: string, name: string | undefined): void {
  if (unresolved(name)) return;
  if (name!.length < 2 || name!.length > 256) {
    throw new Error(`${prop} must be 2 to 256 characters long, got ${name!.length}: '${name}'`);
  }
  if (!ECR_REPOSITORY_NAME_PATTERN.test(name!)) {
    throw new Error(
      `${prop} must be lowercase letters, digits and separators (. _ - between characters, / between path parts), ` +
        `matching (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*; got '${name}'`,
    );
  }
}

export function validateTag(prop: string, tag: string): void {
  if (unresolved(tag)) return;
  if (!isValidTag(tag)) {
    throw new Error(
      `${prop} must be a valid ECR tag: 1 to 128 characters from [a-zA-Z0-9._-], starting with [a-zA-Z0-9_]; got '${tag}'`,
    );
  }
}

export function validateBuildArgName(prop: string, name: string): void {
  if (unresolved(name)) return;
  if (!BUILD_ARG_NAME_PATTERN.test(name)) {
    throw new Error(`${prop}: build argument name '${name}' must match [A-Za-z_][A-Za-z0-9_]*`);
  }
}

/** Build argument values reach the build as environment variables, which cannot hold NUL. */
export function validateBuildArgValue(prop: string, name: string, value: string): void {
  if (unresolved(value)) return;
  if (value.includes('\0')) {
    throw new Error(`${prop}: the value of build argument '${name}' must not contain NUL (environment variables cannot hold it)`);
  }
}

export function validateNamespace(prop: string, ns: string): void {
  if (unresolved(ns)) return;
  if (!NAMESPACE_PATTERN.test(ns)) {
    throw new Error(`${prop} must be 1 to 100 characters from [A-Za-z0-9@_-]; got '${ns}'`);
  }
}

/**
 * A path inside the source (build context) or inside the build context (Dockerfile):
 * relative, POSIX, and not escaping its parent with `..`. Returns the normalized path.
 */
export function validateRelativePath(prop: string, value: string, parent: string): string {
  if (unresolved(value)) return value;
  if (value.length === 0) {
    throw new Error(`${prop} must not be empty`);
  }
  if (/[\0\n\r]/.test(value)) {
    throw new Error(`${prop} must not contain NUL or line breaks; got ${JSON.stringify(value)}`);
  }
  // Backslashes are read as separators: check for an absolute path after turning them into
  // slashes, or a path such as \etc (which normalizes to /etc) would pass.
  const slashed = value.replace(/\\/g, '/');
  if (slashed.startsWith('/') || /^[A-Za-z]:\//.test(slashed)) {
    throw new Error(`${prop} must be a path relative to ${parent}, not an absolute path; got '${value}'`);
  }
  const normalized = path.posix.normalize(slashed);
  if (normalized === '..' || normalized.startsWith('../')) {
    throw new Error(`${prop} must stay inside ${parent}; '${value}' points outside it`);
  }
  return normalized;
}

export function validateBranchName(prop: string, value: string, tag: string): void {
  if (unresolved(value)) {
    throw new Error(`${prop} must be a literal branch name (it names the protected cache tag at synth time), not a token`);
  }
  if (tag.length === 0) {
    throw new Error(`${prop} '${value}' has no character that can start an ECR tag ([a-zA-Z0-9_])`);
  }
  if (value.includes('\0')) {
    throw new Error(`${prop} must not contain NUL (no environment variable can hold it)`);
  }
  if (value.startsWith('refs/')) {
    throw new Error(`${prop} must be a branch name as git names it (such as 'main'), not a ref; got '${value}'`);
  }
  const reserved = RESERVED_SCOPE_PREFIXES.find((p) => `${tag}-`.startsWith(p));
  if (reserved !== undefined) {
    throw new Error(
      `${prop} '${value}' maps to the cache tag '${tag}', in the namespace '${reserved}' reserved for other builds' caches ` +
        `(${RESERVED_SCOPE_PREFIXES.join(', ')}): pick a default branch whose name does not start with one of them`,
    );
  }
}

/** BuildKit's secret id rule, kept strict: it also names a file under /run/secrets. */
const SECRET_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function validateSecretId(id: string): void {
  if (Token.isUnresolved(id) || !SECRET_ID_PATTERN.test(id) || id === '.' || id === '..') {
    throw new Error(`buildSecrets: secret id '${id}' must be 1 to 64 characters from [A-Za-z0-9_.-] (not '.' or '..'), and not a token`);
  }
}

export function validateRepositoryChoice(repository: ecr.IRepository | undefined, repositoryName: string | undefined): void {
  if (repository && repositoryName !== undefined) {
    throw new Error('Give either repository or repositoryName, not both');
  }
}

export function validateCacheRetention(cacheRetention: Duration): void {
  if (cacheRetention.isUnresolved()) {
    throw new Error('cacheRetention must be a literal duration, not a token (it is written into the lifecycle policy text at synth time)');
  }
  const retentionMinutes = cacheRetention.toMinutes({ integral: false });
  if (retentionMinutes % (24 * 60) !== 0 || retentionMinutes < 24 * 60) {
    throw new Error(`cacheRetention must be a whole number of days, at least 1; got ${cacheRetention.toHumanString()}`);
  }
}

export function validateCacheRepositoryUse(strategy: CacheStrategy, cacheRepository: ecr.IRepository | undefined): void {
  if (!strategy.usesCacheRepository && cacheRepository) {
    throw new Error(`cacheRepository is not used by cache strategy '${strategy.name}'; remove it`);
  }
}

const STAGE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function validateTarget(target: string | undefined): void {
  if (target !== undefined && !Token.isUnresolved(target) && !STAGE_NAME_PATTERN.test(target)) {
    throw new Error(`target must be a Dockerfile stage name ([A-Za-z0-9][A-Za-z0-9._-]*); got '${target}'`);
  }
}

export function validateBuildArgs(buildArgs: Record<string, string>): void {
  for (const [name, value] of Object.entries(buildArgs)) {
    validateBuildArgName('buildArgs', name);
    validateBuildArgValue('buildArgs', name, value);
  }
}

/** The platforms the construct has a CodeBuild image and compute for. */
export const SUPPORTED_PLATFORMS = ['linux/amd64', 'linux/arm64'];

export function validatePlatform(platform: string): void {
  if (!Token.isUnresolved(platform) && !SUPPORTED_PLATFORMS.includes(platform)) {
    throw new Error(`platform must be one of ${SUPPORTED_PLATFORMS.join(', ')}; got '${platform}'`);
  }
}

/** A build image given by the user must be a Linux container image of the platform's architecture. */
export function validateBuildImage(buildImage: codebuild.IBuildImage, platform: string): void {
  if (Token.isUnresolved(buildImage.type)) return;
  const arm = platform === 'linux/arm64';
  const armImage = buildImage.type.startsWith('ARM');
  if (armImage !== arm || buildImage.type.includes('WINDOWS') || buildImage.type.includes('LAMBDA')) {
    const architecture = arm ? 'ARM' : 'x86_64';
    throw new Error(`buildImage must be a Linux ${architecture} container image for platform ${platform}; got type ${buildImage.type}`);
  }
}

export function validateTimeout(timeout: Duration | undefined): void {
  if (timeout && !Token.isUnresolved(timeout.toMinutes({ integral: false })) &&
    (timeout.toMinutes({ integral: false }) < 5 || timeout.toMinutes({ integral: false }) > 2160)) {
    throw new Error(`timeout must be between 5 minutes and 36 hours; got ${timeout.toHumanString()}`);
  }
}

export function validateEnvironmentVariableNames(names: string[]): void {
  for (const name of names) {
    if (name.startsWith('CODEBUILD_')) {
      throw new Error(`environmentVariables: '${name}' is reserved (CodeBuild rejects names starting with CODEBUILD_)`);
    }
    if (name.startsWith(ENV_PREFIX)) {
      throw new Error(`environmentVariables: '${name}' is reserved (names starting with ${ENV_PREFIX} belong to the build script)`);
    }
  }
}

/** ECR allows at most 5 tag mutability exclusion filters. */
const MAX_MUTABILITY_EXCLUSIONS = 5;

/** At least one tag, no fixed tag twice, each computed kind at most once. Returns the fixed tags. */
export function validateImageTags(imageTags: ImageTag[]): string[] {
  if (imageTags.length === 0) {
    throw new Error('imageTags must name at least one tag');
  }
  const fixedTags = imageTags.filter((t) => t.kind === 'fixed').map((t) => t.value!);
  const computed = imageTags.filter((t) => t.kind !== 'fixed').map((t) => t.kind);
  if (new Set(fixedTags).size !== fixedTags.length || new Set(computed).size !== computed.length) {
    throw new Error('imageTags must not name the same tag twice');
  }
  return fixedTags;
}

/**
 * The tag mutability exclusions of a repository the construct creates (the fixed tags, `br-*` for
 * branch tags, `pr-*` for pull-request tags) must be literal and at most ECR's limit.
 */
export function validateMutableTagPatterns(patterns: string[], createsRepository: boolean): void {
  if (!createsRepository) return;
  if (patterns.some((t) => Token.isUnresolved(t))) {
    throw new Error([
      'imageTags: a fixed tag given as a token needs an imported repository',
      '(the tag mutability exclusions of a repository this construct creates must be literal tags)',
    ].join(' '));
  }
  if (patterns.length > MAX_MUTABILITY_EXCLUSIONS) {
    throw new Error(
      `imageTags may hold at most ${MAX_MUTABILITY_EXCLUSIONS} mutable tags for a repository this construct creates ` +
        '(ECR\'s limit of tag mutability exclusions): the fixed tags, br-* for ImageTag.branch() and pr-* for ' +
        `PullRequestPolicy.push(); got ${patterns.length} (${patterns.join(', ')})`,
    );
  }
}

/** CodeBuild's concurrent build limit: a whole number, at least 1. */
export function validateConcurrentBuildLimit(limit: number | undefined): void {
  if (limit !== undefined && !Token.isUnresolved(limit) && (!Number.isInteger(limit) || limit < 1)) {
    throw new Error(`concurrentBuildLimit must be a whole number of at least 1; got ${limit}`);
  }
}

const CONTAINER_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,255}$/;

export function validateContainerName(containerName: string): void {
  if (!Token.isUnresolved(containerName) && !CONTAINER_NAME_PATTERN.test(containerName)) {
    throw new Error(`containerName must match [a-zA-Z0-9_-]{1,255}; got '${containerName}'`);
  }
}

/** CloudWatch's namespace rule (and `AWS/` is reserved). */
const METRICS_NAMESPACE_PATTERN = /^[0-9A-Za-z.\-_/#:]{1,255}$/;

/** With `metrics: false`, a `metricsNamespace` would be silently ignored. */
export function validateMetricsOff(metricsNamespace: string | undefined): void {
  if (metricsNamespace !== undefined) {
    throw new Error('metricsNamespace has no effect with metrics: false; remove one of them');
  }
}

export function validateMetricsNamespace(namespace: string): void {
  if (!Token.isUnresolved(namespace) && (!METRICS_NAMESPACE_PATTERN.test(namespace) || namespace.startsWith('AWS/'))) {
    throw new Error(`metricsNamespace must be 1 to 255 characters from [0-9A-Za-z.-_/#:] and not start with AWS/; got '${namespace}'`);
  }
}

/** A layer compression level: a whole number in the algorithm's range. */
export function validateCompressionLevel(prop: string, level: number | undefined, min: number, max: number): void {
  if (level === undefined) return;
  if (Token.isUnresolved(level)) {
    throw new Error(`${prop}: level must be a literal number, not a token (it is written into the build command at synth time)`);
  }
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new Error(`${prop}: level must be a whole number from ${min} to ${max}; got ${level}`);
  }
}

/** A layer compression other than the default needs the docker-container builder, whose BuildKit exports it. */
export function validateRegistryCompression(driver: string, defaultCompression: boolean): void {
  if (defaultCompression || driver === 'docker-container') return;
  throw new Error(
    'CacheStrategy.registry(): compression other than the default gzip needs the docker-container builder (BuildxBuilder.dockerContainer()); '
    + `the builder '${driver}' builds with the engine's own builder, whose exporter this construct does not set compression for`,
  );
}

/** CodeBuild takes at most 5 security groups for a project's VPC configuration, and 5 for a Docker server. */
const MAX_SECURITY_GROUPS = 5;

/** `subnetSelection` and `securityGroups` place the build in `vpc`: without it they would be ignored. */
export function validateVpcPlacement(vpc: ec2.IVpc | undefined, subnetSelection: ec2.SubnetSelection | undefined,
  securityGroups: ec2.ISecurityGroup[] | undefined): void {
  for (const [prop, value] of [['subnetSelection', subnetSelection], ['securityGroups', securityGroups]] as const) {
    if (value !== undefined && !vpc) {
      throw new Error(`${prop} needs vpc: it places the build's network interfaces in a VPC; give vpc, or remove ${prop}`);
    }
  }
  validateSecurityGroupCount('securityGroups', securityGroups);
}

function validateSecurityGroupCount(prop: string, securityGroups: ec2.ISecurityGroup[] | undefined): void {
  if (securityGroups === undefined) return;
  if (securityGroups.length === 0) {
    throw new Error(`${prop} must name at least one security group (leave it out to get a new one)`);
  }
  if (securityGroups.length > MAX_SECURITY_GROUPS) {
    throw new Error(`${prop} may hold at most ${MAX_SECURITY_GROUPS} security groups (CodeBuild's limit); got ${securityGroups.length}`);
  }
}

/**
 * A fleet runs the builds on its own instances, in its own VPC configuration, and must offer the
 * build image's environment type (checked when the fleet is defined in the app: an imported fleet's
 * type is not known at synth time).
 */
export function validateFleet(fleet: codebuild.IFleet | undefined, vpc: ec2.IVpc | undefined, buildImage: codebuild.IBuildImage,
  platform: string): void {
  if (!fleet) return;
  if (vpc) {
    throw new Error('vpc has no effect with fleet: the builds run in the fleet\'s network; ' +
      'give the VPC to the fleet (codebuild.Fleet vpc), or remove fleet');
  }
  if (Token.isUnresolved(fleet.fleetArn) && !Token.isUnresolved(buildImage.type) && fleet.environmentType !== buildImage.type) {
    throw new Error(
      `fleet: the fleet's environment type ${fleet.environmentType} does not match the build image's type ${buildImage.type} ` +
        `(platform ${platform}); use a fleet of type ${buildImage.type}, or a build image and platform of the fleet's type`,
    );
  }
}

/** The Docker server runs Docker builds: a strategy that does not use Docker would leave it idle. */
export function validateDockerServer(dockerServer: codebuild.DockerServerOptions | undefined, strategy: CacheStrategy): void {
  if (!dockerServer) return;
  if (strategy.name === 'buildah') {
    throw new Error(
      'dockerServer has no effect with cache strategy \'buildah\': Buildah builds in the build container without Docker; ' +
        'remove dockerServer, or use a Docker-based strategy (registry, inline or none)',
    );
  }
  validateSecurityGroupCount('dockerServer.securityGroups', dockerServer.securityGroups);
}

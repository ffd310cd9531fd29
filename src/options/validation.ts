import * as path from 'path';
import { Token } from 'aws-cdk-lib';
import { ECR_REPOSITORY_NAME_PATTERN, isValidTag } from '../ecr-naming';

/**
 * Synth-time validation. Every error names the prop and the rule it broke.
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
}

/** BuildKit's secret id rule, kept strict: it also names a file under /run/secrets. */
const SECRET_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function validateSecretId(id: string): void {
  if (Token.isUnresolved(id) || !SECRET_ID_PATTERN.test(id) || id === '.' || id === '..') {
    throw new Error(`buildSecrets: secret id '${id}' must be 1 to 64 characters from [A-Za-z0-9_.-] (not '.' or '..'), and not a token`);
  }
}

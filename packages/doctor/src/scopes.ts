/**
 * The cache scopes the construct writes (its src/script/build-context.ts), read back from tags.
 *
 * A build's cache scope is the default branch's cache tag (`main`) for the default branch,
 * `br-<branch>` for another branch, `pr-<number>` for a pull request (`pr-br-<branch>` when the
 * number is unknown, as in a pipeline) and `tag-<tag>` for a git tag. The ref is kept as it is when
 * it is 1 to 80 ECR tag characters `[A-Za-z0-9._-]` and does not end like a hashed name; otherwise
 * its bytes are mapped to tag characters (others become `-`), cut to 80 bytes, and `-h` plus 12 hex
 * digits of the SHA-256 of the raw ref are appended. Per-architecture builds add `-amd64` or
 * `-arm64` to the scope.
 *
 * A copy, so that this package does not depend on the construct; the construct repository's
 * test/doctor-agreement.test.ts checks on generated input that the copy agrees with the build's
 * shell commands' model. Dependency-free (node's crypto only) for that reason.
 */
import { createHash } from 'crypto';
import { branchToTag } from './tags';

/** Longest part of a ref kept in a scope name. */
export const REF_NAME_MAX_BYTES = 80;

/** Hex digits of the SHA-256 of the raw ref appended when the mapping loses information. */
export const REF_HASH_DIGITS = 12;

/** The architecture suffixes of per-architecture scopes (`main-amd64`, `pr-12-arm64`). */
export const ARCHITECTURES = ['amd64', 'arm64'] as const;

const LOSSLESS = /^[A-Za-z0-9._-]{1,80}$/;
const HASHED = /-h[0-9a-f]{12}$/;
const TAG_CHARACTER = /^[A-Za-z0-9._-]$/;

/** `prefix` + the ref as it is, or mapped to tag characters and cut to 80 bytes, plus `-h` and the hash of the raw ref. */
export function scopeName(prefix: string, raw: string): string {
  if (LOSSLESS.test(raw) && !HASHED.test(raw)) return prefix + raw;
  const bytes = Buffer.from(raw, 'utf8');
  let mapped = '';
  for (const b of bytes.subarray(0, REF_NAME_MAX_BYTES)) {
    const c = String.fromCharCode(b);
    mapped += TAG_CHARACTER.test(c) ? c : '-';
  }
  return `${prefix}${mapped}-h${createHash('sha256').update(bytes).digest('hex').slice(0, REF_HASH_DIGITS)}`;
}

/**
 * The cache scope of a branch build (not a pull request): the default branch's tag for the
 * default branch, compared by raw name after one leading `refs/heads/` is removed, as the build
 * does; `br-<branch>` otherwise; empty when no name is left (such a build writes no cache).
 */
export function branchScope(branch: string, defaultBranch: string): string {
  const name = branch.startsWith('refs/heads/') ? branch.slice('refs/heads/'.length) : branch;
  const defaultName = defaultBranch.startsWith('refs/heads/') ? defaultBranch.slice('refs/heads/'.length) : defaultBranch;
  if (name === '') return '';
  return name === defaultName ? branchToTag(defaultBranch) : scopeName('br-', name);
}

export type ScopeKind = 'default-branch' | 'branch' | 'pull-request' | 'pull-request-branch' | 'git-tag';

/** A scope read back from a tag. */
export interface ParsedScope {
  readonly kind: ScopeKind;
  /** The scope as the build names it, architecture suffix included (the tag itself for the registry strategy). */
  readonly scope: string;
  /** The ref's name as the scope keeps it: exact when not `lossy`, else mapped to tag characters and cut to 80 bytes. */
  readonly name?: string;
  /** Whether the ref was mapped (characters outside [A-Za-z0-9._-], longer than 80 bytes, or ending like a hashed name). */
  readonly lossy: boolean;
  /** The 12 hex digits of the SHA-256 of the raw ref, when lossy. */
  readonly hash?: string;
  /** The pull request's number (kind pull-request). */
  readonly pullRequest?: string;
  /** `amd64` or `arm64`, for a per-architecture scope. */
  readonly architecture?: string;
}

/** The name part of a `br-` / `tag-` / `pr-br-` scope, or undefined when the build cannot have written it. */
function readName(rest: string): Pick<ParsedScope, 'name' | 'lossy' | 'hash'> | undefined {
  if (HASHED.test(rest)) {
    const name = rest.slice(0, -(REF_HASH_DIGITS + 2));
    // The mapping keeps at least one byte of a non-empty ref, and at most 80.
    return /^[A-Za-z0-9._-]{1,80}$/.test(name) ? { name, lossy: true, hash: rest.slice(-REF_HASH_DIGITS) } : undefined;
  }
  return LOSSLESS.test(rest) ? { name: rest, lossy: false } : undefined;
}

/**
 * Reads a cache scope: which branch, pull request or git tag it belongs to. `perArchitecture`: the
 * scopes end in `-amd64` or `-arm64` (without it, such a suffix is part of the ref's name).
 * Undefined when no build of the construct names a scope so.
 */
export function parseScope(scope: string, defaultScope: string, perArchitecture: boolean): ParsedScope | undefined {
  let base = scope;
  let architecture: string | undefined;
  if (perArchitecture) {
    const arch = ARCHITECTURES.find((a) => scope.endsWith(`-${a}`));
    if (arch === undefined) return undefined;
    architecture = arch;
    base = scope.slice(0, -(arch.length + 1));
  }
  const of = (kind: ScopeKind, fields: Omit<ParsedScope, 'kind' | 'scope' | 'architecture'>): ParsedScope =>
    ({ kind, scope, ...fields, ...(architecture ? { architecture } : {}) });
  if (base === defaultScope) return of('default-branch', { lossy: false });
  const named = (kind: ScopeKind, prefix: string): ParsedScope | undefined => {
    const name = readName(base.slice(prefix.length));
    return name ? of(kind, name) : undefined;
  };
  if (base.startsWith('pr-br-')) return named('pull-request-branch', 'pr-br-');
  if (base.startsWith('pr-')) {
    const n = base.slice(3);
    return /^[0-9]{1,18}$/.test(n) ? of('pull-request', { lossy: false, pullRequest: n }) : undefined;
  }
  if (base.startsWith('br-')) return named('branch', 'br-');
  if (base.startsWith('tag-')) return named('git-tag', 'tag-');
  return undefined;
}

/** `default branch main`, `branch feature-login`, `pull request #12`, `git tag v1.2.0`, with the architecture. */
export function describeScope(parsed: ParsedScope, defaultBranch: string): string {
  const name = parsed.lossy
    ? `'${parsed.name}' (mapped from a ref with characters outside [A-Za-z0-9._-] or over 80 bytes; ref hash ${parsed.hash})`
    : parsed.name;
  const what = {
    'default-branch': `default branch ${defaultBranch}`,
    'branch': `branch ${name}`,
    'pull-request': `pull request #${parsed.pullRequest}`,
    'pull-request-branch': `pull request from branch ${name} (number unknown, as in a pipeline)`,
    'git-tag': `git tag ${name}`,
  }[parsed.kind];
  return parsed.architecture ? `${what}, ${parsed.architecture}` : what;
}

/** The inline strategy's cache tag `<scope>-e<number of executed steps>`, read back. */
export interface InlineTag {
  readonly scope: string;
  readonly executedSteps: number;
}

export function parseInlineTag(tag: string): InlineTag | undefined {
  const m = /^(.+)-e([0-9]+)$/.exec(tag);
  if (!m || !/^[1-9][0-9]{0,5}$/.test(m[2])) return undefined;
  return { scope: m[1], executedSteps: Number(m[2]) };
}

/** Buildah's cache tag: the step's cache key, the hex SHA-256 of its history and inputs. */
export const BUILDAH_CACHE_KEY = /^[0-9a-f]{64}$/;

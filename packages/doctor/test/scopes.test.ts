import { createHash } from 'crypto';
import * as fc from 'fast-check';
import { ARCHITECTURES, BUILDAH_CACHE_KEY, branchScope, describeScope, parseInlineTag, parseScope, scopeName } from '../src/scopes';

/** Refs as they come: ECR-safe names, separators, non-ASCII, control characters, long ones, ones ending like a hash. */
const anyRef = fc.oneof(
  fc.constantFrom('main', 'feature/login', 'hotfix', 'release/2.x', 'renovate/npm-jest-30.x', 'caf\u00e9', 'x-h0123456789ab', '-', '.', '_'),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('a', 'Z', '9', '-', '.', '_', '/', ' ', '\u00e9', '\n'), minLength: 1, maxLength: 140 }),
  fc.stringMatching(/^[a-z]{1,20}-h[0-9a-f]{12}$/),
).filter((r) => r !== '');

const defaultScope = fc.constantFrom('main', 'master', 'develop', 'release-v1', 'trunk');
const sha12 = (ref: string) => createHash('sha256').update(Buffer.from(ref, 'utf8')).digest('hex').slice(0, 12);
const KINDS = [['br-', 'branch'], ['tag-', 'git-tag'], ['pr-br-', 'pull-request-branch']] as const;

describe('scopeName: the build\'s mapping of a ref to a scope', () => {
  test.each([
    ['br-', 'hotfix', 'br-hotfix'],
    // `printf '%s' feature/login | sha256sum`: df7c7aeb3560...
    ['br-', 'feature/login', 'br-feature-login-hdf7c7aeb3560'],
    ['tag-', 'v1.2.0', 'tag-v1.2.0'],
    // `printf '%s' 'fix/café' | sha256sum`: 5cc75d81ca8e... (é is two bytes, two dashes)
    ['br-', 'fix/caf\u00e9', 'br-fix-caf---h5cc75d81ca8e'],
  ])('%s + %j is %s', (prefix, ref, scope) => {
    expect(scopeName(prefix, ref)).toEqual(scope);
  });

  test('a ref that ends like a hashed name is hashed too, so no two refs share a scope', () => {
    expect(scopeName('br-', 'x-h0123456789ab')).toMatch(/^br-x-h0123456789ab-h[0-9a-f]{12}$/);
  });

  test('branchScope: the default branch (raw name, refs/heads/ removed) is its cache tag, another branch br-<branch>', () => {
    expect(branchScope('refs/heads/main', 'main')).toEqual('main');
    expect(branchScope('release/2.x', 'release/2.x')).toEqual('release-2.x');
    expect(branchScope('main', 'refs/heads/main')).toEqual('main');
    expect(branchScope('Main', 'main')).toEqual('br-Main');
    expect(branchScope('refs/heads/hotfix', 'main')).toEqual('br-hotfix');
    expect(branchScope('refs/heads/', 'main')).toEqual('');
  });
});

describe('parseScope reads back every scope the build writes (properties)', () => {
  test('branch, git tag and pipeline pull request scopes: the kind, the exact name when kept, else the mapped name and the ref\'s hash', () => {
    fc.assert(fc.property(anyRef, fc.constantFrom(...KINDS), defaultScope, (ref, [prefix, kind], d) => {
      const scope = scopeName(prefix, ref);
      const parsed = parseScope(scope, d, false);
      expect(parsed).toMatchObject({ kind, scope });
      if (parsed!.lossy) {
        expect(parsed!.hash).toEqual(sha12(ref));
        expect(scope).toEqual(`${prefix}${parsed!.name}-h${parsed!.hash}`);
      } else {
        expect(parsed!.name).toEqual(ref);
      }
    }), { numRuns: 1500, seed: 17 });
  });

  test('pull request numbers', () => {
    fc.assert(fc.property(fc.stringMatching(/^[0-9]{1,18}$/), defaultScope, (n, d) => {
      expect(parseScope(`pr-${n}`, d, false)).toEqual({ kind: 'pull-request', scope: `pr-${n}`, lossy: false, pullRequest: n });
    }), { numRuns: 300, seed: 17 });
  });

  test('per-architecture scopes: the suffix is the architecture, the rest reads as without it', () => {
    fc.assert(fc.property(anyRef, fc.constantFrom(...KINDS), fc.constantFrom(...ARCHITECTURES), defaultScope, (ref, [prefix], arch, d) => {
      const single = parseScope(scopeName(prefix, ref), d, false)!;
      const perArch = parseScope(`${scopeName(prefix, ref)}-${arch}`, d, true);
      expect(perArch).toEqual({ ...single, scope: `${single.scope}-${arch}`, architecture: arch });
      expect(parseScope(`${d}-${arch}`, d, true)).toEqual({ kind: 'default-branch', scope: `${d}-${arch}`, lossy: false, architecture: arch });
    }), { numRuns: 800, seed: 17 });
  });

  test('no other ref\'s scope reads as the default branch\'s (the default cache tag is outside the br-, pr-, tag- namespaces)', () => {
    fc.assert(fc.property(anyRef, fc.constantFrom(...KINDS), defaultScope, fc.boolean(), (ref, [prefix], d, perArch) => {
      const scope = perArch ? `${scopeName(prefix, ref)}-amd64` : scopeName(prefix, ref);
      expect(parseScope(scope, d, perArch)?.kind).not.toEqual('default-branch');
    }), { numRuns: 800, seed: 17 });
  });

  test('any tag from a repository: never throws; what it reads is a tag of ECR tag characters, named as given', () => {
    const tag = fc.oneof(
      fc.string({ maxLength: 140 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('br-', 'pr-', 'tag-', 'pr-br-', 'br--h0123456789ab', 'pr-', 'pr-1x', 'pr-0123456789012345678', 'main-amd64', 'main-s390x')
        .chain((p) => fc.string({ maxLength: 100 }).map((s) => p + s)),
    );
    fc.assert(fc.property(tag, defaultScope, fc.boolean(), (t, d, perArch) => {
      const parsed = parseScope(t, d, perArch);
      if (parsed) {
        expect(parsed.scope).toEqual(t);
        expect(t).toMatch(/^[A-Za-z0-9._-]+$/);
        expect(describeScope(parsed, 'main')).not.toEqual('');
      }
      parseInlineTag(t);
    }), { numRuns: 3000, seed: 17 });
  });

  test.each([
    ['pr-', undefined],
    ['pr-12a', undefined],
    ['pr-1234567890123456789', undefined],
    ['br-', undefined],
    ['br-a/b', undefined],
    [`br-${'a'.repeat(81)}`, undefined],
    [`br-${'a'.repeat(80)}`, 'branch'],
    ['br--h0123456789ab', undefined],
    ['tag-v1', 'git-tag'],
    ['feature-login', undefined],
    ['main', 'default-branch'],
    ['main-e3', undefined],
  ])('%j reads as %s', (tag, kind) => {
    expect(parseScope(tag, 'main', false)?.kind).toEqual(kind);
  });

  test('with per-architecture scopes, a scope without an architecture suffix reads as nothing', () => {
    expect(parseScope('main', 'main', true)).toBeUndefined();
    expect(parseScope('br-x-s390x', 'main', true)).toBeUndefined();
    expect(parseScope('br-hotfixamd64', 'main', true)).toBeUndefined();
    expect(parseScope('br-hotfix-xarm64', 'main', true)).toBeUndefined();
  });
});

describe('describeScope', () => {
  test.each([
    ['main', 'default branch main'],
    ['br-hotfix', 'branch hotfix'],
    ['pr-12', 'pull request #12'],
    ['tag-v1.2.0', 'git tag v1.2.0'],
    ['pr-br-feature-x', 'pull request from branch feature-x (number unknown, as in a pipeline)'],
    ['br-feature-login-hdf7c7aeb3560', "branch 'feature-login' (mapped from a ref with characters outside [A-Za-z0-9._-] or over 80 bytes; ref hash df7c7aeb3560)"],
  ])('%s: %s', (scope, text) => {
    expect(describeScope(parseScope(scope, 'main', false)!, 'main')).toEqual(text);
  });

  test('with the architecture', () => {
    expect(describeScope(parseScope('pr-12-arm64', 'main', true)!, 'main')).toEqual('pull request #12, arm64');
  });
});

describe('the inline strategy\'s tags and Buildah\'s keys', () => {
  test('<scope>-e<N> reads back as the scope and N (property)', () => {
    fc.assert(fc.property(anyRef, fc.integer({ min: 1, max: 999_999 }), fc.boolean(), (ref, n, arch) => {
      const scope = arch ? `${scopeName('br-', ref)}-arm64` : scopeName('br-', ref);
      expect(parseInlineTag(`${scope}-e${n}`)).toEqual({ scope, executedSteps: n });
    }), { numRuns: 800, seed: 17 });
  });

  test.each(['main', 'main-e', 'main-e0', 'main-e01', 'main-eX', '-e3', 'main-e1234567'])('%j is no inline tag', (tag) => {
    expect(parseInlineTag(tag)).toBeUndefined();
  });

  test('a Buildah key is 64 lowercase hex digits: the build never writes a scope like it', () => {
    expect(BUILDAH_CACHE_KEY.test('57dabe1d555fdcf0a3e1eaa2e648fe6071ea8dc518f7e54c40d7f8044c000f10')).toBe(true);
    expect(BUILDAH_CACHE_KEY.test('57DABE1D555FDCF0A3E1EAA2E648FE6071EA8DC518F7E54C40D7F8044C000F10')).toBe(false);
    fc.assert(fc.property(anyRef, fc.constantFrom(...KINDS), (ref, [prefix]) => !BUILDAH_CACHE_KEY.test(scopeName(prefix, ref))),
      { numRuns: 500, seed: 17 });
  });
});

import * as fc from 'fast-check';
import { branchToTag, ECR_TAG_PATTERN } from '../src/ecr-naming';
import { ImageTag } from '../src/image-tag';
import { runCases } from './helpers/bash-cases';
import { modelBuild } from './helpers/build-context-model';
import { RESOLVE_BUILD_CONTEXT } from '../src/script/build-context';
import { renderTagSelection } from '../src/script/push-tags';

/**
 * Properties of the build context over generated events and refs, each case executed in bash:
 * only a non-PR build of exactly the default branch writes the default scope or moves a fixed tag;
 * distinct raw refs get distinct scopes; every scope and tag is a valid ECR tag with room for a suffix.
 */

const tags = renderTagSelection([ImageTag.commit(), ImageTag.gitTag(), ImageTag.branch(), ImageTag.of('latest')]);
const COMMANDS = [...RESOLVE_BUILD_CONTEXT, ...tags.commands];
const OUTPUTS = ['BUILD_EVENT', 'BUILD_REF', 'BUILD_REF_TYPE', 'PULL_REQUEST_NUMBER', 'CIB_IS_DEFAULT', 'CIB_CACHE_SCOPE',
  'CIB_CACHE_WRITE_SCOPE', 'CIB_CACHE_READ_SCOPES', 'CIB_MOUNT_SECRETS', 'CIB_PUSH_TAGS'];

/** Names close to `main`, and the characters that trip mappings: separators, non-ASCII, quotes, line breaks. */
const lookalike = fc.constantFrom('main', 'main-experiment', 'main-e2e-tests', '.main', '-main', 'main/', 'Main', 'main ',
  'ｍａｉｎ', 'mäin', 'refs/heads/main', 'main\n', '$(touch /tmp/cib-x)', "it's", 'feature/login', 'feature-login',
  'pr-1', 'br-main', 'tag-main', 'latest', '0123456789abcdef0123456789abcdef01234567', '');
const anyRef = fc.oneof(
  lookalike,
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('a', '-', '.', '/', '_', 'é', 'x'), minLength: 1, maxLength: 140 }),
);
const defaultBranch = fc.constantFrom('main', 'master', 'develop', 'release/v1', 'trunk');
const prNumber = fc.oneof(fc.integer({ min: 1, max: 99999 }).map(String), fc.constantFrom('', 'abc', '1 2', '007'));

const event = fc.oneof(
  fc.record({ kind: fc.constant('push-branch'), ref: anyRef }),
  fc.record({ kind: fc.constant('push-tag'), ref: anyRef }),
  fc.record({
    kind: fc.constant('pr'),
    ref: anyRef,
    base: anyRef,
    number: prNumber,
    action: fc.constantFrom('CREATED', 'UPDATED', 'REOPENED', 'MERGED', 'CLOSED'),
  }),
  fc.record({ kind: fc.constant('manual'), ref: fc.oneof(anyRef, anyRef.map((r) => `pr/${r}`), anyRef.map((r) => `refs/tags/${r}`)) }),
  fc.record({ kind: fc.constant('pipeline'), ref: anyRef, pr: fc.boolean() }),
);
type Event = typeof event extends fc.Arbitrary<infer T> ? T : never;

function envOf(e: Event, dflt: string): Record<string, string> {
  const project = {
    CIB_DEFAULT_BRANCH: dflt,
    CIB_DEFAULT_CACHE_TAG: branchToTag(dflt),
    CIB_PR_POLICY: 'push',
    CIB_PR_SECRETS: 'false',
    CIB_IMAGE_REPOSITORY_URI: '1.dkr.ecr.us-east-1.amazonaws.com/a',
    CODEBUILD_RESOLVED_SOURCE_VERSION: 'f'.repeat(40),
    ...tags.environment,
  };
  const x = e as any;
  switch (e.kind) {
    case 'push-branch':
      return { ...project, CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: `branch/${x.ref}`, CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${x.ref}` };
    case 'push-tag':
      return { ...project, CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: `tag/${x.ref}`, CODEBUILD_WEBHOOK_HEAD_REF: `refs/tags/${x.ref}` };
    case 'pr':
      return {
        ...project,
        CODEBUILD_WEBHOOK_EVENT: `PULL_REQUEST_${x.action}`,
        CODEBUILD_WEBHOOK_TRIGGER: `pr/${x.number}`,
        CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${x.ref}`,
        CODEBUILD_WEBHOOK_BASE_REF: `refs/heads/${x.base}`,
      };
    case 'manual':
      return { ...project, CODEBUILD_SOURCE_VERSION: x.ref };
    default:
      return { ...project, CIB_TRIGGER: 'pipeline', CIB_BRANCH: x.ref, CIB_PIPELINE_PULL_REQUEST: String(x.pr), CODEBUILD_SOURCE_VERSION: 'arn:aws:s3:::b/k' };
  }
}

/** Whether the generated build is a build, not a pull request, of exactly the default branch. */
function trusted(e: Event, dflt: string): boolean {
  const x = e as any;
  if (e.kind === 'push-branch') return x.ref === dflt;
  if (e.kind === 'manual') return x.ref === dflt || x.ref === `refs/heads/${dflt}`;
  if (e.kind === 'pipeline') return !x.pr && (x.ref === dflt || x.ref === `refs/heads/${dflt}`);
  return false;
}

const RUNS = 1200;

describe('build context properties (executed in bash)', () => {
  // One case in four builds a ref equal to the default branch, so both sides of the property are reached.
  const samples = fc.sample(fc.tuple(event, defaultBranch, fc.nat(3)).map(([e, d, n]) => [n === 0 ? { ...e, ref: d } : e, d] as const),
    { numRuns: RUNS, seed: 20261201 });
  const results = runCases(COMMANDS, samples.map(([e, d]) => envOf(e, d)), OUTPUTS);

  test(`only a non-PR build of exactly the default branch writes its scope or moves a fixed tag (${RUNS} cases)`, () => {
    const wrong = samples.flatMap(([e, d], i) => {
      const v = results[i].vars;
      const writesDefault = v.CIB_CACHE_WRITE_SCOPE === branchToTag(d);
      const movesLatest = v.CIB_PUSH_TAGS.split(' ').includes('latest');
      return (writesDefault || movesLatest) !== trusted(e, d) || (v.CIB_IS_DEFAULT === 'true') !== trusted(e, d)
        ? [{ e, d, v }] : [];
    });
    expect(wrong).toEqual([]);
    // The generator reaches both sides of the property.
    expect(samples.filter(([e, d]) => trusted(e, d)).length).toBeGreaterThan(10);
  });

  test('the bash commands agree with the TypeScript model on every case', () => {
    const project = { policy: 'push' as const, mountSecrets: false, imageTags: ['commit', 'git-tag', 'branch', 'latest'] };
    const differ = samples.flatMap(([e, d], i) => {
      const v = results[i].vars;
      const m = modelBuild({ ...project, defaultBranch: d }, envOf(e, d));
      const shell = {
        event: v.BUILD_EVENT,
        ref: v.BUILD_REF,
        refKind: v.BUILD_REF_TYPE,
        prNumber: v.PULL_REQUEST_NUMBER,
        scope: v.CIB_CACHE_SCOPE,
        writeScope: v.CIB_CACHE_WRITE_SCOPE,
        reads: v.CIB_CACHE_READ_SCOPES,
        tags: v.CIB_PUSH_TAGS,
        secrets: v.CIB_MOUNT_SECRETS,
      };
      const model = {
        event: m.event,
        ref: m.ref,
        refKind: m.refKind,
        prNumber: m.prNumber,
        scope: m.scope,
        writeScope: m.writeScope,
        reads: m.readScopes.join(' '),
        tags: m.pushTags.join(' '),
        secrets: String(m.mountSecrets),
      };
      return JSON.stringify(shell) === JSON.stringify(model) ? [] : [{ e, d, shell, model }];
    });
    expect(differ).toEqual([]);
  });

  test('pull requests never get build secrets, a commit tag or a branch tag', () => {
    const wrong = samples.flatMap(([e], i) => {
      const v = results[i].vars;
      const pr = v.BUILD_EVENT === 'pull-request';
      return pr && (v.CIB_MOUNT_SECRETS !== 'false' || v.CIB_PUSH_TAGS.split(' ').some((t) => t !== '' && !t.startsWith('pr-'))) ? [{ e, v }] : [];
    });
    expect(wrong).toEqual([]);
  });

  test('every scope and pushed tag is a valid ECR tag with room for a 6-character suffix', () => {
    const wrong = results.flatMap((r, i) => {
      const names = [...r.vars.CIB_CACHE_READ_SCOPES.split(' '), ...r.vars.CIB_PUSH_TAGS.split(' ')].filter((n) => n !== '');
      return names.filter((n) => !ECR_TAG_PATTERN.test(n) || n.length > 122).map((n) => ({ n, e: samples[i][0] }));
    });
    expect(wrong).toEqual([]);
  });

  test('distinct raw refs get distinct scopes, none of them the default scope, in every namespace', () => {
    const refs = [...new Set(fc.sample(anyRef, { numRuns: 500, seed: 7 }).filter((r) => r !== '' && r !== 'main'))];
    const cases = [
      ...refs.map((ref) => envOf({ kind: 'push-branch', ref }, 'main')),
      ...refs.map((ref) => envOf({ kind: 'push-tag', ref }, 'main')),
      ...refs.map((ref) => envOf({ kind: 'pipeline', ref, pr: true }, 'main')),
    ];
    const scopes = runCases(COMMANDS, cases, OUTPUTS).map((r) => r.vars.CIB_CACHE_SCOPE);
    expect(scopes.filter((s) => s === 'main' || s === '')).toEqual([]);
    expect(new Set(scopes).size).toBe(scopes.length);
  });
});

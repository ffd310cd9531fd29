/**
 * The cache doctor (packages/doctor) is its own package and keeps its own copy of the ECR naming
 * rule and the branch-to-tag mapping, and a model of the lifecycle policy the construct writes.
 * These tests keep the copies true to the construct. They import only dependency-free files of the
 * doctor package, so they run without the doctor's dependencies installed.
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as fc from 'fast-check';
import { imageFate, parseLifecyclePolicy } from '../packages/doctor/src/lifecycle';
import * as doctorScopes from '../packages/doctor/src/scopes';
import * as doctorTags from '../packages/doctor/src/tags';
import { constructPolicy } from '../packages/doctor/test/construct-policy';
import { CacheStrategy, CachedImageBuild } from '../src';
import * as constructTags from '../src/ecr-naming';
import { modelBuild, scopeName } from './helpers/build-context-model';

/** Branch names and refs, hostile ones included. */
function arbitraryRef(): fc.Arbitrary<string> {
  const piece = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'grapheme', maxLength: 10 }),
    fc.string({ unit: 'binary', maxLength: 10 }),
    fc.constantFrom('refs/heads/', 'refs/tags/', '/', '.', '-', '_', ' ', '\u00e9', '\u{1F600}'),
    fc.string({ minLength: 90, maxLength: 140 }),
  );
  return fc.array(piece, { maxLength: 6 }).map((parts) => parts.join(''));
}

/** Repository names, valid and not. */
function arbitraryRepositoryName(): fc.Arbitrary<string> {
  const part = fc.stringMatching(/^[a-z0-9]{1,5}$/);
  const sep = fc.constantFrom('.', '_', '-', '/', '__', '//', '', 'A', ' ', '..');
  return fc.array(fc.oneof(part, sep), { minLength: 1, maxLength: 8 }).map((p) => p.join(''));
}

describe("the doctor's copy of the construct's tag rules", () => {
  test('branchToTag maps every ref as the construct does (property)', () => {
    fc.assert(
      fc.property(arbitraryRef(), (ref) => doctorTags.branchToTag(ref) === constructTags.branchToTag(ref)),
      { numRuns: 2000, seed: 7 },
    );
    expect(doctorTags.BRANCH_TAG_MAX_LENGTH).toEqual(constructTags.BRANCH_TAG_MAX_LENGTH);
  });

  test('the repository name rule accepts and refuses what the construct does (property)', () => {
    expect(doctorTags.ECR_REPOSITORY_NAME_PATTERN.source).toEqual(constructTags.ECR_REPOSITORY_NAME_PATTERN.source);
    fc.assert(
      fc.property(arbitraryRepositoryName(), (name) =>
        doctorTags.ECR_REPOSITORY_NAME_PATTERN.test(name) === constructTags.ECR_REPOSITORY_NAME_PATTERN.test(name)),
      { numRuns: 2000, seed: 7 },
    );
  });
});

describe("the doctor's copy of the build's cache scopes (test/helpers/build-context-model.ts, itself checked against the bash)", () => {
  const defaultBranch = fc.constantFrom('main', 'master', 'release/2.x', 'trunk');
  const project = (d: string) => ({ defaultBranch: d, policy: 'push' as const, mountSecrets: false, imageTags: ['commit'] });

  test('scopeName maps every ref as the model does (property)', () => {
    fc.assert(
      fc.property(arbitraryRef(), fc.constantFrom('br-', 'tag-', 'pr-br-'), (ref, prefix) => doctorScopes.scopeName(prefix, ref) === scopeName(prefix, ref)),
      { numRuns: 2000, seed: 7 },
    );
  });

  test('--branch maps to the scope a push of that branch writes (property)', () => {
    fc.assert(fc.property(arbitraryRef(), defaultBranch, (ref, d) => {
      const build = modelBuild(project(d), { CODEBUILD_WEBHOOK_TRIGGER: `branch/${ref}`, CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${ref}` });
      return doctorScopes.branchScope(`refs/heads/${ref}`, d) === build.scope;
    }), { numRuns: 2000, seed: 7 });
  });

  test('every scope a build writes reads back as its event: default branch, branch, git tag, pull request (property)', () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant('branch' as const), ref: arbitraryRef() }),
      fc.record({ kind: fc.constant('tag' as const), ref: arbitraryRef() }),
      fc.record({ kind: fc.constant('pr' as const), ref: arbitraryRef(), number: fc.integer({ min: 1, max: 999999 }) }),
      fc.record({ kind: fc.constant('pipeline-pr' as const), ref: arbitraryRef() }),
    );
    fc.assert(fc.property(event, defaultBranch, fc.constantFrom('', '-amd64', '-arm64'), (e, d, arch) => {
      const env: Record<string, string> = {
        'branch': { CODEBUILD_WEBHOOK_TRIGGER: `branch/${e.ref}`, CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${e.ref}` },
        'tag': { CODEBUILD_WEBHOOK_TRIGGER: `tag/${e.ref}`, CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_HEAD_REF: `refs/tags/${e.ref}` },
        'pr': { CODEBUILD_WEBHOOK_TRIGGER: `pr/${(e as { number?: number }).number}`, CODEBUILD_WEBHOOK_EVENT: 'PULL_REQUEST_UPDATED', CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${e.ref}` },
        'pipeline-pr': { CIB_TRIGGER: 'pipeline', CIB_BRANCH: e.ref, CIB_PIPELINE_PULL_REQUEST: 'true' },
      }[e.kind];
      const build = modelBuild(project(d), env);
      if (build.scope === '') return true; // no ref left: the build writes no cache
      const parsed = doctorScopes.parseScope(build.scope + arch, doctorTags.branchToTag(d), arch !== '');
      const kind = { 'branch': build.isDefault ? 'default-branch' : 'branch', 'tag': 'git-tag', 'pr': 'pull-request', 'pipeline-pr': 'pull-request-branch' }[e.kind];
      expect(parsed).toMatchObject({ kind, scope: build.scope + arch, ...(arch ? { architecture: arch.slice(1) } : {}) });
      if (e.kind === 'pr') expect(parsed!.pullRequest).toEqual(String((e as { number: number }).number));
      if (parsed!.kind !== 'default-branch' && parsed!.kind !== 'pull-request' && !parsed!.lossy) expect(parsed!.name).toEqual(build.ref);
      return true;
    }), { numRuns: 2000, seed: 7 });
  });
});

/** The cache repository's lifecycle policy text in a synthesized CachedImageBuild. */
function synthesizedPolicy(props: { defaultBranch?: string; cacheRetention?: Duration; cache?: CacheStrategy } = {}): string {
  const stack = new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: 'us-east-1' } });
  new CachedImageBuild(stack, 'Api', { repositoryName: 'api', ...props });
  const repos = Template.fromStack(stack).findResources('AWS::ECR::Repository', { Properties: { RepositoryName: 'api-cache' } });
  const [repo] = Object.values(repos);
  return repo.Properties.LifecyclePolicy.LifecyclePolicyText;
}

describe("the doctor's model of the construct's cache lifecycle policy", () => {
  test.each([
    [{}, {}],
    [{ defaultBranch: 'release/2.x' }, { defaultBranchTag: 'release-2.x' }],
    [{ cacheRetention: Duration.days(5) }, { cacheRetentionDays: 5 }],
  ])('is the policy the construct writes (props %j)', (props, model) => {
    expect(JSON.parse(synthesizedPolicy(props))).toEqual(JSON.parse(constructPolicy(model)));
  });

  test.each([
    ['inline' as const, () => CacheStrategy.inline()],
    ['buildah' as const, () => CacheStrategy.buildah()],
    ['registry' as const, () => CacheStrategy.registry()],
  ])('is the policy the construct writes for the %s strategy', (strategy, cache) => {
    expect(JSON.parse(synthesizedPolicy({ cache: cache(), defaultBranch: 'release/2.x', cacheRetention: Duration.days(9) })))
      .toEqual(JSON.parse(constructPolicy({ strategy, defaultBranchTag: 'release-2.x', cacheRetentionDays: 9 })));
  });

  test.each(['main', 'release/2.x', 'refs/heads/trunk'])('never expires the default-branch cache, as the doctor reads it (defaultBranch %j)', (defaultBranch) => {
    // GIVEN
    const rules = parseLifecyclePolicy(synthesizedPolicy({ defaultBranch }));

    // WHEN
    const fate = imageFate(rules, [doctorTags.branchToTag(defaultBranch)]);

    // THEN
    expect(fate.kind).toEqual('kept');
  });

  test('expires other branches cacheRetention days after their last push', () => {
    const rules = parseLifecyclePolicy(synthesizedPolicy({ cacheRetention: Duration.days(5) }));
    expect(imageFate(rules, ['feature-login'])).toMatchObject({ kind: 'age', limit: 5, rule: { rulePriority: 3 } });
    expect(imageFate(rules, [])).toMatchObject({ kind: 'age', limit: 1, rule: { rulePriority: 2 } });
  });
});

describe('the construct package', () => {
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));

  test('has no command and no runtime dependency: the doctor and its AWS SDK are in packages/doctor', () => {
    expect(pkg.bin).toBeUndefined();
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.bundledDependencies ?? []).toEqual([]);
  });
});

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
import * as doctorTags from '../packages/doctor/src/tags';
import { constructPolicy } from '../packages/doctor/test/construct-policy';
import { CachedImageBuild } from '../src';
import * as constructTags from '../src/ecr-naming';

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

/** The cache repository's lifecycle policy text in a synthesized CachedImageBuild. */
function synthesizedPolicy(props: { defaultBranch?: string; cacheRetention?: Duration } = {}): string {
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

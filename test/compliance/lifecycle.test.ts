import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as fc from 'fast-check';
import { CacheStrategy } from '../../src';
import { STRATEGIES, newKey, synth } from '../helpers/compliance-cases';
import { EcrImage, EcrLifecycleRule, expiredImages } from '../helpers/ecr-lifecycle';

describe('application repository: no release can expire', () => {
  test.each(STRATEGIES.flatMap(([name, cache]) => [{ name, cache, withKey: false }, { name, cache, withKey: true }]))(
    '$name strategy (encryptionKey: $withKey): retained on stack deletion, no lifecycle rule at all', ({ cache, withKey }) => {
      // WHEN
      const { template } = synth((s) => ({ repositoryName: 'api', cache: cache(), ...(withKey ? { encryptionKey: newKey(s) } : {}) }));

      // THEN
      const [, app] = Object.entries<any>(template.findResources('AWS::ECR::Repository', {
        Properties: { RepositoryName: 'api' },
      }))[0];
      expect(app.DeletionPolicy).toEqual('Retain');
      expect(app.UpdateReplacePolicy).toEqual('Retain');
      expect(app.Properties.LifecyclePolicy).toBeUndefined();
    });
});

function cacheRules(template: Template): EcrLifecycleRule[] {
  const repos = Object.values<any>(template.findResources('AWS::ECR::Repository', { Properties: { ImageTagMutability: 'MUTABLE' } }));
  expect(repos).toHaveLength(1);
  return JSON.parse(repos[0].Properties.LifecyclePolicy.LifecyclePolicyText).rules;
}

/** Random cache repository contents: tags unique per repository, an image may carry several. */
function cacheImages(defaultTags: string[], otherTags: string[]): fc.Arbitrary<EcrImage[]> {
  const tag = fc.constantFrom(...defaultTags, ...otherTags);
  return fc.array(fc.record({ tags: fc.uniqueArray(tag, { maxLength: 3 }), ageDays: fc.integer({ min: 0, max: 1000 }) }), { maxLength: 40 })
    .map((images) => {
      const seen = new Set<string>();
      return images.map((image, i) => {
        // A tag points at one image: later images lose tags an earlier one holds.
        const tags = image.tags.filter((t) => !seen.has(t));
        tags.forEach((t) => seen.add(t));
        return { id: `image-${i}`, tags, ageDays: image.ageDays };
      });
    });
}

describe('cache lifecycle rules never expire the default branch\'s cache (ECR priority semantics)', () => {
  const branches = ['main', 'release/1.x', 'develop'];
  // Branch tags chosen to look like the default branch's: prefixes, suffixes, -e<N> forms.
  const otherBranchTags = (d: string) => [`${d}2`, `x${d}`, `${d}-e`, `${d}-feature`, 'feature-a', 'pr-42', `${d}-ex`];

  test.each(branches)('registry strategy, default branch %s: the cache tag of the default branch is never expired', (defaultBranch) => {
    // GIVEN
    const { build, template } = synth(() => ({ defaultBranch }));
    const rules = cacheRules(template);
    const d = build.defaultCacheTag;

    // THEN
    fc.assert(fc.property(cacheImages([d], otherBranchTags(d)), (images) => {
      const expired = expiredImages(rules, images);
      return images.filter((i) => i.tags.includes(d)).every((i) => !expired.has(i.id));
    }));
  });

  test.each(branches)('inline strategy, default branch %s: no <tag>-e<N> cache tag of the default branch is ever expired', (defaultBranch) => {
    // GIVEN
    const { build, template } = synth(() => ({ defaultBranch, cache: CacheStrategy.inline() }));
    const rules = cacheRules(template);
    const d = build.defaultCacheTag;
    // One tag per number of executed steps: at most the Dockerfile's step count (the rule keeps 1000).
    const defaultTags = Array.from({ length: 60 }, (_, n) => `${d}-e${n + 1}`);

    // THEN
    fc.assert(fc.property(cacheImages(defaultTags, otherBranchTags(d).map((t) => `${t}-e3`)), (images) => {
      const expired = expiredImages(rules, images);
      return images.filter((i) => i.tags.some((t) => defaultTags.includes(t))).every((i) => !expired.has(i.id));
    }));
  });

  test.each([
    ['registry', () => CacheStrategy.registry()],
    ['inline', () => CacheStrategy.inline()],
  ])('%s strategy: other branches\' caches expire after cacheRetention, replaced manifests after a day', (_name, cache) => {
    // GIVEN
    const { template } = synth(() => ({ cache: cache(), cacheRetention: Duration.days(10) }));
    const rules = cacheRules(template);

    // WHEN
    const expired = expiredImages(rules, [
      { id: 'feature-old', tags: ['feature-e2', 'feature'], ageDays: 11 },
      { id: 'feature-new', tags: ['feature-e3', 'pr-1'], ageDays: 9 },
      { id: 'untagged-old', tags: [], ageDays: 2 },
      { id: 'untagged-new', tags: [], ageDays: 1 },
    ]);

    // THEN
    expect([...expired].sort()).toEqual(['feature-old', 'untagged-old']);
  });

  test('buildah strategy: there is no default-branch cache tag; every cache tag, the default branch\'s steps included, expires cacheRetention after its push', () => {
    // GIVEN
    const { template } = synth(() => ({ cache: CacheStrategy.buildah(), cacheRetention: Duration.days(14) }));
    const rules = cacheRules(template);

    // THEN: no rule protects any tag
    expect(rules.filter((r) => r.selection.tagStatus === 'tagged')).toEqual([]);
    fc.assert(fc.property(cacheImages(['a1b2c3', 'd4e5f6', '0123abcd'], ['main', 'feature']), (images) => {
      const expired = expiredImages(rules, images);
      return images.every((i) => expired.has(i.id) === (i.tags.length === 0 ? i.ageDays > 1 : i.ageDays > 14));
    }));
  });
});

describe('ECR lifecycle model', () => {
  const rule = (rulePriority: number, selection: EcrLifecycleRule['selection']): EcrLifecycleRule =>
    ({ rulePriority, selection, action: { type: 'expire' } });

  test('an image matched by a higher-priority rule is not expired by a lower-priority one', () => {
    const rules = [
      rule(1, { tagStatus: 'tagged', tagPatternList: ['keep*'], countType: 'imageCountMoreThan', countNumber: 1 }),
      rule(2, { tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' }),
    ];
    const expired = expiredImages(rules, [
      { id: 'keep-new', tags: ['keep-1'], ageDays: 5 },
      { id: 'keep-old', tags: ['keep-2'], ageDays: 9 },
      { id: 'other', tags: ['x'], ageDays: 5 },
    ]);
    expect([...expired].sort()).toEqual(['keep-old', 'other']);
  });

  test('a tagStatus any rule must come last', () => {
    expect(() => expiredImages([
      rule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' }),
      rule(2, { tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' }),
    ], [])).toThrow(/highest rulePriority/);
  });
});

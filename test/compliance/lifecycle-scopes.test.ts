import { Duration } from 'aws-cdk-lib';
import * as fc from 'fast-check';
import { CacheStrategy } from '../../src';
import { RESOLVE_BUILD_CONTEXT } from '../../src/script/build-context';
import { runCases } from '../helpers/bash-cases';
import { lifecycleRules, synth } from '../helpers/construct';
import { EcrImage, EcrLifecycleRule, expiredImages } from '../helpers/ecr-lifecycle';

/**
 * GIVEN the cache repository's lifecycle policy of each strategy, and a population of cache tags
 * written by the build itself for generated refs (look-alikes of the default branch included),
 * WHEN ECR's lifecycle evaluation (the model in helpers/ecr-lifecycle.ts) runs over them,
 * THEN the default scope is never expired, and every other scope expires after cacheRetention.
 */

const RETENTION_DAYS = 14;

function rulesOf(cache: CacheStrategy): EcrLifecycleRule[] {
  return lifecycleRules(synth({ repositoryName: 'api', cache, cacheRetention: Duration.days(RETENTION_DAYS) }).template);
}

const lookalikes = ['main-experiment', 'main-e2e-tests', 'main-e4', 'main-e', '.main', '-main', 'Main', 'ｍａｉｎ', 'main/x', 'mainline'];
const refArbitrary = fc.oneof(fc.constantFrom(...lookalikes), fc.string({ minLength: 1, maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('m', 'a', 'i', 'n', '-', 'e', '1', '/'), minLength: 1, maxLength: 12 }));

/** The write scopes the build computes for branch pushes, tag pushes and pull requests of these refs (executed in bash). */
function scopesOf(refs: string[]): string[] {
  const project = { CIB_DEFAULT_BRANCH: 'main', CIB_DEFAULT_CACHE_TAG: 'main', CIB_PR_POLICY: 'push', CIB_PR_SECRETS: 'false' };
  const cases = refs.flatMap((ref, i) => [
    { ...project, CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${ref}` },
    { ...project, CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_HEAD_REF: `refs/tags/${ref}` },
    { ...project, CODEBUILD_WEBHOOK_EVENT: 'PULL_REQUEST_UPDATED', CODEBUILD_WEBHOOK_TRIGGER: `pr/${i + 1}`, CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/${ref}` },
  ]);
  return runCases(RESOLVE_BUILD_CONTEXT, cases, ['CIB_CACHE_WRITE_SCOPE']).map((r) => r.vars.CIB_CACHE_WRITE_SCOPE);
}

const refs = [...new Set(fc.sample(refArbitrary, { numRuns: 150, seed: 42 }))].filter((r) => r !== 'main');
const otherScopes = scopesOf(refs);

interface Population { readonly images: EcrImage[]; readonly isDefault: (image: EcrImage) => boolean }

/** Images of the default scope (the tags `defaultTags`) and of every other scope, of random ages. */
function population(defaultTags: string[], suffix: (scope: string, n: number) => string, seed: number): Population {
  const ages = fc.sample(fc.integer({ min: 0, max: 60 }), { numRuns: defaultTags.length + otherScopes.length * 3, seed });
  let a = 0;
  const images: EcrImage[] = defaultTags.map((tag) => ({ id: `default:${tag}`, tags: [tag], ageDays: ages[a++] + 300 }));
  otherScopes.forEach((scope, i) => {
    for (let n = 1; n <= 3; n++) images.push({ id: `other:${i}:${n}`, tags: [suffix(scope, n)], ageDays: ages[a++] });
  });
  return { images, isDefault: (image) => image.id.startsWith('default:') };
}

describe('lifecycle rules against the scopes the build writes', () => {
  test('the generated scopes are all distinct from the default scope and its look-alikes reach the rules', () => {
    expect(otherScopes).not.toContain('main');
    expect(otherScopes.filter((s) => s.startsWith('br-main-e')).length).toBeGreaterThan(0);
  });

  test.each([
    ['registry', CacheStrategy.registry(), ['main'], (scope: string) => scope],
    ['inline', CacheStrategy.inline(), ['main-e1', 'main-e2', 'main-e5', 'main-e6'], (scope: string, n: number) => `${scope}-e${n}`],
  ] as const)('%s: the default scope is never expired; every other scope expires after cacheRetention', (_name, cache, defaults, suffix) => {
    // GIVEN
    const rules = rulesOf(cache);
    const { images, isDefault } = population([...defaults], suffix, 1);
    // WHEN
    const expired = expiredImages(rules, images);
    // THEN
    expect(images.filter((i) => isDefault(i) && expired.has(i.id))).toEqual([]);
    const wrong = images.filter((i) => !isDefault(i) && expired.has(i.id) !== i.ageDays > RETENTION_DAYS);
    expect(wrong).toEqual([]);
  });

  test('buildah: one shared namespace of step tags, each expires after cacheRetention (pull requests never write it)', () => {
    const rules = rulesOf(CacheStrategy.buildah());
    const steps = fc.sample(fc.tuple(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 64, maxLength: 64 }), fc.integer({ min: 0, max: 60 })), { numRuns: 200, seed: 3 });
    const images = steps.map(([hash, age], i) => ({ id: `s${i}`, tags: [hash], ageDays: age }));
    const expired = expiredImages(rules, images);
    expect(images.filter((i) => expired.has(i.id) !== i.ageDays > RETENTION_DAYS)).toEqual([]);
  });
});

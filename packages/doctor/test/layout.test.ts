import { createHash } from 'crypto';
import { ImageDetail } from '@aws-sdk/client-ecr';
import * as fc from 'fast-check';
import { constructPolicy } from './construct-policy';
import { BUILDAH_COLD_KEYS, CACHE_CONFIG, DOCKER_IMAGE_CONFIG, DOCKER_MANIFEST, OCI_IMAGE_CONFIG, OCI_INDEX, OCI_MANIFEST } from './fixtures';
import { StrategyName, architecturesInUse, detectStrategy, listScopes, tagEvidence } from '../src/layout';
import { parseLifecyclePolicy } from '../src/lifecycle';
import { scopeName } from '../src/scopes';

/** An image as DescribeImages describes it. */
function image(tags: string[], kind: 'cache' | 'docker' | 'oci' | 'index' | 'unknown', pushedHoursAgo = 1): ImageDetail {
  const types = {
    cache: [OCI_MANIFEST, CACHE_CONFIG],
    docker: [DOCKER_MANIFEST, DOCKER_IMAGE_CONFIG],
    oci: [OCI_MANIFEST, OCI_IMAGE_CONFIG],
    index: [OCI_INDEX, undefined],
    unknown: [undefined, undefined],
  }[kind];
  return {
    imageTags: tags,
    imageManifestMediaType: types[0],
    artifactMediaType: types[1],
    imagePushedAt: new Date(Date.UTC(2026, 2, 10, 12) - pushedHoursAgo * 3_600_000),
  };
}

const rulesOf = (strategy: StrategyName) => parseLifecyclePolicy(constructPolicy({ strategy }));

describe('tagEvidence: which strategy wrote a tag', () => {
  test.each([
    ['main', 'cache', 'registry'],
    ['feature-login', 'cache', 'registry'],
    ['br-hotfix', 'index', 'registry'],
    ['br-hotfix', 'unknown', 'registry'],
    ['br-hotfix', 'docker', undefined],
    ['main-e3', 'docker', 'inline'],
    ['pr-12-arm64-e1', 'oci', 'inline'],
    ['main-e3', 'cache', 'registry'],
    ['latest', 'docker', undefined],
    [BUILDAH_COLD_KEYS[0], 'oci', 'buildah'],
    [BUILDAH_COLD_KEYS[0], 'docker', 'buildah'],
    [BUILDAH_COLD_KEYS[0], 'index', undefined],
    [BUILDAH_COLD_KEYS[0], 'cache', 'registry'],
  ] as const)('%s holding %s: %s', (tag, kind, strategy) => {
    expect(tagEvidence(tag, image([tag], kind), 'main')).toEqual(strategy);
  });
});

describe('detectStrategy', () => {
  test('the tags of one strategy name it, with the evidence', () => {
    const d = detectStrategy([image(['main'], 'cache'), image(['br-hotfix'], 'cache'), image(['latest'], 'docker')], 'main', rulesOf('registry'));
    expect(d).toMatchObject({ strategy: 'registry', source: 'tags', reason: '2 tag(s) hold BuildKit cache manifests (main, br-hotfix)' });
    expect(d.evidence).toEqual({ registry: ['main', 'br-hotfix'], inline: [], buildah: [] });
  });

  test('the tags of several strategies are ambiguous, whatever the policy says', () => {
    const d = detectStrategy([image(['main'], 'cache'), image([BUILDAH_COLD_KEYS[0]], 'oci')], 'main', rulesOf('registry'));
    expect(d.strategy).toBeUndefined();
    expect(d.reason).toEqual('the cache repository holds the tags of several strategies: registry: 1 tag(s) hold BuildKit cache manifests (main); ' +
      'buildah: 1 tag(s) are 64-hex step cache keys (b956768ffafa...)');
  });

  test.each(['registry', 'inline', 'buildah'] as const)('no cache tag yet: the lifecycle policy the construct writes for %s names it', (strategy) => {
    const d = detectStrategy([image(['latest'], 'docker')], 'main', rulesOf(strategy));
    expect(d).toMatchObject({ strategy, source: 'lifecycle-policy' });
    expect(d.reason).toContain(`is the one the construct writes for the ${strategy} strategy`);
  });

  test('no cache tag and a policy of someone else\'s: nothing to go by', () => {
    const rules = parseLifecyclePolicy(JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 5 }, action: { type: 'expire' } }] }));
    for (const d of [detectStrategy([], 'main', rules), detectStrategy([], 'main', undefined)]) {
      expect(d.strategy).toBeUndefined();
      expect(d.source).toEqual('none');
    }
  });

  /** The tags a strategy writes for some refs, as DescribeImages lists them. */
  function repository(strategy: StrategyName, refs: string[], perArch: boolean, steps: number[]): ImageDetail[] {
    const suffix = (scope: string) => (perArch ? [`${scope}-amd64`, `${scope}-arm64`] : [scope]);
    const scopes = ['main', ...refs.map((r, i) => scopeName(['br-', 'tag-', 'pr-br-'][i % 3], r))].flatMap(suffix);
    switch (strategy) {
      case 'registry': return scopes.map((s) => image([s], 'cache'));
      case 'inline': return scopes.flatMap((s) => steps.map((n) => image([`${s}-e${n}`], 'docker')));
      default: return steps.map((n) => image([createHash('sha256').update(`${n}`).digest('hex')], 'oci'));
    }
  }

  test('what a strategy writes is detected as that strategy, per-architecture scopes recognised (property)', () => {
    const ref = fc.string({ minLength: 1, maxLength: 40 });
    fc.assert(fc.property(
      fc.constantFrom<StrategyName>('registry', 'inline', 'buildah'), fc.array(ref, { maxLength: 6 }), fc.boolean(),
      fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
      (strategy, refs, perArch, steps, foreign) => {
        // GIVEN: the strategy's tags, and foreign images with tags no strategy writes
        const others = foreign.map((t) => image([t], 'docker')).filter((i) => tagEvidence(i.imageTags![0], i, 'main') === undefined);
        const images = [...repository(strategy, refs, perArch, steps), ...others];

        // WHEN
        const d = detectStrategy(images, 'main', undefined);

        // THEN
        expect(d.strategy).toEqual(strategy);
        if (strategy !== 'buildah') {
          expect(architecturesInUse(images, strategy, 'main')).toEqual(perArch ? ['amd64', 'arm64'] : []);
          const listing = listScopes(images, strategy, 'main', perArch);
          expect(listing.scopes.length).toEqual(new Set(['main', ...refs.map((r, i) => scopeName(['br-', 'tag-', 'pr-br-'][i % 3], r))]).size * (perArch ? 2 : 1));
          expect(listing.scopes[0].parsed.kind).toEqual('default-branch');
        }
      },
    ), { numRuns: 400, seed: 17 });
  });

  test('any tags and media types from a repository: detection never throws, and its evidence is made of the repository\'s tags (property)', () => {
    const kind = fc.constantFrom<'cache' | 'docker' | 'oci' | 'index' | 'unknown'>('cache', 'docker', 'oci', 'index', 'unknown');
    const tag = fc.oneof(fc.string({ maxLength: 70 }), fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^(main|br-[a-z]{1,5}|pr-[0-9]{1,3})(-e[0-9]{1,3})?$/));
    fc.assert(fc.property(fc.array(fc.tuple(fc.array(tag, { maxLength: 3 }), kind), { maxLength: 12 }), (entries) => {
      const images = entries.map(([tags, k]) => image(tags, k));
      const d = detectStrategy(images, 'main', undefined);
      const all = new Set(entries.flatMap(([tags]) => tags));
      for (const tags of Object.values(d.evidence)) for (const t of tags) expect(all.has(t)).toBe(true);
      const found = Object.entries(d.evidence).filter(([, tags]) => tags.length > 0).map(([s]) => s);
      expect(d.strategy).toEqual(found.length === 1 ? found[0] : undefined);
      for (const s of ['registry', 'inline'] as const) listScopes(images, s, 'main', architecturesInUse(images, s, 'main').length > 0);
    }), { numRuns: 1000, seed: 17 });
  });
});

describe('listScopes', () => {
  test('groups the inline strategy\'s tags by scope, default branch first, then newest first; the rest is other', () => {
    const listing = listScopes([
      image(['br-old-e2'], 'docker', 48),
      image(['main-e8'], 'docker', 72),
      image(['main-e3'], 'docker', 5),
      image(['pr-12-e1'], 'docker', 4),
      image(['latest', 'feature-login-e2'], 'docker', 1),
    ], 'inline', 'main', false);
    expect(listing.scopes.map((s) => [s.scope, s.tags.map((t) => t.tag)])).toEqual([
      ['main', ['main-e3', 'main-e8']],
      ['pr-12', ['pr-12-e1']],
      ['br-old', ['br-old-e2']],
    ]);
    expect(listing.other).toEqual(['feature-login-e2', 'latest']);
  });

  test('a single-architecture scope left from before a switch to per-architecture scopes still reads', () => {
    const listing = listScopes([image(['main-amd64'], 'cache'), image(['main'], 'cache', 30)], 'registry', 'main', true);
    expect(listing.scopes.map((s) => [s.scope, s.parsed.architecture])).toEqual([['main-amd64', 'amd64'], ['main', undefined]]);
  });
});

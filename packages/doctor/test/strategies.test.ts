/**
 * The doctor on each cache strategy's layout: inline `<scope>-e<N>` tags, Buildah's step tags,
 * per-architecture scopes, and repositories whose layout cannot be told.
 */
import { constructPolicy } from './construct-policy';
import {
  BUILDAH_COLD_KEYS,
  CACHE_CONFIG,
  CONSTRUCT_POLICY,
  FEATURE_LOGIN,
  FakeRegistry,
  FakeRepository,
  OCI_INDEX,
  accessDenied,
  buildahRegistry,
  cacheImage,
  daysAgo,
  healthyRegistry,
  hoursAgo,
  inlineImage,
  inlineRegistry,
  mixedRegistry,
  multiArchRegistry,
} from './fixtures';
import { BASE_ARGS, check, doctor, mockedEcr, runCli } from './helpers';

const ecr = mockedEcr();

function changeCache(registry: FakeRegistry, change: (repo: FakeRepository) => FakeRepository): FakeRegistry {
  return { ...registry, repositories: { ...registry.repositories, 'api-cache': change(registry.repositories['api-cache']) } };
}

describe('the inline strategy', () => {
  test('its <scope>-e<N> tags: detected, every tag of the default branch judged, the construct\'s main-e* rule keeps them', async () => {
    // WHEN
    const report = await doctor(ecr, inlineRegistry(), ['--branch', 'feature/login']);

    // THEN
    expect(report.target).toMatchObject({ strategy: 'inline', strategySource: 'tags' });
    expect(check(report, 'cache-layout').summary).toEqual('inline strategy (CacheStrategy.inline()), detected from the tags: ' +
      `4 tag(s) are <scope>-e<N> image tags (main-e8, main-e3, ${FEATURE_LOGIN}-e2, ...)`);
    expect(check(report, 'default-branch-cache')).toMatchObject({
      status: 'pass',
      summary: '2 inline cache tag(s) main-e<N> (N: 3, 8), all imported by each build that reads the scope; the newest, main-e3, pushed 5 hours ago',
    });
    expect(check(report, 'branch-cache')).toMatchObject({ status: 'pass' });
    expect(check(report, 'cache-lifecycle').status).toEqual('pass');
    expect(check(report, 'cache-lifecycle').details[0]).toContain('default-branch cache tags main-e3, main-e8: rule 1');
    expect(check(report, 'cache-scopes').details).toEqual(expect.arrayContaining([
      expect.stringMatching(/^main: default branch main, 2 tag\(s\) \(e3, e8\), pushed 5 hours ago; kept|keeps/),
      expect.stringMatching(/^pr-12: pull request #12, 1 tag\(s\) \(e1\), pushed 4 hours ago; rule 3 expires it 14 day\(s\) after its last push/),
    ]));
  });

  test('no default-branch tag fails; a missing branch tag warns', async () => {
    const registry = changeCache(inlineRegistry(), (r) => ({ ...r, images: r.images!.filter((i) => !i.tags[0].startsWith('main-')) }));
    const report = await doctor(ecr, registry, ['--branch', 'payments']);
    expect(check(report, 'default-branch-cache')).toMatchObject({
      status: 'fail',
      summary: 'no inline cache tag main-e<N>: builds of new branches and the next main build start cold',
    });
    expect(check(report, 'branch-cache')).toMatchObject({
      status: 'warn',
      summary: 'no inline cache tag br-payments-e<N>: the branch\'s builds import only the default branch\'s cache (main-e<N>)',
    });
  });

  test('the registry strategy\'s policy on an inline repository fails: rule 1 keeps main, not main-e*', async () => {
    const registry = changeCache(inlineRegistry(), (r) => ({ ...r, lifecyclePolicyText: CONSTRUCT_POLICY }));
    const c = check(await doctor(ecr, registry), 'cache-lifecycle');
    expect(c.status).toEqual('fail');
    expect(c.summary).toEqual('the lifecycle policy would remove the default-branch cache (main-e3, main-e8): then every new branch and the next default-branch build start cold');
    expect(c.fix).toContain('`{"tagStatus": "tagged", "tagPatternList": ["main-e*"], "countType": "imageCountMoreThan", "countNumber": 1000}`');
  });

  test('a BuildKit cache manifest at an inline tag fails (with --strategy: the contents are ambiguous)', async () => {
    const registry = changeCache(inlineRegistry(), (r) => ({
      ...r,
      images: [...r.images!.filter((i) => i.tags[0] !== 'main-e8'), cacheImage('main-e8', daysAgo(1))],
    }));
    const noStrategy = await doctor(ecr, registry);
    expect(check(noStrategy, 'cache-layout').status).toEqual('error');

    ecr.reset();
    const report = await doctor(ecr, registry, ['--strategy', 'inline']);
    expect(check(report, 'cache-layout')).toMatchObject({ status: 'pass', summary: 'inline strategy (CacheStrategy.inline()), as --strategy says' });
    expect(check(report, 'default-branch-cache')).toMatchObject({ status: 'fail' });
    expect(check(report, 'default-branch-cache').summary).toContain(`main-e8 hold(s) a BuildKit registry cache manifest (config ${CACHE_CONFIG})`);
  });

  test('an archived inline tag: warn when others remain, fail when all are archived', async () => {
    const some = changeCache(inlineRegistry(), (r) => ({ ...r, images: [...r.images!.slice(1), inlineImage('main-e8', daysAgo(3), { status: 'ARCHIVED' })] }));
    expect(check(await doctor(ecr, some), 'default-branch-cache').status).toEqual('warn');
    ecr.reset();
    const all = changeCache(inlineRegistry(), (r) => ({ ...r, images: [inlineImage('main-e8', daysAgo(3), { status: 'ARCHIVED' })] }));
    expect(check(await doctor(ecr, all), 'default-branch-cache').status).toEqual('fail');
  });

  test('an image index at an inline tag (a containerd image store\'s push) passes, said so', async () => {
    const registry = changeCache(inlineRegistry(), (r) => ({
      ...r,
      images: [...r.images!.filter((i) => i.tags[0] !== 'main-e8'), inlineImage('main-e8', daysAgo(3), { mediaType: OCI_INDEX, artifactMediaType: undefined })],
    }));
    const c = check(await doctor(ecr, registry), 'default-branch-cache');
    expect(c.status).toEqual('pass');
    expect(c.details).toContain('an image index: BuildKit reads the inline cache from the image config of the build\'s platform');
  });

  test('immutable tags fail: the re-push of <scope>-e<N> is refused', async () => {
    const registry = changeCache(inlineRegistry(), (r) => ({ ...r, imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', exclusionFilters: ['main-e*'] }));
    const c = check(await doctor(ecr, registry, ['--branch', 'hotfix']), 'cache-tag-mutability');
    expect(c.status).toEqual('fail');
    // No tag of br-hotfix yet: its first one is what the filters must cover.
    expect(c.summary).toContain('no exclusion filter matches the cache tag(s) br-hotfix-e1');
  });
});

describe('the buildah strategy', () => {
  test('its step tags: detected, a step cache check, no branch scopes', async () => {
    // WHEN
    const report = await doctor(ecr, buildahRegistry(), ['--branch', 'feature/login']);

    // THEN
    expect(report.target).toMatchObject({ strategy: 'buildah', strategySource: 'tags' });
    expect(report.checks.map((c) => c.id)).toEqual([
      'app-repository', 'cache-repository', 'cache-layout', 'cache-tag-mutability', 'cache-lifecycle', 'cache-scan-on-push',
      'step-cache', 'branch-cache', 'cache-scopes', 'app-provenance',
    ]);
    expect(check(report, 'step-cache')).toMatchObject({
      status: 'pass',
      summary: '9 step cache tag(s), the newest pushed 5 hours ago, the oldest 2 days ago',
    });
    expect(check(report, 'step-cache').details[1]).toEqual(`oldest: ${BUILDAH_COLD_KEYS[6]}: OCI image manifest ` +
      '(application/vnd.oci.image.manifest.v1+json), 2.0 MiB, pushed 2026-03-08T11:54:00Z (2 days ago)');
    expect(check(report, 'branch-cache')).toMatchObject({ status: 'skip' });
    expect(check(report, 'cache-scopes')).toMatchObject({ status: 'skip' });
    expect(check(report, 'cache-lifecycle')).toMatchObject({
      status: 'pass',
      title: 'Lifecycle rules and the step cache',
      summary: 'step tags expire 14 day(s) after their push, whichever branch uses them: a step unchanged for longer is rebuilt (and pushed again) once',
    });
  });

  test('archived step tags and step tags that hold no image warn', async () => {
    const registry = changeCache(buildahRegistry(), (r) => ({
      ...r,
      images: [
        ...r.images!.slice(2),
        { ...r.images![0], status: 'ARCHIVED' as const },
        { ...r.images![1], mediaType: OCI_INDEX, artifactMediaType: undefined },
      ],
    }));
    const c = check(await doctor(ecr, registry, ['--strategy', 'buildah']), 'step-cache');
    expect(c).toMatchObject({
      status: 'warn',
      summary: '1 step tag(s) hold no image (a BuildKit cache manifest or an index), which Buildah cannot use; ' +
        '1 step tag(s) are archived and cannot be pulled: those steps are rebuilt',
    });
  });

  test('immutable tags only warn: the export fails, and the construct builds again without it', async () => {
    const registry = changeCache(buildahRegistry(), (r) => ({ ...r, imageTagMutability: 'IMMUTABLE' }));
    const c = check(await doctor(ecr, registry), 'cache-tag-mutability');
    expect(c.status).toEqual('warn');
    expect(c.summary).toContain('an immutable tag refuses the re-push');
  });

  test('no step tag yet: the construct\'s Buildah policy names the strategy, and the step cache fails', async () => {
    const registry = changeCache(buildahRegistry(), (r) => ({ ...r, images: [] }));
    const report = await doctor(ecr, registry);
    expect(report.target).toMatchObject({ strategy: 'buildah', strategySource: 'lifecycle-policy' });
    expect(check(report, 'step-cache')).toMatchObject({ status: 'fail', summary: 'no step cache tag (a 64-hex cache key): every build starts cold' });
    expect(check(report, 'cache-lifecycle').details[0]).toContain('step tag <cache key> (none yet): rule 3');
  });

  test('a count rule that expires step tags already warns', async () => {
    const registry = changeCache(buildahRegistry(), (r) => ({
      ...r,
      lifecyclePolicyText: JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 5 }, action: { type: 'expire' } }] }),
    }));
    const c = check(await doctor(ecr, registry, ['--strategy', 'buildah']), 'cache-lifecycle');
    expect(c.status).toEqual('warn');
    expect(c.details[0]).toContain('it selects 9 now: the oldest 4 go');
  });
});

describe('per-architecture scopes', () => {
  test('detected from the default branch\'s scope: one default-branch and one branch check per architecture', async () => {
    const report = await doctor(ecr, multiArchRegistry(), ['--branch', 'feature/login']);
    expect(report.target.architectures).toEqual(['amd64', 'arm64']);
    expect(check(report, 'default-branch-cache-amd64')).toMatchObject({ status: 'pass', title: 'Default-branch cache (main, amd64)' });
    expect(check(report, 'default-branch-cache-arm64')).toMatchObject({ status: 'pass', title: 'Default-branch cache (main, arm64)' });
    expect(check(report, 'branch-cache-amd64')).toMatchObject({ status: 'pass' });
    expect(check(report, 'branch-cache-arm64')).toMatchObject({
      status: 'warn',
      summary: `no cache manifest at tag ${FEATURE_LOGIN}-arm64: the branch's builds import only the default branch's cache (main-arm64)`,
    });
    expect(check(report, 'cache-scopes').details).toContain(`${FEATURE_LOGIN}-amd64: branch feature/login (--branch), amd64, pushed 1 hour ago; ` +
      'rule 4 expires it 14 day(s) after its last push: in 14 day(s)');
  });

  test('an architecture whose default-branch cache is missing is checked too', async () => {
    const registry = changeCache(multiArchRegistry(), (r) => ({ ...r, images: r.images!.filter((i) => i.tags[0] !== 'main-arm64') }));
    const report = await doctor(ecr, registry);
    expect(check(report, 'default-branch-cache-arm64')).toMatchObject({ status: 'fail', summary: expect.stringContaining('no cache manifest at tag main-arm64') });
  });

  test('the inline strategy\'s per-architecture tags <scope>-<arch>-e<N>: a rule for main-e* does not keep main-amd64-e3', async () => {
    const registry = changeCache(inlineRegistry(), (r) => ({
      ...r,
      images: [inlineImage('main-amd64-e3', hoursAgo(5)), inlineImage('main-arm64-e2', hoursAgo(5)), inlineImage('pr-12-arm64-e1', hoursAgo(2))],
    }));
    const report = await doctor(ecr, registry);
    expect(report.target).toMatchObject({ strategy: 'inline', architectures: ['amd64', 'arm64'] });
    expect(check(report, 'default-branch-cache-arm64')).toMatchObject({ status: 'pass', summary: expect.stringContaining('1 inline cache tag(s) main-arm64-e<N> (N: 2)') });
    expect(check(report, 'cache-lifecycle')).toMatchObject({ status: 'fail', fix: expect.stringContaining('"tagPatternList": ["main-amd64-e*"]') });
    expect(check(report, 'cache-scopes').details).toContain('pr-12-arm64: pull request #12, arm64, 1 tag(s) (e1), pushed 2 hours ago; ' +
      'rule 3 expires it 14 day(s) after its last push: in 14 day(s)');
  });

  test('without a per-architecture default-branch scope, -amd64 is part of a branch name', async () => {
    const registry = changeCache(healthyRegistry(), (r) => ({ ...r, images: [...r.images!, cacheImage('br-build-amd64', hoursAgo(1))] }));
    const report = await doctor(ecr, registry);
    expect(report.target.architectures).toEqual([]);
    expect(check(report, 'cache-scopes').details).toContain('br-build-amd64: branch build-amd64, pushed 1 hour ago; rule 3 expires it 14 day(s) after its last push: in 14 day(s)');
  });
});

describe('a layout that cannot be told', () => {
  test('the tags of two strategies: exit 2, the reason, and a request for --strategy', async () => {
    const run = await runCli(ecr, mixedRegistry(), [...BASE_ARGS, '--json']);
    expect(run.code).toEqual(2);
    const out = JSON.parse(run.stdout);
    expect(out.target).toMatchObject({ strategySource: 'tags' });
    expect(out.target.strategy).toBeUndefined();
    const layout = out.checks.find((c: { id: string }) => c.id === 'cache-layout');
    expect(layout.status).toEqual('error');
    expect(layout.summary).toContain('cannot tell the cache strategy: the cache repository holds the tags of several strategies');
    expect(layout.fix).toEqual('pass --strategy registry|inline|buildah: the construct\'s cacheStrategy prop (CacheStrategy.registry() is the default)');
    for (const id of ['cache-tag-mutability', 'cache-lifecycle', 'default-branch-cache', 'branch-cache']) {
      expect(out.checks.find((c: { id: string }) => c.id === id).status).toEqual('skip');
    }
  });

  test('with --strategy the same repository is checked, the other strategy\'s tags named', async () => {
    const report = await doctor(ecr, mixedRegistry(), ['--strategy', 'buildah']);
    expect(check(report, 'cache-layout')).toMatchObject({ status: 'pass', summary: 'buildah strategy (CacheStrategy.buildah()), as --strategy says' });
    expect(check(report, 'cache-layout').details).toEqual(expect.arrayContaining([expect.stringContaining('the contents: the cache repository holds the tags of several strategies')]));
    expect(check(report, 'step-cache').status).toEqual('pass');
  });

  test('--strategy naming another strategy than the tags show warns', async () => {
    const report = await doctor(ecr, healthyRegistry(), ['--strategy', 'inline']);
    expect(check(report, 'cache-layout')).toMatchObject({
      status: 'warn',
      summary: expect.stringMatching(/^--strategy inline, but the cache repository holds the registry strategy's tags: 5 tag\(s\) hold BuildKit cache manifests/),
      fix: expect.stringContaining('for CacheStrategy.registry() pass --strategy registry'),
    });
  });

  test('an empty cache repository without a policy: exit 2, asking for --strategy', async () => {
    const registry = changeCache(healthyRegistry(), (r) => ({ ...r, images: [], lifecyclePolicyText: undefined }));
    const report = await doctor(ecr, registry);
    expect(check(report, 'cache-layout')).toMatchObject({
      status: 'error',
      summary: 'cannot tell the cache strategy: the cache repository holds no tag that a cache strategy of the construct writes, and its lifecycle policy is not one the construct writes',
    });
    expect(report.target.strategySource).toEqual('none');
  });

  test('no ecr:DescribeImages on the cache repository: the policy, else --strategy, names the strategy; without either an error', async () => {
    const registry = { ...healthyRegistry(), errors: { 'DescribeImages:api-cache': accessDenied('ecr:DescribeImages', 'api-cache') } };
    const byPolicy = await doctor(ecr, registry);
    expect(check(byPolicy, 'cache-layout')).toMatchObject({ status: 'pass', summary: expect.stringContaining('detected from the lifecycle policy: the tags could not be listed (access denied') });

    ecr.reset();
    const without = await doctor(ecr, changeCache(registry, (r) => ({ ...r, lifecyclePolicyText: undefined })));
    expect(check(without, 'cache-layout')).toMatchObject({ status: 'error', fix: expect.stringContaining('or allow ecr:DescribeImages') });

    ecr.reset();
    const report = await doctor(ecr, registry, ['--strategy', 'registry']);
    expect(check(report, 'cache-layout').status).toEqual('pass');
    expect(check(report, 'cache-layout').summary).toContain('as --strategy says (the tags could not be listed');
    expect(check(report, 'default-branch-cache').status).toEqual('error');
  });

  test('tags no strategy writes are listed apart', async () => {
    const registry = changeCache(healthyRegistry(), (r) => ({
      ...r,
      images: [...r.images!, cacheImage('feature-login', daysAgo(40)), { ...inlineImage('latest', daysAgo(1)) }],
    }));
    const c = check(await doctor(ecr, registry), 'cache-scopes');
    expect(c.details[c.details.length - 1]).toEqual('2 other tag(s), not a scope of the registry layout (pushed by something else, or by a construct ' +
      'version before event-aware scopes): feature-login, latest');
  });

  test('the construct\'s inline policy names the strategy of an empty repository', async () => {
    const registry = changeCache(healthyRegistry(), (r) => ({ ...r, images: [], lifecyclePolicyText: constructPolicy({ strategy: 'inline' }) }));
    const report = await doctor(ecr, registry);
    expect(check(report, 'cache-layout').summary).toEqual('inline strategy (CacheStrategy.inline()), detected from the lifecycle policy: no cache tag yet; ' +
      'lifecycle rule 1 ("Never expire the default branch cache (main-e*)") is the one the construct writes for the inline strategy');
  });
});

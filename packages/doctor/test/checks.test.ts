import { BatchGetImageCommand } from '@aws-sdk/client-ecr';
import {
  CACHE_CONFIG,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  FEATURE_LOGIN,
  FakeRegistry,
  OCI_INDEX,
  accessDenied,
  appImage,
  cacheImage,
  cacheIndex,
  cacheManifest,
  daysAgo,
  dockerImageManifest,
  healthyRegistry,
  hoursAgo,
  multiPlatformIndex,
  provenanceIndex,
} from './fixtures';
import { check, doctor, mockedEcr } from './helpers';
import { scopeName } from '../src/scopes';

const ecr = mockedEcr();

/** The healthy registry with the cache repository changed. */
function withCache(change: (repo: FakeRegistry['repositories'][string]) => FakeRegistry['repositories'][string]): FakeRegistry {
  const registry = healthyRegistry();
  return { ...registry, repositories: { ...registry.repositories, 'api-cache': change(registry.repositories['api-cache']) } };
}

function withApp(change: (repo: FakeRegistry['repositories'][string]) => FakeRegistry['repositories'][string]): FakeRegistry {
  const registry = healthyRegistry();
  return { ...registry, repositories: { ...registry.repositories, api: change(registry.repositories.api) } };
}

function policy(...rules: object[]): string {
  return JSON.stringify({ rules: rules.map((r, i) => ({ rulePriority: i + 1, action: { type: 'expire' }, ...r })) });
}

describe('repositories exist', () => {
  test('both repositories found: pass, with their URIs', async () => {
    // WHEN
    const report = await doctor(ecr, healthyRegistry());

    // THEN
    expect(check(report, 'app-repository')).toMatchObject({ status: 'pass', summary: "application repository 'api' exists" });
    expect(check(report, 'app-repository').details).toEqual(['URI: 123456789012.dkr.ecr.us-east-1.amazonaws.com/api']);
    expect(check(report, 'cache-repository')).toMatchObject({ status: 'pass', summary: "cache repository 'api-cache' exists" });
  });

  test('a missing cache repository fails, and the checks that need it are skipped', async () => {
    // GIVEN
    const registry = healthyRegistry();
    delete (registry.repositories as Record<string, unknown>)['api-cache'];

    // WHEN
    const report = await doctor(ecr, registry, ['--branch', 'feature/login']);

    // THEN
    expect(check(report, 'cache-repository')).toMatchObject({
      status: 'fail',
      summary: "cache repository 'api-cache' does not exist in region us-east-1",
    });
    for (const id of ['cache-tag-mutability', 'cache-lifecycle', 'cache-scan-on-push', 'default-branch-cache', 'branch-cache']) {
      expect(check(report, id)).toMatchObject({ status: 'skip', summary: "skipped: the cache repository 'api-cache' does not exist" });
    }
    expect(check(report, 'app-provenance').status).toEqual('pass');
  });

  test('a missing application repository fails, and the provenance check is skipped', async () => {
    // GIVEN
    const registry = healthyRegistry();
    delete (registry.repositories as Record<string, unknown>).api;

    // WHEN
    const report = await doctor(ecr, registry);

    // THEN
    expect(check(report, 'app-repository')).toMatchObject({ status: 'fail', summary: "application repository 'api' does not exist in region us-east-1" });
    expect(check(report, 'app-provenance').status).toEqual('skip');
    expect(check(report, 'default-branch-cache').status).toEqual('pass');
  });

  test('the cache in the application repository itself is a warning', async () => {
    // WHEN
    const report = await doctor(ecr, healthyRegistry(), ['--cache-repository', 'api']);

    // THEN
    expect(check(report, 'cache-repository').status).toEqual('warn');
    expect(check(report, 'cache-repository').summary).toContain('the cache repository is the application repository');
  });
});

describe('cache tags are mutable', () => {
  test('MUTABLE passes', async () => {
    const report = await doctor(ecr, healthyRegistry());
    expect(check(report, 'cache-tag-mutability')).toMatchObject({ status: 'pass', summary: 'MUTABLE: every build can overwrite its cache tag' });
  });

  test('IMMUTABLE fails: the cache never refreshes', async () => {
    // WHEN
    const report = await doctor(ecr, withCache((r) => ({ ...r, imageTagMutability: 'IMMUTABLE' })));

    // THEN
    const c = check(report, 'cache-tag-mutability');
    expect(c.status).toEqual('fail');
    expect(c.summary).toContain('the cache never refreshes');
    expect(c.fix).toEqual('make the cache tags mutable: `aws ecr put-image-tag-mutability --repository-name api-cache --image-tag-mutability MUTABLE`');
  });

  test('IMMUTABLE_WITH_EXCLUSION passes when the exclusion filters cover the cache tags', async () => {
    // WHEN
    const report = await doctor(ecr, withCache((r) => ({ ...r, imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', exclusionFilters: ['main', 'br-*'] })),
      ['--branch', 'feature/login']);

    // THEN
    const c = check(report, 'cache-tag-mutability');
    expect(c.status).toEqual('pass');
    expect(c.summary).toContain(`make the cache tags main, ${FEATURE_LOGIN} mutable`);
    expect(c.details).toContain('exclusion filters (mutable tags): main, br-*');
  });

  test('IMMUTABLE_WITH_EXCLUSION fails naming the cache tags no filter matches', async () => {
    // WHEN
    const report = await doctor(ecr, withCache((r) => ({ ...r, imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', exclusionFilters: ['main'] })),
      ['--branch', 'feature/login']);

    // THEN
    const c = check(report, 'cache-tag-mutability');
    expect(c.status).toEqual('fail');
    expect(c.summary).toContain(`no exclusion filter matches the cache tag(s) ${FEATURE_LOGIN}`);
  });

  test('MUTABLE_WITH_EXCLUSION fails when a filter makes a cache tag immutable, passes otherwise', async () => {
    const bad = await doctor(ecr, withCache((r) => ({ ...r, imageTagMutability: 'MUTABLE_WITH_EXCLUSION', exclusionFilters: ['ma*'] })));
    expect(check(bad, 'cache-tag-mutability').status).toEqual('fail');
    expect(check(bad, 'cache-tag-mutability').summary).toContain('make the cache tag(s) main immutable');

    ecr.reset();
    const good = await doctor(ecr, withCache((r) => ({ ...r, imageTagMutability: 'MUTABLE_WITH_EXCLUSION', exclusionFilters: ['v*'] })));
    expect(check(good, 'cache-tag-mutability').status).toEqual('pass');
  });
});

describe('lifecycle rules keep the default-branch cache', () => {
  test("the construct's own policy passes: rule 1 protects main by its exact tag", async () => {
    // WHEN
    const report = await doctor(ecr, healthyRegistry(), ['--branch', 'feature/login']);

    // THEN
    const c = check(report, 'cache-lifecycle');
    expect(c).toMatchObject({ status: 'pass', summary: 'no rule would expire the default-branch cache (main)' });
    expect(c.details[0]).toContain("rule 1 (\"Never expire the default branch cache (main)\") selects it by its exact tag 'main'");
    expect(c.details[1]).toContain(`branch cache tag ${FEATURE_LOGIN}: rule 3 ("Expire other branches' caches 14 days after their last push")`);
  });

  test('no lifecycle policy (LifecyclePolicyNotFoundException) passes', async () => {
    const report = await doctor(ecr, withCache((r) => ({ ...r, lifecyclePolicyText: undefined })));
    expect(check(report, 'cache-lifecycle')).toMatchObject({ status: 'pass', summary: 'no lifecycle policy: nothing expires the default-branch cache (main)' });
  });

  test('an age rule over every image fails, saying when the cache goes', async () => {
    // GIVEN: main's cache was pushed 6 days ago, the rule expires after 7
    const registry = withCache((r) => ({
      ...r,
      lifecyclePolicyText: policy({ description: 'Expire images older than 7 days', selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 } }),
      images: [cacheImage('main', daysAgo(6))],
    }));

    // WHEN
    const report = await doctor(ecr, registry);

    // THEN
    const c = check(report, 'cache-lifecycle');
    expect(c.status).toEqual('fail');
    expect(c.details).toContain('the default-branch cache was pushed 6 day(s) ago: it goes if the default branch is not built in the next 1 day(s)');
    expect(c.fix).toContain('"tagPatternList": ["main"]');
  });

  test('an age rule says when the cache is already due', async () => {
    const registry = withCache((r) => ({
      ...r,
      lifecyclePolicyText: policy({ selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 3 } }),
      images: [cacheImage('main', daysAgo(4))],
    }));
    const report = await doctor(ecr, registry);
    expect(check(report, 'cache-lifecycle').details).toContain('the default-branch cache was pushed 4 day(s) ago: it is due now (ECR acts within 24 hours)');
  });

  test('a count rule over a wildcard that matches other branches fails', async () => {
    const registry = withCache((r) => ({
      ...r,
      lifecyclePolicyText: policy({ selection: { tagStatus: 'tagged', tagPatternList: ['*'], countType: 'imageCountMoreThan', countNumber: 10 } }),
    }));
    const report = await doctor(ecr, registry);
    const c = check(report, 'cache-lifecycle');
    expect(c.status).toEqual('fail');
    expect(c.details[0]).toContain('keeps only the 10 most recently pushed image(s) it selects');
  });

  test('a count rule that only the default tag matches keeps it while it selects few enough images (scopes of other refs start br-, pr-, tag-)', async () => {
    const registry = withCache((r) => ({
      ...r,
      lifecyclePolicyText: policy({ selection: { tagStatus: 'tagged', tagPrefixList: ['ma'], countType: 'imageCountMoreThan', countNumber: 3 } }),
    }));
    const report = await doctor(ecr, registry);
    const c = check(report, 'cache-lifecycle');
    expect(c.status).toEqual('pass');
    expect(c.details[0]).toContain("rule 1 selects it (tagged prefixes [ma]) and keeps the 3 most recently pushed image(s) it selects; it selects 1 now, and no other scope's tag: none is expired yet");
  });

  test('a count rule that other scopes match too fails, whatever it selects now', async () => {
    const registry = withCache((r) => ({
      ...r,
      lifecyclePolicyText: policy({ selection: { tagStatus: 'tagged', tagPatternList: ['*r*'], countType: 'imageCountMoreThan', countNumber: 50 } }),
      images: [cacheImage('trunk', hoursAgo(2))],
    }));
    const report = await doctor(ecr, registry, ['--default-branch', 'trunk']);
    expect(check(report, 'cache-lifecycle').status).toEqual('fail');
  });

  test('a higher-priority rule that selects main protects it from a lower-priority age rule', async () => {
    // GIVEN: rule 5 selects main* (keeps 100), rule 9 expires everything after 2 days
    const registry = withCache((r) => ({
      ...r,
      lifecyclePolicyText: JSON.stringify({
        rules: [
          { rulePriority: 9, selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 2 }, action: { type: 'expire' } },
          { rulePriority: 5, selection: { tagStatus: 'tagged', tagPatternList: ['main'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
        ],
      }),
      images: [cacheImage('main', daysAgo(30))],
    }));

    // WHEN
    const report = await doctor(ecr, registry);

    // THEN
    expect(check(report, 'cache-lifecycle').status).toEqual('pass');
    expect(check(report, 'cache-lifecycle').details[0]).toContain('rule 5 selects it by its exact tag');
  });

  test('rules for untagged images or other tags do not touch the default-branch cache', async () => {
    const registry = withCache((r) => ({
      ...r,
      lifecyclePolicyText: policy(
        { selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 } },
        { selection: { tagStatus: 'tagged', tagPatternList: ['feature-*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 } },
      ),
    }));
    const report = await doctor(ecr, registry);
    expect(check(report, 'cache-lifecycle')).toMatchObject({ status: 'pass' });
    expect(check(report, 'cache-lifecycle').details[0]).toContain('no lifecycle rule selects it');
  });

  test('a rule that archives the default-branch cache fails', async () => {
    const registry = withCache((r) => ({
      ...r,
      lifecyclePolicyText: JSON.stringify({
        rules: [{
          rulePriority: 1,
          selection: { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 },
          action: { type: 'transition', targetStorageClass: 'archive' },
        }],
      }),
    }));
    const report = await doctor(ecr, registry);
    const c = check(report, 'cache-lifecycle');
    expect(c.status).toEqual('fail');
    expect(c.details[0]).toContain('archives it (an archived manifest cannot be pulled) 30 day(s) after its last pull');
    expect(c.details).toContain('last recorded pull: 2026-03-10T10:00:00Z (2 hours ago)');
  });

  test('a policy text that is not a policy cannot be checked', async () => {
    const report = await doctor(ecr, withCache((r) => ({ ...r, lifecyclePolicyText: '{"rules": "none"}' })));
    expect(check(report, 'cache-lifecycle')).toMatchObject({ status: 'error', summary: 'could not check: the lifecycle policy text has no "rules" list' });
  });
});

describe('scan on push', () => {
  test('off passes', async () => {
    const report = await doctor(ecr, healthyRegistry());
    expect(check(report, 'cache-scan-on-push')).toMatchObject({ status: 'pass', summary: 'scan on push is off' });
  });

  test('on warns: scans of cache manifests are wasted', async () => {
    const report = await doctor(ecr, withCache((r) => ({ ...r, scanOnPush: true })));
    const c = check(report, 'cache-scan-on-push');
    expect(c.status).toEqual('warn');
    expect(c.summary).toContain('the scans are wasted');
    expect(c.fix).toEqual('turn it off: `aws ecr put-image-scanning-configuration --repository-name api-cache --image-scanning-configuration scanOnPush=false`');
  });
});

describe('default-branch cache manifest', () => {
  test('a BuildKit cache manifest passes, with its age, size, media types and layers', async () => {
    // WHEN
    const report = await doctor(ecr, healthyRegistry());

    // THEN
    const c = check(report, 'default-branch-cache');
    expect(c.status).toEqual('pass');
    expect(c.summary).toEqual(`tag main holds a BuildKit cache manifest (OCI image manifest, config ${CACHE_CONFIG}), pushed 5 hours ago`);
    expect(c.details).toEqual(expect.arrayContaining([
      'tags: main',
      'pushed: 2026-03-10T07:00:00Z (5 hours ago)',
      'size: 179.0 MiB',
      'manifest: OCI image manifest (application/vnd.oci.image.manifest.v1+json)',
      `config: ${CACHE_CONFIG}`,
      'layers: 6',
    ]));
  });

  test('asks BatchGetImage for the manifest with every manifest media type accepted', async () => {
    // WHEN
    await doctor(ecr, healthyRegistry());

    // THEN
    const calls = ecr.commandCalls(BatchGetImageCommand);
    expect(calls[0].args[0].input).toMatchObject({
      repositoryName: 'api-cache',
      acceptedMediaTypes: expect.arrayContaining([
        'application/vnd.oci.image.manifest.v1+json',
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_LIST,
      ]),
    });
  });

  test('a missing default-branch cache fails: new branches start cold', async () => {
    const report = await doctor(ecr, withCache((r) => ({ ...r, images: [] })));
    const c = check(report, 'default-branch-cache');
    expect(c.status).toEqual('fail');
    expect(c.summary).toEqual('no cache manifest at tag main: builds of new branches and the next main build start cold');
  });

  test.each([
    ['an OCI image index (exported without image-manifest=true)', OCI_INDEX, cacheIndex('main'), 'BuildKit\'s cache index format, exported without image-manifest=true'],
    ['a Docker manifest list (the legacy cache format)', DOCKER_LIST, cacheIndex('main').replace(OCI_INDEX, DOCKER_LIST), `a Docker manifest list (${DOCKER_LIST})`],
    ['a runnable image', DOCKER_MANIFEST, dockerImageManifest('main'), 'holds a runnable image'],
  ])('%s fails and is named as the cause', async (_what, mediaType, manifest, expected) => {
    // GIVEN
    const registry = withCache((r) => ({ ...r, images: [cacheImage('main', hoursAgo(5), { mediaType, manifest, artifactMediaType: undefined })] }));

    // WHEN
    const report = await doctor(ecr, registry);

    // THEN
    const c = check(report, 'default-branch-cache');
    expect(c.status).toEqual('fail');
    expect(c.summary).toContain(expected);
  });

  test('a cache manifest without layers fails', async () => {
    const registry = withCache((r) => ({ ...r, images: [cacheImage('main', hoursAgo(5), { manifest: cacheManifest('main', 0) })] }));
    const report = await doctor(ecr, registry);
    expect(check(report, 'default-branch-cache').summary).toContain('the cache manifest has no layers');
  });

  test('an archived cache manifest fails', async () => {
    const registry = withCache((r) => ({ ...r, images: [cacheImage('main', daysAgo(40), { status: 'ARCHIVED' })] }));
    const report = await doctor(ecr, registry);
    expect(check(report, 'default-branch-cache')).toMatchObject({ status: 'fail' });
    expect(check(report, 'default-branch-cache').summary).toContain('is archived: archived images cannot be pulled');
  });

  test('without ecr:BatchGetImage the verdict comes from DescribeImages (artifactMediaType)', async () => {
    // GIVEN
    const registry = { ...healthyRegistry(), errors: { BatchGetImage: accessDenied('ecr:BatchGetImage', 'api-cache') } };

    // WHEN
    const report = await doctor(ecr, registry);

    // THEN
    const c = check(report, 'default-branch-cache');
    expect(c.status).toEqual('pass');
    expect(c.details.some((d) => d.startsWith('could not read the manifest (access denied: the caller is not allowed ecr:BatchGetImage'))).toBe(true);
  });

  test('--default-branch names another default branch, mapped to a tag', async () => {
    const registry = withCache((r) => ({ ...r, images: [cacheImage('release-2.x', hoursAgo(3))] }));
    const report = await doctor(ecr, registry, ['--default-branch', 'refs/heads/release/2.x']);
    expect(check(report, 'default-branch-cache')).toMatchObject({ status: 'pass', title: 'Default-branch cache (refs/heads/release/2.x)' });
    expect(report.target.defaultBranchTag).toEqual('release-2.x');
  });
});

describe('branch cache manifest', () => {
  test('without --branch it is skipped', async () => {
    const report = await doctor(ecr, healthyRegistry());
    expect(check(report, 'branch-cache')).toMatchObject({ status: 'skip', summary: 'no --branch given' });
  });

  test('the branch is mapped to its scope br-<branch> (here hashed: / is no tag character) and its cache passes', async () => {
    const report = await doctor(ecr, healthyRegistry(), ['--branch', 'refs/heads/feature/login']);
    const c = check(report, 'branch-cache');
    expect(c.status).toEqual('pass');
    expect(FEATURE_LOGIN).toEqual('br-feature-login-hdf7c7aeb3560');
    expect(c.summary).toContain(`tag ${FEATURE_LOGIN} holds a BuildKit cache manifest`);
    expect(c.details).toContain('size: 182.3 MiB');
  });

  test('a missing branch cache warns: only the default branch cache is imported', async () => {
    const report = await doctor(ecr, healthyRegistry(), ['--branch', 'payments']);
    const c = check(report, 'branch-cache');
    expect(c.status).toEqual('warn');
    expect(c.summary).toEqual('no cache manifest at tag br-payments: the branch\'s builds import only the default branch\'s cache (main)');
  });

  test('a branch with the default branch tag is checked once', async () => {
    const report = await doctor(ecr, healthyRegistry(), ['--branch', 'refs/heads/main']);
    expect(check(report, 'branch-cache')).toMatchObject({ status: 'skip', summary: "'refs/heads/main' is the default branch: its cache scope main is checked above" });
  });

  test('a ref with no name left names no branch: such a build writes no cache', async () => {
    const report = await doctor(ecr, healthyRegistry(), ['--branch', 'refs/heads/']);
    expect(check(report, 'branch-cache').summary).toEqual("'refs/heads/' names no branch: such a build writes no cache and reads the default branch's (main)");
  });

  test('a branch cache of the wrong type fails', async () => {
    const registry = withCache((r) => ({
      ...r,
      images: [...(r.images ?? []), cacheImage(scopeName('br-', 'feature/x'), hoursAgo(1), { mediaType: OCI_INDEX, manifest: cacheIndex('feature-x'), artifactMediaType: undefined })],
    }));
    const report = await doctor(ecr, registry, ['--branch', 'feature/x']);
    expect(check(report, 'branch-cache').status).toEqual('fail');
  });
});

describe('provenance indexes in the application repository', () => {
  test('single image manifests pass', async () => {
    const report = await doctor(ecr, healthyRegistry());
    const c = check(report, 'app-provenance');
    expect(c).toMatchObject({ status: 'pass', summary: 'the 3 newest tagged images are single image manifests' });
    expect(c.details).toEqual(['inspected the 3 newest of 3 tagged images']);
  });

  test('indexes with attestation manifests warn: Lambda rejects them', async () => {
    // GIVEN
    const registry = withApp((r) => ({
      ...r,
      images: [
        appImage(['3f9c2d1', 'latest'], hoursAgo(5), { mediaType: OCI_INDEX, artifactMediaType: undefined, manifest: provenanceIndex('3f9c2d1') }),
        ...(r.images ?? []),
      ],
    }));

    // WHEN
    const report = await doctor(ecr, registry);

    // THEN
    const c = check(report, 'app-provenance');
    expect(c.status).toEqual('warn');
    expect(c.summary).toEqual('1 of the 4 newest tagged images are image indexes carrying provenance attestations: AWS Lambda rejects them');
    expect(c.details).toContain('3f9c2d1, latest: index with 1 attestation manifest(s) for linux/amd64, pushed 2026-03-10T07:00:00Z (5 hours ago)');
  });

  test('a multi-platform index without attestations warns', async () => {
    const registry = withApp((r) => ({
      ...r,
      images: [appImage(['multi'], hoursAgo(1), { mediaType: OCI_INDEX, artifactMediaType: undefined, manifest: multiPlatformIndex('m') })],
    }));
    const report = await doctor(ecr, registry);
    const c = check(report, 'app-provenance');
    expect(c.status).toEqual('warn');
    expect(c.summary).toEqual('1 of the 1 newest tagged images are image indexes: AWS Lambda needs a single image manifest');
    expect(c.details).toContain('multi: multi-platform index (linux/amd64, linux/arm64), pushed 2026-03-10T11:00:00Z (1 hour ago)');
  });

  test('only the --recent-images newest images count, across DescribeImages pages', async () => {
    // GIVEN: 1,500 tagged images (two pages); the only index is the oldest
    const images = Array.from({ length: 1500 }, (_, i) => appImage([`b${i}`], hoursAgo(i + 1)));
    images.push(appImage(['old'], daysAgo(400), { mediaType: OCI_INDEX, artifactMediaType: undefined, manifest: provenanceIndex('old') }));
    const registry = withApp((r) => ({ ...r, images: images.reverse() }));

    // WHEN
    const report = await doctor(ecr, registry, ['--recent-images', '50']);

    // THEN
    const c = check(report, 'app-provenance');
    expect(c).toMatchObject({ status: 'pass', summary: 'the 50 newest tagged images are single image manifests' });
    expect(c.details).toEqual(['inspected the 50 newest of 1501 tagged images']);
  });

  test('an empty application repository passes', async () => {
    const report = await doctor(ecr, withApp((r) => ({ ...r, images: [] })));
    expect(check(report, 'app-provenance')).toMatchObject({ status: 'pass', summary: 'no tagged images yet' });
  });
});

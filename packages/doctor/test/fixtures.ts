/**
 * A fake ECR registry behind aws-sdk-client-mock, answering with the shapes real ECR answers
 * (responses, exception classes and messages), plus a healthy and a broken setup.
 */
import { createHash } from 'crypto';
import {
  BatchGetImageCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  ECRServiceException,
  GetLifecyclePolicyCommand,
  ImageDetail,
  ImageFailure,
  ImageNotFoundException,
  LifecyclePolicyNotFoundException,
  Repository,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { AwsClientStub } from 'aws-sdk-client-mock';
import { constructPolicy } from './construct-policy';
import { scopeName } from '../src/scopes';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
/** The doctor's clock in every test. */
export const NOW = new Date('2026-03-10T12:00:00Z');

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export function ago(ms: number): Date {
  return new Date(NOW.getTime() - ms);
}
export const hoursAgo = (n: number) => ago(n * HOUR);
export const daysAgo = (n: number) => ago(n * DAY);

export function digest(seed: string): string {
  return `sha256:${createHash('sha256').update(seed).digest('hex')}`;
}

function metadata(attempts = 1) {
  return { httpStatusCode: 400, requestId: 'c7f2a5e1-5b5e-4d8e-9a0f-3f0d2d1b6a11', attempts, totalRetryDelay: 0 };
}

// ------------------------------------------------------------------ errors, as the SDK raises them

export function accessDenied(action: string, repository: string): ECRServiceException {
  return new ECRServiceException({
    name: 'AccessDeniedException',
    $fault: 'client',
    $metadata: metadata(),
    message: `User: arn:aws:iam::${ACCOUNT}:user/dev is not authorized to perform: ${action} on resource: ` +
      `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${repository} because no identity-based policy allows the ${action} action`,
  });
}

export function throttled(attempts: number): ECRServiceException {
  return new ECRServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: metadata(attempts),
    message: 'Rate exceeded',
  });
}

export function noCredentials(): Error {
  // What @smithy/property-provider's CredentialsProviderError looks like at the end of the default chain.
  return Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError', tryNextLink: false });
}

function repositoryNotFound(name: string): RepositoryNotFoundException {
  return new RepositoryNotFoundException({
    $metadata: metadata(),
    message: `The repository with name '${name}' does not exist in the registry with id '${ACCOUNT}'`,
  });
}

// ------------------------------------------------------------------ manifests

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const CACHE_CONFIG = 'application/vnd.buildkit.cacheconfig.v0';
export const OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_IMAGE_CONFIG = 'application/vnd.docker.container.image.v1+json';

function layer(seed: string, size: number, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') {
  return {
    mediaType,
    digest: digest(seed),
    size,
    annotations: { 'buildkit/createdat': '2026-03-10T06:58:12.419871605Z', 'containerd.io/uncompressed': digest(`${seed}-u`) },
  };
}

/** An OCI image manifest with `layers` layers of growing sizes, its config of the media type given. */
function ociManifest(seed: string, config: { mediaType: string; size: number }, layers: number, size: { first: number; step: number }): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: config.mediaType, digest: digest(`${seed}-config`), size: config.size },
    layers: Array.from({ length: layers }, (_, i) => layer(`${seed}-${i}`, size.first + i * size.step)),
  }, null, 2);
}

/** What `--cache-to type=registry,mode=max,image-manifest=true,oci-mediatypes=true` pushes. */
export function cacheManifest(seed: string, layers = 6): string {
  return ociManifest(seed, { mediaType: CACHE_CONFIG, size: 2876 }, layers, { first: 3_623_807, step: 1_000_003 });
}

/** What `--cache-to type=registry,mode=max,oci-mediatypes=true` (no image-manifest) produces: an index. */
export function cacheIndex(seed: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      layer(`${seed}-0`, 3_623_807),
      layer(`${seed}-1`, 28_311_557),
      { mediaType: CACHE_CONFIG, digest: digest(`${seed}-config`), size: 1611 },
    ],
  }, null, 2);
}

/** A single-platform image pushed by `docker buildx build --provenance=false` with Docker media types. */
export function dockerImageManifest(seed: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: digest(`${seed}-config`), size: 7023 },
    layers: [layer(`${seed}-0`, 3_623_807, 'application/vnd.docker.image.rootfs.diff.tar.gzip')],
  }, null, 2);
}

/** An image as Buildah pushes it in its default format (OCI): each step's cache image too. */
export function ociImageManifest(seed: string, layers = 1): string {
  return ociManifest(seed, { mediaType: OCI_IMAGE_CONFIG, size: 1622 }, layers, { first: 2_097_152, step: 4096 });
}

/** What buildx pushes with provenance on (its default since 0.10): an index with an attestation manifest. */
export function provenanceIndex(seed: string): string {
  const image = digest(`${seed}-image`);
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: image, size: 1054, platform: { architecture: 'amd64', os: 'linux' } },
      {
        mediaType: OCI_MANIFEST,
        digest: digest(`${seed}-attestation`),
        size: 566,
        annotations: { 'vnd.docker.reference.digest': image, 'vnd.docker.reference.type': 'attestation-manifest' },
        platform: { architecture: 'unknown', os: 'unknown' },
      },
    ],
  }, null, 2);
}

/** A multi-platform index without attestations. */
export function multiPlatformIndex(seed: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: digest(`${seed}-amd64`), size: 1054, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: OCI_MANIFEST, digest: digest(`${seed}-arm64`), size: 1054, platform: { architecture: 'arm64', os: 'linux' } },
    ],
  }, null, 2);
}

// ------------------------------------------------------------------ the fake registry

export interface FakeImage {
  readonly digest: string;
  readonly tags: string[];
  readonly pushedAt: Date;
  readonly size: number;
  readonly mediaType: string;
  /** ECR's artifactMediaType: the config's media type (absent for indexes). */
  readonly artifactMediaType?: string;
  readonly manifest: string;
  readonly lastPulledAt?: Date;
  readonly status?: 'ACTIVE' | 'ARCHIVED' | 'ACTIVATING';
}

export interface FakeRepository {
  readonly imageTagMutability?: Repository['imageTagMutability'];
  readonly exclusionFilters?: string[];
  readonly scanOnPush?: boolean;
  readonly lifecyclePolicyText?: string;
  readonly images?: FakeImage[];
}

export interface FakeRegistry {
  readonly repositories: Record<string, FakeRepository>;
  /** Errors thrown by a command (by command name, optionally for one repository: 'GetLifecyclePolicy:api-cache'). */
  readonly errors?: Record<string, Error>;
}

function repositoryOf(name: string, repo: FakeRepository): Repository {
  return {
    repositoryArn: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${name}`,
    registryId: ACCOUNT,
    repositoryName: name,
    repositoryUri: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${name}`,
    createdAt: new Date('2025-11-04T09:14:07.000Z'),
    imageTagMutability: repo.imageTagMutability ?? 'MUTABLE',
    ...(repo.exclusionFilters
      ? { imageTagMutabilityExclusionFilters: repo.exclusionFilters.map((filter) => ({ filterType: 'WILDCARD' as const, filter })) }
      : {}),
    imageScanningConfiguration: { scanOnPush: repo.scanOnPush ?? false },
    encryptionConfiguration: { encryptionType: 'AES256' },
  };
}

function detailOf(name: string, image: FakeImage): ImageDetail {
  return {
    registryId: ACCOUNT,
    repositoryName: name,
    imageDigest: image.digest,
    ...(image.tags.length ? { imageTags: image.tags } : {}),
    imageSizeInBytes: image.size,
    imagePushedAt: image.pushedAt,
    imageManifestMediaType: image.mediaType,
    ...(image.artifactMediaType ? { artifactMediaType: image.artifactMediaType } : {}),
    ...(image.lastPulledAt ? { lastRecordedPullTime: image.lastPulledAt } : {}),
    imageStatus: image.status ?? 'ACTIVE',
  };
}

/** Makes the mocked ECRClient answer from `registry`, as ECR would. */
export function serve(mock: AwsClientStub<ECRClient>, registry: FakeRegistry): void {
  const fail = (command: string, repository: string | undefined) => {
    const e = registry.errors?.[`${command}:${repository}`] ?? registry.errors?.[command];
    if (e) throw e;
  };
  const repo = (name: string | undefined): FakeRepository => {
    const r = registry.repositories[name ?? ''];
    if (!r) throw repositoryNotFound(name ?? '');
    return r;
  };

  mock.on(DescribeRepositoriesCommand).callsFake(async (input) => {
    const names: string[] = input.repositoryNames ?? [];
    fail('DescribeRepositories', names[0]);
    return { $metadata: {}, repositories: names.map((n) => repositoryOf(n, repo(n))) };
  });

  mock.on(GetLifecyclePolicyCommand).callsFake(async (input) => {
    fail('GetLifecyclePolicy', input.repositoryName);
    const r = repo(input.repositoryName);
    if (r.lifecyclePolicyText === undefined) {
      throw new LifecyclePolicyNotFoundException({
        $metadata: metadata(),
        message: `Lifecycle policy does not exist for the repository with name '${input.repositoryName}' in the registry with id '${ACCOUNT}'`,
      });
    }
    return {
      $metadata: {},
      registryId: ACCOUNT,
      repositoryName: input.repositoryName,
      lifecyclePolicyText: r.lifecyclePolicyText,
      lastEvaluatedAt: hoursAgo(7),
    };
  });

  mock.on(DescribeImagesCommand).callsFake(async (input) => {
    fail('DescribeImages', input.repositoryName);
    const images = repo(input.repositoryName).images ?? [];
    if (input.imageIds) {
      return {
        $metadata: {},
        imageDetails: input.imageIds.map((id: { imageTag?: string; imageDigest?: string }) => {
          const found = images.find((i) => (id.imageTag ? i.tags.includes(id.imageTag) : i.digest === id.imageDigest));
          if (!found) {
            throw new ImageNotFoundException({
              $metadata: metadata(),
              message: `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist ` +
                `within the repository with name '${input.repositoryName}' in the registry with id '${ACCOUNT}'`,
            });
          }
          return detailOf(input.repositoryName, found);
        }),
      };
    }
    const status = input.filter?.tagStatus;
    const selected = images.filter((i) => status === 'TAGGED' ? i.tags.length > 0 : status === 'UNTAGGED' ? i.tags.length === 0 : true);
    const start = Number(input.nextToken ?? 0);
    const size = input.maxResults ?? 100;
    const page = selected.slice(start, start + size);
    return {
      $metadata: {},
      imageDetails: page.map((i) => detailOf(input.repositoryName, i)),
      ...(start + size < selected.length ? { nextToken: String(start + size) } : {}),
    };
  });

  mock.on(BatchGetImageCommand).callsFake(async (input) => {
    fail('BatchGetImage', input.repositoryName);
    const images = repo(input.repositoryName).images ?? [];
    const found = [];
    const failures: ImageFailure[] = [];
    for (const id of input.imageIds as Array<{ imageTag?: string; imageDigest?: string }>) {
      const image = images.find((i) => (id.imageDigest ? i.digest === id.imageDigest : i.tags.includes(id.imageTag ?? '')));
      if (!image) {
        failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
      } else {
        found.push({
          registryId: ACCOUNT,
          repositoryName: input.repositoryName,
          imageId: { imageDigest: image.digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) },
          imageManifest: image.manifest,
          imageManifestMediaType: image.mediaType,
        });
      }
    }
    return { $metadata: {}, images: found, failures };
  });
}

// ------------------------------------------------------------------ setups

/**
 * The lifecycle policy text of the cache repository the construct creates (default branch main,
 * 14 days), as CloudFormation hands it to ECR. test/doctor/lifecycle.test.ts checks it against
 * the synthesized template.
 */
export const CONSTRUCT_POLICY = constructPolicy();

export function cacheImage(tag: string, pushedAt: Date, extra: Partial<FakeImage> = {}): FakeImage {
  const manifest = extra.manifest ?? cacheManifest(tag);
  return {
    digest: digest(manifest),
    tags: [tag],
    pushedAt,
    size: 187_654_321,
    mediaType: OCI_MANIFEST,
    artifactMediaType: CACHE_CONFIG,
    manifest,
    lastPulledAt: hoursAgo(2),
    ...extra,
  };
}

export function appImage(tags: string[], pushedAt: Date, extra: Partial<FakeImage> = {}): FakeImage {
  const manifest = extra.manifest ?? dockerImageManifest(tags.join(','));
  return {
    digest: digest(manifest),
    tags,
    pushedAt,
    size: 61_275_833,
    mediaType: DOCKER_MANIFEST,
    artifactMediaType: 'application/vnd.docker.container.image.v1+json',
    manifest,
    ...extra,
  };
}

/** The application repository of a CachedImageBuild after a few builds of main. */
function appRepository(): FakeRepository {
  return {
    imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
    exclusionFilters: ['latest'],
    scanOnPush: true,
    images: [
      appImage(['3f9c2d1', 'latest'], hoursAgo(5)),
      appImage(['8a41b7e'], hoursAgo(30)),
      appImage(['c02e5f9'], daysAgo(3)),
    ],
  };
}

/** A setup as the construct deploys it: the application repository, and a cache repository with `policy` and `images`. */
function constructSetup(lifecyclePolicyText: string, images: FakeImage[]): FakeRegistry {
  return {
    repositories: {
      'api': appRepository(),
      'api-cache': { imageTagMutability: 'MUTABLE', scanOnPush: false, lifecyclePolicyText, images },
    },
  };
}

/** The cache scope of the branch feature/login: `/` is no tag character, so it is mapped and hashed. */
export const FEATURE_LOGIN = scopeName('br-', 'feature/login');

/**
 * What a CachedImageBuild deploys (registry strategy), after builds of main, of the branches
 * feature/login and hotfix, of pull request 12 (policy push) and of the git tag v1.2.0.
 */
export function healthyRegistry(): FakeRegistry {
  return constructSetup(CONSTRUCT_POLICY, [
    cacheImage('main', hoursAgo(5)),
    cacheImage(FEATURE_LOGIN, hoursAgo(1), { size: 191_203_774 }),
    cacheImage('pr-12', hoursAgo(3), { size: 188_113_012 }),
    cacheImage('tag-v1.2.0', daysAgo(2)),
    cacheImage('br-hotfix', daysAgo(9)),
    { ...cacheImage('old', hoursAgo(30)), tags: [] },
  ]);
}

/** An image the inline strategy pushes to `<scope>-e<N>` (`docker push` of Docker 20.10: Docker media types). */
export function inlineImage(tag: string, pushedAt: Date, extra: Partial<FakeImage> = {}): FakeImage {
  return { ...appImage([tag], pushedAt), size: 64_225_117, lastPulledAt: hoursAgo(2), ...extra };
}

/** The inline strategy's cache repository after builds of main (8, then 3 steps executed) and feature/login. */
export function inlineRegistry(): FakeRegistry {
  return constructSetup(constructPolicy({ strategy: 'inline' }), [
    inlineImage('main-e8', daysAgo(3)),
    inlineImage('main-e3', hoursAgo(5)),
    inlineImage(`${FEATURE_LOGIN}-e2`, hoursAgo(1)),
    inlineImage('pr-12-e1', hoursAgo(4)),
  ]);
}

/**
 * The step tags of the e2e's Buildah rounds (test/fixtures/build-logs in the construct repository):
 * a cold build pushed seven, a warm build with a changed step two.
 */
export const BUILDAH_COLD_KEYS = [
  'b956768ffafaaecb750a46e1b7139ab0a19ace6f29f57d96909cc21d0a437cbd',
  'f7ef71aef2913bac34f4b5d8a2f07ed61f1ed7e314ddae8dd1f8acd6c1157624',
  '323d02cb01d0a2a16eb99eeab3402c0a8c3a7f245320ecd59b757b61c82c880f',
  '39736f5fcc0c65f9dbe05241619d3062d80e97ef33383680fd6877438b59cbf0',
  'fa0bdef0706a354f9949d6de5d1dc2101390b9246bd0b4c185fe14629257793e',
  '36f04ba2bb95b75171ae35f01fa4d6e838690815089794b89a1e368bb06457ba',
  '57dabe1d555fdcf0a3e1eaa2e648fe6071ea8dc518f7e54c40d7f8044c000f10',
];
export const BUILDAH_WARM_KEYS = [
  'b84faff439b3fbf7e69c1e781ba820e1dc13a85b55b5d344219bf773d631ba32',
  '3caca02a4fb9d20b3b0074b3eef8dcb3e80dccf3d48b22ad46ce0618da657d26',
];

/** A step cache image Buildah pushes (`--cache-to`), at its cache key. */
export function stepImage(key: string, pushedAt: Date, extra: Partial<FakeImage> = {}): FakeImage {
  const manifest = ociImageManifest(key);
  return appImage([key], pushedAt, { manifest, size: 2_131_577, mediaType: OCI_MANIFEST, artifactMediaType: OCI_IMAGE_CONFIG, ...extra });
}

/** The Buildah strategy's cache repository after a cold and a warm build. */
export function buildahRegistry(): FakeRegistry {
  return constructSetup(constructPolicy({ strategy: 'buildah' }), [
    ...BUILDAH_COLD_KEYS.map((k, i) => stepImage(k, ago(2 * 24 * 3_600_000 + i * 60_000))),
    ...BUILDAH_WARM_KEYS.map((k, i) => stepImage(k, ago(5 * 3_600_000 + i * 60_000))),
  ]);
}

/**
 * Per-architecture scopes (#12): the registry strategy's cache tags `<scope>-amd64` and
 * `<scope>-arm64`. The policy keeps each architecture's default-branch cache by its exact tag (the
 * construct's rules for #12 are not written yet: this is the doctor's expectation of them).
 */
export function multiArchRegistry(): FakeRegistry {
  const rules = JSON.parse(CONSTRUCT_POLICY).rules;
  const keep = (tag: string, rulePriority: number) => ({
    ...rules[0],
    rulePriority,
    description: `Never expire the default branch cache (${tag})`,
    selection: { ...rules[0].selection, tagPatternList: [tag] },
  });
  const policyText = JSON.stringify({ rules: [keep('main-amd64', 1), keep('main-arm64', 2), ...rules.slice(1).map((r: object, i: number) => ({ ...r, rulePriority: 3 + i }))] });
  return constructSetup(policyText, [
    cacheImage('main-amd64', hoursAgo(5)),
    cacheImage('main-arm64', hoursAgo(5)),
    cacheImage(`${FEATURE_LOGIN}-amd64`, hoursAgo(1)),
    cacheImage('pr-12-arm64', hoursAgo(2)),
  ]);
}

/** A cache repository used first with the registry strategy, then with Buildah: the layout is ambiguous. */
export function mixedRegistry(): FakeRegistry {
  const buildah = buildahRegistry().repositories['api-cache'];
  return {
    repositories: {
      'api': appRepository(),
      'api-cache': {
        ...buildah,
        images: [...buildah.images!, cacheImage('main', daysAgo(10)), cacheImage(FEATURE_LOGIN, daysAgo(12))],
      },
    },
  };
}

/**
 * Everything that goes wrong in practice: immutable cache tags, scan on push, a policy that expires
 * everything after 7 days, a cache exported without image-manifest=true, no branch cache yet,
 * and provenance attestations in the application repository.
 */
export function brokenRegistry(): FakeRegistry {
  return {
    repositories: {
      'api': {
        imageTagMutability: 'MUTABLE',
        scanOnPush: true,
        images: [
          appImage(['3f9c2d1', 'latest'], hoursAgo(5), { mediaType: OCI_INDEX, artifactMediaType: undefined, manifest: provenanceIndex('3f9c2d1') }),
          appImage(['8a41b7e'], hoursAgo(30), { mediaType: OCI_INDEX, artifactMediaType: undefined, manifest: provenanceIndex('8a41b7e') }),
          appImage(['c02e5f9'], daysAgo(3)),
        ],
      },
      'api-cache': {
        imageTagMutability: 'IMMUTABLE',
        scanOnPush: true,
        lifecyclePolicyText: JSON.stringify({
          rules: [{
            rulePriority: 1,
            description: 'Expire images older than 7 days',
            selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 },
            action: { type: 'expire' },
          }],
        }),
        images: [
          cacheImage('main', daysAgo(6), { mediaType: OCI_INDEX, artifactMediaType: undefined, manifest: cacheIndex('main'), size: 31_935_364 }),
        ],
      },
    },
  };
}

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

function layer(seed: string, size: number, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') {
  return {
    mediaType,
    digest: digest(seed),
    size,
    annotations: { 'buildkit/createdat': '2026-03-10T06:58:12.419871605Z', 'containerd.io/uncompressed': digest(`${seed}-u`) },
  };
}

/** What `--cache-to type=registry,mode=max,image-manifest=true,oci-mediatypes=true` pushes. */
export function cacheManifest(seed: string, layers = 6): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: CACHE_CONFIG, digest: digest(`${seed}-config`), size: 2876 },
    layers: Array.from({ length: layers }, (_, i) => layer(`${seed}-${i}`, 3_623_807 + i * 1_000_003)),
  }, null, 2);
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

/** What a CachedImageBuild deploys, after a few builds of main and of feature/login. */
export function healthyRegistry(): FakeRegistry {
  return {
    repositories: {
      'api': {
        imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
        exclusionFilters: ['latest'],
        scanOnPush: true,
        images: [
          appImage(['3f9c2d1', 'latest'], hoursAgo(5)),
          appImage(['8a41b7e'], hoursAgo(30)),
          appImage(['c02e5f9'], daysAgo(3)),
        ],
      },
      'api-cache': {
        imageTagMutability: 'MUTABLE',
        scanOnPush: false,
        lifecyclePolicyText: CONSTRUCT_POLICY,
        images: [
          cacheImage('main', hoursAgo(5)),
          cacheImage('feature-login', hoursAgo(1), { size: 191_203_774 }),
          { ...cacheImage('old', hoursAgo(30)), tags: [] },
        ],
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

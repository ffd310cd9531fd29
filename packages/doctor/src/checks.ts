/**
 * The doctor's checks. Each one reads ECR through an {@link EcrReader} (read-only calls) and
 * returns a {@link CheckResult}; {@link runDoctor} runs them all in order.
 */
import {
  BatchGetImageCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetLifecyclePolicyCommand,
  Image,
  ImageDetail,
  ImageIdentifier,
  Repository,
} from '@aws-sdk/client-ecr';
import { DoctorOptions } from './args';
import { CallProblem, classifyCallError } from './aws-errors';
import { ageInDays, formatAgo, formatBytes, formatPushed } from './format';
import { imageFate, parseLifecyclePolicy, wildcardMatches } from './lifecycle';
import {
  ACCEPTED_MEDIA_TYPES,
  describeMediaType,
  isIndexMediaType,
  judgeCacheManifest,
  readIndex,
} from './manifests';
import { CheckResult, DoctorReport } from './report';

/** A call's result: the value, or why the call failed (errors that end the run are thrown). */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: CallProblem };

/** Largest DescribeImages page. */
const PAGE_SIZE = 1000;
/** Pages of tagged application images read at most when looking for the newest ones. */
const MAX_PAGES = 10;

/** Read-only ECR calls, each turning "not found" into `undefined` and other errors into a problem. */
export class EcrReader {
  constructor(private readonly client: ECRClient, private readonly region: string) {}

  /** `undefined` when the repository does not exist. */
  public describeRepository(repositoryName: string, registryId?: string): Promise<Outcome<Repository | undefined>> {
    return this.call('ecr:DescribeRepositories', ['RepositoryNotFoundException'], async () => {
      const out = await this.client.send(new DescribeRepositoriesCommand({ repositoryNames: [repositoryName], registryId }));
      return out.repositories?.[0];
    });
  }

  /** The policy text; `undefined` when the repository has no lifecycle policy. */
  public getLifecyclePolicy(repositoryName: string, registryId?: string): Promise<Outcome<string | undefined>> {
    return this.call('ecr:GetLifecyclePolicy', ['LifecyclePolicyNotFoundException'], async () => {
      const out = await this.client.send(new GetLifecyclePolicyCommand({ repositoryName, registryId }));
      return out.lifecyclePolicyText;
    });
  }

  /** The image a tag points to; `undefined` when no image has the tag. */
  public describeImageByTag(repositoryName: string, tag: string, registryId?: string): Promise<Outcome<ImageDetail | undefined>> {
    return this.call('ecr:DescribeImages', ['ImageNotFoundException'], async () => {
      const out = await this.client.send(new DescribeImagesCommand({ repositoryName, registryId, imageIds: [{ imageTag: tag }] }));
      return out.imageDetails?.[0];
    });
  }

  /** Manifests as pushed (every media type accepted, so ECR converts none). Missing images are left out. */
  public getManifests(repositoryName: string, imageIds: ImageIdentifier[], registryId?: string): Promise<Outcome<Image[]>> {
    return this.call('ecr:BatchGetImage', [], async () => {
      const out = await this.client.send(new BatchGetImageCommand({
        repositoryName,
        registryId,
        imageIds,
        acceptedMediaTypes: ACCEPTED_MEDIA_TYPES,
      }));
      return out.images ?? [];
    });
  }

  /** Tagged images of a repository, reading at most MAX_PAGES pages. */
  public describeTaggedImages(repositoryName: string, registryId?: string): Promise<Outcome<{ images: ImageDetail[]; complete: boolean }>> {
    return this.call('ecr:DescribeImages', [], async () => {
      const images: ImageDetail[] = [];
      let nextToken: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const out = await this.client.send(new DescribeImagesCommand({
          repositoryName,
          registryId,
          filter: { tagStatus: 'TAGGED' },
          maxResults: PAGE_SIZE,
          nextToken,
        }));
        images.push(...(out.imageDetails ?? []));
        nextToken = out.nextToken;
        if (!nextToken) return { images, complete: true };
      }
      return { images, complete: false };
    });
  }

  /** Runs one call; errors named in `notFound` give `undefined` (callers whose T includes it list them). */
  private async call<T>(action: string, notFound: string[], fn: () => Promise<T>): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await fn() };
    } catch (e) {
      if (notFound.includes((e as Error)?.name)) return { ok: true, value: undefined as T };
      return { ok: false, problem: classifyCallError(e, action, this.region) };
    }
  }
}

/** What every check knows about the setup. */
interface Context {
  readonly options: DoctorOptions;
  readonly now: Date;
  readonly ecr: EcrReader;
}

function result(id: string, title: string, fields: Omit<CheckResult, 'id' | 'title' | 'details'> & { details?: string[] }): CheckResult {
  return { id, title, ...fields, details: fields.details ?? [] };
}

function callError(id: string, title: string, problem: CallProblem): CheckResult {
  return result(id, title, {
    status: 'error',
    summary: `could not check: ${problem.message}`,
    fix: problem.kind === 'access-denied'
      ? `allow ${problem.action} for the caller (the doctor needs ecr:DescribeRepositories, ecr:GetLifecyclePolicy, ecr:DescribeImages and ecr:BatchGetImage on both repositories)`
      : undefined,
  });
}

// ---------------------------------------------------------------- repositories

export function checkRepositoryExists(
  id: string, title: string, what: string, name: string, outcome: Outcome<Repository | undefined>, region: string,
): CheckResult {
  if (!outcome.ok) return callError(id, title, outcome.problem);
  if (!outcome.value) {
    return result(id, title, {
      status: 'fail',
      summary: `${what} '${name}' does not exist in region ${region}`,
      fix: `deploy the stack that creates it, or check the repository name${what === 'cache repository' ? ' (the construct creates <repository>-cache)' : ''}, --region and the AWS account`,
    });
  }
  return result(id, title, {
    status: 'pass',
    summary: `${what} '${name}' exists`,
    details: [`URI: ${outcome.value.repositoryUri}`],
  });
}

// ---------------------------------------------------------------- cache tag mutability

/** The cache tags the doctor knows about: the default branch's, and the branch's when given. */
function cacheTags(options: DoctorOptions): string[] {
  const tags = [options.defaultBranchTag];
  if (options.branchTag && options.branchTag !== options.defaultBranchTag) tags.push(options.branchTag);
  return tags;
}

export function checkTagMutability(options: DoctorOptions, repo: Repository): CheckResult {
  const id = 'cache-tag-mutability';
  const title = 'Cache tags are mutable';
  const mutability = repo.imageTagMutability ?? 'MUTABLE';
  const filters = (repo.imageTagMutabilityExclusionFilters ?? []).map((f) => f.filter ?? '').filter((f) => f !== '');
  const tags = cacheTags(options);
  const matching = (tag: string) => filters.some((f) => wildcardMatches(f, tag));
  const fixMutable = `make the cache tags mutable: \`aws ecr put-image-tag-mutability --repository-name ${options.cacheRepository} --image-tag-mutability MUTABLE\``;
  const refreshNote = 'a build cannot overwrite an existing immutable cache tag: the export is refused (ImageTagAlreadyExistsException), ' +
    'the build ignores it (ignore-error=true), and the cache never refreshes';
  switch (mutability) {
    case 'MUTABLE':
      return result(id, title, { status: 'pass', summary: 'MUTABLE: every build can overwrite its cache tag' });
    case 'IMMUTABLE':
      return result(id, title, { status: 'fail', summary: `IMMUTABLE: ${refreshNote}`, fix: fixMutable });
    case 'IMMUTABLE_WITH_EXCLUSION': {
      const details = [`exclusion filters (mutable tags): ${filters.length ? filters.join(', ') : 'none'}`];
      const immutable = tags.filter((t) => !matching(t));
      if (immutable.length === 0) {
        return result(id, title, {
          status: 'pass',
          summary: `IMMUTABLE_WITH_EXCLUSION, and the exclusion filters make the cache tags ${tags.join(', ')} mutable`,
          details: [...details, 'every other branch\'s cache tag must match a filter too'],
        });
      }
      return result(id, title, {
        status: 'fail',
        summary: `IMMUTABLE_WITH_EXCLUSION, and no exclusion filter matches the cache tag(s) ${immutable.join(', ')}: ${refreshNote}`,
        details,
        fix: `${fixMutable} (a cache repository holds only cache tags), or add an exclusion filter such as '*'`,
      });
    }
    case 'MUTABLE_WITH_EXCLUSION': {
      const details = [`exclusion filters (immutable tags): ${filters.length ? filters.join(', ') : 'none'}`];
      const immutable = tags.filter(matching);
      if (immutable.length === 0) {
        return result(id, title, {
          status: 'pass',
          summary: `MUTABLE_WITH_EXCLUSION, and no exclusion filter matches the cache tags ${tags.join(', ')}`,
          details,
        });
      }
      return result(id, title, {
        status: 'fail',
        summary: `MUTABLE_WITH_EXCLUSION, and the exclusion filters make the cache tag(s) ${immutable.join(', ')} immutable: ${refreshNote}`,
        details,
        fix: fixMutable,
      });
    }
    default:
      return result(id, title, {
        status: 'warn',
        summary: `unknown tag mutability '${mutability}': cache tags must be overwritable`,
        fix: fixMutable,
      });
  }
}

// ---------------------------------------------------------------- lifecycle

export function checkLifecycle(
  options: DoctorOptions,
  policy: Outcome<string | undefined>,
  defaultImage: ImageDetail | undefined,
  now: Date,
): CheckResult {
  const id = 'cache-lifecycle';
  const title = 'Lifecycle rules keep the default-branch cache';
  if (!policy.ok) return callError(id, title, policy.problem);
  if (policy.value === undefined) {
    return result(id, title, {
      status: 'pass',
      summary: 'no lifecycle policy: nothing expires the default-branch cache',
      details: ['old branch caches and replaced (untagged) cache manifests are never cleaned up; the construct\'s own cache repository has rules for that'],
    });
  }
  let rules;
  try {
    rules = parseLifecyclePolicy(policy.value);
  } catch (e) {
    return result(id, title, {
      status: 'error',
      summary: `could not check: ${(e as Error).message}`,
      fix: `read it with \`aws ecr get-lifecycle-policy --repository-name ${options.cacheRepository}\``,
    });
  }
  const tag = options.defaultBranchTag;
  // The image may carry more tags than the default branch's (an identical export of another branch).
  const tags = defaultImage?.imageTags?.length ? defaultImage.imageTags : [tag];
  const fate = imageFate(rules, tags);
  const details = [`${rules.length} rule(s); default-branch cache tag ${tag}: ${fate.explanation}`];
  if (options.branchTag && options.branchTag !== tag) {
    details.push(`branch cache tag ${options.branchTag}: ${imageFate(rules, [options.branchTag]).explanation}`);
  }
  if (fate.kind === 'kept') {
    return result(id, title, { status: 'pass', summary: `no rule would expire the default-branch cache (${tag})`, details });
  }
  if (fate.kind === 'age' && defaultImage?.imagePushedAt) {
    const days = ageInDays(defaultImage.imagePushedAt, now);
    details.push(days >= fate.limit!
      ? `the default-branch cache was pushed ${days} day(s) ago: it is due now (ECR acts within 24 hours)`
      : `the default-branch cache was pushed ${days} day(s) ago: it goes if the default branch is not built in the next ${fate.limit! - days} day(s)`);
  }
  if (fate.kind === 'unpulled' && defaultImage?.lastRecordedPullTime) {
    details.push(`last recorded pull: ${formatPushed(defaultImage.lastRecordedPullTime, now)}`);
  }
  return result(id, title, {
    status: 'fail',
    summary: `the lifecycle policy would remove the default-branch cache (${tag}): then every new branch and the next default-branch build start cold`,
    details,
    fix: `add a rule with a higher priority (lower rulePriority) than ${fate.rule ? `rule ${fate.rule.rulePriority}` : 'the others'} that selects ` +
      `\`{"tagStatus": "tagged", "tagPatternList": ["${tag}"], "countType": "imageCountMoreThan", "countNumber": 1}\` (the construct's own cache repository has it as rule 1)`,
  });
}

// ---------------------------------------------------------------- scan on push

export function checkScanOnPush(options: DoctorOptions, repo: Repository): CheckResult {
  const id = 'cache-scan-on-push';
  const title = 'Cache repository does not scan on push';
  if (repo.imageScanningConfiguration?.scanOnPush) {
    return result(id, title, {
      status: 'warn',
      summary: 'scan on push is on: every cache export is scanned, but cache manifests are not runnable images ' +
        '(config application/vnd.buildkit.cacheconfig.v0), so the scans are wasted',
      fix: `turn it off: \`aws ecr put-image-scanning-configuration --repository-name ${options.cacheRepository} --image-scanning-configuration scanOnPush=false\``,
    });
  }
  return result(id, title, {
    status: 'pass',
    summary: 'scan on push is off',
    details: ['registry-level scanning rules (enhanced scanning, basic scanning filters) are not checked'],
  });
}

// ---------------------------------------------------------------- cache manifests

async function judgeCacheTag(
  ctx: Context, id: string, title: string, tag: string, image: Outcome<ImageDetail | undefined>, missing: () => CheckResult,
): Promise<CheckResult> {
  const { options, now, ecr } = ctx;
  if (!image.ok) return callError(id, title, image.problem);
  const detail = image.value;
  if (!detail) return missing();
  const details = [
    `digest: ${detail.imageDigest}`,
    `tags: ${(detail.imageTags ?? []).join(', ')}`,
    `pushed: ${formatPushed(detail.imagePushedAt, now)}`,
    `size: ${detail.imageSizeInBytes === undefined ? 'unknown' : formatBytes(detail.imageSizeInBytes)}`,
  ];
  if (detail.lastRecordedPullTime) details.push(`last pulled: ${formatPushed(detail.lastRecordedPullTime, now)}`);

  let manifestText: string | undefined;
  let mediaType = detail.imageManifestMediaType;
  const manifests = await ecr.getManifests(options.cacheRepository, [{ imageDigest: detail.imageDigest }], options.cacheRegistryId);
  if (manifests.ok && manifests.value[0]) {
    manifestText = manifests.value[0].imageManifest;
    mediaType = manifests.value[0].imageManifestMediaType ?? mediaType;
  } else if (!manifests.ok) {
    details.push(`could not read the manifest (${manifests.problem.message}); judged from DescribeImages`);
  }
  let verdict = judgeCacheManifest(mediaType, manifestText);
  if (manifestText === undefined && verdict.configMediaType === undefined && detail.artifactMediaType) {
    // Without the manifest, ECR's artifactMediaType (the config's media type) stands in.
    verdict = judgeCacheManifest(mediaType, JSON.stringify({ mediaType, config: { mediaType: detail.artifactMediaType } }));
  }
  details.push(`manifest: ${describeMediaType(verdict.mediaType)}`);
  if (verdict.configMediaType) details.push(`config: ${verdict.configMediaType}`);
  if (verdict.layers !== undefined) details.push(`layers: ${verdict.layers}`);

  if (detail.imageStatus === 'ARCHIVED' || detail.imageStatus === 'ACTIVATING') {
    return result(id, title, {
      status: 'fail',
      summary: `the cache manifest at tag ${tag} is ${detail.imageStatus.toLowerCase()}: archived images cannot be pulled, so builds miss the cache`,
      details,
      fix: 'restore it from the archive storage class, or let the next build of the branch push a new one; keep lifecycle rules from archiving cache tags',
    });
  }
  if (!verdict.ok) {
    return result(id, title, {
      status: 'fail',
      summary: `tag ${tag}: ${verdict.explanation}`,
      details,
      fix: 'build with the registry strategy (`CacheStrategy.registry()`), which exports with `image-manifest=true,oci-mediatypes=true` on BuildKit 0.12+ ' +
        '(CodeBuild standard:7.0 or later); push nothing else to the cache repository',
    });
  }
  return result(id, title, {
    status: 'pass',
    summary: `tag ${tag} holds ${verdict.explanation}, pushed ${formatAgo(detail.imagePushedAt, now)}`,
    details,
  });
}

export async function checkDefaultBranchCache(ctx: Context, image: Outcome<ImageDetail | undefined>): Promise<CheckResult> {
  const { options } = ctx;
  const id = 'default-branch-cache';
  const title = `Default-branch cache (${options.defaultBranch})`;
  return judgeCacheTag(ctx, id, title, options.defaultBranchTag, image, () => result(id, title, {
    status: 'fail',
    summary: `no cache manifest at tag ${options.defaultBranchTag}: builds of new branches and the next ${options.defaultBranch} build start cold`,
    details: [`looked for ${options.cacheRepository}:${options.defaultBranchTag}`],
    fix: `build ${options.defaultBranch} once with the registry strategy. If it was built already, its cache export failed: ` +
      'look at the "exporting cache" step of the build log (ignore-error=true keeps the build green), and check that ' +
      '--default-branch matches the construct\'s defaultBranch',
  }));
}

export async function checkBranchCache(ctx: Context): Promise<CheckResult> {
  const { options, ecr } = ctx;
  const id = 'branch-cache';
  const title = options.branch === undefined ? 'Branch cache' : `Branch cache (${options.branch})`;
  if (options.branch === undefined) {
    return result(id, title, { status: 'skip', summary: 'no --branch given' });
  }
  if (options.branchTag === '') {
    return result(id, title, {
      status: 'skip',
      summary: `'${options.branch}' maps to no usable tag: its builds use the default branch's cache tag ${options.defaultBranchTag}`,
    });
  }
  if (options.branchTag === options.defaultBranchTag) {
    return result(id, title, { status: 'skip', summary: `'${options.branch}' uses the default branch's cache tag ${options.defaultBranchTag} (checked above)` });
  }
  const tag = options.branchTag!;
  const image = await ecr.describeImageByTag(options.cacheRepository, tag, options.cacheRegistryId);
  return judgeCacheTag(ctx, id, title, tag, image, () => result(id, title, {
    status: 'warn',
    summary: `no cache manifest at tag ${tag}: the branch's builds import only the default branch's cache (${options.defaultBranchTag})`,
    details: [`looked for ${options.cacheRepository}:${tag}`],
    fix: 'expected before the branch\'s first build, or after its cache expired. If the branch was built recently, its cache export failed: ' +
      'look for "exporting cache" in the build log, and check the lifecycle rules for branch caches',
  }));
}

// ---------------------------------------------------------------- provenance in the application repository

export async function checkProvenance(ctx: Context): Promise<CheckResult> {
  const { options, ecr, now } = ctx;
  const id = 'app-provenance';
  const title = 'Application images are single manifests (no provenance index)';
  const listing = await ecr.describeTaggedImages(options.repository, options.registryId);
  if (!listing.ok) return callError(id, title, listing.problem);
  const { images, complete } = listing.value;
  if (images.length === 0) {
    return result(id, title, { status: 'pass', summary: 'no tagged images yet' });
  }
  const newest = [...images]
    .sort((a, b) => (b.imagePushedAt?.getTime() ?? 0) - (a.imagePushedAt?.getTime() ?? 0))
    .slice(0, options.recentImages);
  const details = [`inspected the ${newest.length} newest of ${images.length}${complete ? '' : '+'} tagged images`];
  if (!complete) details.push(`only the first ${MAX_PAGES * PAGE_SIZE} tagged images were listed: newer ones may have been missed`);
  const indexes = newest.filter((i) => isIndexMediaType(i.imageManifestMediaType) || isIndexMediaType(i.artifactMediaType));
  if (indexes.length === 0) {
    return result(id, title, { status: 'pass', summary: `the ${newest.length} newest tagged images are single image manifests`, details });
  }

  const manifests = await ecr.getManifests(options.repository, indexes.map((i) => ({ imageDigest: i.imageDigest })), options.registryId);
  const byDigest = new Map<string, string | undefined>();
  if (manifests.ok) {
    for (const m of manifests.value) byDigest.set(m.imageId?.imageDigest ?? '', m.imageManifest);
  } else {
    details.push(`could not read the indexes (${manifests.problem.message})`);
  }
  let withAttestations = 0;
  for (const i of indexes) {
    const contents = readIndex(byDigest.get(i.imageDigest ?? ''));
    if (contents.attestations > 0) withAttestations++;
    const what = !byDigest.has(i.imageDigest ?? '')
      ? 'index (contents unknown)'
      : contents.attestations > 0
        ? `index with ${contents.attestations} attestation manifest(s) for ${contents.platforms.join(', ') || 'no platform'}`
        : `multi-platform index (${contents.platforms.join(', ')})`;
    details.push(`${(i.imageTags ?? []).join(', ')}: ${what}, pushed ${formatPushed(i.imagePushedAt, now)}`);
  }
  if (withAttestations > 0) {
    return result(id, title, {
      status: 'warn',
      summary: `${withAttestations} of the ${newest.length} newest tagged images are image indexes carrying provenance attestations: AWS Lambda rejects them`,
      details,
      fix: 'build without attestations: leave the construct\'s `provenance` prop off (the default), or pass `--provenance=false` (and `--sbom=false`) to `docker buildx build`',
    });
  }
  return result(id, title, {
    status: 'warn',
    summary: `${indexes.length} of the ${newest.length} newest tagged images are image indexes: AWS Lambda needs a single image manifest`,
    details,
    fix: 'push a single-platform image for Lambda functions (the construct builds one platform)',
  });
}

// ---------------------------------------------------------------- all together

/** Runs every check against the repositories named in `options`. */
export async function runDoctor(client: ECRClient, options: DoctorOptions, region: string, now: Date): Promise<DoctorReport> {
  const ecr = new EcrReader(client, region);
  const ctx: Context = { options, now, ecr };
  const checks: CheckResult[] = [];

  const app = await ecr.describeRepository(options.repository, options.registryId);
  checks.push(checkRepositoryExists('app-repository', 'Application repository exists', 'application repository', options.repository, app, region));
  const cache = await ecr.describeRepository(options.cacheRepository, options.cacheRegistryId);
  const cacheCheck = checkRepositoryExists('cache-repository', 'Cache repository exists', 'cache repository', options.cacheRepository, cache, region);
  if (cacheCheck.status === 'pass' && options.cacheRepository === options.repository && options.cacheRegistryId === options.registryId) {
    checks.push({
      ...cacheCheck,
      status: 'warn',
      summary: 'the cache repository is the application repository: cache manifests mix with images, and the application repository\'s ' +
        'immutable tags, scans and lifecycle rules apply to the cache',
      fix: 'use a separate cache repository (the construct creates <repository>-cache)',
    });
  } else {
    checks.push(cacheCheck);
  }

  const cacheMissing = cache.ok && cache.value === undefined;
  const skip = (id: string, title: string, why: string): CheckResult => result(id, title, { status: 'skip', summary: why });
  const noCache = `skipped: the cache repository '${options.cacheRepository}' does not exist`;
  const noDescribe = 'skipped: the cache repository could not be described';

  if (cacheMissing) {
    checks.push(skip('cache-tag-mutability', 'Cache tags are mutable', noCache));
    checks.push(skip('cache-lifecycle', 'Lifecycle rules keep the default-branch cache', noCache));
    checks.push(skip('cache-scan-on-push', 'Cache repository does not scan on push', noCache));
    checks.push(skip('default-branch-cache', `Default-branch cache (${options.defaultBranch})`, noCache));
    checks.push(skip('branch-cache', options.branch === undefined ? 'Branch cache' : `Branch cache (${options.branch})`, noCache));
  } else {
    checks.push(cache.ok ? checkTagMutability(options, cache.value!) : skip('cache-tag-mutability', 'Cache tags are mutable', noDescribe));
    const defaultImage = await ecr.describeImageByTag(options.cacheRepository, options.defaultBranchTag, options.cacheRegistryId);
    const policy = await ecr.getLifecyclePolicy(options.cacheRepository, options.cacheRegistryId);
    checks.push(checkLifecycle(options, policy, defaultImage.ok ? defaultImage.value : undefined, now));
    checks.push(cache.ok ? checkScanOnPush(options, cache.value!) : skip('cache-scan-on-push', 'Cache repository does not scan on push', noDescribe));
    checks.push(await checkDefaultBranchCache(ctx, defaultImage));
    checks.push(await checkBranchCache(ctx));
  }

  if (app.ok && app.value === undefined) {
    checks.push(skip('app-provenance', 'Application images are single manifests (no provenance index)',
      `skipped: the application repository '${options.repository}' does not exist`));
  } else {
    checks.push(await checkProvenance(ctx));
  }

  return {
    target: {
      region,
      repository: options.repository,
      cacheRepository: options.cacheRepository,
      branch: options.branch,
      branchTag: options.branchTag,
      defaultBranch: options.defaultBranch,
      defaultBranchTag: options.defaultBranchTag,
    },
    checks,
  };
}

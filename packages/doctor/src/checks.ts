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
import { classifyCallError } from './aws-errors';
import { Context, Outcome, callError, result } from './check-kit';
import { ageInDays, formatAgo, formatBytes, formatPushed } from './format';
import { buildahTags, inlineTagsOf } from './layout';
import { Layout, LayoutStrategy, checkCacheLayout, checkCacheScopes, checkInlineCache, checkStepCache, resolveLayout, scopesOf } from './layout-checks';
import {
  LifecyclePolicyRule,
  countFateNow,
  describeRule,
  describeSelection,
  imageFate,
  parseLifecyclePolicy,
  selectingRule,
  wildcardMatches,
} from './lifecycle';
import {
  ACCEPTED_MEDIA_TYPES,
  describeMediaType,
  isIndexMediaType,
  judgeCacheManifest,
  readIndex,
} from './manifests';
import { CheckResult, DoctorReport } from './report';

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

/** What an immutable cache tag does to each strategy's cache export. */
const REFRESH_NOTE: Record<LayoutStrategy, string> = {
  registry: 'a build cannot overwrite an existing immutable cache tag: the export is refused (ImageTagAlreadyExistsException), ' +
    'the build ignores it (ignore-error=true), and the cache never refreshes',
  inline: 'a build cannot overwrite an existing immutable cache tag <scope>-e<N>: the push is refused (ImageTagAlreadyExistsException), ' +
    'the build only warns, and that tag\'s cache never refreshes',
  buildah: 'Buildah pushes a step\'s cache key again whenever it executes the step (after its tag expired, or when pulling it failed): ' +
    'an immutable tag refuses the re-push, which fails the build with cache export (the construct then builds again without exporting the cache)',
};

/**
 * `tags`: the cache tags the builds write (the default branch's, the branch's; examples of the
 * strategy's tags when none exists yet).
 */
export function checkTagMutability(options: DoctorOptions, repo: Repository, strategy: LayoutStrategy, tags: readonly string[]): CheckResult {
  const id = 'cache-tag-mutability';
  const title = 'Cache tags are mutable';
  const mutability = repo.imageTagMutability ?? 'MUTABLE';
  const filters = (repo.imageTagMutabilityExclusionFilters ?? []).map((f) => f.filter ?? '').filter((f) => f !== '');
  const matching = (tag: string) => filters.some((f) => wildcardMatches(f, tag));
  const fixMutable = `make the cache tags mutable: \`aws ecr put-image-tag-mutability --repository-name ${options.cacheRepository} --image-tag-mutability MUTABLE\``;
  const refreshNote = REFRESH_NOTE[strategy];
  // Buildah's export failure costs a second build, not the cache.
  const immutableStatus = strategy === 'buildah' ? 'warn' : 'fail';
  switch (mutability) {
    case 'MUTABLE':
      return result(id, title, { status: 'pass', summary: 'MUTABLE: every build can overwrite its cache tag' });
    case 'IMMUTABLE':
      return result(id, title, { status: immutableStatus, summary: `IMMUTABLE: ${refreshNote}`, fix: fixMutable });
    case 'IMMUTABLE_WITH_EXCLUSION': {
      const details = [`exclusion filters (mutable tags): ${filters.length ? filters.join(', ') : 'none'}`];
      const immutable = tags.filter((t) => !matching(t));
      if (immutable.length === 0) {
        return result(id, title, {
          status: 'pass',
          summary: `IMMUTABLE_WITH_EXCLUSION, and the exclusion filters make the cache tags ${tags.join(', ')} mutable`,
          details: [...details, strategy === 'buildah' ? 'every step tag (64 hex digits) must match a filter too' : 'every other scope\'s cache tag must match a filter too'],
        });
      }
      return result(id, title, {
        status: immutableStatus,
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
        status: immutableStatus,
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

/** A cache the lifecycle rules must keep: a tag the builds read, and the image holding it (when there is one). */
export interface KeptCache {
  /** `default-branch cache tag`, `step tag` */
  readonly what: string;
  readonly tag: string;
  /** How the tag is shown, when not as it is (`br-x-e<N>` for tags not pushed yet, a cut cache key). */
  readonly shown?: string;
  readonly image?: ImageDetail;
}

/** `default-branch cache tags main-e3, main-e8: <explanation>`: the caches with one explanation in one line. */
function groupedLines(entries: ReadonlyArray<{ cache: KeptCache; explanation: string }>): string[] {
  const groups = new Map<string, KeptCache[]>();
  for (const { cache, explanation } of entries) {
    const key = `${cache.what}\u0000${explanation}`;
    groups.set(key, [...(groups.get(key) ?? []), cache]);
  }
  return [...groups].map(([key, caches]) => {
    const [what, explanation] = key.split('\u0000');
    const names = caches.map((c) => c.shown ?? c.tag);
    const list = names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
    return `${what}${caches.length > 1 ? 's' : ''} ${list}: ${explanation}`;
  });
}

/** The fix for a rule that expires the default-branch cache: a rule 1 that keeps `pattern`. */
function keepRuleFix(rule: LifecyclePolicyRule | undefined, pattern: string, count: number): string {
  return `add a rule with a higher priority (lower rulePriority) than ${rule ? `rule ${rule.rulePriority}` : 'the others'} that selects ` +
    `\`{"tagStatus": "tagged", "tagPatternList": ["${pattern}"], "countType": "imageCountMoreThan", "countNumber": ${count}}\` (the construct's own cache repository has it as rule 1)`;
}

/**
 * Whether the lifecycle policy keeps the caches the builds read: the default branch's (registry
 * and inline), or the step tags (Buildah, whose tags all expire by age, by design). `others`: the
 * branch's cache, reported only; `images`: the tags of every cache image, for count rules.
 */
export function checkLifecycle(
  options: DoctorOptions,
  strategy: LayoutStrategy,
  policy: Outcome<string | undefined>,
  kept: readonly KeptCache[],
  others: readonly KeptCache[],
  images: ReadonlyArray<readonly string[]>,
  now: Date,
): CheckResult {
  const id = 'cache-lifecycle';
  const buildah = strategy === 'buildah';
  const title = buildah ? 'Lifecycle rules and the step cache' : 'Lifecycle rules keep the default-branch cache';
  const what = buildah ? 'the step cache' : `the default-branch cache (${kept.map((k) => k.tag).join(', ')})`;
  if (!policy.ok) return callError(id, title, policy.problem);
  if (policy.value === undefined) {
    return result(id, title, {
      status: 'pass',
      summary: `no lifecycle policy: nothing expires ${what}`,
      details: [buildah
        ? 'step tags of changed steps and replaced (untagged) manifests are never cleaned up; the construct\'s own cache repository has rules for that'
        : 'old branch caches and replaced (untagged) cache manifests are never cleaned up; the construct\'s own cache repository has rules for that'],
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
  const details: string[] = [];
  // A count rule that can select other scopes' tags expires the default branch's cache once
  // enough of them are pushed; one that selects only its tags keeps it while they are few enough.
  const otherScopes = ['br-x', 'pr-1', 'pr-br-x', 'tag-x'].map((t) => (strategy === 'inline' ? `${t}-e1` : t));
  const fates = kept.map((k) => {
    // The image may carry more tags than this one (an identical export of another scope).
    const fate = imageFate(rules, k.image?.imageTags?.length ? k.image.imageTags : [k.tag]);
    const selectsOthers = otherScopes.some((t) => selectingRule(rules, [t]) === fate.rule);
    const count = buildah || !selectsOthers ? countFateNow(rules, fate, images) : undefined;
    const rule = fate.rule ? `${describeRule(fate.rule)} selects it (${describeSelection(fate.rule)}) and keeps the ${fate.limit} most recently pushed image(s) it selects` : '';
    const explanation = !count ? fate.explanation : count.kept
      ? `${rule}; it selects ${count.claimed} now${buildah ? '' : ', and no other scope\'s tag'}: none is expired yet`
      : `${rule}; it selects ${count.claimed} now: the oldest ${count.claimed - fate.limit!} go`;
    return { k, fate, explanation, keptNow: fate.kind === 'kept' || count?.kept === true };
  });
  const lines = groupedLines([
    ...fates.map((f) => ({ cache: f.k, explanation: f.explanation })),
    ...others.map((o) => ({ cache: o, explanation: imageFate(rules, [o.tag]).explanation })),
  ]);
  details.push(...lines.map((line, i) => (i === 0 ? `${rules.length} rule(s); ${line}` : line)));

  if (buildah) {
    const counted = fates.filter((f) => f.fate.kind === 'count' && !f.keptNow);
    const ages = [...new Set(fates.filter((f) => f.fate.kind === 'age' || f.fate.kind === 'unpulled').map((f) => f.fate.limit!))];
    if (counted.length > 0) {
      return result(id, title, {
        status: 'warn',
        summary: `a count rule expires ${counted.length} of the ${fates.length} step tag(s) already: steps that did not change are rebuilt`,
        details,
        fix: 'expire step tags by age only (`sinceImagePushed`), as the construct\'s own cache repository does',
      });
    }
    const shortest = ages.length ? Math.min(...ages) : undefined;
    return result(id, title, {
      status: 'pass',
      summary: shortest === undefined
        ? 'no rule expires the step tags'
        : `step tags expire ${shortest} day(s) after their push, whichever branch uses them: a step unchanged for longer is rebuilt (and pushed again) once`,
      details,
    });
  }

  const lost = fates.find((f) => !f.keptNow);
  if (!lost) {
    return result(id, title, { status: 'pass', summary: `no rule would expire ${what}`, details });
  }
  const { fate, k } = lost;
  if (fate.kind === 'age' && k.image?.imagePushedAt) {
    const days = ageInDays(k.image.imagePushedAt, now);
    details.push(days >= fate.limit!
      ? `the default-branch cache was pushed ${days} day(s) ago: it is due now (ECR acts within 24 hours)`
      : `the default-branch cache was pushed ${days} day(s) ago: it goes if the default branch is not built in the next ${fate.limit! - days} day(s)`);
  }
  if (fate.kind === 'unpulled' && k.image?.lastRecordedPullTime) {
    details.push(`last recorded pull: ${formatPushed(k.image.lastRecordedPullTime, now)}`);
  }
  const scope = kept.length > 0 && strategy === 'inline' ? `${k.tag.replace(/-e[0-9]+$/, '')}-e*` : k.tag;
  return result(id, title, {
    status: 'fail',
    summary: `the lifecycle policy would remove ${what}: then every new branch and the next default-branch build start cold`,
    details,
    fix: keepRuleFix(fate.rule, scope, strategy === 'inline' ? 1000 : 1),
  });
}

// ---------------------------------------------------------------- scan on push

export function checkScanOnPush(options: DoctorOptions, repo: Repository, strategy?: LayoutStrategy): CheckResult {
  const id = 'cache-scan-on-push';
  const title = 'Cache repository does not scan on push';
  if (repo.imageScanningConfiguration?.scanOnPush) {
    const images = strategy === 'inline' ? 'images whose content the application repository\'s scans cover already'
      : 'step images, parts of the image the application repository\'s scans cover already';
    return result(id, title, {
      status: 'warn',
      summary: strategy === 'inline' || strategy === 'buildah'
        ? `scan on push is on: every cache push is scanned, but the ${strategy} strategy's cache tags hold ${images}, so the scans are wasted`
        : 'scan on push is on: every cache export is scanned, but cache manifests are not runnable images ' +
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

/** One scope's cache check: its id, its title and the scope (with its architecture suffix). */
export interface CacheTarget {
  readonly id: string;
  readonly title: string;
  readonly scope: string;
}

/** The default branch's scopes: one, or one per architecture in use. */
export function defaultTargets(options: DoctorOptions, layout: Layout): CacheTarget[] {
  return scopesOf(options.defaultBranchTag, layout.architectures).map(({ scope, architecture }) => ({
    id: architecture ? `default-branch-cache-${architecture}` : 'default-branch-cache',
    title: `Default-branch cache (${options.defaultBranch}${architecture ? `, ${architecture}` : ''})`,
    scope,
  }));
}

/** The --branch's scopes (none when its cache is the default branch's or it has none). */
export function branchTargets(options: DoctorOptions, layout: Layout): CacheTarget[] {
  if (!options.branchTag || options.branchTag === options.defaultBranchTag) return [];
  return scopesOf(options.branchTag, layout.architectures).map(({ scope, architecture }) => ({
    id: architecture ? `branch-cache-${architecture}` : 'branch-cache',
    title: `Branch cache (${options.branch}${architecture ? `, ${architecture}` : ''})`,
    scope,
  }));
}

/** The default branch's cache, in the registry or the inline layout. */
export async function checkDefaultBranchCache(
  ctx: Context, layout: Layout, target: CacheTarget, image: Outcome<ImageDetail | undefined>,
): Promise<CheckResult> {
  const { options } = ctx;
  const { id, title, scope } = target;
  if (layout.strategy === 'inline') {
    return checkInlineCache(ctx, layout, id, title, scope, () => result(id, title, {
      status: 'fail',
      summary: `no inline cache tag ${scope}-e<N>: builds of new branches and the next ${options.defaultBranch} build start cold`,
      details: [`looked for ${options.cacheRepository}:${scope}-e<N> among ${layout.images.length} tagged image(s)`],
      fix: `build ${options.defaultBranch} once with the inline strategy. If it was built already, its cache push failed or every step was ` +
        'cached: look for "inline cache:" in the build log, and check that --default-branch matches the construct\'s defaultBranch',
    }));
  }
  return judgeCacheTag(ctx, id, title, scope, image, () => result(id, title, {
    status: 'fail',
    summary: `no cache manifest at tag ${scope}: builds of new branches and the next ${options.defaultBranch} build start cold`,
    details: [`looked for ${options.cacheRepository}:${scope}`],
    fix: `build ${options.defaultBranch} once with the registry strategy. If it was built already, its cache export failed: ` +
      'look at the "exporting cache" step of the build log (ignore-error=true keeps the build green), and check that ' +
      '--default-branch matches the construct\'s defaultBranch',
  }));
}

/** Why there is no branch cache to check, or undefined when there is one. */
export function branchSkip(options: DoctorOptions, layout: Layout): CheckResult | undefined {
  const id = 'branch-cache';
  const title = options.branch === undefined ? 'Branch cache' : `Branch cache (${options.branch})`;
  if (options.branch === undefined) {
    return result(id, title, { status: 'skip', summary: 'no --branch given' });
  }
  if (layout.strategy === 'buildah') {
    return result(id, title, {
      status: 'skip',
      summary: 'Buildah\'s step cache has no branch scopes: every branch reads the same step tags (see Step cache)',
    });
  }
  if (options.branchTag === '') {
    return result(id, title, {
      status: 'skip',
      summary: `'${options.branch}' names no branch: such a build writes no cache and reads the default branch's (${options.defaultBranchTag})`,
    });
  }
  if (options.branchTag === options.defaultBranchTag) {
    return result(id, title, { status: 'skip', summary: `'${options.branch}' is the default branch: its cache scope ${options.defaultBranchTag} is checked above` });
  }
  return undefined;
}

export async function checkBranchCache(ctx: Context, layout: Layout, target: CacheTarget): Promise<CheckResult> {
  const { options, ecr } = ctx;
  const { id, title, scope } = target;
  const defaults = scopesOf(options.defaultBranchTag, layout.architectures).map((s) => s.scope);
  const defaultScope = defaults.find((d) => scope.endsWith(d.slice(options.defaultBranchTag.length))) ?? options.defaultBranchTag;
  const fix = 'expected before the branch\'s first build, or after its cache expired. If the branch was built recently, its cache export failed: ' +
    `look for "${layout.strategy === 'inline' ? 'inline cache:' : 'exporting cache'}" in the build log, and check the lifecycle rules for branch caches`;
  if (layout.strategy === 'inline') {
    return checkInlineCache(ctx, layout, id, title, scope, () => result(id, title, {
      status: 'warn',
      summary: `no inline cache tag ${scope}-e<N>: the branch's builds import only the default branch's cache (${defaultScope}-e<N>)`,
      details: [`looked for ${options.cacheRepository}:${scope}-e<N> among ${layout.images.length} tagged image(s)`],
      fix,
    }));
  }
  const image = await ecr.describeImageByTag(options.cacheRepository, scope, options.cacheRegistryId);
  return judgeCacheTag(ctx, id, title, scope, image, () => result(id, title, {
    status: 'warn',
    summary: `no cache manifest at tag ${scope}: the branch's builds import only the default branch's cache (${defaultScope})`,
    details: [`looked for ${options.cacheRepository}:${scope}`],
    fix,
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

/**
 * What the lifecycle rules must keep (the default branch's cache tags; for Buildah every step tag),
 * the branch's cache (reported), and the tags the builds write (for the mutability check).
 */
function lifecycleTargets(
  layout: Layout, defaults: readonly CacheTarget[], branches: readonly CacheTarget[], defaultImages: ReadonlyArray<Outcome<ImageDetail | undefined>>,
): { kept: KeptCache[]; others: KeptCache[]; writtenTags: string[] } {
  switch (layout.strategy) {
    case 'buildah': {
      const steps = buildahTags(layout.images);
      // No step tag yet: what the rules would do to one (any 64-hex tag).
      const kept: KeptCache[] = steps.length
        ? steps.map(({ tag, image }) => ({ what: 'step tag', tag, shown: `${tag.slice(0, 12)}...`, image }))
        : [{ what: 'step tag', tag: '0'.repeat(64), shown: '<cache key> (none yet)' }];
      return { kept, others: [], writtenTags: [kept[0].tag] };
    }
    case 'inline': {
      const tagsOf = (what: string, t: CacheTarget): KeptCache[] => {
        const found = inlineTagsOf(layout.images, t.scope);
        // No tag yet: what the rules would do to the first one.
        return found.length ? found.map(({ tag, image }) => ({ what, tag, image })) : [{ what, tag: `${t.scope}-e1`, shown: `${t.scope}-e<N>` }];
      };
      const kept = defaults.flatMap((t) => tagsOf('default-branch cache tag', t));
      const others = branches.flatMap((t) => tagsOf('branch cache tag', t));
      return { kept, others, writtenTags: [...kept, ...others].map((k) => k.tag) };
    }
    default: {
      const kept = defaults.map((t, i) => {
        const image = defaultImages[i];
        return { what: 'default-branch cache tag', tag: t.scope, image: image.ok ? image.value : undefined };
      });
      const others = branches.map((t) => ({ what: 'branch cache tag', tag: t.scope }));
      return { kept, others, writtenTags: [...kept, ...others].map((k) => k.tag) };
    }
  }
}

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
  const noLayout = 'skipped: the cache strategy is not known (see Cache layout)';
  let layout: Layout | undefined;

  if (cacheMissing) {
    checks.push(skip('cache-layout', 'Cache layout', noCache));
    checks.push(skip('cache-tag-mutability', 'Cache tags are mutable', noCache));
    checks.push(skip('cache-lifecycle', 'Lifecycle rules keep the default-branch cache', noCache));
    checks.push(skip('cache-scan-on-push', 'Cache repository does not scan on push', noCache));
    checks.push(skip('default-branch-cache', `Default-branch cache (${options.defaultBranch})`, noCache));
    checks.push(skip('branch-cache', options.branch === undefined ? 'Branch cache' : `Branch cache (${options.branch})`, noCache));
  } else {
    const policy = await ecr.getLifecyclePolicy(options.cacheRepository, options.cacheRegistryId);
    const listing = await ecr.describeTaggedImages(options.cacheRepository, options.cacheRegistryId);
    layout = resolveLayout(options, listing, policy);
    checks.push(checkCacheLayout(options, layout));
    const strategy = layout.strategy;
    if (strategy === undefined) {
      checks.push(skip('cache-tag-mutability', 'Cache tags are mutable', noLayout));
      checks.push(skip('cache-lifecycle', 'Lifecycle rules keep the default-branch cache', noLayout));
      checks.push(cache.ok ? checkScanOnPush(options, cache.value!) : skip('cache-scan-on-push', 'Cache repository does not scan on push', noDescribe));
      checks.push(skip('default-branch-cache', `Default-branch cache (${options.defaultBranch})`, noLayout));
      checks.push(skip('branch-cache', options.branch === undefined ? 'Branch cache' : `Branch cache (${options.branch})`, noLayout));
    } else {
      const defaults = defaultTargets(options, layout);
      const branches = branchTargets(options, layout);
      // registry: one describe by tag per default-branch scope (exact, whatever the listing holds).
      const defaultImages = strategy === 'registry'
        ? await Promise.all(defaults.map((t) => ecr.describeImageByTag(options.cacheRepository, t.scope, options.cacheRegistryId)))
        : defaults.map((): Outcome<ImageDetail | undefined> => ({ ok: true, value: undefined }));
      const { kept, others, writtenTags } = lifecycleTargets(layout, defaults, branches, defaultImages);
      checks.push(cache.ok
        ? checkTagMutability(options, cache.value!, strategy, writtenTags)
        : skip('cache-tag-mutability', 'Cache tags are mutable', noDescribe));
      checks.push(checkLifecycle(options, strategy, policy, kept, others, layout.images.map((i) => i.imageTags ?? []), now));
      checks.push(cache.ok ? checkScanOnPush(options, cache.value!, strategy) : skip('cache-scan-on-push', 'Cache repository does not scan on push', noDescribe));
      if (strategy === 'buildah') {
        checks.push(checkStepCache(ctx, layout));
      } else {
        for (const [i, t] of defaults.entries()) checks.push(await checkDefaultBranchCache(ctx, layout, t, defaultImages[i]));
      }
      const skipped = branchSkip(options, layout);
      if (skipped) checks.push(skipped);
      for (const t of skipped ? [] : branches) checks.push(await checkBranchCache(ctx, layout, t));
      checks.push(checkCacheScopes(options, layout, now));
    }
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
      strategy: layout?.strategy,
      strategySource: layout?.source,
      architectures: layout?.architectures ?? [],
    },
    checks,
  };
}

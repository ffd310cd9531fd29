/**
 * The checks that depend on the cache strategy's layout: which strategy wrote the cache
 * repository, the scopes it holds (whose branch, pull request or git tag, and when the lifecycle
 * rules expire them), the inline strategy's `<scope>-e<N>` tags and Buildah's step tags.
 */
import type { ImageDetail } from '@aws-sdk/client-ecr';
import { DoctorOptions } from './args';
import { CallProblem } from './aws-errors';
import { Context, Outcome, callError, result } from './check-kit';
import { ageInDays, formatAgo, formatBytes, formatPushed } from './format';
import {
  Detection,
  DetectionSource,
  FACTORY,
  STRATEGIES,
  ScopeEntry,
  StrategyName,
  architecturesInUse,
  buildahTags,
  detectStrategy,
  inlineTagsOf,
  listScopes,
} from './layout';
import { LifecyclePolicyRule, describeRule, imageFate, parseLifecyclePolicy } from './lifecycle';
import { BUILDKIT_CACHE_CONFIG, describeMediaType, isIndexMediaType } from './manifests';
import { CheckResult } from './report';
import { describeScope } from './scopes';

export type LayoutStrategy = StrategyName;

/** What the doctor knows of the cache repository's layout. */
export interface Layout {
  /** Given with --strategy, or detected; undefined when neither. */
  readonly strategy?: StrategyName;
  readonly source: 'option' | DetectionSource;
  readonly detection: Detection;
  /** Why the tagged images could not be listed. */
  readonly listingProblem?: CallProblem;
  /** Whether the listing holds every tagged image (it stops after 10 pages). */
  readonly complete: boolean;
  /** The cache repository's tagged images. */
  readonly images: ImageDetail[];
  /** The architectures of per-architecture scopes (empty: single-architecture scopes). */
  readonly architectures: string[];
  /** The cache repository's lifecycle rules, when it has a policy the doctor can read. */
  readonly rules?: LifecyclePolicyRule[];
}

/** A scope, or its per-architecture scopes. */
export function scopesOf(scope: string, architectures: readonly string[]): Array<{ scope: string; architecture?: string }> {
  return architectures.length ? architectures.map((a) => ({ scope: `${scope}-${a}`, architecture: a })) : [{ scope }];
}

/** The layout: --strategy, or what the tags (else the lifecycle policy) show. */
export function resolveLayout(
  options: DoctorOptions,
  listing: Outcome<{ images: ImageDetail[]; complete: boolean }>,
  policy: Outcome<string | undefined>,
): Layout {
  let rules: LifecyclePolicyRule[] | undefined;
  if (policy.ok && policy.value !== undefined) {
    try {
      rules = parseLifecyclePolicy(policy.value);
    } catch {
      // The lifecycle check reports it.
    }
  }
  const images = listing.ok ? listing.value.images : [];
  const detection = listing.ok
    ? detectStrategy(images, options.defaultBranchTag, rules)
    : detectStrategy(undefined, options.defaultBranchTag, rules, listing.problem.message);
  const strategy = options.strategy ?? detection.strategy;
  return {
    strategy,
    source: options.strategy ? 'option' : detection.source,
    detection,
    ...(listing.ok ? {} : { listingProblem: listing.problem }),
    complete: listing.ok && listing.value.complete,
    images,
    architectures: strategy && strategy !== 'buildah' ? architecturesInUse(images, strategy, options.defaultBranchTag) : [],
    rules,
  };
}

const ASK_FOR_STRATEGY = `pass --strategy ${STRATEGIES.join('|')}: the construct's cacheStrategy prop (${FACTORY.registry} is the default)`;

/** Which strategy the doctor checks the cache repository for, and why. */
export function checkCacheLayout(options: DoctorOptions, layout: Layout): CheckResult {
  const id = 'cache-layout';
  const title = 'Cache layout';
  const { detection, strategy } = layout;
  const details: string[] = [];
  if (!layout.listingProblem) {
    details.push(`tagged images: ${layout.images.length}${layout.complete ? '' : ' (the listing stopped there: the detection saw only these)'}`);
  }
  if (layout.architectures.length) {
    details.push(`per-architecture scopes: ${layout.architectures.join(', ')} (${scopesOf(options.defaultBranchTag, layout.architectures).map((s) => s.scope).join(', ')})`);
  }
  if (strategy === undefined) {
    if (layout.listingProblem) {
      return { ...callError(id, title, layout.listingProblem), details: [detection.reason], fix: `${ASK_FOR_STRATEGY}, or allow ecr:DescribeImages` };
    }
    return result(id, title, { status: 'error', summary: `cannot tell the cache strategy: ${detection.reason}`, details, fix: ASK_FOR_STRATEGY });
  }
  const name = `${strategy} strategy (${FACTORY[strategy]})`;
  if (layout.source !== 'option') {
    return result(id, title, {
      status: 'pass',
      summary: `${name}, detected from the ${layout.source === 'tags' ? 'tags' : 'lifecycle policy'}: ${detection.reason}`,
      details,
    });
  }
  if (layout.listingProblem) {
    return result(id, title, {
      status: 'pass',
      summary: `${name}, as --strategy says (the tags could not be listed: ${layout.listingProblem.message})`,
      details,
    });
  }
  if (detection.strategy !== undefined && detection.strategy !== strategy && detection.source === 'tags') {
    return result(id, title, {
      status: 'warn',
      summary: `--strategy ${strategy}, but the cache repository holds the ${detection.strategy} strategy's tags: ${detection.reason}`,
      details,
      fix: `check the construct's cacheStrategy prop: for ${FACTORY[detection.strategy]} pass --strategy ${detection.strategy}. ` +
        'After a switch of strategy, the old strategy\'s tags expire by the lifecycle rules',
    });
  }
  return result(id, title, {
    status: 'pass',
    summary: `${name}, as --strategy says`,
    details: [...details, `the contents: ${detection.reason}`],
  });
}

/** `rule 3 expires it 14 days after its last push: in 13 days`, for one scope's newest image. */
function lifecycleNote(rules: readonly LifecyclePolicyRule[], image: ImageDetail, now: Date): string {
  const fate = imageFate(rules, image.imageTags ?? []);
  const rule = fate.rule ? describeRule(fate.rule).replace(/ \(".*"\)$/, '') : '';
  const verb = fate.action === 'transition' ? 'archives' : 'expires';
  switch (fate.kind) {
    case 'kept':
      return fate.rule ? `kept by ${rule}` : 'no rule expires it';
    case 'age': {
      const left = image.imagePushedAt ? fate.limit! - ageInDays(image.imagePushedAt, now) : undefined;
      const when = left === undefined ? '' : left > 0 ? `: in ${left} day(s)` : ': due now';
      return `${rule} ${verb} it ${fate.limit} day(s) after its last push${when}`;
    }
    case 'unpulled':
      return `${rule} ${verb} it ${fate.limit} day(s) after its last pull`;
    default:
      return `${rule} keeps only the ${fate.limit} newest image(s) it selects`;
  }
}

const SCOPES_SHOWN = 25;

function scopeLine(entry: ScopeEntry, options: DoctorOptions, layout: Layout, now: Date): string {
  const newest = [...entry.tags].sort((a, b) => (b.image.imagePushedAt?.getTime() ?? 0) - (a.image.imagePushedAt?.getTime() ?? 0))[0];
  const tags = layout.strategy === 'inline' ? `, ${entry.tags.length} tag(s) (${entry.tags.map((t) => t.tag.slice(entry.scope.length + 1)).join(', ')})` : '';
  const fate = layout.rules ? `; ${lifecycleNote(layout.rules, newest.image, now)}` : '';
  const arch = entry.parsed.architecture;
  const base = arch ? entry.scope.slice(0, -(arch.length + 1)) : entry.scope;
  // The --branch's scope is named by the branch as given (a mapped scope keeps only part of it).
  const who = options.branch !== undefined && base === options.branchTag && entry.parsed.kind === 'branch'
    ? `branch ${options.branch} (--branch)${arch ? `, ${arch}` : ''}`
    : describeScope(entry.parsed, options.defaultBranch);
  return `${entry.scope}: ${who}${tags}, pushed ${formatAgo(entry.pushedAt, now)}${fate}`;
}

/** The scopes in the cache repository: whose cache each is, and when the lifecycle rules expire it. */
export function checkCacheScopes(options: DoctorOptions, layout: Layout, now: Date): CheckResult {
  const id = 'cache-scopes';
  const title = 'Cache scopes';
  if (layout.strategy === 'buildah') {
    return result(id, title, {
      status: 'skip',
      summary: 'Buildah keys its step tags by content, not by branch: they belong to no branch, pull request or git tag',
    });
  }
  if (layout.listingProblem || layout.strategy === undefined) {
    return result(id, title, { status: 'skip', summary: 'skipped: the cache repository\'s tags could not be read by a known layout' });
  }
  const { scopes, other } = listScopes(layout.images, layout.strategy, options.defaultBranchTag, layout.architectures.length > 0);
  const count = (kinds: string[]) => scopes.filter((s) => kinds.includes(s.parsed.kind)).length;
  const parts = [
    count(['default-branch']) ? `${count(['default-branch'])} of the default branch` : '',
    count(['branch']) ? `${count(['branch'])} of branches` : '',
    count(['pull-request', 'pull-request-branch']) ? `${count(['pull-request', 'pull-request-branch'])} of pull requests` : '',
    count(['git-tag']) ? `${count(['git-tag'])} of git tags` : '',
  ].filter((p) => p !== '');
  const details = scopes.slice(0, SCOPES_SHOWN).map((e) => scopeLine(e, options, layout, now));
  if (scopes.length > SCOPES_SHOWN) details.push(`... and ${scopes.length - SCOPES_SHOWN} more scope(s)`);
  if (other.length) {
    details.push(`${other.length} other tag(s), not a scope of the ${layout.strategy} layout (pushed by something else, or by a construct ` +
      `version before event-aware scopes): ${other.slice(0, 10).join(', ')}${other.length > 10 ? ', ...' : ''}`);
  }
  return result(id, title, {
    status: 'pass',
    summary: scopes.length ? `${scopes.length} scope(s): ${parts.join(', ')}` : 'no cache scope yet',
    details,
  });
}

/** `main-e8: Docker image manifest v2 (...), 61.3 MiB, pushed ...` */
function imageLine(tag: string, image: ImageDetail, now: Date): string {
  const size = image.imageSizeInBytes === undefined ? 'size unknown' : formatBytes(image.imageSizeInBytes);
  return `${tag}: ${describeMediaType(image.imageManifestMediaType)}, ${size}, pushed ${formatPushed(image.imagePushedAt, now)}`;
}

const archived = (image: ImageDetail) => image.imageStatus === 'ARCHIVED' || image.imageStatus === 'ACTIVATING';

/** The inline strategy's cache of one scope: its `<scope>-e<N>` tags, each an image with inline cache metadata. */
export function checkInlineCache(
  ctx: Context, layout: Layout, id: string, title: string, scope: string, missing: () => CheckResult,
): CheckResult {
  const { now } = ctx;
  const tags = inlineTagsOf(layout.images, scope);
  if (tags.length === 0) {
    const found = missing();
    return layout.complete ? found : { ...found, details: [...found.details, 'the listing of tagged images stopped after 10 pages: the tags may be further on'] };
  }
  const details = tags.map(({ tag, image }) => imageLine(tag, image, now));
  const caches = tags.filter(({ image }) => image.artifactMediaType === BUILDKIT_CACHE_CONFIG);
  if (caches.length) {
    return result(id, title, {
      status: 'fail',
      summary: `${caches.map((c) => c.tag).join(', ')} hold(s) a BuildKit registry cache manifest (config ${BUILDKIT_CACHE_CONFIG}), not an image with ` +
        'inline cache: the inline strategy\'s builds cannot import it',
      details,
      fix: `push nothing else to the cache repository; if the construct uses ${FACTORY.registry}, pass --strategy registry`,
    });
  }
  const gone = tags.filter(({ image }) => archived(image));
  if (gone.length) {
    return result(id, title, {
      status: gone.length === tags.length ? 'fail' : 'warn',
      summary: `${gone.map((g) => g.tag).join(', ')} is/are archived: archived images cannot be pulled, so builds miss their steps`,
      details,
      fix: 'restore them from the archive storage class, or let the next build push new ones; keep lifecycle rules from archiving cache tags',
    });
  }
  if (tags.some(({ image }) => isIndexMediaType(image.imageManifestMediaType))) {
    details.push('an image index: BuildKit reads the inline cache from the image config of the build\'s platform');
  }
  const newest = [...tags].sort((a, b) => (b.image.imagePushedAt?.getTime() ?? 0) - (a.image.imagePushedAt?.getTime() ?? 0))[0];
  return result(id, title, {
    status: 'pass',
    summary: `${tags.length} inline cache tag(s) ${scope}-e<N> (N: ${tags.map((t) => t.executedSteps).join(', ')}), all imported by each build ` +
      `that reads the scope; the newest, ${newest.tag}, pushed ${formatAgo(newest.image.imagePushedAt, now)}`,
    details,
  });
}

/** Buildah's step cache: one image per executed step, at its cache key, shared by every branch. */
export function checkStepCache(ctx: Context, layout: Layout): CheckResult {
  const { now, options } = ctx;
  const id = 'step-cache';
  const title = 'Step cache (Buildah, shared by every branch)';
  const steps = buildahTags(layout.images);
  if (steps.length === 0) {
    return result(id, title, {
      status: 'fail',
      summary: 'no step cache tag (a 64-hex cache key): every build starts cold',
      details: [`looked for 64-hex tags among the ${layout.images.length} tagged image(s) of ${options.cacheRepository}`],
      fix: 'build once with the buildah strategy: a build that is not a pull request pushes one tag per executed step. If it was built already, ' +
        'its cache push failed: look for "Pushing cache" and "failed pushing cache to" in the build log',
    });
  }
  const newest = steps[0];
  const oldest = steps[steps.length - 1];
  const byType = new Map<string, number>();
  for (const { image } of steps) {
    const t = describeMediaType(image.imageManifestMediaType);
    byType.set(t, (byType.get(t) ?? 0) + 1);
  }
  const details = [
    `newest: ${imageLine(newest.tag, newest.image, now)}`,
    `oldest: ${imageLine(oldest.tag, oldest.image, now)}`,
    `manifests: ${[...byType].map(([t, n]) => `${n} ${t}`).join(', ')}`,
    `total size: ${formatBytes(steps.reduce((sum, { image }) => sum + (image.imageSizeInBytes ?? 0), 0))} (layers shared by steps count once per step)`,
    'Buildah keys each step by its instruction and its base\'s layers: every branch, pull request and git tag reads the same tags; ' +
      'pull requests do not write them',
  ];
  const notImages = steps.filter(({ image }) => image.artifactMediaType === BUILDKIT_CACHE_CONFIG || isIndexMediaType(image.imageManifestMediaType));
  const gone = steps.filter(({ image }) => archived(image));
  if (notImages.length || gone.length) {
    return result(id, title, {
      status: 'warn',
      summary: [
        notImages.length ? `${notImages.length} step tag(s) hold no image (a BuildKit cache manifest or an index), which Buildah cannot use` : '',
        gone.length ? `${gone.length} step tag(s) are archived and cannot be pulled: those steps are rebuilt` : '',
      ].filter((p) => p !== '').join('; '),
      details,
      fix: 'push nothing else to the cache repository, and keep lifecycle rules from archiving cache tags',
    });
  }
  return result(id, title, {
    status: 'pass',
    summary: `${steps.length} step cache tag(s), the newest pushed ${formatAgo(newest.image.imagePushedAt, now)}, the oldest ` +
      `${formatAgo(oldest.image.imagePushedAt, now)}`,
    details,
  });
}

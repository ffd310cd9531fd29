/**
 * The layouts the construct's cache strategies write to the cache repository, and how the doctor
 * tells them apart from the repository's contents. Pure: works on ECR's DescribeImages answers and
 * the lifecycle policy's rules, which come from the repository (untrusted text).
 *
 * - registry (`CacheStrategy.registry()`): one BuildKit cache manifest per scope, at the tag
 *   `<scope>` (an OCI image manifest whose config is `application/vnd.buildkit.cacheconfig.v0`);
 * - inline (`CacheStrategy.inline()`): images with inline cache metadata at `<scope>-e<N>`, N the
 *   number of steps the pushing build executed (src/strategies/inline.ts);
 * - buildah (`CacheStrategy.buildah()`): one image per executed step at the tag `<cache key>`, the
 *   64 hex digits of the SHA-256 Buildah computes from the step and its base (imagebuildah's
 *   generateCacheKey / pushCache), shared by every branch.
 */
import type { ImageDetail } from '@aws-sdk/client-ecr';
import { LifecyclePolicyRule } from './lifecycle';
import { BUILDKIT_CACHE_CONFIG, isIndexMediaType } from './manifests';
import { ARCHITECTURES, BUILDAH_CACHE_KEY, ParsedScope, parseInlineTag, parseScope } from './scopes';

export type StrategyName = 'registry' | 'inline' | 'buildah';

export const STRATEGIES: readonly StrategyName[] = ['registry', 'inline', 'buildah'];

/** The construct's factory for each strategy, for messages. */
export const FACTORY: Record<StrategyName, string> = {
  registry: 'CacheStrategy.registry()',
  inline: 'CacheStrategy.inline()',
  buildah: 'CacheStrategy.buildah()',
};

/**
 * Reads a scope as the strategy's layout names it, per architecture when the repository has
 * per-architecture scopes (a single-architecture leftover, from before the switch, still reads).
 */
export function readScope(scope: string, defaultScope: string, perArchitecture: boolean): ParsedScope | undefined {
  return parseScope(scope, defaultScope, perArchitecture) ?? (perArchitecture ? parseScope(scope, defaultScope, false) : undefined);
}

/** A scope in either reading (with or without an architecture suffix). */
function anyScope(scope: string, defaultScope: string): ParsedScope | undefined {
  return parseScope(scope, defaultScope, true) ?? parseScope(scope, defaultScope, false);
}

/** Which strategy wrote `tag` on `image`, judged from the tag and ECR's media types; undefined: none of them. */
export function tagEvidence(tag: string, image: ImageDetail, defaultScope: string): StrategyName | undefined {
  const config = image.artifactMediaType;
  if (config === BUILDKIT_CACHE_CONFIG) return 'registry';
  const index = isIndexMediaType(image.imageManifestMediaType);
  if (BUILDAH_CACHE_KEY.test(tag)) return index ? undefined : 'buildah';
  const inline = parseInlineTag(tag);
  if (inline && anyScope(inline.scope, defaultScope)) return 'inline';
  // A scope tag that is not a cache manifest: an index is the registry cache exported without
  // image-manifest=true (judged later); without media types the name decides.
  if (anyScope(tag, defaultScope) && (index || config === undefined)) return 'registry';
  return undefined;
}

/** How the strategy was found. */
export type DetectionSource = 'tags' | 'lifecycle-policy' | 'none';

export interface Detection {
  /** The one strategy the contents point to; undefined when none or several do. */
  readonly strategy?: StrategyName;
  readonly source: DetectionSource;
  /** The tags that point to each strategy. */
  readonly evidence: Record<StrategyName, string[]>;
  /** Why, for people. */
  readonly reason: string;
}

function examples(tags: readonly string[]): string {
  const shown = tags.slice(0, 3).map((t) => (BUILDAH_CACHE_KEY.test(t) ? `${t.slice(0, 12)}...` : t));
  return `${shown.join(', ')}${tags.length > 3 ? ', ...' : ''}`;
}

/** One strategy's evidence, for people: `2 tag(s) hold BuildKit cache manifests (main, br-feature-login)`. */
export function describeEvidence(strategy: StrategyName, tags: readonly string[]): string {
  const what = {
    registry: 'hold BuildKit cache manifests',
    inline: 'are <scope>-e<N> image tags',
    buildah: 'are 64-hex step cache keys',
  }[strategy];
  return `${tags.length} tag(s) ${what} (${examples(tags)})`;
}

/** The strategy whose lifecycle policy the construct writes, if the policy is one of those. */
export function strategyOfPolicy(
  rules: readonly LifecyclePolicyRule[], defaultScope: string,
): { strategy: StrategyName; rule: LifecyclePolicyRule } | undefined {
  for (const rule of rules) {
    const patterns = rule.selection.tagStatus.toLowerCase() === 'tagged' ? rule.selection.tagPatternList ?? [] : [];
    if (patterns.some((p) => p === `${defaultScope}-e*` || ARCHITECTURES.some((a) => p === `${defaultScope}-${a}-e*`))) {
      return { strategy: 'inline', rule };
    }
    if (patterns.some((p) => p === defaultScope || ARCHITECTURES.some((a) => p === `${defaultScope}-${a}`))) {
      return { strategy: 'registry', rule };
    }
  }
  const buildah = rules.find((r) => r.selection.tagStatus.toLowerCase() === 'any' && (r.description ?? '').startsWith('Expire cache tags '));
  if (buildah && !rules.some((r) => r.selection.tagStatus.toLowerCase() === 'tagged')) return { strategy: 'buildah', rule: buildah };
  return undefined;
}

/**
 * Which strategy wrote the cache repository: the one its tags point to; when no tag points to
 * any, the one whose lifecycle policy the construct wrote; otherwise none (ambiguous or empty).
 * `images` undefined: the tags could not be listed (`unlisted` says why).
 */
export function detectStrategy(
  images: readonly ImageDetail[] | undefined, defaultScope: string, rules: readonly LifecyclePolicyRule[] | undefined, unlisted?: string,
): Detection {
  const evidence: Record<StrategyName, string[]> = { registry: [], inline: [], buildah: [] };
  for (const image of images ?? []) {
    for (const tag of image.imageTags ?? []) {
      const s = tagEvidence(tag, image, defaultScope);
      if (s) evidence[s].push(tag);
    }
  }
  const found = STRATEGIES.filter((s) => evidence[s].length > 0);
  if (found.length === 1) {
    return { strategy: found[0], source: 'tags', evidence, reason: describeEvidence(found[0], evidence[found[0]]) };
  }
  if (found.length > 1) {
    return {
      source: 'tags',
      evidence,
      reason: `the cache repository holds the tags of several strategies: ${found.map((s) => `${s}: ${describeEvidence(s, evidence[s])}`).join('; ')}`,
    };
  }
  const byPolicy = rules ? strategyOfPolicy(rules, defaultScope) : undefined;
  if (byPolicy) {
    return {
      strategy: byPolicy.strategy,
      source: 'lifecycle-policy',
      evidence,
      reason: `${images ? 'no cache tag yet' : `the tags could not be listed (${unlisted})`}; lifecycle rule ${byPolicy.rule.rulePriority} ("${byPolicy.rule.description ?? ''}") is the one the construct writes for the ${byPolicy.strategy} strategy`,
    };
  }
  return {
    source: 'none',
    evidence,
    reason: `${images ? 'the cache repository holds no tag that a cache strategy of the construct writes' : `the tags could not be listed (${unlisted})`}, ` +
      'and its lifecycle policy is not one the construct writes',
  };
}

/**
 * The architectures of the per-architecture scopes in use: when the default branch's scope has an
 * architecture suffix (`main-amd64`; `main-amd64-e3` for the inline strategy), the suffixes of every
 * scope that reads per architecture (so that a missing `main-arm64` shows). Empty: the scopes are
 * single-architecture (a `-amd64` at the end of another scope is then part of a ref).
 */
export function architecturesInUse(images: readonly ImageDetail[], strategy: StrategyName, defaultScope: string): string[] {
  const scopes = new Set<string>();
  for (const image of images) {
    for (const tag of image.imageTags ?? []) {
      const scope = strategy === 'inline' ? parseInlineTag(tag)?.scope : tag;
      if (scope !== undefined) scopes.add(scope);
    }
  }
  if (!ARCHITECTURES.some((a) => scopes.has(`${defaultScope}-${a}`))) return [];
  const found = new Set([...scopes].map((s) => parseScope(s, defaultScope, true)?.architecture));
  return ARCHITECTURES.filter((a) => found.has(a));
}

/** The cache tags of one scope. */
export interface ScopeEntry {
  readonly scope: string;
  readonly parsed: ParsedScope;
  /** Its tags, each with its image (inline: several `-e<N>` tags; registry: the scope itself). */
  readonly tags: Array<{ readonly tag: string; readonly image: ImageDetail }>;
  /** Newest push of its tags. */
  readonly pushedAt?: Date;
}

export interface ScopeListing {
  /** Default branch first, then newest first. */
  readonly scopes: ScopeEntry[];
  /** Tags that name no scope of the strategy's layout. */
  readonly other: string[];
}

/** Groups the cache tags of a registry or inline repository by scope. */
export function listScopes(images: readonly ImageDetail[], strategy: 'registry' | 'inline', defaultScope: string, perArchitecture: boolean): ScopeListing {
  const byScope = new Map<string, ScopeEntry>();
  const other: string[] = [];
  for (const image of images) {
    for (const tag of image.imageTags ?? []) {
      const scope = strategy === 'inline' ? parseInlineTag(tag)?.scope : tag;
      const parsed = scope === undefined ? undefined : readScope(scope, defaultScope, perArchitecture);
      if (!scope || !parsed) {
        other.push(tag);
        continue;
      }
      const entry = byScope.get(scope) ?? { scope, parsed, tags: [] };
      entry.tags.push({ tag, image });
      const newest = [entry.pushedAt, image.imagePushedAt].filter((d): d is Date => d !== undefined)
        .sort((a, b) => b.getTime() - a.getTime())[0];
      byScope.set(scope, { ...entry, pushedAt: newest });
    }
  }
  const time = (e: ScopeEntry) => e.pushedAt?.getTime() ?? 0;
  const scopes = [...byScope.values()].sort((a, b) =>
    Number(b.parsed.kind === 'default-branch') - Number(a.parsed.kind === 'default-branch') || time(b) - time(a) || a.scope.localeCompare(b.scope));
  for (const e of scopes) {
    e.tags.sort((a, b) => (parseInlineTag(a.tag)?.executedSteps ?? 0) - (parseInlineTag(b.tag)?.executedSteps ?? 0));
  }
  return { scopes, other: other.sort() };
}

/** The inline cache tags of `scope` among the images, `-e<N>` ascending. */
export function inlineTagsOf(images: readonly ImageDetail[], scope: string): Array<{ tag: string; image: ImageDetail; executedSteps: number }> {
  const found: Array<{ tag: string; image: ImageDetail; executedSteps: number }> = [];
  for (const image of images) {
    for (const tag of image.imageTags ?? []) {
      const inline = parseInlineTag(tag);
      if (inline?.scope === scope) found.push({ tag, image, executedSteps: inline.executedSteps });
    }
  }
  return found.sort((a, b) => a.executedSteps - b.executedSteps);
}

/** Buildah's step cache tags among the images. */
export function buildahTags(images: readonly ImageDetail[]): Array<{ tag: string; image: ImageDetail }> {
  const found: Array<{ tag: string; image: ImageDetail }> = [];
  for (const image of images) {
    for (const tag of image.imageTags ?? []) {
      if (BUILDAH_CACHE_KEY.test(tag)) found.push({ tag, image });
    }
  }
  return found.sort((a, b) => (b.image.imagePushedAt?.getTime() ?? 0) - (a.image.imagePushedAt?.getTime() ?? 0));
}

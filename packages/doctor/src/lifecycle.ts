/**
 * ECR lifecycle policies: parse the policy text and tell what would happen to an image that
 * carries given tags (the default branch's cache manifest, usually one tag).
 *
 * Evaluation follows ECR's documented rules:
 * - rules apply in rulePriority order, lowest number first;
 * - an image whose tags satisfy a rule's tag selection cannot be expired by a rule of lower
 *   priority (higher number), whatever the higher-priority rule's count says;
 * - `tagPatternList` / `tagPrefixList`: an image is selected when every pattern (prefix) in the
 *   list matches at least one of its tags; `*` in a pattern stands for any run of characters;
 * - `tagStatus: any` selects every image, `untagged` only images without tags.
 */

/** One rule of a lifecycle policy, as written in the policy text. */
export interface LifecyclePolicyRule {
  readonly rulePriority: number;
  readonly description?: string;
  readonly selection: {
    readonly tagStatus: string;
    readonly tagPatternList?: string[];
    readonly tagPrefixList?: string[];
    readonly storageClass?: string;
    readonly countType: string;
    readonly countUnit?: string;
    readonly countNumber: number;
  };
  readonly action: { readonly type: string; readonly targetStorageClass?: string };
}

/** What the policy does to an image. */
export type ImageFateKind =
  /** No rule can act on the image. */
  | 'kept'
  /** Expired (or archived) some days after its last push. */
  | 'age'
  /** Expired (or archived) some days after its last pull. */
  | 'unpulled'
  /** Expired (or archived) once enough newer images match the same rule. */
  | 'count';

export interface ImageFate {
  readonly kind: ImageFateKind;
  /** The rule whose tag selection claims the image (none: no rule selects it). */
  readonly rule?: LifecyclePolicyRule;
  /** `expire` or `transition` (to the archive storage class): either way the cache is gone. */
  readonly action?: string;
  /** Days (kind age / unpulled) or number of images (kind count). */
  readonly limit?: number;
  /** One sentence, for people. */
  readonly explanation: string;
}

/** Parses a lifecycle policy text. Throws an Error saying what is wrong when it cannot. */
export function parseLifecyclePolicy(text: string): LifecyclePolicyRule[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`the lifecycle policy text is not JSON (${(e as Error).message})`);
  }
  const rules = (doc as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules)) {
    throw new Error('the lifecycle policy text has no "rules" list');
  }
  return rules.map((r, i) => {
    const rule = r as LifecyclePolicyRule;
    if (typeof rule?.rulePriority !== 'number' || typeof rule.selection?.tagStatus !== 'string' ||
      typeof rule.selection.countType !== 'string' || typeof rule.selection.countNumber !== 'number') {
      throw new Error(`rule ${i + 1} of the lifecycle policy lacks rulePriority, selection.tagStatus, countType or countNumber`);
    }
    return rule;
  }).sort((a, b) => a.rulePriority - b.rulePriority);
}

/** Whether `tag` matches an ECR wildcard filter (`*` = any run of characters, the rest literal). */
export function wildcardMatches(pattern: string, tag: string): boolean {
  const source = pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')).join('.*');
  return new RegExp(`^${source}$`).test(tag);
}

/** Whether the rule's selection picks an image in standard storage carrying `tags`. */
export function ruleSelects(rule: LifecyclePolicyRule, tags: readonly string[]): boolean {
  const s = rule.selection;
  // Rules for archived images do not touch an image in standard storage.
  if (s.storageClass?.toLowerCase() === 'archive' || s.countType === 'sinceImageTransitioned') return false;
  switch (s.tagStatus.toLowerCase()) {
    case 'any':
      return true;
    case 'untagged':
      return tags.length === 0;
    case 'tagged': {
      if (tags.length === 0) return false;
      const patterns = s.tagPatternList ?? [];
      const prefixes = s.tagPrefixList ?? [];
      if (patterns.length === 0 && prefixes.length === 0) return false;
      return patterns.every((p) => tags.some((t) => wildcardMatches(p, t))) &&
        prefixes.every((p) => tags.some((t) => t.startsWith(p)));
    }
    default:
      return false;
  }
}

/** Short description of a rule's selection, e.g. `tagged [main*]` or `any`. */
export function describeSelection(rule: LifecyclePolicyRule): string {
  const s = rule.selection;
  const lists: string[] = [];
  if (s.tagPatternList?.length) lists.push(`patterns [${s.tagPatternList.join(', ')}]`);
  if (s.tagPrefixList?.length) lists.push(`prefixes [${s.tagPrefixList.join(', ')}]`);
  return [s.tagStatus.toLowerCase(), ...lists].join(' ');
}

/** `rule 3 ("Expire other branches' caches ...")` */
export function describeRule(rule: LifecyclePolicyRule): string {
  return rule.description ? `rule ${rule.rulePriority} ("${rule.description}")` : `rule ${rule.rulePriority}`;
}

/** The rule that claims an image carrying `tags`: the first (by priority) whose selection picks it. */
export function selectingRule(rules: readonly LifecyclePolicyRule[], tags: readonly string[]): LifecyclePolicyRule | undefined {
  return [...rules].sort((a, b) => a.rulePriority - b.rulePriority).find((r) => ruleSelects(r, tags));
}

/**
 * A count rule's fate, now: the rule expires the oldest of the images it claims beyond its count,
 * so while it claims no more than that, none goes. `images` are the repository's images (their tags).
 */
export function countFateNow(
  rules: readonly LifecyclePolicyRule[], fate: ImageFate, images: ReadonlyArray<readonly string[]>,
): { kept: boolean; claimed: number } | undefined {
  if (fate.kind !== 'count' || !fate.rule || fate.limit === undefined) return undefined;
  const claimed = images.filter((tags) => selectingRule(rules, tags) === fate.rule).length;
  return { kept: claimed <= fate.limit, claimed };
}

/**
 * What the policy does to an image in standard storage that carries `tags`: the first rule (by
 * priority) whose tag selection picks the image decides, since lower-priority rules cannot act
 * on an image a higher-priority rule selects.
 */
export function imageFate(rules: readonly LifecyclePolicyRule[], tags: readonly string[]): ImageFate {
  const rule = selectingRule(rules, tags);
  if (!rule) {
    return { kind: 'kept', explanation: 'no lifecycle rule selects it' };
  }
  const s = rule.selection;
  const action = rule.action?.type?.toLowerCase() === 'transition' ? 'transition' : 'expire';
  const verb = action === 'transition' ? 'archives it (an archived manifest cannot be pulled)' : 'expires it';
  const name = describeRule(rule);
  switch (s.countType) {
    case 'imageCountMoreThan': {
      // A literal pattern (no `*`) names one tag: only the one image holding that tag can match,
      // so a count of 1 or more never reaches it.
      const literal = (s.tagPatternList ?? []).find((p) => !p.includes('*') && tags.includes(p));
      if (s.tagStatus.toLowerCase() === 'tagged' && literal !== undefined && s.countNumber >= 1) {
        return {
          kind: 'kept',
          rule,
          explanation: `${name} selects it by its exact tag '${literal}' and keeps ${s.countNumber} image(s): only one image can hold that tag, so it is never expired, and no lower-priority rule can act on it`,
        };
      }
      return {
        kind: 'count',
        rule,
        action,
        limit: s.countNumber,
        explanation: `${name} selects it (${describeSelection(rule)}) and keeps only the ${s.countNumber} most recently pushed image(s) it selects: once other images it selects are pushed, it ${verb}`,
      };
    }
    case 'sinceImagePushed':
      return {
        kind: 'age',
        rule,
        action,
        limit: s.countNumber,
        explanation: `${name} selects it (${describeSelection(rule)}) and ${verb} ${s.countNumber} day(s) after its last push`,
      };
    case 'sinceImagePulled':
      return {
        kind: 'unpulled',
        rule,
        action,
        limit: s.countNumber,
        explanation: `${name} selects it (${describeSelection(rule)}) and ${verb} ${s.countNumber} day(s) after its last pull`,
      };
    default:
      return {
        kind: 'count',
        rule,
        action,
        limit: s.countNumber,
        explanation: `${name} selects it (${describeSelection(rule)}) with count type '${s.countType}', which this doctor does not know: it may act on it`,
      };
  }
}

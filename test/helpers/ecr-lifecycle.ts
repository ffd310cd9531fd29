/**
 * A model of how Amazon ECR applies a lifecycle policy, for tests that ask "can this policy ever
 * expire that image?". It follows ECR's documented evaluation rules:
 * - rules are applied in order of `rulePriority`, lowest first;
 * - an image is expired by at most one rule;
 * - an image that matches the tag requirements of a rule cannot be expired by a rule of lower
 *   priority (a higher `rulePriority` number), whether or not the first rule expires it;
 * - a count rule (`imageCountMoreThan`) keeps the N most recently pushed images it selects and
 *   expires the older ones; images marked by earlier rules still count;
 * - an age rule (`sinceImagePushed`) expires the images it selects pushed more than N days ago;
 * - `tagPatternList` patterns use `*` as a wildcard and match whole tags; with several patterns
 *   an image must match each of them (as with `tagPrefixList`).
 */

/** An image in the repository: its tags (none when untagged) and how many days ago it was pushed. */
export interface EcrImage {
  readonly id: string;
  readonly tags: string[];
  readonly ageDays: number;
}

/** A rule as ECR reads it (the JSON of the repository's lifecycle policy text). */
export interface EcrLifecycleRule {
  readonly rulePriority: number;
  readonly selection: {
    readonly tagStatus: 'tagged' | 'untagged' | 'any';
    readonly tagPatternList?: string[];
    readonly tagPrefixList?: string[];
    readonly countType: 'imageCountMoreThan' | 'sinceImagePushed';
    readonly countNumber: number;
    readonly countUnit?: 'days';
  };
  readonly action: { readonly type: 'expire' };
}

function wildcardMatches(pattern: string, tag: string): boolean {
  const regex = new RegExp('^' + pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return regex.test(tag);
}

/** Whether the image meets the tag requirements of the rule's selection. */
export function selects(rule: EcrLifecycleRule, image: EcrImage): boolean {
  const s = rule.selection;
  switch (s.tagStatus) {
    case 'any':
      return true;
    case 'untagged':
      return image.tags.length === 0;
    case 'tagged':
      if (image.tags.length === 0) return false;
      if (s.tagPatternList) return s.tagPatternList.every((p) => image.tags.some((t) => wildcardMatches(p, t)));
      if (s.tagPrefixList) return s.tagPrefixList.every((p) => image.tags.some((t) => t.startsWith(p)));
      throw new Error(`rule ${rule.rulePriority}: a tagged rule needs tagPatternList or tagPrefixList`);
  }
}

/** The ids of the images the policy expires. */
export function expiredImages(rules: EcrLifecycleRule[], images: EcrImage[]): Set<string> {
  const ordered = [...rules].sort((a, b) => a.rulePriority - b.rulePriority);
  const anyRules = ordered.filter((r) => r.selection.tagStatus === 'any');
  if (anyRules.length > 0 && anyRules[0] !== ordered[ordered.length - 1]) {
    throw new Error('a tagStatus "any" rule must have the highest rulePriority');
  }
  const expired = new Set<string>();
  const claimed = new Set<string>();
  for (const rule of ordered) {
    const selected = images.filter((image) => selects(rule, image));
    const { countType, countNumber } = rule.selection;
    const candidates = countType === 'imageCountMoreThan'
      ? [...selected].sort((a, b) => a.ageDays - b.ageDays).slice(countNumber)
      : selected.filter((image) => image.ageDays > countNumber);
    for (const image of candidates) {
      if (!claimed.has(image.id)) {
        expired.add(image.id);
      }
    }
    selected.forEach((image) => claimed.add(image.id));
  }
  return expired;
}

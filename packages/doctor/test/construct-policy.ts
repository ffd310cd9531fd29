/**
 * The lifecycle policy text of a cache repository the construct creates, for each cache strategy,
 * as the construct writes it. No imports: the construct repository's test/doctor-agreement.test.ts
 * imports this file and checks it against the policy the construct synthesizes.
 */
export function constructPolicy(options: { defaultBranchTag?: string; cacheRetentionDays?: number; strategy?: 'registry' | 'inline' | 'buildah' } = {}): string {
  const tag = options.defaultBranchTag ?? 'main';
  const days = options.cacheRetentionDays ?? 14;
  const strategy = options.strategy ?? 'registry';
  // registry: the default branch's one cache tag; inline: its `-e<N>` tags (bounded by the Dockerfile's length).
  const keep = {
    registry: { pattern: tag, count: 1 },
    inline: { pattern: `${tag}-e*`, count: 1000 },
    buildah: undefined,
  }[strategy];
  return JSON.stringify({
    rules: [
      ...(keep ? [{
        rulePriority: 1,
        description: `Never expire the default branch cache (${keep.pattern})`,
        selection: { tagStatus: 'tagged', tagPatternList: [keep.pattern], countType: 'imageCountMoreThan', countNumber: keep.count },
        action: { type: 'expire' },
      }] : []),
      {
        rulePriority: 2,
        description: 'Expire replaced cache manifests (untagged) after 1 day',
        selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' },
        action: { type: 'expire' },
      },
      {
        rulePriority: 3,
        description: `Expire ${strategy === 'buildah' ? 'cache tags' : 'other branches\' caches'} ${days} days after their last push`,
        selection: { tagStatus: 'any', countType: 'sinceImagePushed', countNumber: days, countUnit: 'days' },
        action: { type: 'expire' },
      },
    ],
  });
}

/**
 * The lifecycle policy text of a cache repository the construct creates (registry strategy),
 * as the construct writes it. No imports: the construct repository's test/doctor-agreement.test.ts
 * imports this file and checks it against the policy the construct synthesizes.
 */
export function constructPolicy(options: { defaultBranchTag?: string; cacheRetentionDays?: number } = {}): string {
  const tag = options.defaultBranchTag ?? 'main';
  const days = options.cacheRetentionDays ?? 14;
  return JSON.stringify({
    rules: [
      {
        rulePriority: 1,
        description: `Never expire the default branch cache (${tag})`,
        selection: { tagStatus: 'tagged', tagPatternList: [tag], countType: 'imageCountMoreThan', countNumber: 1 },
        action: { type: 'expire' },
      },
      {
        rulePriority: 2,
        description: 'Expire replaced cache manifests (untagged) after 1 day',
        selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' },
        action: { type: 'expire' },
      },
      {
        rulePriority: 3,
        description: `Expire other branches' caches ${days} days after their last push`,
        selection: { tagStatus: 'any', countType: 'sinceImagePushed', countNumber: days, countUnit: 'days' },
        action: { type: 'expire' },
      },
    ],
  });
}

import { Duration, aws_ecr as ecr } from 'aws-cdk-lib';

/**
 * Lifecycle rules of a cache repository the construct creates, as the strategies compose them:
 * priority 1 protects the default branch's cache (where a strategy has one), 2 and 3 expire the rest.
 */

/** Priority 1: never expire the default branch's cache, the tags matching `pattern`. */
export function keepDefaultBranchCache(pattern: string, maxImageCount: number): ecr.LifecycleRule {
  return {
    rulePriority: 1,
    description: `Never expire the default branch cache (${pattern})`,
    tagStatus: ecr.TagStatus.TAGGED,
    tagPatternList: [pattern],
    maxImageCount,
  };
}

/** Priorities 2 and 3: replaced (untagged) manifests after a day, `what` `retention` after its last push. */
export function expireUntaggedAndAged(retention: Duration, what: string): ecr.LifecycleRule[] {
  return [
    {
      rulePriority: 2,
      description: 'Expire replaced cache manifests (untagged) after 1 day',
      tagStatus: ecr.TagStatus.UNTAGGED,
      maxImageAge: Duration.days(1),
    },
    {
      rulePriority: 3,
      description: `Expire ${what} ${retention.toDays()} days after their last push`,
      tagStatus: ecr.TagStatus.ANY,
      maxImageAge: retention,
    },
  ];
}

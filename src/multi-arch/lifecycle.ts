import { Duration, aws_ecr as ecr } from 'aws-cdk-lib';
import { PlatformTarget } from './platforms';
import { CacheStrategy } from '../strategies/cache-strategy';

/**
 * Lifecycle rules of the cache repository of a multi-architecture build: the strategy's rules for
 * each architecture's default-branch cache (`main-amd64`, `main-arm64`: one keep rule each, since
 * a rule's tag patterns must all match one image), then the strategy's other rules once, with the
 * priorities renumbered in that order.
 */
export function multiArchCacheLifecycleRules(strategy: CacheStrategy, defaultCacheTag: string, retention: Duration,
  targets: PlatformTarget[]): ecr.LifecycleRule[] {
  const isKeepRule = (r: ecr.LifecycleRule) => r.tagStatus === ecr.TagStatus.TAGGED && (r.tagPatternList?.length ?? 0) > 0;
  const keep = targets.flatMap((t) => strategy._cacheLifecycleRules(`${defaultCacheTag}-${t.arch}`, retention).filter(isKeepRule)
    .map((r) => ({ ...r, description: `${r.description} (${t.platform})` })));
  const rest = strategy._cacheLifecycleRules(defaultCacheTag, retention).filter((r) => !isKeepRule(r));
  return [...keep, ...rest].map((r, i) => ({ ...r, rulePriority: i + 1 }));
}

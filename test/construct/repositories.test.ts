import { Duration, aws_ecr as ecr } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CacheStrategy, CachedImageBuild, ImageTag, PullRequestPolicy } from '../../src';
import { appRepository, cacheRepository, lifecycleRules, newStack, plainEnv, synth } from '../helpers/construct';

describe('application repository', () => {
  test('is retained when the stack is deleted', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.DeletionPolicy).toEqual('Retain');
    expect(repo.UpdateReplacePolicy).toEqual('Retain');
  });

  test('has the given name and scans images on push', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'team/api' });

    // THEN
    template.hasResourceProperties('AWS::ECR::Repository', {
      RepositoryName: 'team/api',
      ImageScanningConfiguration: { ScanOnPush: true },
    });
  });

  test('has a generated name when no repositoryName is given', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.Properties.RepositoryName).toBeUndefined();
  });

  test('keeps tags immutable except latest and the pull requests\' pr-* by default', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.Properties.ImageTagMutability).toEqual('IMMUTABLE_WITH_EXCLUSION');
    expect(repo.Properties.ImageTagMutabilityExclusionFilters).toEqual([
      { ImageTagMutabilityExclusionFilterType: 'WILDCARD', ImageTagMutabilityExclusionFilterValue: 'latest' },
      { ImageTagMutabilityExclusionFilterType: 'WILDCARD', ImageTagMutabilityExclusionFilterValue: 'pr-*' },
    ]);
  });

  test('excludes every fixed tag from immutability', () => {
    // WHEN
    const { template } = synth({ imageTags: [ImageTag.commit(), ImageTag.of('latest'), ImageTag.of('stable')] });

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.Properties.ImageTagMutabilityExclusionFilters).toEqual([
      { ImageTagMutabilityExclusionFilterType: 'WILDCARD', ImageTagMutabilityExclusionFilterValue: 'latest' },
      { ImageTagMutabilityExclusionFilterType: 'WILDCARD', ImageTagMutabilityExclusionFilterValue: 'stable' },
      { ImageTagMutabilityExclusionFilterType: 'WILDCARD', ImageTagMutabilityExclusionFilterValue: 'pr-*' },
    ]);
  });

  test('is IMMUTABLE without exclusions when no tag may move (no fixed tag, pull requests built only)', () => {
    // WHEN
    const { template } = synth({ imageTags: [ImageTag.commit()], pullRequests: PullRequestPolicy.buildOnly() });

    // THEN
    const [, repo] = appRepository(template);
    expect(repo.Properties.ImageTagMutability).toEqual('IMMUTABLE');
    expect(repo.Properties.ImageTagMutabilityExclusionFilters).toBeUndefined();
  });
});

describe('cache repository', () => {
  test('is named <repositoryName>-cache', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = cacheRepository(template);
    expect(repo.Properties.RepositoryName).toEqual('api-cache');
  });

  test('is named after an imported repository with a literal name', () => {
    // GIVEN
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Imported', 'team/api');

    // WHEN
    new CachedImageBuild(stack, 'Api', { repository });

    // THEN
    Template.fromStack(stack).hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'team/api-cache' });
  });

  test('has a generated name when the application repository has none', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const [, repo] = cacheRepository(template);
    expect(repo.Properties.RepositoryName).toBeUndefined();
  });

  test('keeps tags mutable and does not scan on push', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = cacheRepository(template);
    expect(repo.Properties.ImageTagMutability).toEqual('MUTABLE');
    expect(repo.Properties.ImageScanningConfiguration).toEqual({ ScanOnPush: false });
  });

  test('is emptied and deleted with the stack', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const [, repo] = cacheRepository(template);
    expect(repo.Properties.EmptyOnDelete).toBe(true);
    expect(repo.DeletionPolicy).toEqual('Delete');
  });

  test('has three lifecycle rules in priority order', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    expect(lifecycleRules(template).map((r) => r.rulePriority)).toEqual([1, 2, 3]);
  });

  test('lifecycle rule 1 protects the default branch cache tag', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const rule = lifecycleRules(template)[0];
    expect(rule.rulePriority).toEqual(1);
    expect(rule.selection).toEqual({ tagStatus: 'tagged', tagPatternList: ['main'], countType: 'imageCountMoreThan', countNumber: 1 });
    expect(rule.action).toEqual({ type: 'expire' });
  });

  test('lifecycle rule 2 expires untagged manifests after 1 day', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const rule = lifecycleRules(template)[1];
    expect(rule.rulePriority).toEqual(2);
    expect(rule.selection).toEqual({ tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' });
    expect(rule.action).toEqual({ type: 'expire' });
  });

  test('lifecycle rule 3 expires any other cache after 14 days by default', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api' });

    // THEN
    const rule = lifecycleRules(template)[2];
    expect(rule.rulePriority).toEqual(3);
    expect(rule.selection).toEqual({ tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 14, countUnit: 'days' });
    expect(rule.action).toEqual({ type: 'expire' });
  });

  test('lifecycle rule 3 follows cacheRetention', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cacheRetention: Duration.days(30) });

    // THEN
    expect(lifecycleRules(template)[2].selection).toMatchObject({ countType: 'sinceImagePushed', countNumber: 30, countUnit: 'days' });
  });

  test('accepts a cacheRetention given in hours that makes whole days', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cacheRetention: Duration.hours(48) });

    // THEN
    expect(lifecycleRules(template)[2].selection).toMatchObject({ countNumber: 2, countUnit: 'days' });
  });

  test('protects the tag of a default branch with a slash', () => {
    // WHEN
    const { build, template } = synth({ repositoryName: 'api', defaultBranch: 'release/1.x' });

    // THEN
    expect(lifecycleRules(template)[0].selection.tagPatternList).toEqual(['release-1.x']);
    expect(build.defaultCacheTag).toEqual('release-1.x');
    expect(plainEnv(template).CIB_DEFAULT_CACHE_TAG).toEqual('release-1.x');
  });

  test('is not created when cacheRepository is given', () => {
    // GIVEN
    const stack = newStack();
    const cache = ecr.Repository.fromRepositoryName(stack, 'Cache', 'shared-cache');

    // WHEN
    const build = new CachedImageBuild(stack, 'Api', { repositoryName: 'api', cacheRepository: cache });

    // THEN
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::ECR::Repository', 1);
    expect(build.cacheRepository).toBe(cache);
    expect(JSON.stringify(plainEnv(template).CIB_CACHE_REPOSITORY_URI)).toContain('/shared-cache');
  });

  test('imported repository and imported cache repository create no ECR repository', () => {
    // GIVEN
    const stack = newStack();
    const repository = ecr.Repository.fromRepositoryName(stack, 'Repo', 'api');
    const cache = ecr.Repository.fromRepositoryName(stack, 'Cache', 'api-cache');

    // WHEN
    const build = new CachedImageBuild(stack, 'Api', { repository, cacheRepository: cache });

    // THEN
    Template.fromStack(stack).resourceCountIs('AWS::ECR::Repository', 0);
    expect(build.repository).toBe(repository);
    expect(build.cacheRepository).toBe(cache);
  });

  test('is not created for CacheStrategy.none()', () => {
    // WHEN
    const { build, template } = synth({ repositoryName: 'api', cache: CacheStrategy.none() });

    // THEN
    template.resourceCountIs('AWS::ECR::Repository', 1);
    template.resourcePropertiesCountIs('AWS::ECR::Repository', { RepositoryName: 'api-cache' }, 0);
    expect(build.cacheRepository).toBeUndefined();
    expect(plainEnv(template)).not.toHaveProperty('CIB_CACHE_REPOSITORY_URI');
  });

  test('CacheStrategy.none() with a cacheRepository throws', () => {
    // GIVEN
    const stack = newStack();
    const cache = ecr.Repository.fromRepositoryName(stack, 'Cache', 'api-cache');

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'Api', { cache: CacheStrategy.none(), cacheRepository: cache }))
      .toThrow(/cacheRepository is not used by cache strategy 'none'/);
  });
});

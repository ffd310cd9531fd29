import { Annotations as CoreAnnotations, App, Stack, Token, aws_codebuild as codebuild, aws_ecr as ecr, aws_ecr_assets as ecr_assets } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { CacheStrategy, CachedImageBuild, CachedImageBuildProps } from '../../src';
import { BUILDX_MISSING_WARNING, imageLacksBuildx } from '../../src/checks/buildx-support';
import { DOCKER_SERVER_PULL_REQUESTS_WARNING } from '../../src/checks/docker-server-pull-requests';
import { FLEET_ON_FAILURE_WARNING } from '../../src/checks/fleet-phases';
import { REPOSITORY_NAME_MAY_COLLIDE_WARNING } from '../../src/checks/unique-repository-names';
import { newStack } from '../helpers/construct';

/** Warnings of the stack whose message carries the id (addWarningV2 appends `[ack: <id>]`). */
function warningsWithId(stack: Stack, id: string): string[] {
  return Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp(`\\[ack: ${id}\\]`)).map((m) => m.entry.data as string);
}

describe('a strategy that needs buildx, on a build image without it', () => {
  const withoutBuildx: Array<[string, codebuild.IBuildImage, ecr_assets.Platform?]> = [
    ['standard:5.0', codebuild.LinuxBuildImage.STANDARD_5_0],
    ['standard:4.0', codebuild.LinuxBuildImage.STANDARD_4_0],
    ['amazonlinux2-x86_64-standard:4.0', codebuild.LinuxBuildImage.AMAZON_LINUX_2_4],
    ['amazonlinux-x86_64-standard:4.0 (CDK: AMAZON_LINUX_2023_4)', codebuild.LinuxBuildImage.AMAZON_LINUX_2023_4],
    ['a pinned version of standard:5.0', codebuild.LinuxBuildImage.fromCodeBuildImageId('aws/codebuild/standard:5.0-23.07.28')],
    ['amazonlinux2-aarch64-standard:2.0', codebuild.LinuxArmBuildImage.AMAZON_LINUX_2_STANDARD_2_0, ecr_assets.Platform.LINUX_ARM64],
    ['amazonlinux-aarch64-standard:2.0 (CDK: AMAZON_LINUX_2023_STANDARD_2_0)', codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_2_0, ecr_assets.Platform.LINUX_ARM64],
    ['the Ubuntu 14.04 docker:18.09.0', codebuild.LinuxBuildImage.fromCodeBuildImageId('aws/codebuild/docker:18.09.0')],
  ];

  test.each(withoutBuildx.flatMap(([name, image, platform]) => ['registry', 'none'].map((strategy) => [strategy, name, image, platform] as const)))(
    '%s on %s: an acknowledgeable warning', (strategy, _name, buildImage, platform) => {
      // GIVEN
      const stack = newStack();
      const cache = strategy === 'registry' ? CacheStrategy.registry() : CacheStrategy.none();

      // WHEN
      new CachedImageBuild(stack, 'Api', { cache, buildImage, platform });

      // THEN
      const warnings = warningsWithId(stack, BUILDX_MISSING_WARNING);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`cache strategy '${strategy}' runs docker buildx, which the build image ${buildImage.imageId} does not have`);
      expect(warnings[0]).toContain('CacheStrategy.inline()');
    });

  test.each([
    ['standard:6.0 (Docker 20.10 with buildx 0.11)', codebuild.LinuxBuildImage.STANDARD_6_0],
    ['standard:7.0', codebuild.LinuxBuildImage.STANDARD_7_0],
    ['amazonlinux2-x86_64-standard:5.0', codebuild.LinuxBuildImage.AMAZON_LINUX_2_5],
    ['a custom image', codebuild.LinuxBuildImage.fromDockerRegistry('example.com/builder:1')],
  ])('registry on %s: no warning', (_name, buildImage) => {
    // GIVEN
    const stack = newStack();

    // WHEN
    new CachedImageBuild(stack, 'Api', { buildImage });

    // THEN
    expect(warningsWithId(stack, BUILDX_MISSING_WARNING)).toEqual([]);
  });

  test.each([
    ['inline', CacheStrategy.inline()],
    ['buildah', CacheStrategy.buildah()],
  ])('%s on standard:5.0 builds without buildx: no warning', (_name, cache) => {
    // GIVEN
    const stack = newStack();

    // WHEN
    new CachedImageBuild(stack, 'Api', { cache, buildImage: codebuild.LinuxBuildImage.STANDARD_5_0 });

    // THEN
    expect(warningsWithId(stack, BUILDX_MISSING_WARNING)).toEqual([]);
  });

  test('acknowledged on the build, the warning is gone', () => {
    // GIVEN
    const stack = newStack();
    const build = new CachedImageBuild(stack, 'Api', { buildImage: codebuild.LinuxBuildImage.STANDARD_5_0 });

    // WHEN
    CoreAnnotations.of(build).acknowledgeWarning(BUILDX_MISSING_WARNING, 'our standard:5.0 fork has buildx');

    // THEN
    expect(warningsWithId(stack, BUILDX_MISSING_WARNING)).toEqual([]);
  });

  test('image ids: exact or pinned versions of the listed images only; a token is never matched', () => {
    // THEN
    expect(imageLacksBuildx('aws/codebuild/standard:5.0')).toBe(true);
    expect(imageLacksBuildx('aws/codebuild/standard:5.0-22.06.30')).toBe(true);
    expect(imageLacksBuildx('aws/codebuild/standard:5.01')).toBe(false);
    expect(imageLacksBuildx('aws/codebuild/standard:6.0')).toBe(false);
    expect(imageLacksBuildx('aws/codebuild/amazonlinux-x86_64-standard:5.0')).toBe(false);
    expect(imageLacksBuildx('aws/codebuild/amazonlinux-aarch64-standard:3.0')).toBe(false);
    expect(imageLacksBuildx('mirror.example.com/aws/codebuild/standard:5.0')).toBe(false);
    expect(imageLacksBuildx(Token.asString({ Ref: 'Image' }))).toBe(false);
  });
});

describe('two builds that would create the same repository names', () => {
  const ENV = { account: '123456789012', region: 'us-east-1' };

  function twoBuilds(first: CachedImageBuildProps, second: CachedImageBuildProps, env2 = ENV): () => void {
    return () => {
      const app = new App();
      new CachedImageBuild(new Stack(app, 'One', { env: ENV }), 'Api', first);
      new CachedImageBuild(new Stack(app, 'Two', { env: env2 }), 'Web', second);
    };
  }

  test('the same repositoryName in one account and region is an error naming both construct paths', () => {
    // WHEN / THEN
    expect(twoBuilds({ repositoryName: 'shop/api' }, { repositoryName: 'shop/api' })).toThrow(
      'Two/Web would create the ECR repository \'shop/api\', which One/Api creates in the same account and region (123456789012, us-east-1); ' +
        'repository names are unique per account and region: give one of the builds another repositoryName, or pass the other build\'s ' +
        'repository (repository, cacheRepository) instead of creating it');
  });

  test('one build\'s application repository named like the other\'s cache repository is an error', () => {
    // WHEN / THEN
    expect(twoBuilds({ repositoryName: 'api' }, { repositoryName: 'api-cache' })).toThrow(/^Two\/Web would create the ECR repository 'api-cache', which One\/Api creates/);
  });

  test('the same names in another region, or for a repository that is imported, are fine', () => {
    // WHEN / THEN
    expect(twoBuilds({ repositoryName: 'api' }, { repositoryName: 'api' }, { ...ENV, region: 'eu-west-1' })).not.toThrow();
    expect(() => {
      const app = new App();
      const one = new Stack(app, 'One', { env: ENV });
      new CachedImageBuild(one, 'Api', { repositoryName: 'api' });
      new CachedImageBuild(one, 'Other', { repository: ecr.Repository.fromRepositoryName(one, 'Repo', 'api'), cache: CacheStrategy.none() });
    }).not.toThrow();
  });

  test('the names are per app: two apps in one process do not see each other', () => {
    // WHEN / THEN
    expect(() => {
      new CachedImageBuild(new Stack(new App(), 'One', { env: ENV }), 'Api', { repositoryName: 'api' });
      new CachedImageBuild(new Stack(new App(), 'One', { env: ENV }), 'Api', { repositoryName: 'api' });
    }).not.toThrow();
  });

  test('when an environment is not known at synth time, an acknowledgeable warning on the later build', () => {
    // GIVEN
    const app = new App();
    new CachedImageBuild(new Stack(app, 'One'), 'Api', { repositoryName: 'api' });
    const two = new Stack(app, 'Two');

    // WHEN
    new CachedImageBuild(two, 'Web', { repositoryName: 'api' });

    // THEN
    const warnings = warningsWithId(two, REPOSITORY_NAME_MAY_COLLIDE_WARNING);
    expect(warnings).toHaveLength(2); // the application and the cache repository
    expect(warnings[0]).toContain('the ECR repository name \'api\' is also created by One/Api');
  });
});

describe('a build on a fleet', () => {
  test('gets the acknowledgeable on-failure warning; a build without a fleet does not', () => {
    // GIVEN
    const stack = newStack();
    const fleet = new codebuild.Fleet(stack, 'Fleet', {
      baseCapacity: 1,
      computeType: codebuild.FleetComputeType.SMALL,
      environmentType: codebuild.EnvironmentType.LINUX_CONTAINER,
    });

    // WHEN
    new CachedImageBuild(stack, 'OnFleet', { fleet });
    new CachedImageBuild(stack, 'OnDemand', {});

    // THEN
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp(`\\[ack: ${FLEET_ON_FAILURE_WARNING}\\]`));
    expect(warnings.map((w) => w.id)).toEqual(['/TestStack/OnFleet']);
    expect(warnings[0].entry.data).toContain('on-failure');
  });
});

describe('a Docker server in a project whose webhook builds pull requests', () => {
  const dockerServer = { computeType: codebuild.DockerServerComputeType.SMALL };
  const gitHub = (webhookFilters?: codebuild.FilterGroup[]) => codebuild.Source.gitHub({ owner: 'o', repo: 'r', webhook: true, webhookFilters });
  const pushToMain = codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH).andBranchIs('main');
  const teamPullRequests = codebuild.FilterGroup.inEventOf(codebuild.EventAction.PULL_REQUEST_CREATED).andActorAccountIs('^1234$');

  test('gets the acknowledgeable warning, with an actor filter too (the server is shared, not scoped)', () => {
    // GIVEN
    const stack = newStack();

    // WHEN
    new CachedImageBuild(stack, 'Team', { dockerServer, source: gitHub([pushToMain, teamPullRequests]) });
    new CachedImageBuild(stack, 'Anyone', { repositoryName: 'anyone', dockerServer, source: gitHub() });

    // THEN
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp(`\\[ack: ${DOCKER_SERVER_PULL_REQUESTS_WARNING}\\]`));
    expect(warnings.map((w) => w.id)).toEqual(['/TestStack/Team', '/TestStack/Anyone']);
    expect(warnings[0].entry.data).toContain('dockerServer: webhook filter group(s) 1 build pull requests on the project\'s Docker server');
    expect(warnings[1].entry.data).toContain('dockerServer: the webhook (no filter groups) build pull requests');
  });

  test('no warning without a Docker server, or when the webhook builds no pull request', () => {
    // GIVEN
    const stack = newStack();

    // WHEN
    new CachedImageBuild(stack, 'NoServer', { source: gitHub([pushToMain, teamPullRequests]) });
    new CachedImageBuild(stack, 'PushOnly', { repositoryName: 'push-only', dockerServer, source: gitHub([pushToMain]) });
    new CachedImageBuild(stack, 'Pipeline', { repositoryName: 'pipeline', dockerServer });

    // THEN
    expect(warningsWithId(stack, DOCKER_SERVER_PULL_REQUESTS_WARNING)).toEqual([]);
  });
});

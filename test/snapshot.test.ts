import { App, Stack, aws_codebuild as codebuild, aws_ecr_assets as ecr_assets } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BuildxBuilder, CacheStrategy, CachedImageBuild, CachedImageBuildProps, ImageTag } from '../src';

/**
 * Whole-template snapshots. They change whenever the synthesized output changes: review the diff,
 * then update them with `npx jest --ci=false --updateSnapshot test/snapshot.test.ts`.
 */
function snapshotOf(props: CachedImageBuildProps): unknown {
  const stack = new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: 'us-east-1' } });
  new CachedImageBuild(stack, 'Api', props);
  const json = JSON.stringify(Template.fromStack(stack).toJSON(), (_key, value) =>
    typeof value === 'string' ? value.replace(/[0-9a-f]{64}/g, 'ASSET-HASH') : value);
  return JSON.parse(json);
}

test('default props', () => {
  // WHEN
  const template = snapshotOf({});

  // THEN
  expect(template).toMatchSnapshot();
});

test('pipeline project without cache and with custom tags', () => {
  // WHEN
  const template = snapshotOf({
    repositoryName: 'api',
    cache: CacheStrategy.none(),
    imageTags: [ImageTag.of('stable'), ImageTag.commit(), ImageTag.of('edge')],
    dockerfile: 'docker/Dockerfile',
    buildContext: 'services/api',
    target: 'runtime',
    buildArgs: { NODE_ENV: 'production', APP_VERSION: '1.2.3' },
  });

  // THEN
  expect(template).toMatchSnapshot();
});

test('standalone project with a GitHub source, arm64 and the current buildx driver', () => {
  // WHEN
  const template = snapshotOf({
    repositoryName: 'api',
    source: codebuild.Source.gitHub({
      owner: 'octo',
      repo: 'api',
      webhookFilters: [codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH)],
    }),
    platform: ecr_assets.Platform.LINUX_ARM64,
    cache: CacheStrategy.registry({ builder: BuildxBuilder.currentDriver() }),
    defaultBranch: 'release/1.x',
    provenance: true,
  });

  // THEN
  expect(template).toMatchSnapshot();
});

test.each([
  ['inline', CacheStrategy.inline()],
  ['buildah', CacheStrategy.buildah()],
])('%s cache strategy', (_name, cache) => {
  // WHEN
  const template = snapshotOf({ repositoryName: 'api', cache });

  // THEN
  expect(template).toMatchSnapshot();
});

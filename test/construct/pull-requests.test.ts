import { Annotations as CdkAnnotations, aws_codebuild as codebuild, aws_codepipeline as codepipeline, aws_ssm as ssm } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { BuildSecret, CachedImageBuild, ImageTag, PullRequestPolicy } from '../../src';
import { EXPORTED_VARIABLES } from '../../src/script/build-script';
import { appRepository, create, projectEnv, projectOf, synth } from '../helpers/construct';

function exclusionFilters(props: Parameters<typeof synth>[0]): string[] {
  const [, repo] = appRepository(synth(props).template);
  return (repo.Properties.ImageTagMutabilityExclusionFilters ?? []).map((f: any) => f.ImageTagMutabilityExclusionFilterValue);
}

describe('pull-request policy and event-aware tags in the template', () => {
  test('GIVEN the defaults THEN latest and pr-* are the only mutable tags of the application repository', () => {
    expect(exclusionFilters({})).toEqual(['latest', 'pr-*']);
  });

  test('GIVEN buildOnly() THEN pull requests push nothing, so no pr-* exclusion', () => {
    expect(exclusionFilters({ pullRequests: PullRequestPolicy.buildOnly() })).toEqual(['latest']);
  });

  test('GIVEN ImageTag.branch() THEN br-* is mutable too', () => {
    expect(exclusionFilters({ imageTags: [ImageTag.commit(), ImageTag.branch(), ImageTag.of('latest')] })).toEqual(['latest', 'br-*', 'pr-*']);
  });

  test('GIVEN 4 fixed tags and the push policy THEN ECR\'s limit of 5 exclusions is exceeded, and the error says why', () => {
    expect(() => create({ imageTags: ['a', 'b', 'c', 'd', 'e'].map((t) => ImageTag.of(t)) })).toThrow(
      /^imageTags may hold at most 5 mutable tags .* got 6 \(a, b, c, d, e, pr-\*\)$/);
    expect(() => create({ imageTags: ['a', 'b', 'c', 'd'].map((t) => ImageTag.of(t)) })).not.toThrow();
  });

  test('GIVEN a policy THEN the project says it to the build script', () => {
    expect(projectEnv(synth({}).template)).toMatchObject({
      CIB_PR_POLICY: { Value: 'push' }, CIB_PR_SECRETS: { Value: 'false' }, CIB_DEFAULT_BRANCH: { Value: 'main' },
    });
    const env = projectEnv(synth({ pullRequests: PullRequestPolicy.buildOnly({ mountBuildSecrets: true }) }).template);
    expect(env).toMatchObject({ CIB_PR_POLICY: { Value: 'build-only' }, CIB_PR_SECRETS: { Value: 'true' } });
  });

  test('THEN the build exports its context to CodePipeline', () => {
    const spec = JSON.parse(projectOf(synth({}).template).Properties.Source.BuildSpec);
    expect(spec.env['exported-variables']).toEqual(EXPORTED_VARIABLES);
    expect(EXPORTED_VARIABLES).toEqual(expect.arrayContaining(['BUILD_EVENT', 'BUILD_REF', 'PULL_REQUEST_NUMBER', 'CACHE_SCOPE']));
  });

  test.each([
    ['br-main', /maps to the cache tag 'br-main', in the namespace 'br-'/],
    ['pr', /maps to the cache tag 'pr', in the namespace 'pr-'/],
    ['tag-1', /namespace 'tag-'/],
    ['refs/tags/main', /must be a branch name as git names it/],
  ])('GIVEN defaultBranch %s THEN a synth-time error', (defaultBranch, error) => {
    expect(() => create({ defaultBranch })).toThrow(error);
  });

  test('GIVEN defaultBranch refs/heads/trunk THEN the default branch is trunk', () => {
    const { build, template } = synth({ defaultBranch: 'refs/heads/trunk' });
    expect(build.defaultBranch).toBe('trunk');
    expect(projectEnv(template).CIB_DEFAULT_BRANCH.Value).toBe('trunk');
  });

  test.each([
    ['pr-1', /reserved for tags computed at build time/],
    ['br-x', /reserved/],
    ['build-7', /reserved/],
    ['0123456789abcdef0123456789abcdef01234567', /looks like a commit tag/],
  ])('GIVEN ImageTag.of(%s) THEN an error', (tag, error) => {
    expect(() => ImageTag.of(tag)).toThrow(error);
  });

  test('GIVEN a computed tag twice THEN an error', () => {
    expect(() => create({ imageTags: [ImageTag.gitTag(), ImageTag.gitTag()] })).toThrow('imageTags must not name the same tag twice');
  });

  test('GIVEN concurrentBuildLimit THEN the project has it; a fraction or 0 is an error', () => {
    expect(projectOf(synth({ concurrentBuildLimit: 1 }).template).Properties.ConcurrentBuildLimit).toBe(1);
    expect(projectOf(synth({}).template).Properties.ConcurrentBuildLimit).toBeUndefined();
    expect(() => create({ concurrentBuildLimit: 0 })).toThrow('concurrentBuildLimit must be a whole number of at least 1; got 0');
    expect(() => create({ concurrentBuildLimit: 1.5 })).toThrow(/got 1.5/);
  });
});

describe('the pipeline action tells the build what it builds', () => {
  function actionEnv(options: { branch?: string; pullRequest?: boolean }): Record<string, string> {
    const { build } = create({ defaultBranch: 'trunk' });
    const action = build.toCodeBuildAction({ input: new codepipeline.Artifact('Src'), ...options });
    const bound = (action as any).props.environmentVariables as Record<string, { value: string }>;
    return Object.fromEntries(Object.entries(bound).map(([k, v]) => [k, v.value]));
  }

  test('GIVEN no branch THEN it builds the default branch, as a pipeline', () => {
    expect(actionEnv({})).toEqual({ CIB_TRIGGER: 'pipeline', CIB_BRANCH: 'trunk' });
  });

  test('GIVEN a branch and pullRequest THEN the build is a pull request of that branch', () => {
    expect(actionEnv({ branch: '#{Source.BranchName}', pullRequest: true }))
      .toEqual({ CIB_TRIGGER: 'pipeline', CIB_BRANCH: '#{Source.BranchName}', CIB_PIPELINE_PULL_REQUEST: 'true' });
  });
});

describe('synth-time warning for webhooks that build anyone\'s pull requests', () => {
  const warning = Match.stringLikeRegexp('build pull requests from anyone');
  function source(...groups: codebuild.FilterGroup[]): codebuild.ISource {
    return codebuild.Source.gitHub({ owner: 'o', repo: 'r', webhook: true, webhookFilters: groups.length ? groups : undefined });
  }
  const prs = () => codebuild.FilterGroup.inEventOf(codebuild.EventAction.PULL_REQUEST_CREATED, codebuild.EventAction.PULL_REQUEST_UPDATED);
  const pushes = () => codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH).andBranchIs('main');

  test('GIVEN pull-request events with no actor filter THEN a warning with the id, naming the group', () => {
    const { stack } = synth({ source: source(pushes(), prs()) });
    Annotations.fromStack(stack).hasWarning('/TestStack/Api', Match.stringLikeRegexp('Webhook filter group\\(s\\) 1 build pull requests from anyone'));
    Annotations.fromStack(stack).hasWarning('/TestStack/Api', Match.stringLikeRegexp(CachedImageBuild.PULL_REQUESTS_FROM_ANYONE_WARNING));
  });

  test('GIVEN a webhook without filter groups THEN a warning (it builds every pull request)', () => {
    const { stack } = synth({ source: source() });
    Annotations.fromStack(stack).hasWarning('/TestStack/Api', Match.stringLikeRegexp('The webhook \\(no filter groups\\)'));
  });

  test('GIVEN secrets mounted into pull requests THEN the warning says so', () => {
    const { stack, build } = create({ source: source(prs()) });
    const parameter = ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Token', { parameterName: '/npm/token' });
    new CachedImageBuild(stack, 'WithSecrets', {
      source: source(prs()),
      buildSecrets: { npm: BuildSecret.fromSsmParameter(parameter) },
      pullRequests: PullRequestPolicy.push({ mountBuildSecrets: true }),
    });
    expect(build).toBeDefined();
    Annotations.fromStack(stack).hasWarning('/TestStack/WithSecrets', Match.stringLikeRegexp('with the build secrets mounted'));
    Annotations.fromStack(stack).hasNoWarning('/TestStack/Api', Match.stringLikeRegexp('with the build secrets mounted'));
  });

  test.each([
    ['an actor filter', () => source(prs().andActorAccountIs('^(1|2)$'))],
    ['pushes only', () => source(pushes())],
  ])('GIVEN %s THEN no warning', (_name, make) => {
    const { stack } = synth({ source: make() });
    Annotations.fromStack(stack).hasNoWarning('*', warning);
  });

  test('GIVEN the warning acknowledged THEN it is gone', () => {
    const { stack, build } = create({ source: source(prs()) });
    CdkAnnotations.of(build).acknowledgeWarning(CachedImageBuild.PULL_REQUESTS_FROM_ANYONE_WARNING, 'only our team can open pull requests');
    Annotations.fromStack(stack).hasNoWarning('*', warning);
  });
});

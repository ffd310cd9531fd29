/** No Docker Hub at build time: the ECR pull-through cache for the builder image (the rule, the builder, the grants, cdk-nag). */
import { aws_ecr_assets as ecr_assets, aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BuildxBuilder, CacheStrategy, CachedImageBuild, DockerHubLogin, DockerHubPullThroughCache } from '../../src';
import { describeViolations, testWithNagV3 } from '../helpers/compliance-cases';
import { newStack, plainEnv } from '../helpers/construct';
import { PINNED, REGISTRY, cachedBuild, credential, evaluate, statements } from '../helpers/docker-hub';

describe('the default BuildKit image', () => {
  test('is a BuildKit release pinned by the digest of its image index', () => {
    // THEN
    expect(BuildxBuilder.DEFAULT_BUILDKIT_IMAGE).toEqual(PINNED);
    expect(BuildxBuilder.dockerContainer().image).toEqual(PINNED);
  });
});

describe('DockerHubPullThroughCache', () => {
  test('creates a pull-through cache rule for Docker Hub with the credential secret', () => {
    // WHEN
    const { template } = cachedBuild();

    // THEN
    template.resourceCountIs('AWS::ECR::PullThroughCacheRule', 1);
    template.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
      EcrRepositoryPrefix: 'docker-hub',
      UpstreamRegistry: 'docker-hub',
      UpstreamRegistryUrl: 'registry-1.docker.io',
      CredentialArn: { Ref: Match.stringLikeRegexp('^HubCredential') },
    });
  });

  test('points the builder at the cached, pinned BuildKit image, logs in to its registry and mirrors docker.io through it', () => {
    // WHEN
    const { template } = cachedBuild();

    // THEN
    const env = plainEnv(template);
    expect(env.CIB_BUILDER_IMAGE).toEqual({ 'Fn::Join': ['', [...REGISTRY['Fn::Join'][1], `/docker-hub/${PINNED}`]] });
    expect(env.CIB_BUILDER_REGISTRY).toEqual(REGISTRY);
    expect(env.CIB_BUILDER_REGION).toEqual({ Ref: 'AWS::Region' });
    expect(env.CIB_BUILDKITD_CONFIG).toEqual({
      'Fn::Join': ['', ['[registry."docker.io"]\n  mirrors = ["', ...REGISTRY['Fn::Join'][1], '/docker-hub"]\n']],
    });
  });

  test('grants the build pull, import and first-pull repository creation on the prefix\'s repositories only, in a policy of its own', () => {
    // WHEN
    const { template } = cachedBuild();

    // THEN
    const ours = statements(template).filter((s) => s.policy.startsWith('ApiDockerHubCachePolicy'));
    expect(ours).toEqual([{
      policy: expect.any(String),
      Effect: 'Allow',
      Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage', 'ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'],
      Resource: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecr:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':repository/docker-hub/*']],
      },
    }]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('^ApiDockerHubCachePolicy'),
      Roles: [{ Ref: Match.stringLikeRegexp('^ApiProjectRole') }],
    });
    // Nowhere else: no other statement imports or creates repositories.
    const elsewhere = statements(template).filter((s) => !s.policy.startsWith('ApiDockerHubCachePolicy'))
      .flatMap((s) => [s.Action].flat())
      .filter((a) => a === 'ecr:BatchImportUpstreamImage' || a === 'ecr:CreateRepository' || a === 'ecr:*');
    expect(elsewhere).toEqual([]);
  });

  test('a build without the cache\'s builder gets none of its grants nor variables', () => {
    // GIVEN
    const stack = newStack();
    new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });

    // WHEN
    new CachedImageBuild(stack, 'Api', {});
    const template = Template.fromStack(stack);

    // THEN
    expect(statements(template).filter((s) => s.policy.startsWith('ApiDockerHubCachePolicy'))).toEqual([]);
    expect(plainEnv(template)).not.toHaveProperty('CIB_BUILDER_REGISTRY');
    expect(plainEnv(template).CIB_BUILDER_IMAGE).toEqual(PINNED);
  });

  test('with a custom prefix, image and no mirror: the prefix in the rule, the image, the grant; the user\'s configuration only', () => {
    // GIVEN
    const stack = newStack();
    const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack), repositoryPrefix: 'hub/mirror' });

    // WHEN
    new CachedImageBuild(stack, 'Api', {
      cache: CacheStrategy.registry({
        builder: cache.builder({ dockerHubImage: 'moby/buildkit:v0.13.2', mirrorDockerHub: false, buildkitdConfig: '[worker.oci]\n  gc = true' }),
      }),
    });
    const template = Template.fromStack(stack);

    // THEN
    template.hasResourceProperties('AWS::ECR::PullThroughCacheRule', { EcrRepositoryPrefix: 'hub/mirror' });
    expect(evaluate(plainEnv(template).CIB_BUILDER_IMAGE)).toEqual('123456789012.dkr.ecr.us-east-1.amazonaws.com/hub/mirror/moby/buildkit:v0.13.2');
    expect(plainEnv(template).CIB_BUILDKITD_CONFIG).toEqual('[worker.oci]\n  gc = true');
    const ours = statements(template).filter((s) => s.policy.startsWith('ApiDockerHubCachePolicy'));
    expect(ours.map((s) => s.Resource)).toEqual([{
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecr:us-east-1:123456789012:repository/hub/mirror/*']],
    }]);
  });

  test('puts the mirror before the user\'s buildkitd configuration', () => {
    // GIVEN
    const stack = newStack();
    const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });

    // WHEN
    const builder = cache.builder({ buildkitdConfig: '[registry."127.0.0.1:5000"]\n  http = true\n' });

    // THEN
    expect(evaluate(stack.resolve(builder.buildkitdConfig))).toEqual(
      '[registry."docker.io"]\n  mirrors = ["123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub"]\n[registry."127.0.0.1:5000"]\n  http = true\n');
  });

  test.each([
    ['moby/buildkit:v0.33.1', 'docker-hub/moby/buildkit:v0.33.1'],
    ['docker.io/moby/buildkit:v0.33.1', 'docker-hub/moby/buildkit:v0.33.1'],
    ['node:22', 'docker-hub/library/node:22'],
    ['docker.io/library/node:22', 'docker-hub/library/node:22'],
    ['index.docker.io/library/alpine:3.20@sha256:' + 'a'.repeat(64), 'docker-hub/library/alpine:3.20@sha256:' + 'a'.repeat(64)],
  ])('maps the Docker Hub image %s to the cached repository path %s (library/ for official images)', (image, cached) => {
    // GIVEN
    const stack = newStack();
    const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });

    // WHEN / THEN
    expect(evaluate(stack.resolve(cache.imageUri(image)))).toEqual(`123456789012.dkr.ecr.us-east-1.amazonaws.com/${cached}`);
  });

  test.each([
    ['a prefix ECR refuses', { repositoryPrefix: 'Docker_Hub' }, /repositoryPrefix must be 2 to 30 characters .*got 'Docker_Hub'/],
    ['a one-character prefix', { repositoryPrefix: 'd' }, /repositoryPrefix must be 2 to 30/],
    ['a prefix longer than 30', { repositoryPrefix: 'a'.repeat(31) }, /repositoryPrefix must be 2 to 30/],
  ])('rejects %s at synth time', (_name, props, message) => {
    // GIVEN
    const stack = newStack();

    // WHEN / THEN
    expect(() => new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack), ...props })).toThrow(message);
  });

  test('rejects a credential secret whose name lacks ecr-pullthroughcache/, or has a generated name, or is in another region', () => {
    // GIVEN
    const stack = newStack();

    // WHEN / THEN
    expect(() => new DockerHubPullThroughCache(stack, 'A', { credential: credential(stack, 'docker-hub') }))
      .toThrow(/the credential secret's name must start with 'ecr-pullthroughcache\/' \(ECR's rule\); got 'docker-hub'/);
    expect(() => new DockerHubPullThroughCache(stack, 'B', { credential: new secretsmanager.Secret(stack, 'Unnamed') }))
      .toThrow(/needs a secretName starting with 'ecr-pullthroughcache\/'/);
    expect(() => new DockerHubPullThroughCache(stack, 'C', {
      credential: secretsmanager.Secret.fromSecretNameV2(stack, 'Imported', 'hub-credential'),
    })).toThrow(/must start with 'ecr-pullthroughcache\/'.*got 'hub-credential'/);
    expect(() => new DockerHubPullThroughCache(stack, 'D', {
      credential: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Elsewhere',
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf'),
    })).toThrow(/must be in the rule's region \(us-east-1\), ECR's rule; it is in eu-west-1/);
    // An imported secret with the prefix is accepted.
    expect(() => new DockerHubPullThroughCache(stack, 'E', {
      credential: secretsmanager.Secret.fromSecretNameV2(stack, 'Good', 'ecr-pullthroughcache/hub'),
    })).not.toThrow();
  });

  test.each([
    ['a BuildKit image without a tag', { dockerHubImage: 'moby/buildkit@sha256:' + 'a'.repeat(64) }, /dockerHubImage must have a tag/],
    ['an image of another registry', { dockerHubImage: 'ghcr.io/moby/buildkit:v0.33.1' }, /names the registry 'ghcr.io', not Docker Hub/],
    ['an image reference with upper case', { dockerHubImage: 'Moby/BuildKit:v1' }, /not a Docker Hub image reference/],
    ['a docker.io section besides the mirror', { buildkitdConfig: '[registry."docker.io"]\n  mirrors = ["x"]' },
      /buildkitdConfig must not have a \[registry."docker.io"\] section while mirrorDockerHub is on/],
    ['a network name with a comma', { network: 'host,x' }, /network must be a Docker network name/],
  ])('builder() rejects %s', (_name, options, message) => {
    // GIVEN
    const stack = newStack();
    const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });

    // WHEN / THEN
    expect(() => cache.builder(options)).toThrow(message);
  });

  testWithNagV3('cdk-nag finds nothing unacknowledged; the acknowledgment covers the prefix\'s repositories only', () => {
    // GIVEN
    const stack = newStack();
    const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });
    const build = new CachedImageBuild(stack, 'Api', {
      cache: CacheStrategy.registry({ builder: cache.builder() }),
      dockerHubLogin: DockerHubLogin.fromSecretsManager(new secretsmanager.Secret(stack, 'Login', { secretName: 'docker-hub-login' })),
    });

    // WHEN
    const clean = new AwsSolutionsChecks().validateScope(stack);
    cache.grantPull(build.project);
    const withUserGrant = new AwsSolutionsChecks().validateScope(stack);

    // THEN: the secrets' own findings (rotation) are the user's; nothing of the build
    const ofBuild = (v: string) => v.includes('/Api/');
    expect(describeViolations(clean.violations).filter(ofBuild)).toEqual([]);
    // The same wildcard granted by the user on the role's default policy is reported there.
    expect(describeViolations(withUserGrant.violations).filter(ofBuild)).toEqual([
      'error: TestStack/Api/Project/Role/DefaultPolicy/Resource: AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:us-east-1:123456789012:repository/docker-hub/*]',
    ]);
  });
});

describe('with several platforms (one project each)', () => {
  test('every project gets the login variables, the secret read and the cache policy of its own', () => {
    // GIVEN
    const stack = newStack();
    const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });
    const login = new secretsmanager.Secret(stack, 'Login', { secretName: 'docker-hub-login' });

    // WHEN
    new CachedImageBuild(stack, 'Api', {
      platforms: [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.LINUX_ARM64],
      cache: CacheStrategy.registry({ builder: cache.builder() }),
      dockerHubLogin: DockerHubLogin.fromSecretsManager(login),
    });
    const template = Template.fromStack(stack);

    // THEN
    const projects = Object.values(template.findResources('AWS::CodeBuild::Project')) as any[];
    expect(projects.length).toBeGreaterThanOrEqual(2);
    for (const project of projects) {
      const names = project.Properties.Environment.EnvironmentVariables.map((v: any) => v.Name);
      expect(names).toEqual(expect.arrayContaining(['CIB_DOCKER_HUB_USERNAME', 'CIB_DOCKER_HUB_PASSWORD', 'CIB_BUILDER_REGISTRY']));
    }
    const cachePolicies = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p: any) => p.Properties.PolicyDocument.Statement.some((st: any) => [st.Action].flat().includes('ecr:BatchImportUpstreamImage')));
    expect(cachePolicies).toHaveLength(projects.length);
  });
});

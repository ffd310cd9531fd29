/** No Docker Hub at build time: the ECR pull-through cache for the builder image, and the Docker Hub login. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Stack, aws_ecr_assets as ecr_assets, aws_kms as kms, aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BuildxBuilder, CacheStrategy, CachedImageBuild, DockerHubLogin, DockerHubPullThroughCache } from '../src';
import { STRATEGIES, allCommands, crossingDefinitions, markedOptions, pipesWithoutPipefail, runCommands, unguarded, unguardedPhases } from './helpers/build-script';
import { describeViolations, testWithNagV3 } from './helpers/compliance-cases';
import { newStack, plainEnv, projectEnv } from './helpers/construct';
import { renderBuildScript } from '../src/script/build-script';

const PINNED = 'moby/buildkit:v0.33.1@sha256:cec9f139f45e93c5c69c60f8b07cfad9f43f4ef6b6a6cd917527fea5ff2e3dea';
/** The value of a resolved CloudFormation string made of literals, `Fn::Join` and the URL suffix (`amazonaws.com`). */
function evaluate(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as any;
  if (v?.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
  if (Array.isArray(v?.['Fn::Join'])) return v['Fn::Join'][1].map(evaluate).join(v['Fn::Join'][0]);
  throw new Error(`cannot evaluate ${JSON.stringify(value)}`);
}

const REGISTRY = { 'Fn::Join': ['', [{ Ref: 'AWS::AccountId' }, '.dkr.ecr.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }]] };

/** A credential secret as ECR requires it: named with its prefix. */
function credential(stack: Stack, name = 'ecr-pullthroughcache/docker-hub'): secretsmanager.Secret {
  return new secretsmanager.Secret(stack, 'HubCredential', { secretName: name });
}

/** A stack without an environment (tokens for account and region), with a pull-through cache and a build using its builder. */
function cachedBuild(builderOptions = {}): { stack: Stack; cache: DockerHubPullThroughCache; template: Template } {
  const stack = new Stack();
  const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });
  new CachedImageBuild(stack, 'Api', { cache: CacheStrategy.registry({ builder: cache.builder(builderOptions) }) });
  return { stack, cache, template: Template.fromStack(stack) };
}

/** The statements of all IAM policies of a template, with their policy's logical id. */
function statements(template: Template): Array<{ policy: string; Action: string | string[]; Resource: unknown }> {
  return Object.entries(template.findResources('AWS::IAM::Policy'))
    .flatMap(([id, p]: [string, any]) => p.Properties.PolicyDocument.Statement.map((s: any) => ({ policy: id, ...s })));
}

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

describe('DockerHubLogin', () => {
  test('adds the user name and password as Secrets Manager variables and lets the project read that secret only', () => {
    // GIVEN
    const stack = newStack();
    const secret = new secretsmanager.Secret(stack, 'Hub', { secretName: 'docker-hub-login' });

    // WHEN
    new CachedImageBuild(stack, 'Api', { dockerHubLogin: DockerHubLogin.fromSecretsManager(secret) });
    const template = Template.fromStack(stack);

    // THEN
    const env = projectEnv(template);
    const secretRef = { Ref: Match.stringLikeRegexp('^Hub') };
    expect(env.CIB_DOCKER_HUB_USERNAME).toEqual({ Name: 'CIB_DOCKER_HUB_USERNAME', Type: 'SECRETS_MANAGER', Value: { 'Fn::Join': ['', [expect.objectContaining({ Ref: expect.stringMatching(/^Hub/) }), ':username::']] } });
    expect(env.CIB_DOCKER_HUB_PASSWORD).toEqual({ Name: 'CIB_DOCKER_HUB_PASSWORD', Type: 'SECRETS_MANAGER', Value: { 'Fn::Join': ['', [expect.objectContaining({ Ref: expect.stringMatching(/^Hub/) }), ':password::']] } });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([{
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
          Resource: secretRef,
        }]),
      },
    });
    // No KMS permission without a key.
    expect(statements(template).flatMap((s) => [s.Action].flat()).filter((a) => a.startsWith('kms:'))).toEqual([]);
  });

  test('may decrypt with the secret\'s KMS key when the secret has one, and reads the fields it is told to', () => {
    // GIVEN
    const stack = newStack();
    const key = new kms.Key(stack, 'HubKey', { enableKeyRotation: true });
    const secret = new secretsmanager.Secret(stack, 'Hub', { secretName: 'ecr-pullthroughcache/hub', encryptionKey: key });

    // WHEN
    new CachedImageBuild(stack, 'Api', {
      dockerHubLogin: DockerHubLogin.fromSecretsManager(secret, { usernameField: 'username', passwordField: 'accessToken' }),
    });
    const template = Template.fromStack(stack);

    // THEN
    expect(projectEnv(template).CIB_DOCKER_HUB_PASSWORD.Value['Fn::Join'][1][1]).toEqual(':accessToken::');
    // secret.grantRead(): the key policy lets the project role decrypt, through Secrets Manager only.
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({
          Action: 'kms:Decrypt',
          Principal: { AWS: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ApiProjectRole'), 'Arn'] } },
          Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } },
        })]),
      },
    });
  });

  test('without a login the project has no Docker Hub variables', () => {
    // WHEN
    const stack = newStack();
    new CachedImageBuild(stack, 'Api', {});

    // THEN
    const env = projectEnv(Template.fromStack(stack));
    expect(Object.keys(env).filter((n) => n.startsWith('CIB_DOCKER_HUB'))).toEqual([]);
  });

  test.each([['usernameField', { usernameField: 'user:name' }], ['passwordField', { passwordField: '' }]])('rejects a %s CodeBuild cannot reference', (prop, options) => {
    // GIVEN
    const stack = newStack();
    const secret = new secretsmanager.Secret(stack, 'Hub');

    // WHEN / THEN
    expect(() => DockerHubLogin.fromSecretsManager(secret, options)).toThrow(new RegExp(`${prop} must be a JSON key of 1 to 256 characters without ':'`));
  });
});

/** A stand-in for docker (or buildah) that records its arguments and stdin, one line each, in $CALLS; fails `login` when $REFUSE is set. */
const STAND_IN = (tool: string) => `${tool}() { printf '${tool} %s\\n' "$*" >> "$CALLS"; `
  + 'if [ "$1" = login ]; then printf \'stdin=%s\\n\' "$(cat)" >> "$CALLS"; if [ -n "${REFUSE:-}" ]; then echo "Error response from daemon: unauthorized: incorrect username or password" >&2; return 1; fi; echo "Login Succeeded"; fi; }';

function callsFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cib-hub-')), 'calls');
}

const SECRET_ENV = { CIB_DOCKER_HUB_USERNAME: 'octocat', CIB_DOCKER_HUB_PASSWORD: 'dckr_pat_s3cret $(id) "q"' };

describe('the new commands follow the build script\'s rules', () => {
  const cases: Array<[string, () => CacheStrategy]> = [
    ...STRATEGIES,
    ['registry with a pull-through cache builder', () => {
      const stack = newStack();
      return CacheStrategy.registry({ builder: new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) }).builder() });
    }],
  ];

  test.each(cases)('with the Docker Hub login: one line each, pipefail before every pipe, no function or array shared (%s)', (_name, strategy) => {
    // WHEN
    const commands = allCommands(renderBuildScript(markedOptions({ strategy: strategy(), dockerHubLogin: true })));

    // THEN
    expect(commands.filter((c) => c.includes('\n'))).toEqual([]);
    expect(pipesWithoutPipefail(commands)).toEqual([]);
    expect(crossingDefinitions(commands)).toEqual([]);
    expect(commands.filter((c) => c.includes('CIB_DOCKER_HUB_PASSWORD'))).toHaveLength(1);
  });
});

describe('the Docker Hub login, in bash', () => {
  test.each([
    ['registry (docker-container builder)', () => CacheStrategy.registry(), 'docker buildx create'],
    ['inline', () => CacheStrategy.inline(), 'aws ecr list-images'],
    ['none', () => CacheStrategy.none(), 'docker buildx version'],
  ])('%s: logs in with docker before the strategy\'s commands, the password on stdin only', (_name, strategy, laterCommand) => {
    // GIVEN
    const script = renderBuildScript(markedOptions({ strategy: strategy(), dockerHubLogin: true }));
    const pre = script.phases.pre_build;
    const login = pre.findIndex((c) => c.includes('CIB_DOCKER_HUB_PASSWORD'));
    const later = pre.findIndex((c) => c.includes(laterCommand));
    expect(login).toBeGreaterThanOrEqual(0);
    expect(login).toBeLessThan(later);
    expect(pre.filter((c) => c.includes('CIB_DOCKER_HUB'))).toHaveLength(1);
    const calls = callsFile();

    // WHEN
    const r = runCommands([pre[login]], { ...SECRET_ENV, CALLS: calls }, STAND_IN('docker'));

    // THEN
    expect(r.status).toEqual(0);
    expect(fs.readFileSync(calls, 'utf8')).toEqual(`docker login --username octocat --password-stdin\nstdin=${SECRET_ENV.CIB_DOCKER_HUB_PASSWORD}\n`);
    expect(r.stdout + r.stderr).not.toContain('s3cret');
    expect(pre[login]).not.toContain('s3cret');
  });

  test('buildah: logs in with buildah to docker.io after its auth file is written, so the login is kept in it', () => {
    // GIVEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.buildah(), dockerHubLogin: true }));
    const pre = script.phases.pre_build;
    const login = pre.findIndex((c) => c.includes('CIB_DOCKER_HUB_PASSWORD'));
    const authFile = pre.findIndex((c) => c.includes('> "$REGISTRY_AUTH_FILE"'));
    expect(authFile).toBeGreaterThanOrEqual(0);
    expect(login).toBeGreaterThan(authFile);
    const calls = callsFile();

    // WHEN
    const r = runCommands([pre[login]], { ...SECRET_ENV, CALLS: calls }, STAND_IN('buildah'));

    // THEN
    expect(r.status).toEqual(0);
    expect(fs.readFileSync(calls, 'utf8')).toEqual(`buildah login --username octocat --password-stdin docker.io\nstdin=${SECRET_ENV.CIB_DOCKER_HUB_PASSWORD}\n`);
  });

  test('a refused login fails the build, after what docker said, and says where the credentials come from', () => {
    // GIVEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry(), dockerHubLogin: true }));
    const login = script.phases.pre_build.find((c) => c.includes('CIB_DOCKER_HUB_PASSWORD'))!;

    // WHEN
    const r = runCommands([login], { ...SECRET_ENV, CALLS: callsFile(), REFUSE: '1' }, STAND_IN('docker'));

    // THEN
    expect(r.status).toEqual(99);
    expect(r.stderr).toMatch(/^Error response from daemon: unauthorized: incorrect username or password\nerror: the Docker Hub login failed \(above\)\. Check the user name and password \(or access token\) fields of the dockerHubLogin secret\n$/);
    expect(r.stderr).not.toContain('s3cret');
  });

  test('no login command without the option', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry() }));

    // THEN
    expect([...script.phases.pre_build, ...script.phases.build].filter((c) => /DOCKER_HUB|docker login --username "\$CIB_DOCKER/.test(c))).toEqual([]);
  });
});

describe('the builder of a pull-through cache, in bash', () => {
  function builderCommands(): { pre: string[]; env: Record<string, string> } {
    const stack = newStack();
    const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry({ builder: cache.builder({ mirrorDockerHub: false }) }) }));
    const resolved = stack.resolve(script.environment);
    return { pre: script.phases.pre_build.map(unguarded), env: Object.fromEntries(Object.entries(resolved).map(([k, v]) => [k, evaluate(v)])) };
  }

  /** docker and aws stand-ins: record every call; `docker pull` of a reference with a digest fails, as on ECR before a tag pull imported it. */
  const STUBS = [
    'aws() { printf \'aws %s\\n\' "$*" >> "$CALLS"; echo ecr-token; }',
    // A login records after reading its stdin, so after the aws call that feeds it.
    'docker() { if [ "$1" = login ]; then t="$(cat)"; printf \'docker %s <<< %s\\n\' "$*" "$t" >> "$CALLS"; return; fi; printf \'docker %s\\n\' "$*" >> "$CALLS";',
    'if [ "$1" = pull ] && [ -n "${PULL_FAILS:-}" ]; then echo "Error response from daemon: manifest unknown" >&2; return 1; fi; }',
  ].join('\n');

  test('logs in to the cache\'s registry when it is not the image registry, pulls the image by tag, then starts the builder from the pinned digest', () => {
    // GIVEN
    const { pre, env } = builderCommands();
    const commands = pre.filter((c) => c.includes('CIB_BUILDER_REGISTRY') || c.includes('CIB_BUILDER="cib-') || c.startsWith('if CIB_CREATE_OUTPUT='));
    expect(commands).toHaveLength(3);
    const calls = callsFile();

    // WHEN
    const r = runCommands(commands, {
      CALLS: calls,
      CIB_IMAGE_REGISTRY: '210987654321.dkr.ecr.eu-west-1.amazonaws.com',
      CIB_BUILDER_IMAGE: env.CIB_BUILDER_IMAGE,
      CIB_BUILDER_REGISTRY: env.CIB_BUILDER_REGISTRY,
      CIB_BUILDER_REGION: env.CIB_BUILDER_REGION,
      CODEBUILD_BUILD_ID: 'p:b1',
    }, STUBS);

    // THEN
    expect(r.status).toEqual(0);
    expect(env.CIB_BUILDER_IMAGE).toEqual(`123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/${PINNED}`);
    expect(fs.readFileSync(calls, 'utf8').split('\n')).toEqual([
      'aws ecr get-login-password --region us-east-1',
      'docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com <<< ecr-token',
      'docker pull --quiet 123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/moby/buildkit:v0.33.1',
      `docker buildx create --name cib-b1 --driver docker-container --driver-opt image=123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/${PINNED} --bootstrap`,
      '',
    ]);
    expect(r.stdout).toContain('BuildKit builder cib-b1 started');
  });

  test('does not log in again when the cache is the image registry', () => {
    // GIVEN
    const { pre, env } = builderCommands();
    const login = pre.find((c) => c.includes('CIB_BUILDER_REGISTRY'))!;
    const calls = callsFile();
    fs.writeFileSync(calls, '');

    // WHEN
    const r = runCommands([login], { CALLS: calls, CIB_IMAGE_REGISTRY: env.CIB_BUILDER_REGISTRY, CIB_BUILDER_REGISTRY: env.CIB_BUILDER_REGISTRY, CIB_BUILDER_REGION: 'us-east-1' }, STUBS);

    // THEN
    expect(r.status).toEqual(0);
    expect(fs.readFileSync(calls, 'utf8')).toEqual('');
  });

  test('when the pull fails, fails the build with what docker said and what to check', () => {
    // GIVEN
    const { pre, env } = builderCommands();
    const commands = pre.filter((c) => c.includes('CIB_BUILDER="cib-') || c.startsWith('if CIB_CREATE_OUTPUT='));
    const calls = callsFile();

    // WHEN
    const r = runCommands(commands, { CALLS: calls, PULL_FAILS: '1', CIB_BUILDER_IMAGE: env.CIB_BUILDER_IMAGE, CODEBUILD_BUILD_ID: 'p:b1' }, STUBS);

    // THEN
    expect(r.status).toEqual(99);
    expect(r.stderr).toMatch(/^Error response from daemon: manifest unknown\nerror: could not start a BuildKit builder from the image 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/docker-hub\/moby\/buildkit:v0\.33\.1@sha256:[0-9a-f]{64} of the ECR pull-through cache \(pulling it by tag, or docker buildx create, failed, above\)\. Check the Docker Hub credential of the cache rule/);
    expect(fs.readFileSync(calls, 'utf8')).not.toContain('buildx create');
  });

  test('a plain docker-container builder neither pulls first nor logs in to another registry', () => {
    // WHEN
    const script = renderBuildScript(markedOptions({ strategy: CacheStrategy.registry() }));

    // THEN
    const create = unguardedPhases(script).pre_build.find((c) => c.startsWith('if CIB_CREATE_OUTPUT='))!;
    expect(create).not.toContain('docker pull');
    expect(script.phases.pre_build.filter((c) => c.includes('CIB_BUILDER_REGISTRY'))).toEqual([]);
    expect(script.environment).not.toHaveProperty('CIB_BUILDER_REGISTRY');
  });
});

/** No Docker Hub rate limit at build time: the Docker Hub login (variables, grants, the commands in bash). */
import * as fs from 'fs';
import { aws_kms as kms, aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CacheStrategy, CachedImageBuild, DockerHubLogin, DockerHubPullThroughCache } from '../../src';
import { renderBuildScript } from '../../src/script/build-script';
import { STRATEGIES, allCommands, crossingDefinitions, markedOptions, pipesWithoutPipefail, runCommands } from '../helpers/build-script';
import { newStack, projectEnv } from '../helpers/construct';
import { SECRET_ENV, STAND_IN, callsFile, credential, statements } from '../helpers/docker-hub';

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

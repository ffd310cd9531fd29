import { Duration, aws_secretsmanager as secretsmanager, aws_ssm as ssm } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BuildSecret, CacheStrategy, CachedImageBuild, ImageTag } from '../../src';
import { unguarded } from '../helpers/build-script';
import {
  appRepository,
  buildCommand,
  buildSpec,
  cacheRepository,
  ecrPermissionsOfProjectRole,
  lifecycleRules,
  newStack,
  plainEnv,
  projectEnv,
  projectOf,
  synth,
} from '../helpers/construct';
import { PUSH_PULL_ACTIONS } from '../helpers/ecr-actions';

describe('buildspec', () => {
  test('is version 0.2 and runs bash', () => {
    // WHEN
    const spec = buildSpec(synth().template);

    // THEN
    expect(spec.version).toEqual('0.2');
    expect(spec.env.shell).toEqual('bash');
  });

  test('exports IMAGE_URI, IMAGE_TAG, IMAGE_DIGEST, CACHE_HIT_RATIO, CACHED_STEPS and the build context', () => {
    // WHEN
    const spec = buildSpec(synth().template);

    // THEN
    expect(spec.env['exported-variables']).toEqual(['IMAGE_URI', 'IMAGE_TAG', 'IMAGE_DIGEST', 'IMAGE_REUSED', 'CACHE_HIT_RATIO', 'CACHED_STEPS',
      'BUILD_EVENT', 'BUILD_REF', 'BUILD_REF_TYPE', 'BUILD_COMMIT', 'PULL_REQUEST_NUMBER', 'PULL_REQUEST_ACTION', 'PULL_REQUEST_BASE', 'CACHE_SCOPE']);
  });

  test('leaves imagedefinitions.json and imageDetail.json as artifacts', () => {
    // WHEN
    const spec = buildSpec(synth().template);

    // THEN
    expect(spec.artifacts.files).toEqual(['imagedefinitions.json', 'imageDetail.json']);
  });

  test('aborts every phase on failure', () => {
    // WHEN
    const spec = buildSpec(synth().template);

    // THEN
    const phases = Object.values(spec.phases) as any[];
    expect(Object.keys(spec.phases)).toEqual(expect.arrayContaining(['pre_build', 'build', 'post_build']));
    expect(phases.filter((p) => p['on-failure'] !== 'ABORT')).toEqual([]);
  });

  test('exports a mode=max image-manifest registry cache that may fail without failing the build', () => {
    // WHEN
    const { template } = synth();
    const command = buildCommand(template);

    // THEN: the build exports to CIB_CACHE_TO, which pre_build sets to the build's own scope (if it writes one)
    expect(command).toContain('--cache-to "$CIB_CACHE_TO"');
    const setting = (buildSpec(template).phases.pre_build.commands as string[]).map(unguarded).filter((c) => c.startsWith('CIB_CACHE_TO='));
    expect(setting).toHaveLength(1);
    const cacheTo = /CIB_CACHE_TO="(type=[^"]*)"/.exec(setting[0])![1];
    expect(cacheTo).toMatch(/^type=registry,ref=\$CIB_CACHE_REPOSITORY_URI:\$CIB_CACHE_WRITE_SCOPE,/);
    for (const option of ['mode=max', 'image-manifest=true', 'oci-mediatypes=true', 'ignore-error=true']) {
      expect(cacheTo.split(',')).toContain(option);
    }
  });

  test('imports every scope the build reads (its own and the default branch\'s)', () => {
    // WHEN
    const command = buildCommand(synth().template);

    // THEN
    expect(command).toContain('for s in $CIB_CACHE_READ_SCOPES; do CIB_CACHE+=(--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$s"); done;');
  });

  test('uses no cache with CacheStrategy.none()', () => {
    // WHEN
    const command = buildCommand(synth({ cache: CacheStrategy.none() }).template);

    // THEN
    expect(command).toContain('--no-cache');
    expect(command).not.toMatch(/--cache-(from|to)/);
  });

  test('contains no user value: build args, target and paths stay in the environment', () => {
    // WHEN
    const { template } = synth({
      buildArgs: { MARKER_ARG: 'zq-argvalue' },
      target: 'zq-target',
      dockerfile: 'zq-dir/Dockerfile',
      buildContext: 'zq-context',
      imageTags: [ImageTag.of('zq-tag')],
      containerName: 'zq-container',
      defaultBranch: 'zq-branch',
    });

    // THEN
    expect(projectOf(template).Properties.Source.BuildSpec).not.toMatch(/zq-|MARKER_ARG/);
    expect(JSON.stringify(plainEnv(template)).match(/zq-[a-z]+/g)?.sort()).toEqual([
      // the default branch twice: as git names it (CIB_DEFAULT_BRANCH) and as its cache tag
      'zq-argvalue', 'zq-branch', 'zq-branch', 'zq-container', 'zq-context', 'zq-dir', 'zq-tag', 'zq-target',
    ]);
  });
});

describe('inline cache strategy', () => {
  test('protects every default-branch cache tag <tag>-e* and expires the rest by age', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.inline(), cacheRetention: Duration.days(7) });

    // THEN
    const rules = lifecycleRules(template);
    expect(rules.map((r) => r.rulePriority)).toEqual([1, 2, 3]);
    expect(rules[0].selection).toEqual({ tagStatus: 'tagged', tagPatternList: ['main-e*'], countType: 'imageCountMoreThan', countNumber: 1000 });
    expect(rules[1].selection).toEqual({ tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' });
    expect(rules[2].selection).toEqual({ tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 7, countUnit: 'days' });
  });

  test('may also list the images of the cache repository, and nothing more', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.inline() });

    // THEN
    const [appId] = appRepository(template);
    const [cacheId] = cacheRepository(template);
    expect(ecrPermissionsOfProjectRole(template)).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PUSH_PULL_ACTIONS,
      [JSON.stringify({ 'Fn::GetAtt': [cacheId, 'Arn'] })]: [...PUSH_PULL_ACTIONS, 'ecr:ListImages'].sort(),
    });
  });

  test('passes the cache repository name, which no other strategy needs', () => {
    // WHEN
    const inline = synth({ repositoryName: 'api', cache: CacheStrategy.inline() }).template;
    const registry = synth({ repositoryName: 'api' }).template;

    // THEN
    const [cacheId] = cacheRepository(inline);
    expect(plainEnv(inline).CIB_CACHE_REPOSITORY_NAME).toEqual({ Ref: cacheId });
    expect(plainEnv(registry)).not.toHaveProperty('CIB_CACHE_REPOSITORY_NAME');
  });

  test('builds with docker build and BUILDKIT_INLINE_CACHE, and creates no buildx builder', () => {
    // WHEN
    const { template } = synth({ cache: CacheStrategy.inline() });

    // THEN
    const commands: string[] = Object.values<any>(buildSpec(template).phases).flatMap((p) => p.commands);
    expect(commands.filter((c) => c.includes('DOCKER_BUILDKIT=1 docker build') && c.includes('--build-arg BUILDKIT_INLINE_CACHE=1'))).toHaveLength(1);
    expect(commands.filter((c) => c.includes('buildx'))).toEqual([]);
    expect(plainEnv(template)).not.toHaveProperty('CIB_BUILDER_IMAGE');
  });
});

describe('buildah cache strategy', () => {
  test('expires every cache tag by age: no tag is the default branch cache', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.buildah(), cacheRetention: Duration.days(30) });

    // THEN
    const rules = lifecycleRules(template);
    expect(rules.map((r) => r.rulePriority)).toEqual([2, 3]);
    expect(rules[0].selection).toEqual({ tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1, countUnit: 'days' });
    expect(rules[1].selection).toEqual({ tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 30, countUnit: 'days' });
  });

  test('may push and pull the two repositories and get an ECR token, nothing else ECR-wise', () => {
    // WHEN
    const { template } = synth({ repositoryName: 'api', cache: CacheStrategy.buildah() });

    // THEN
    const [appId] = appRepository(template);
    const [cacheId] = cacheRepository(template);
    expect(ecrPermissionsOfProjectRole(template)).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PUSH_PULL_ACTIONS,
      [JSON.stringify({ 'Fn::GetAtt': [cacheId, 'Arn'] })]: PUSH_PULL_ACTIONS,
    });
  });

  test('installs buildah in the install phase, which aborts on failure', () => {
    // WHEN
    const { template } = synth({ cache: CacheStrategy.buildah() });

    // THEN
    const install = buildSpec(template).phases.install;
    expect(install['on-failure']).toEqual('ABORT');
    expect(install.commands[1]).toEqual('buildah --version');
  });
});

describe('build secrets', () => {
  function withSecrets() {
    const stack = newStack();
    const token = secretsmanager.Secret.fromSecretNameV2(stack, 'Token', 'npm-token');
    const param = ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Param', { parameterName: '/ci/pip-index' });
    new CachedImageBuild(stack, 'Api', {
      repositoryName: 'api',
      buildSecrets: {
        'npm_token': BuildSecret.fromSecretsManager(token, { jsonField: 'token' }),
        'pip.conf': BuildSecret.fromSsmParameter(param),
      },
    });
    return Template.fromStack(stack);
  }

  test('resolve into CodeBuild secret variables, their ids into plain ones', () => {
    // WHEN
    const template = withSecrets();

    // THEN
    const env = projectEnv(template);
    expect(env.CIB_SECRET_1.Type).toEqual('SECRETS_MANAGER');
    expect(JSON.stringify(env.CIB_SECRET_1.Value)).toContain(':secret:npm-token');
    expect(JSON.stringify(env.CIB_SECRET_1.Value)).toMatch(/:token::"\]\]\}$/);
    expect(env.CIB_SECRET_2).toEqual({ Name: 'CIB_SECRET_2', Type: 'PARAMETER_STORE', Value: '/ci/pip-index' });
    expect(env.CIB_SECRET_1_ID).toEqual({ Name: 'CIB_SECRET_1_ID', Type: 'PLAINTEXT', Value: 'npm_token' });
    expect(env.CIB_SECRET_2_ID).toEqual({ Name: 'CIB_SECRET_2_ID', Type: 'PLAINTEXT', Value: 'pip.conf' });
  });

  test('reach the builder as files named in --secret, never as values on a command line', () => {
    // WHEN
    const template = withSecrets();

    // THEN
    const command = buildCommand(template);
    expect(command).toContain('--secret "id=$CIB_SECRET_1_ID,src=$CIB_SECRET_1_FILE"');
    expect(command).toContain('--secret "id=$CIB_SECRET_2_ID,src=$CIB_SECRET_2_FILE"');
    const all: string[] = Object.values<any>(buildSpec(template).phases).flatMap((p) => p.commands);
    // written only when the build mounts its secrets (not for a pull request)
    expect(all.filter((c) => /\$CIB_SECRET_[0-9]+"/.test(c))).toEqual([1, 2].map((n) => [
      `CIB_SECRET_${n}_FILE=""; if [ "$CIB_MOUNT_SECRETS" = true ]; then CIB_SECRET_${n}_FILE="$(mktemp)" &&`,
      `printf '%s' "$CIB_SECRET_${n}" > "$CIB_SECRET_${n}_FILE"; fi`,
    ].join(' ')));
    expect(command).toContain('if [ "$CIB_MOUNT_SECRETS" = true ]; then CIB_SECRETS=(--secret');
    expect(all).toContain('if [ "$CIB_MOUNT_SECRETS" = true ]; then rm -f "$CIB_SECRET_1_FILE" "$CIB_SECRET_2_FILE"; fi');
  });

  test('the project may read these secrets', () => {
    // WHEN
    const template = withSecrets();

    // THEN
    const statements = Object.values<any>(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    const secrets = statements.filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(secrets.length).toBeGreaterThan(0);
    expect(JSON.stringify(secrets)).toContain(':secret:npm-token');
    const params = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('ssm:GetParameter')));
    expect(params.length).toBeGreaterThan(0);
    expect(JSON.stringify(params)).toContain('parameter/ci/pip-index');
  });

  test.each(['', 'a b', 'x'.repeat(65), '..', 'a/b', 'id=x,src=/etc/passwd'])('reject the secret id %j', (id) => {
    // GIVEN
    const stack = newStack();
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'n');

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'Api', { buildSecrets: { [id]: BuildSecret.fromSecretsManager(secret) } }))
      .toThrow(/buildSecrets: secret id .* must be 1 to 64 characters from \[A-Za-z0-9_.-\]/);
  });
});

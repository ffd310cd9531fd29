import { App, Stack, aws_ec2 as ec2, aws_ecr as ecr, aws_kms as kms, aws_logs as logs } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CacheStrategy, CachedImageBuild } from '../../src';
import { nagFlatten } from '../../src/nag';
import { ENV, GITHUB, STRATEGIES, newKey, newVpc, pipelineWith, stackOf, synth, logicalIdOf } from '../helpers/compliance-cases';
import { PUSH_PULL_ACTIONS } from '../helpers/ecr-actions';

/** Normalized statements of every policy attached to the project role: 'resource[ if condition]' -> sorted actions. */
function projectRolePermissions(template: Template): Record<string, string[]> {
  const [, project] = Object.entries<any>(template.findResources('AWS::CodeBuild::Project'))[0];
  const roleId = project.Properties.ServiceRole['Fn::GetAtt'][0];
  const role = template.toJSON().Resources[roleId];
  expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  expect(role.Properties.Policies).toBeUndefined();
  const byResource: Record<string, Set<string>> = {};
  for (const policy of Object.values<any>(template.findResources('AWS::IAM::Policy'))) {
    if (!(policy.Properties.Roles as any[]).some((r) => r.Ref === roleId)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      expect(Object.keys(statement).filter((k) => k !== 'Condition').sort()).toEqual(['Action', 'Effect', 'Resource']);
      expect(statement.Effect).toEqual('Allow');
      for (const resource of [statement.Resource].flat()) {
        const key = nagFlatten(resource) + (statement.Condition ? ` if ${JSON.stringify(statement.Condition)}` : '');
        byResource[key] = byResource[key] ?? new Set();
        [statement.Action].flat().forEach((a: string) => byResource[key].add(a));
      }
    }
  }
  return Object.fromEntries(Object.entries(byResource).map(([k, v]) => [k, [...v].sort()]));
}

const LOGS_WRITE = ['logs:CreateLogStream', 'logs:PutLogEvents'];
const DEFAULT_LOG_GROUP = ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'];
const KMS_ENCRYPT_DECRYPT = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'];

describe('project role: every statement, nothing beyond what the strategy needs', () => {
  const extraCacheActions: Record<string, string[]> = { registry: [], inline: ['ecr:ListImages'], buildah: [], none: [] };

  test.each(STRATEGIES.flatMap(([name, cache]) => [
    { name, cache, withKey: false, withSource: false },
    { name, cache, withKey: true, withSource: false },
    { name, cache, withKey: false, withSource: true },
    { name, cache, withKey: true, withSource: true },
  ]))('$name strategy (encryptionKey: $withKey, source: $withSource)', ({ name, cache, withKey, withSource }) => {
    // WHEN
    const { template } = synth((s) => ({
      repositoryName: 'api',
      cache: cache(),
      ...(withKey ? { encryptionKey: newKey(s) } : {}),
      ...(withSource ? { source: GITHUB() } : {}),
    }));

    // THEN
    const project = logicalIdOf(template, 'AWS::CodeBuild::Project');
    const logGroup = logicalIdOf(template, 'AWS::Logs::LogGroup');
    const repos = Object.entries<any>(template.findResources('AWS::ECR::Repository'));
    const app = repos.find(([, r]) => r.Properties.ImageScanningConfiguration?.ScanOnPush)![0];
    const cacheRepo = repos.find(([, r]) => r.Properties.ImageTagMutability === 'MUTABLE')?.[0];
    const defaultGroup = `arn:<AWS::Partition>:logs:us-east-1:123456789012:log-group:/aws/codebuild/<${project}>`;
    const expected: Record<string, string[]> = {
      // ECR login: Resource "*" is the only form IAM accepts (policy EcrLoginPolicy).
      '*': ['ecr:GetAuthorizationToken'],
      // Cache metrics, in the build's namespace only (policy PutMetricsPolicy).
      '* if {"StringEquals":{"cloudwatch:namespace":"CachedImageBuild"}}': ['cloudwatch:PutMetricData'],
      [`<${app}.Arn>`]: PUSH_PULL_ACTIONS,
      // Build logs into the construct's log group.
      [`<${logGroup}.Arn>`]: LOGS_WRITE,
      // Added by codebuild.Project for its default log group, whatever the logging settings.
      [defaultGroup]: DEFAULT_LOG_GROUP,
      [`${defaultGroup}:*`]: DEFAULT_LOG_GROUP,
    };
    if (name !== 'none') {
      expected[`<${cacheRepo}.Arn>`] = [...PUSH_PULL_ACTIONS, ...extraCacheActions[name]].sort();
    } else {
      expect(cacheRepo).toBeUndefined();
    }
    if (withKey && withSource) {
      // The build output of a standalone project (policy EncryptionKeyPolicy). ECR and CloudWatch Logs
      // use the key without the role; a pipeline project's output is encrypted with the pipeline's key.
      expected[`<${logicalIdOf(template, 'AWS::KMS::Key')}.Arn>`] = KMS_ENCRYPT_DECRYPT;
    }
    expect(projectRolePermissions(template)).toEqual(expected);
  });

  test('in a VPC: exactly the EC2 statements for the build\'s network interfaces on top, limited to its subnets', () => {
    // GIVEN
    const { template: plain } = synth(() => ({ repositoryName: 'api' }));

    // WHEN
    const { stack, template } = synth((s) => ({ repositoryName: 'api', vpc: newVpc(s), subnetSelection: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } }));

    // THEN
    const subnets = Object.entries<any>(template.findResources('AWS::EC2::Subnet'))
      .filter(([, r]) => r.Properties.Tags.some((t: any) => t.Key === 'aws-cdk:subnet-type' && t.Value === 'Private'))
      .map(([id]) => `arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:subnet/<${id}>`);
    expect(subnets).toHaveLength(2);
    const permissions = projectRolePermissions(template);
    const ec2Only = Object.fromEntries(Object.entries(permissions).map(([k, v]) => [k, v.filter((a) => a.startsWith('ec2:'))]).filter(([, v]) => v.length > 0));
    expect(Object.keys(ec2Only)).toHaveLength(2);
    expect(ec2Only['*']).toEqual([
      'ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:DescribeDhcpOptions', 'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', 'ec2:DescribeVpcs',
    ]);
    const [permissionKey] = Object.keys(ec2Only).filter((k) => k !== '*');
    expect(permissionKey.startsWith('arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/* if ')).toBe(true);
    const condition = JSON.parse(permissionKey.slice(permissionKey.indexOf(' if ') + 4));
    expect(condition.StringEquals['ec2:AuthorizedService']).toEqual('codebuild.amazonaws.com');
    expect(condition.StringEquals['ec2:Subnet'].map((arn: unknown) => nagFlatten(stack.resolve(arn)))).toEqual(subnets);
    expect(ec2Only[permissionKey]).toEqual(['ec2:CreateNetworkInterfacePermission']);
    // Everything else is what the build has outside a VPC (logical ids aside).
    const withoutEc2 = (p: Record<string, string[]>) => Object.values(p).map((v) => v.filter((a) => !a.startsWith('ec2:'))).filter((v) => v.length > 0).sort();
    expect(withoutEc2(permissions)).toEqual(withoutEc2(projectRolePermissions(plain)));
  });

  test('without metrics there is no cloudwatch:PutMetricData', () => {
    // WHEN
    const { template } = synth(() => ({ metrics: false }));

    // THEN
    expect(Object.keys(projectRolePermissions(template)).filter((k) => k.includes('cloudwatch'))).toEqual([]);
    expect(Object.values(projectRolePermissions(template)).flat().filter((a) => a.startsWith('cloudwatch:'))).toEqual([]);
  });

  test('ecr:GetAuthorizationToken is the only statement of the ECR login policy', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const login = Object.values<any>(template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('EcrLogin') } }));
    expect(login).toHaveLength(1);
    expect(login[0].Properties.PolicyDocument.Statement).toEqual([{ Action: 'ecr:GetAuthorizationToken', Effect: 'Allow', Resource: '*' }]);
  });

  test('no report group permissions: the buildspec defines no test reports', () => {
    // WHEN
    const { template } = synth();

    // THEN
    const actions = Object.values(projectRolePermissions(template)).flat();
    expect(actions.filter((a) => a.startsWith('codebuild:'))).toEqual([]);
  });
});

describe('encryption', () => {
  test('without encryptionKey: ECR default encryption, CodeBuild with alias/aws/s3, log group unencrypted by a CMK', () => {
    // WHEN
    const { template } = synth();

    // THEN
    for (const repo of Object.values<any>(template.findResources('AWS::ECR::Repository'))) {
      expect(repo.Properties.EncryptionConfiguration).toBeUndefined();
    }
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: 'alias/aws/s3' });
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: Match.absent() });
  });

  test.each(STRATEGIES.map(([name, cache]) => [name, cache] as const))('with encryptionKey (%s): both repositories and the log group use it', (name, cache) => {
    // WHEN
    const { template } = synth((s) => ({ cache: cache(), encryptionKey: newKey(s) }));

    // THEN
    const keyArn = { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::KMS::Key'), 'Arn'] };
    const repos = Object.values<any>(template.findResources('AWS::ECR::Repository'));
    expect(repos).toHaveLength(name === 'none' ? 1 : 2);
    for (const repo of repos) {
      expect(repo.Properties.EncryptionConfiguration).toEqual({ EncryptionType: 'KMS', KmsKey: keyArn });
    }
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: keyArn });
  });

  test('with encryptionKey, a standalone project encrypts its build output with it', () => {
    // WHEN
    const { template } = synth((s) => ({ source: GITHUB(), encryptionKey: newKey(s) }));

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::KMS::Key'), 'Arn'] } });
  });

  test.each([
    ['without encryptionKey', false],
    ['with encryptionKey', true],
  ])('a pipeline project encrypts its output, the pipeline\'s artifacts, with the pipeline\'s artifact key, %s', (_name, withKey) => {
    // GIVEN
    const { stack, build } = stackOf({ name: '', props: (s) => (withKey ? { encryptionKey: newKey(s) } : {}), env: ENV });

    // WHEN
    pipelineWith(stack, build);

    // THEN
    const template = Template.fromStack(stack);
    const artifactKey = Object.keys(template.findResources('AWS::KMS::Key')).find((id) => id.startsWith('Pipeline'));
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: { 'Fn::GetAtt': [artifactKey, 'Arn'] } });
  });

  test('the key policy lets CloudWatch Logs use the key for log groups of the stack\'s account and region', () => {
    // WHEN
    const { template } = synth((s) => ({ encryptionKey: newKey(s) }));

    // THEN
    const [, key] = Object.entries<any>(template.findResources('AWS::KMS::Key'))[0];
    const logsStatements = key.Properties.KeyPolicy.Statement.filter((st: any) => st.Principal?.Service !== undefined);
    expect(logsStatements).toEqual([{
      Effect: 'Allow',
      Principal: { Service: 'logs.us-east-1.amazonaws.com' },
      Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      Resource: '*',
      Condition: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': {
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:us-east-1:123456789012:log-group:*']],
          },
        },
      },
    }]);
  });

  test('two builds sharing one key add the CloudWatch Logs statement once', () => {
    // GIVEN
    const stack = new Stack(new App(), 'TestStack', { env: ENV });
    const key = newKey(stack);

    // WHEN
    new CachedImageBuild(stack, 'Api', { encryptionKey: key });
    new CachedImageBuild(stack, 'Web', { encryptionKey: key });

    // THEN
    const [, resource] = Object.entries<any>(Template.fromStack(stack).findResources('AWS::KMS::Key'))[0];
    expect(resource.Properties.KeyPolicy.Statement.filter((st: any) => st.Principal?.Service !== undefined)).toHaveLength(1);
  });

  test('an imported key is used as it is: its policy is not changed, and imported repositories keep their encryption', () => {
    // WHEN
    const { template } = synth((s) => ({
      repository: ecr.Repository.fromRepositoryName(s, 'Repo', 'api'),
      cache: CacheStrategy.none(),
      source: GITHUB(),
      encryptionKey: kms.Key.fromKeyArn(s, 'Imported', 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555'),
    }));

    // THEN
    template.resourceCountIs('AWS::ECR::Repository', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555' });
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555' });
  });
});

describe('build log group', () => {
  test('keeps logs for one month by default and is retained with the stack', () => {
    // WHEN
    const { build, stack, template } = synth();

    // THEN
    const [id, group] = Object.entries<any>(template.findResources('AWS::Logs::LogGroup'))[0];
    expect(group.Properties.RetentionInDays).toEqual(30);
    expect(group.DeletionPolicy).toEqual('Retain');
    expect(group.UpdateReplacePolicy).toEqual('Retain');
    expect(stack.resolve(build.logGroup.logGroupName)).toEqual({ Ref: id });
  });

  test('keeps logs as long as logRetention says', () => {
    // WHEN
    const { template } = synth(() => ({ logRetention: logs.RetentionDays.ONE_YEAR }));

    // THEN
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  test('receives the project\'s logs', () => {
    // WHEN
    const { template } = synth();

    // THEN
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      LogsConfig: { CloudWatchLogs: { Status: 'ENABLED', GroupName: { Ref: logicalIdOf(template, 'AWS::Logs::LogGroup') } } },
    });
  });
});

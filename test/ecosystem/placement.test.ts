import { aws_codebuild as codebuild, aws_ec2 as ec2, aws_ecr_assets as ecr_assets, aws_iam as iam } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CacheStrategy, CachedImageBuild } from '../../src';
import { appRepository, cacheRepository, create, ecrPermissionsOfRole, newStack, projectOf, synth } from '../helpers/construct';
import { PUSH_PULL_ACTIONS } from '../helpers/ecr-actions';

/** Where the build runs and as whom: vpc, subnetSelection, securityGroups, role, fleet, dockerServer. */

function privateVpc(stack: ReturnType<typeof newStack>): ec2.Vpc {
  return new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 1,
    subnetConfiguration: [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
      { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      { name: 'builds', subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    ],
  });
}

function fleet(stack: ReturnType<typeof newStack>, environmentType: codebuild.EnvironmentType): codebuild.Fleet {
  return new codebuild.Fleet(stack, 'Fleet', { baseCapacity: 1, computeType: codebuild.FleetComputeType.SMALL, environmentType });
}

describe('vpc, subnetSelection, securityGroups', () => {
  test('the project runs in the chosen subnets of the VPC with the given security group', () => {
    // GIVEN
    const stack = newStack();
    const vpc = privateVpc(stack);
    const sg = new ec2.SecurityGroup(stack, 'BuildSg', { vpc });

    // WHEN
    new CachedImageBuild(stack, 'Api', { vpc, subnetSelection: { subnetGroupName: 'builds' }, securityGroups: [sg] });

    // THEN
    const template = Template.fromStack(stack);
    const isolated = vpc.selectSubnets({ subnetGroupName: 'builds' }).subnets.map((s) => stack.resolve(s.subnetId));
    expect(projectOf(template).Properties.VpcConfig).toEqual({
      VpcId: stack.resolve(vpc.vpcId),
      Subnets: isolated,
      SecurityGroupIds: [stack.resolve(sg.securityGroupId)],
    });
    // No security group of the construct's own.
    template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
  });

  test('with only vpc, the private subnets with egress and a new security group that allows all outbound traffic', () => {
    // GIVEN
    const stack = newStack();
    const vpc = privateVpc(stack);

    // WHEN
    new CachedImageBuild(stack, 'Api', { vpc });

    // THEN
    const template = Template.fromStack(stack);
    const withEgress = vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnets.map((s) => stack.resolve(s.subnetId));
    expect(projectOf(template).Properties.VpcConfig.Subnets).toEqual(withEgress);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      VpcId: stack.resolve(vpc.vpcId),
      SecurityGroupEgress: [{ CidrIp: '0.0.0.0/0', IpProtocol: '-1' }],
      SecurityGroupIngress: Match.absent(),
    });
  });

  test('without vpc the project has no VPC configuration and the role no EC2 permission', () => {
    // WHEN
    const { template } = synth({});

    // THEN
    expect(projectOf(template).Properties.VpcConfig).toBeUndefined();
    const actions = Object.values<any>(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement.flatMap((s: any) => [s.Action].flat()));
    expect(actions.filter((a: string) => a.startsWith('ec2:'))).toEqual([]);
  });

  test.each([
    ['subnetSelection', { subnetSelection: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } }],
    ['securityGroups', { securityGroups: [] as ec2.ISecurityGroup[] }],
  ])('%s without vpc is an error', (prop, props) => {
    // WHEN / THEN
    expect(() => create(props)).toThrow(`${prop} needs vpc: it places the build's network interfaces in a VPC; give vpc, or remove ${prop}`);
  });

  test('an empty list or more than 5 security groups is an error', () => {
    // GIVEN
    const stack = newStack();
    const vpc = privateVpc(stack);
    const groups = [1, 2, 3, 4, 5, 6].map((i) => ec2.SecurityGroup.fromSecurityGroupId(stack, `Sg${i}`, `sg-${i}`));

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'A', { vpc, securityGroups: [] }))
      .toThrow('securityGroups must name at least one security group (leave it out to get a new one)');
    expect(() => new CachedImageBuild(stack, 'B', { vpc, securityGroups: groups }))
      .toThrow('securityGroups may hold at most 5 security groups (CodeBuild\'s limit); got 6');
  });
});

describe('role', () => {
  test('a role of the app is the project\'s service role and gets exactly the grants of the construct\'s own role', () => {
    // GIVEN
    const stack = newStack();
    const role = new iam.Role(stack, 'BuildRole', { assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com') });

    // WHEN
    new CachedImageBuild(stack, 'Api', { repositoryName: 'api', role });

    // THEN
    const template = Template.fromStack(stack);
    const roleId = stack.getLogicalId(role.node.defaultChild as iam.CfnRole);
    expect(projectOf(template).Properties.ServiceRole).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    template.resourceCountIs('AWS::IAM::Role', 1);
    const [appId] = appRepository(template);
    const [cacheId] = cacheRepository(template);
    expect(ecrPermissionsOfRole(template, roleId)).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PUSH_PULL_ACTIONS,
      [JSON.stringify({ 'Fn::GetAtt': [cacheId, 'Arn'] })]: PUSH_PULL_ACTIONS,
    });
  });

  test('an imported role gets the grants in policies attached to it by name', () => {
    // GIVEN
    const stack = newStack();
    const role = iam.Role.fromRoleArn(stack, 'BuildRole', 'arn:aws:iam::123456789012:role/ci/image-builds');

    // WHEN
    new CachedImageBuild(stack, 'Api', { repositoryName: 'api', cache: CacheStrategy.none(), role });

    // THEN
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::IAM::Role', 0);
    expect(projectOf(template).Properties.ServiceRole).toEqual('arn:aws:iam::123456789012:role/ci/image-builds');
    const byResource: Record<string, string[]> = {};
    for (const policy of Object.values<any>(template.findResources('AWS::IAM::Policy'))) {
      expect(policy.Properties.Roles).toEqual(['image-builds']);
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        const actions = [statement.Action].flat().filter((a: string) => a.startsWith('ecr:'));
        if (actions.length > 0) byResource[JSON.stringify(statement.Resource)] = actions.sort();
      }
    }
    const [appId] = appRepository(template);
    expect(byResource).toEqual({
      '"*"': ['ecr:GetAuthorizationToken'],
      [JSON.stringify({ 'Fn::GetAtt': [appId, 'Arn'] })]: PUSH_PULL_ACTIONS,
    });
  });

  test('an immutable imported role is an error: it would take none of the build\'s permissions', () => {
    // GIVEN
    const stack = newStack();
    const role = iam.Role.fromRoleArn(stack, 'BuildRole', 'arn:aws:iam::123456789012:role/image-builds', { mutable: false });

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'Api', { role })).toThrow(
      'role TestStack/BuildRole took none of the build\'s permissions: an imported role must be mutable ' +
        '(iam.Role.fromRoleArn without mutable: false), since the construct attaches its policies to it');
  });
});

describe('fleet', () => {
  test('the project runs on the fleet', () => {
    // GIVEN
    const stack = newStack();
    const f = fleet(stack, codebuild.EnvironmentType.LINUX_CONTAINER);

    // WHEN
    new CachedImageBuild(stack, 'Api', { fleet: f });

    // THEN
    expect(projectOf(Template.fromStack(stack)).Properties.Environment.Fleet).toEqual({ FleetArn: stack.resolve(f.fleetArn) });
  });

  test('an arm64 build runs on an ARM fleet; an x86_64 fleet for it is an error naming both types', () => {
    // GIVEN
    const stack = newStack();
    const arm = fleet(stack, codebuild.EnvironmentType.ARM_CONTAINER);

    // WHEN
    new CachedImageBuild(stack, 'Arm', { platform: ecr_assets.Platform.LINUX_ARM64, fleet: arm });

    // THEN
    expect(() => new CachedImageBuild(stack, 'X86', { fleet: arm })).toThrow(
      'fleet: the fleet\'s environment type ARM_CONTAINER does not match the build image\'s type LINUX_CONTAINER (platform linux/amd64); ' +
        'use a fleet of type LINUX_CONTAINER, or a build image and platform of the fleet\'s type');
  });

  test('an imported fleet is taken as it is (its type is not known at synth time)', () => {
    // GIVEN
    const stack = newStack();
    const imported = codebuild.Fleet.fromFleetArn(stack, 'Fleet', 'arn:aws:codebuild:us-east-1:123456789012:fleet/builds:1234');

    // WHEN
    new CachedImageBuild(stack, 'Api', { fleet: imported });

    // THEN
    expect(projectOf(Template.fromStack(stack)).Properties.Environment.Fleet)
      .toEqual({ FleetArn: 'arn:aws:codebuild:us-east-1:123456789012:fleet/builds:1234' });
  });

  test('vpc with fleet is an error: the fleet has its own network', () => {
    // GIVEN
    const stack = newStack();

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'Api', { vpc: privateVpc(stack), fleet: fleet(stack, codebuild.EnvironmentType.LINUX_CONTAINER) }))
      .toThrow('vpc has no effect with fleet: the builds run in the fleet\'s network; give the VPC to the fleet (codebuild.Fleet vpc), or remove fleet');
  });
});

describe('dockerServer', () => {
  test('the project has a Docker server of the given size and security groups, and stays privileged', () => {
    // GIVEN
    const stack = newStack();
    const vpc = privateVpc(stack);
    const sg = new ec2.SecurityGroup(stack, 'DockerServerSg', { vpc });

    // WHEN
    new CachedImageBuild(stack, 'Api', {
      vpc,
      dockerServer: { computeType: codebuild.DockerServerComputeType.MEDIUM, securityGroups: [sg] },
    });

    // THEN
    const environment = projectOf(Template.fromStack(stack)).Properties.Environment;
    expect(environment.DockerServer).toEqual({ ComputeType: 'BUILD_GENERAL1_MEDIUM', SecurityGroupIds: [stack.resolve(sg.securityGroupId)] });
    expect(environment.PrivilegedMode).toBe(true);
  });

  test.each(['registry', 'inline', 'none'])('works with the %s strategy', (name) => {
    // GIVEN
    const cache = { registry: CacheStrategy.registry(), inline: CacheStrategy.inline(), none: CacheStrategy.none() }[name]!;

    // WHEN
    const { template } = synth({ cache, dockerServer: { computeType: codebuild.DockerServerComputeType.SMALL } });

    // THEN
    expect(projectOf(template).Properties.Environment.DockerServer).toEqual({ ComputeType: 'BUILD_GENERAL1_SMALL' });
  });

  test('with the buildah strategy it is an error: Buildah does not use Docker', () => {
    // WHEN / THEN
    expect(() => create({ cache: CacheStrategy.buildah(), dockerServer: { computeType: codebuild.DockerServerComputeType.SMALL } })).toThrow(
      'dockerServer has no effect with cache strategy \'buildah\': Buildah builds in the build container without Docker; ' +
        'remove dockerServer, or use a Docker-based strategy (registry, inline or none)');
  });

  test('more than 5 security groups is an error', () => {
    // GIVEN
    const stack = newStack();
    const groups = [1, 2, 3, 4, 5, 6].map((i) => ec2.SecurityGroup.fromSecurityGroupId(stack, `Sg${i}`, `sg-${i}`));

    // WHEN / THEN
    expect(() => new CachedImageBuild(stack, 'Api', { dockerServer: { computeType: codebuild.DockerServerComputeType.SMALL, securityGroups: groups } }))
      .toThrow('dockerServer.securityGroups may hold at most 5 security groups (CodeBuild\'s limit); got 6');
  });
});

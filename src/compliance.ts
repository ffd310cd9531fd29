import {
  ArnFormat,
  Aws,
  RemovalPolicy,
  Stack,
  aws_codebuild as codebuild,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { acknowledgeNagRules, nagFlatten } from './nag';

/**
 * The security-related parts of a CachedImageBuild (issue #5): the build log group, the ECR login
 * policy, the standalone project's key, and the cdk-nag acknowledgments, each with its reason.
 * Kept apart from the construct so that the construct only wires them in.
 */

/** Actions of an image pull and push on one repository: what `grantPullPush` grants, in its order, minus the login. */
export const ECR_PULL_PUSH_ACTIONS = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:GetDownloadUrlForLayer',
  'ecr:BatchGetImage',
  'ecr:CompleteLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:InitiateLayerUpload',
  'ecr:PutImage',
];

/**
 * The project's log group: a retention, retained with the stack (it records which commit was
 * built and pushed where; the retention still ages the logs out), and the customer managed key
 * if one is given.
 *
 * CloudWatch Logs uses the key itself, so the key policy must allow the regional CloudWatch Logs
 * service principal. That statement is added to a key defined in the app (`kms.Key`); the policy
 * of an imported key cannot be changed from here and must already allow it.
 */
export function createBuildLogGroup(scope: Construct, id: string, retention: logs.RetentionDays,
  encryptionKey: kms.IKey | undefined): logs.LogGroup {
  const stack = Stack.of(scope);
  if (encryptionKey) {
    encryptionKey.addToResourcePolicy(new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        // Log groups of this account and region only. Not the one log group: its generated name
        // is known only after the key exists (the log group refers to the key).
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }));
  }
  return new logs.LogGroup(scope, id, {
    retention,
    encryptionKey,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

/**
 * `ecr:GetAuthorizationToken` in a policy of its own: the action only works on `*`, and keeping
 * it apart lets the acknowledgment of that `Resource::*` finding cover this one statement, not
 * whatever else is later added to the role's default policy.
 */
export function grantEcrLogin(scope: Construct, id: string, project: codebuild.IProject): iam.Policy {
  return new iam.Policy(scope, id, {
    roles: [project.role!],
    statements: [new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] })],
  });
}

/**
 * The customer managed key for the build output of a standalone project (one with a source).
 *
 * Set on the CloudFormation resource, with the grant in a policy of its own, rather than through
 * `codebuild.Project`'s `encryptionKey`, which grants `kms:ReEncrypt*` and `kms:GenerateDataKey*`
 * in the role's default policy: there the acknowledgment of those wildcards would also cover
 * any other key's grant added to that policy later.
 *
 * Not for a CodePipeline project: its build output is the pipeline's artifacts, and CodeBuild
 * encrypts them with the project's key, which aws-cdk-lib sets to the pipeline's artifact key
 * when the project joins a pipeline, so that the pipeline's other actions can read them.
 */
export function useProjectEncryptionKey(scope: Construct, id: string, project: codebuild.Project, key: kms.IKey): iam.Policy {
  (project.node.defaultChild as codebuild.CfnProject).encryptionKey = key.keyArn;
  return new iam.Policy(scope, id, {
    roles: [project.role!],
    // What codebuild.Project grants for its encryptionKey (key.grantEncryptDecrypt).
    statements: [new iam.PolicyStatement({
      actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
      resources: [key.keyArn],
    })],
  });
}

/** Reasons of the acknowledgments, by finding. Each states the fact that makes the finding acceptable. */
export const NAG_REASONS = {
  ecrLogin:
    'ecr:GetAuthorizationToken supports no resource-level permissions: IAM accepts only Resource "*" for it. ' +
    'This policy holds that one action; image pushes and pulls are limited to the build\'s repositories by the role\'s default policy.',
  defaultLogGroup:
    'aws-cdk-lib codebuild.Project always grants logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents on the ' +
    'project\'s default log group /aws/codebuild/<project name>; the wildcard ":*" is the log streams of that one group. ' +
    'The build writes to the construct\'s own log group (logging.cloudWatch), so this grant goes unused.',
  kmsWildcards:
    'This policy grants kms:Encrypt, kms:Decrypt, kms:ReEncrypt* and kms:GenerateDataKey* on the one encryptionKey given to ' +
    'the construct (Resource is that key\'s ARN), the grant codebuild.Project makes for its key, so CodeBuild can encrypt the ' +
    'build output with it; the wildcards are the variants of these operations (ReEncryptFrom/ReEncryptTo, ' +
    'GenerateDataKeyWithoutPlaintext) on that key only.',
  noProjectKey:
    'No encryptionKey was given: CodeBuild encrypts this project\'s build output with the AWS managed key for Amazon S3 ' +
    '(alias/aws/s3). Pass encryptionKey to use a customer managed key instead.',
  putMetrics:
    'cloudwatch:PutMetricData supports no resource-level permissions: IAM accepts only Resource "*" for it. This policy holds ' +
    'that one action, limited by the condition cloudwatch:namespace to the build\'s metrics namespace.',
  vpcNetworkInterfacePermission:
    'ec2:CreateNetworkInterfacePermission lets CodeBuild attach the build\'s network interfaces in the VPC; aws-cdk-lib ' +
    'codebuild.Project grants it to a VPC project on the network interfaces of the stack\'s account and region (an interface ' +
    'is created by CodeBuild for each build, so no ID can be named in advance), limited by conditions to the build\'s subnets ' +
    '(ec2:Subnet) and to ec2:AuthorizedService codebuild.amazonaws.com.',
  vpcNetworkInterfaces:
    'The EC2 permissions aws-cdk-lib codebuild.Project grants a VPC project, those CodeBuild\'s VPC documentation lists: ' +
    'ec2:DescribeNetworkInterfaces, DescribeSubnets, DescribeSecurityGroups, DescribeDhcpOptions and DescribeVpcs support ' +
    'no resource-level permissions, and ec2:CreateNetworkInterface / DeleteNetworkInterface act on the interfaces CodeBuild ' +
    'creates for each build, whose IDs are not known in advance. This policy holds these EC2 actions only.',
  pipelineProjectKey:
    'This is a CodePipeline project: its build output is the pipeline\'s artifacts. CodeBuild encrypts them with the ' +
    'project\'s key, which aws-cdk-lib sets to the pipeline\'s artifact bucket key when the project is added to a pipeline ' +
    'whose bucket has one (the pipeline\'s other actions can read only that), and else with the AWS managed key for Amazon S3 ' +
    '(alias/aws/s3). The construct\'s encryptionKey is therefore not used for it.',
};

/**
 * Acknowledges the cdk-nag AwsSolutions findings the construct's own resources have, each on
 * the one resource with the finding, with the exact finding where the rule reports findings.
 *
 * @param keyPolicy the policy of `useProjectEncryptionKey()`, when the project uses the key
 * @param metricsPolicy the policy of `grantPutMetrics()`, when the build publishes metrics
 */
export function acknowledgeNagFindings(project: codebuild.Project, loginPolicy: iam.Policy, keyPolicy: iam.Policy | undefined,
  metricsPolicy: iam.Policy | undefined): void {
  const stack = Stack.of(project);

  acknowledgeNagRules(loginPolicy.node.defaultChild as iam.CfnPolicy, [
    { id: 'AwsSolutions-IAM5', reason: NAG_REASONS.ecrLogin, findings: ['Resource::*'] },
  ]);
  if (metricsPolicy) {
    acknowledgeNagRules(metricsPolicy.node.defaultChild as iam.CfnPolicy, [
      { id: 'AwsSolutions-IAM5', reason: NAG_REASONS.putMetrics, findings: ['Resource::*'] },
    ]);
  }

  // The statement codebuild.Project adds for its default log group, rebuilt as the L2 builds it.
  const defaultLogGroupArn = stack.formatArn({
    service: 'logs',
    resource: 'log-group',
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    resourceName: `/aws/codebuild/${project.projectName}`,
  });
  const defaultPolicy = principalPolicyOf(project.role!);
  const defaultLogGroupFinding = `Resource::${nagFlatten(stack.resolve(`${defaultLogGroupArn}:*`))}`;
  acknowledgeNagRules(defaultPolicy, [
    { id: 'AwsSolutions-IAM5', reason: NAG_REASONS.defaultLogGroup, findings: [defaultLogGroupFinding] },
  ]);

  if (keyPolicy) {
    acknowledgeNagRules(keyPolicy.node.defaultChild as iam.CfnPolicy, [
      { id: 'AwsSolutions-IAM5', reason: NAG_REASONS.kmsWildcards, findings: ['Action::kms:ReEncrypt*', 'Action::kms:GenerateDataKey*'] },
    ]);
  } else {
    acknowledgeNagRules(project.node.defaultChild as codebuild.CfnProject, [
      {
        id: 'AwsSolutions-CB4',
        reason: project instanceof codebuild.PipelineProject ? NAG_REASONS.pipelineProjectKey : NAG_REASONS.noProjectKey,
      },
    ]);
  }
}

/**
 * The policy that a role's `addToPrincipalPolicy()` writes to: `DefaultPolicy` of a role defined in
 * the app, `Policy` of an imported one (a `role` given by the user).
 */
export function principalPolicyOf(role: iam.IRole): iam.CfnPolicy {
  const policy = role.node.tryFindChild('DefaultPolicy') ?? role.node.tryFindChild('Policy');
  if (!policy) {
    throw new Error(
      `role ${role.node.path} took none of the build's permissions: an imported role must be mutable ` +
        '(iam.Role.fromRoleArn without mutable: false), since the construct attaches its policies to it',
    );
  }
  return policy.node.defaultChild as iam.CfnPolicy;
}

/**
 * Acknowledges the two findings of the VPC permissions aws-cdk-lib's `codebuild.Project` grants a
 * project with a `vpc`: the network interface permission in the role's policy, and the policy of
 * EC2 actions on `*` it attaches to the role (a child of the first project that uses the role).
 */
export function acknowledgeVpcNagFindings(project: codebuild.Project): void {
  const stack = Stack.of(project);
  const networkInterfaces = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:network-interface/*`;
  acknowledgeNagRules(principalPolicyOf(project.role!), [{
    id: 'AwsSolutions-IAM5',
    reason: NAG_REASONS.vpcNetworkInterfacePermission,
    findings: [`Resource::${nagFlatten(stack.resolve(networkInterfaces))}`],
  }]);
  const vpcPolicy = project.node.tryFindChild('PolicyDocument');
  if (vpcPolicy) {
    acknowledgeNagRules(vpcPolicy.node.defaultChild as iam.CfnPolicy, [
      { id: 'AwsSolutions-IAM5', reason: NAG_REASONS.vpcNetworkInterfaces, findings: ['Resource::*'] },
    ]);
  }
}

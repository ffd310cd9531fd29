import { aws_codebuild as codebuild, aws_ecr as ecr, aws_iam as iam } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import {
  ECR_PULL_PUSH_ACTIONS,
  acknowledgeNagFindings,
  acknowledgeVpcNagFindings,
  grantEcrLogin,
  useProjectEncryptionKey,
} from './compliance';
import { CacheMetrics, grantPutMetrics } from './metrics/cache-metrics';
import { ResolvedOptions } from './options/resolve-options';

/** The repositories a build pushes to and pulls from. */
export interface BuildRepositories {
  readonly repository: ecr.IRepository;
  readonly cacheRepository?: ecr.IRepository;
}

/**
 * What the project may do, and what is built on it: read its build secrets, pull and push on the
 * repositories (the ECR login, `*` only, is in a policy of its own), put its cache metrics; then
 * the compliance parts (project key, cdk-nag acknowledgments; see compliance.ts).
 * Returns the cache metrics, or undefined when the build publishes none.
 */
export function wireGrants(scope: Construct, options: ResolvedOptions, project: codebuild.Project,
  repositories: BuildRepositories): CacheMetrics | undefined {
  options.secrets.forEach((secret) => secret._grant(project));
  options.dockerHubLogin?._grant(project);
  options.strategy._grant(scope, project);
  repositories.repository.grant(project, ...ECR_PULL_PUSH_ACTIONS);
  repositories.cacheRepository?.grant(project, ...ECR_PULL_PUSH_ACTIONS);
  const extraCacheActions = options.strategy._extraCacheActions();
  if (repositories.cacheRepository && extraCacheActions.length > 0) {
    repositories.cacheRepository.grant(project, ...extraCacheActions);
  }

  let metricsPolicy: iam.Policy | undefined;
  let cacheMetrics: CacheMetrics | undefined;
  if (options.metricsNamespace !== undefined) {
    metricsPolicy = grantPutMetrics(scope, project, options.metricsNamespace);
    cacheMetrics = new CacheMetrics(options.metricsNamespace, project);
  }

  // Compliance (issue #5): ECR login policy, project key, cdk-nag acknowledgments.
  const loginPolicy = grantEcrLogin(scope, 'EcrLoginPolicy', project);
  const keyPolicy = options.encryptionKey && options.source
    ? useProjectEncryptionKey(scope, 'EncryptionKeyPolicy', project, options.encryptionKey)
    : undefined;
  acknowledgeNagFindings(project, loginPolicy, keyPolicy, metricsPolicy);
  if (options.placement.vpc) {
    acknowledgeVpcNagFindings(project);
  }
  return cacheMetrics;
}

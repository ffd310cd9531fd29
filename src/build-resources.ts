import { RemovalPolicy, aws_codebuild as codebuild, aws_ecr as ecr, aws_logs as logs } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ResolvedOptions } from './options/resolve-options';
import { BuildScript } from './script/build-script';
import { toBuildSpecObject } from './script/buildspec';

/**
 * The resources of a CachedImageBuild, from its resolved options: the application and cache
 * repositories and the CodeBuild project. The grants on them are wired in `build-grants.ts`.
 */

/**
 * The application repository: retained with the stack, scans on push, tags immutable except the
 * fixed (moving) tags of `imageTags`.
 */
export function createImageRepository(scope: Construct, options: ResolvedOptions): ecr.Repository {
  return new ecr.Repository(scope, 'Repository', {
    repositoryName: options.repositoryName,
    imageScanOnPush: true,
    removalPolicy: RemovalPolicy.RETAIN,
    ...(options.mutableTagPatterns.length > 0
      ? {
        imageTagMutability: ecr.TagMutability.IMMUTABLE_WITH_EXCLUSION,
        imageTagMutabilityExclusionFilters: options.mutableTagPatterns.map((t) => ecr.ImageTagMutabilityExclusionFilter.wildcard(t)),
      }
      : { imageTagMutability: ecr.TagMutability.IMMUTABLE }),
    encryptionKey: options.encryptionKey,
  });
}

/**
 * The cache repository: mutable tags, no scan, removed (and emptied) with the stack, with the
 * strategy's lifecycle rules.
 */
export function createCacheRepository(scope: Construct, options: ResolvedOptions,
  lifecycleRules: ecr.LifecycleRule[] = options.strategy._cacheLifecycleRules(options.defaultCacheTag, options.cacheRetention)): ecr.Repository {
  return new ecr.Repository(scope, 'CacheRepository', {
    repositoryName: options.cacheRepositoryName,
    imageTagMutability: ecr.TagMutability.MUTABLE,
    imageScanOnPush: false,
    removalPolicy: RemovalPolicy.DESTROY,
    emptyOnDelete: true,
    lifecycleRules,
    encryptionKey: options.encryptionKey,
  });
}

/** The user's variables, the script's (plain text), then one variable a build secret (resolved by CodeBuild). */
export function projectEnvironment(options: ResolvedOptions, script: BuildScript): { [name: string]: codebuild.BuildEnvironmentVariable } {
  const environmentVariables: { [name: string]: codebuild.BuildEnvironmentVariable } = { ...options.environmentVariables };
  for (const [name, value] of Object.entries(script.environment)) {
    environmentVariables[name] = { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value };
  }
  options.secrets.forEach((secret, i) => {
    environmentVariables[`CIB_SECRET_${i + 1}`] = { type: secret._type, value: secret._value };
  });
  Object.assign(environmentVariables, options.dockerHubLogin?._environment());
  return environmentVariables;
}

/**
 * The CodeBuild project that runs the script: a standalone `Project` with a `source`, else a
 * `PipelineProject`. Privileged (the builder needs the Docker daemon); logs to `logGroup`.
 * `buildSpecExtras` are added to the buildspec (a multi-architecture build's batch graph).
 */
export function createProject(scope: Construct, options: ResolvedOptions, script: BuildScript,
  logGroup: logs.ILogGroup, buildSpecExtras: Record<string, any> = {}): codebuild.Project {
  const projectProps: codebuild.PipelineProjectProps = {
    projectName: options.projectName,
    description: `Builds a Docker image and pushes it to ECR with the '${options.strategy.name}' layer cache (cdk-cached-image-build)`,
    buildSpec: codebuild.BuildSpec.fromObject({ ...toBuildSpecObject(script), ...buildSpecExtras }),
    environment: {
      buildImage: options.buildImage,
      computeType: options.computeType,
      privileged: true,
      fleet: options.placement.fleet,
      dockerServer: options.placement.dockerServer,
    },
    environmentVariables: projectEnvironment(options, script),
    timeout: options.timeout,
    concurrentBuildLimit: options.concurrentBuildLimit,
    logging: { cloudWatch: { logGroup } },
    // The buildspec defines no test reports: no report group permissions.
    grantReportGroupPermissions: false,
    // Where the build runs and as whom (all undefined by default).
    role: options.placement.role,
    vpc: options.placement.vpc,
    subnetSelection: options.placement.subnetSelection,
    securityGroups: options.placement.securityGroups,
  };
  return options.source
    ? new codebuild.Project(scope, 'Project', { ...projectProps, source: options.source })
    : new codebuild.PipelineProject(scope, 'Project', projectProps);
}

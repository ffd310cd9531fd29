import { aws_codebuild as codebuild, aws_codepipeline_actions as codepipeline_actions, aws_logs as logs } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PlatformTarget, multiArchMutableTagPatterns, validateMultiArchTags } from './platforms';
import { createBatchProject, createPipelineProjects } from './projects';
import { STEP_BUILD, STEP_INDEX, renderMultiArchScript } from './script';
import { BuildRepositories, wireGrants } from '../build-grants';
import { CachedImageBuildActionOptions } from '../cached-image-build-props';
import { CacheMetrics } from '../metrics/cache-metrics';
import { ResolvedOptions } from '../options/resolve-options';
import { validateNamespace } from '../options/validation';
import { BuildScript } from '../script/build-script';
import { warnOnUnfilteredPullRequests } from '../webhook-check';

/**
 * A CachedImageBuild with `platforms`: the parts that differ from a single-platform build, made
 * from its resolved options and script (see the other files of this folder).
 */

/** What the construct keeps of a multi-architecture build. */
export interface MultiArchParts {
  readonly targets: PlatformTarget[];
  /** Standalone: the batch project; CodePipeline: one project per platform, in order. */
  readonly projects: codebuild.Project[];
  /** Metrics over every architecture (dimension ProjectName only): the batch project's; none for CodePipeline projects. */
  readonly aggregateMetrics?: CacheMetrics;
  /** Per platform (dimensions ProjectName and Platform); empty when metrics are off. */
  readonly platformMetrics: Map<string, CacheMetrics>;
}

/** The resolved options with the multi-architecture tag rules applied (unchanged for a single-platform build). */
export function multiArchRepositoryOptions(options: ResolvedOptions, targets: PlatformTarget[] | undefined): ResolvedOptions {
  if (!targets) return options;
  validateMultiArchTags(options.imageTags, targets);
  return {
    ...options,
    mutableTagPatterns: multiArchMutableTagPatterns(options.mutableTagPatterns, options.fixedTags, targets, !options.repository),
  };
}

/** The projects, their grants and metrics. */
export function buildMultiArch(scope: Construct, options: ResolvedOptions, targets: PlatformTarget[], base: BuildScript,
  tagSelectionEnd: string, logGroup: logs.ILogGroup, repositories: BuildRepositories): MultiArchParts {
  const script = renderMultiArchScript(base, targets, tagSelectionEnd);
  const projects = options.source
    ? [createBatchProject(scope, options, targets, script, logGroup)]
    : createPipelineProjects(scope, options, targets, script, logGroup);
  const platformMetrics = new Map<string, CacheMetrics>();
  let aggregateMetrics: CacheMetrics | undefined;
  projects.forEach((project, i) => {
    warnOnUnfilteredPullRequests(scope, project, options.pullRequests, options.secretIds.length > 0);
    // Each project's policies in the project's own scope (ids are per scope).
    const metrics = wireGrants(project.node.scope as Construct, options, project, repositories);
    if (!metrics) return;
    if (options.source) {
      aggregateMetrics = metrics;
      targets.forEach((t) => platformMetrics.set(t.platform, new CacheMetrics(options.metricsNamespace!, project, { Platform: t.platform })));
    } else {
      platformMetrics.set(targets[i].platform, new CacheMetrics(options.metricsNamespace!, project, { Platform: targets[i].platform }));
    }
  });
  return { targets, projects, aggregateMetrics, platformMetrics };
}

/** The per-platform actions (parallel, `runOrder`) and the index action (`runOrder + 1`, on the first platform's project). */
export function multiArchActions(parts: MultiArchParts, options: CachedImageBuildActionOptions,
  environment: { [name: string]: codebuild.BuildEnvironmentVariable }): codepipeline_actions.CodeBuildAction[] {
  const actionName = options.actionName ?? 'BuildImage';
  const variablesNamespace = options.variablesNamespace ?? actionName;
  validateNamespace('variablesNamespace', variablesNamespace);
  const runOrder = options.runOrder ?? 1;
  const step = (value: string) => ({ CIB_STEP: { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value } });
  const perPlatform = parts.targets.map((t, i) => {
    validateNamespace('variablesNamespace', `${variablesNamespace}-${t.arch}`);
    return new codepipeline_actions.CodeBuildAction({
      actionName: `${actionName}-${t.arch}`,
      project: parts.projects[i],
      input: options.input,
      variablesNamespace: `${variablesNamespace}-${t.arch}`,
      runOrder,
      environmentVariables: { ...environment, ...step(STEP_BUILD) },
    });
  });
  const index = new codepipeline_actions.CodeBuildAction({
    actionName,
    project: parts.projects[0],
    input: options.input,
    outputs: options.output ? [options.output] : undefined,
    variablesNamespace,
    runOrder: runOrder + 1,
    environmentVariables: { ...environment, ...step(STEP_INDEX) },
  });
  return [...perPlatform, index];
}

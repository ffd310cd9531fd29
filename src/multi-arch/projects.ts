import { aws_codebuild as codebuild } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PlatformTarget } from './platforms';
import { STEP_BUILD, STEP_INDEX } from './script';
import { createProject } from '../build-resources';
import { ResolvedOptions } from '../options/resolve-options';
import { BuildScript } from '../script/build-script';

/**
 * The CodeBuild projects of a multi-architecture build.
 * - Standalone (a `source`): one project whose buildspec holds a batch build graph, one build per
 *   architecture on its own host, then the index build depending on all of them; a webhook starts
 *   the batch (`webhookTriggersBatchBuild: true`), so one event makes one multi-arch image.
 * - CodePipeline (no `source`): one project per architecture (an action cannot change its
 *   project's host); the first platform's project also runs the index action.
 */

/** Variables that say which step and architecture a build is: set per build, never in a batch project's own environment. */
const STEP_VARIABLES = ['CIB_STEP', 'CIB_PLATFORM', 'CIB_ARCH'];

/** Batch graph identifiers: letters, digits and underscores. */
export function batchIdentifier(target: PlatformTarget): string {
  return `build_${target.arch}`;
}
export const INDEX_IDENTIFIER = 'image_index';

function withoutStepVariables(script: BuildScript): BuildScript {
  const environment = { ...script.environment };
  for (const name of STEP_VARIABLES) delete environment[name];
  return { ...script, environment };
}

/** The batch build graph: each architecture's build (own host, image and variables), then the index build. */
export function batchGraph(options: ResolvedOptions, targets: PlatformTarget[]): Record<string, any> {
  const computeType = options.computeType;
  const graph: any[] = targets.map((t) => ({
    'identifier': batchIdentifier(t),
    'env': {
      'type': t.environmentType,
      'image': t.buildImage.imageId,
      'compute-type': computeType,
      'privileged-mode': true,
      'variables': { CIB_STEP: STEP_BUILD, CIB_PLATFORM: t.platform, CIB_ARCH: t.arch },
    },
    'ignore-failure': false,
  }));
  // The index needs no Docker daemon of its own size: the smallest host of the first platform.
  graph.push({
    'identifier': INDEX_IDENTIFIER,
    'env': {
      'type': targets[0].environmentType,
      'image': targets[0].buildImage.imageId,
      'compute-type': codebuild.ComputeType.SMALL,
      'privileged-mode': true,
      'variables': { CIB_STEP: STEP_INDEX, CIB_PLATFORM: targets[0].platform, CIB_ARCH: targets[0].arch },
    },
    'depend-on': targets.map(batchIdentifier),
    'ignore-failure': false,
  });
  return { batch: { 'fast-fail': true, 'build-graph': graph } };
}

/** The standalone project: batch builds only, at most one build per architecture plus the index. */
export function createBatchProject(scope: Construct, options: ResolvedOptions, targets: PlatformTarget[], script: BuildScript,
  logGroup: codebuild.CloudWatchLoggingOptions['logGroup']): codebuild.Project {
  const project = createProject(scope, { ...options, buildImage: targets[0].buildImage }, withoutStepVariables(script), logGroup!,
    batchGraph(options, targets));
  const cfn = project.node.defaultChild as codebuild.CfnProject;
  const triggers = cfn.triggers as codebuild.CfnProject.ProjectTriggersProperty | undefined;
  if (triggers?.webhook === true && triggers.buildType !== 'BUILD_BATCH') {
    throw new Error('platforms with a source: the webhook must start batch builds (one build per architecture, then the image index); ' +
      'set webhookTriggersBatchBuild: true on the source (for example Source.gitHub({ ..., webhookTriggersBatchBuild: true }))');
  }
  project.enableBatchBuilds();
  cfn.addPropertyOverride('BuildBatchConfig.Restrictions', {
    MaximumBuildsAllowed: targets.length + 1,
    ComputeTypesAllowed: [...new Set([options.computeType, codebuild.ComputeType.SMALL])],
  });
  return project;
}

/** The CodePipeline projects, one per architecture, in the order of `platforms`: the first in `scope` itself (id `Project`). */
export function createPipelineProjects(scope: Construct, options: ResolvedOptions, targets: PlatformTarget[], script: BuildScript,
  logGroup: codebuild.CloudWatchLoggingOptions['logGroup']): codebuild.Project[] {
  return targets.map((t, i) => {
    const projectScope = i === 0 ? scope : new Construct(scope, t.arch === 'arm64' ? 'Arm64' : 'Amd64');
    const projectName = options.projectName !== undefined && i > 0 ? `${options.projectName}-${t.arch}` : options.projectName;
    const environment = { ...script.environment, CIB_PLATFORM: t.platform, CIB_ARCH: t.arch };
    return createProject(projectScope, { ...options, buildImage: t.buildImage, projectName }, { ...script, environment }, logGroup!);
  });
}

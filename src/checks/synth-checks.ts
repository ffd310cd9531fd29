import { aws_codebuild as codebuild } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { checkBuildxSupport } from './buildx-support';
import { checkDockerServerPullRequests } from './docker-server-pull-requests';
import { checkFleetPhases } from './fleet-phases';
import { ResolvedOptions } from '../options/resolve-options';

/**
 * The synth-time warnings of a build (acknowledgeable, each with its id; see docs/ecosystem.md):
 * they need the construct as their scope, so they run in the construct, on the resolved options.
 */
export function addSynthWarnings(scope: IConstruct, options: ResolvedOptions, project: codebuild.IProject): void {
  checkBuildxSupport(scope, options.strategy, options.buildImage);
  checkFleetPhases(scope, options.placement.fleet);
  checkDockerServerPullRequests(scope, project, options.placement.dockerServer);
}

import { Annotations, aws_codebuild as codebuild } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** Id of the warning for a build on a reserved capacity fleet, whose buildspec phases rely on `on-failure: ABORT`. */
export const FLEET_ON_FAILURE_WARNING = 'cdk-cached-image-build:fleetOnFailure';

/**
 * Warns (acknowledgeably) when the build runs on a fleet: CodeBuild's documentation says that the
 * buildspec attribute `on-failure` "is not supported when using Lambda compute or reserved
 * capacity", and every phase of this build's buildspec sets `on-failure: ABORT` so that a failing
 * command ends the build. Whether a fleet then ignores the attribute (a failed build still ends
 * FAILED, but its post_build commands run) cannot be checked here.
 */
export function checkFleetPhases(scope: IConstruct, fleet: codebuild.IFleet | undefined): void {
  if (!fleet) return;
  Annotations.of(scope).addWarningV2(FLEET_ON_FAILURE_WARNING, [
    'fleet: CodeBuild documents the buildspec attribute on-failure as not supported on reserved capacity, and every phase of',
    'this build sets on-failure: ABORT to stop at the first failing command. Run one build on the fleet that fails on purpose',
    '(e.g. a Dockerfile with RUN false) and check that it ends FAILED without pushing; then acknowledge this warning:',
    `Annotations.of(build).acknowledgeWarning('${FLEET_ON_FAILURE_WARNING}')`,
  ].join(' '));
}

import { Annotations, aws_codebuild as codebuild } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { pullRequestGroups } from '../webhook-check';

/** Id of the warning for a Docker server shared by pull request builds; acknowledge it with this id. */
export const DOCKER_SERVER_PULL_REQUESTS_WARNING = 'cdk-cached-image-build:dockerServerSharedWithPullRequests';

/**
 * Warns (acknowledgeably) when the build has a Docker server and its webhook builds pull requests:
 * the server's engine, its images and layer store are shared by every build of the project. The
 * cache scopes keep a pull request from writing the default branch's registry cache, but a pull
 * request's Dockerfile and commands reach the same engine as the default branch's builds (for
 * instance to tag an image of their own under the name of a base image the next build uses).
 */
export function checkDockerServerPullRequests(scope: IConstruct, project: codebuild.IProject,
  dockerServer: codebuild.DockerServerOptions | undefined): void {
  if (!dockerServer) return;
  const groups = pullRequestGroups(project, true);
  if (groups === undefined || groups.length === 0) return;
  const which = groups[0] === -1 ? 'the webhook (no filter groups)' : `webhook filter group(s) ${groups.join(', ')}`;
  Annotations.of(scope).addWarningV2(DOCKER_SERVER_PULL_REQUESTS_WARNING, [
    `dockerServer: ${which} build pull requests on the project's Docker server, whose engine, images and layers every build`,
    'of the project shares: a pull request\'s build reaches the engine the default branch\'s builds use (the cache scopes',
    'protect the registry cache, not the server). Build pull requests in another project without dockerServer, or acknowledge',
    `this warning if every pull request author is trusted: Annotations.of(build).acknowledgeWarning('${DOCKER_SERVER_PULL_REQUESTS_WARNING}')`,
  ].join(' '));
}

import { Annotations, IResolvable, Token, aws_codebuild as codebuild } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { PullRequestPolicy } from './pull-request-policy';

/** Id of the warning for a webhook that builds anyone's pull requests; acknowledge it with `Annotations.acknowledgeWarning`. */
export const UNFILTERED_PULL_REQUESTS_WARNING = 'cdk-cached-image-build:pullRequestsFromAnyone';

type Filter = codebuild.CfnProject.WebhookFilterProperty;

/**
 * The webhook filter groups of a project that build pull requests with no actor filter (a filter
 * group admitting a pull-request event and no `ACTOR_ACCOUNT_ID` that must match). A webhook with
 * no filter groups builds every push and pull request: that is reported as group -1. Unknown (token)
 * triggers are not judged.
 */
export function unfilteredPullRequestGroups(project: codebuild.IProject): number[] | undefined {
  return pullRequestGroups(project, false);
}

/**
 * The webhook filter groups of a project that build pull requests (`-1`: a webhook without filter
 * groups), with an actor filter or not (`actorFilteredToo`), or undefined when the project has no
 * webhook or its triggers are tokens.
 */
export function pullRequestGroups(project: codebuild.IProject, actorFilteredToo: boolean): number[] | undefined {
  const cfn = project.node.defaultChild as codebuild.CfnProject | undefined;
  const triggers = cfn?.triggers as codebuild.CfnProject.ProjectTriggersProperty | undefined;
  if (!triggers || Token.isUnresolved(triggers) || triggers.webhook !== true) {
    return undefined;
  }
  const groups = triggers.filterGroups;
  if (groups === undefined || (Array.isArray(groups) && groups.length === 0)) {
    return [-1];
  }
  if (Token.isUnresolved(groups)) {
    return undefined;
  }
  const open: number[] = [];
  (groups as Array<IResolvable | Array<Filter | IResolvable>>).forEach((group, i) => {
    if (Token.isUnresolved(group)) return;
    const filters = (group as Array<Filter | IResolvable>).filter((f): f is Filter => !Token.isUnresolved(f));
    const events = filters.find((f) => f.type === 'EVENT')?.pattern ?? '';
    const buildsPullRequests = events.split(',').some((e) => e.trim().startsWith('PULL_REQUEST_'));
    const actorFiltered = filters.some((f) => f.type === 'ACTOR_ACCOUNT_ID' && f.excludeMatchedPattern !== true);
    if (buildsPullRequests && (actorFilteredToo || !actorFiltered)) open.push(i);
  });
  return open;
}

/** Warns at synth time when the project's webhook builds pull requests from anyone. */
export function warnOnUnfilteredPullRequests(scope: IConstruct, project: codebuild.IProject, policy: PullRequestPolicy, hasSecrets: boolean): void {
  const open = unfilteredPullRequestGroups(project);
  if (open === undefined || open.length === 0) return;
  const groups = open[0] === -1 ? 'The webhook (no filter groups)' : `Webhook filter group(s) ${open.join(', ')}`;
  Annotations.of(scope).addWarningV2(
    UNFILTERED_PULL_REQUESTS_WARNING,
    `${groups} build pull requests from anyone (no ACTOR_ACCOUNT_ID filter): a fork's pull request runs its own Dockerfile ` +
      `in this project${policy.mode === 'push' ? ' and pushes pr-<number> to the image repository' : ''}` +
      `${hasSecrets && policy.mountBuildSecrets ? ', with the build secrets mounted' : ''}. ` +
      'It cannot write the default branch\'s cache or move fixed tags. ' +
      'Add FilterGroup.andActorAccountIs(...) to the pull-request filter groups, or acknowledge this warning.',
  );
}

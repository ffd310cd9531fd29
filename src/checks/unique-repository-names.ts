import { Annotations, Stack, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** Id of the warning for a repository name that may collide with another build's when deployed to one account and region. */
export const REPOSITORY_NAME_MAY_COLLIDE_WARNING = 'cdk-cached-image-build:repositoryNameMayCollide';

/** A repository name a build creates, and which build claimed it. */
interface Claim {
  readonly path: string;
  readonly account: string;
  readonly region: string;
}

/** The literal repository names claimed in each app (construct tree root), by name. */
const CLAIMS = new WeakMap<IConstruct, Map<string, Claim[]>>();

/** Whether two claims are in the same account and region, known at synth time. */
function sameEnvironment(a: Claim, b: Claim): boolean {
  const literal = (c: Claim) => !Token.isUnresolved(c.account) && !Token.isUnresolved(c.region);
  return literal(a) && literal(b) && a.account === b.account && a.region === b.region;
}

/**
 * Claims the literal names of the repositories a build creates (its application and cache
 * repositories), for the build `scope`. ECR repository names are unique per account and region:
 * another build of the same app that creates one of these names in the same account and region
 * (both known at synth time) is an error naming both construct paths; when either environment is
 * not known (an environment-agnostic stack), an acknowledgeable warning. Call before creating the
 * repositories, so that nothing is created on an error.
 */
export function claimRepositoryNames(scope: IConstruct, names: string[]): void {
  const root = scope.node.root;
  const claims = CLAIMS.get(root) ?? new Map<string, Claim[]>();
  CLAIMS.set(root, claims);
  const stack = Stack.of(scope);
  const claim: Claim = { path: scope.node.path, account: stack.account, region: stack.region };
  for (const name of names.filter((n) => !Token.isUnresolved(n))) {
    const earlier = claims.get(name) ?? [];
    const clash = earlier.find((other) => sameEnvironment(other, claim));
    if (clash) {
      throw new Error(
        `${claim.path} would create the ECR repository '${name}', which ${clash.path} creates in the same account and region ` +
          `(${claim.account}, ${claim.region}); repository names are unique per account and region: give one of the builds ` +
          'another repositoryName, or pass the other build\'s repository (repository, cacheRepository) instead of creating it',
      );
    }
    // No literal clash: a claim that may still share the environment has an account or region not known at synth time.
    const possible = earlier.find((other) => mayCoincide(other, claim));
    if (possible) {
      Annotations.of(scope).addWarningV2(REPOSITORY_NAME_MAY_COLLIDE_WARNING,
        `the ECR repository name '${name}' is also created by ${possible.path}; their stacks' account or region is not known ` +
          'at synth time, so deploying both to one account and region would fail. Give the builds different repository names, ' +
          'or acknowledge this warning if they deploy to different environments: ' +
          `Annotations.of(build).acknowledgeWarning('${REPOSITORY_NAME_MAY_COLLIDE_WARNING}')`);
    }
    claims.set(name, [...earlier, claim]);
  }
}

/** Whether two claims could be in one account and region: each of account and region is equal or not known. */
function mayCoincide(a: Claim, b: Claim): boolean {
  const may = (x: string, y: string) => Token.isUnresolved(x) || Token.isUnresolved(y) || x === y;
  return may(a.account, b.account) && may(a.region, b.region);
}

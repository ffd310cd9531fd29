/**
 * The build context: which event started the build, which ref it builds, whether it may write the
 * default branch's cache and move fixed tags. Resolved once, at the start of pre_build, from the
 * variables CodeBuild and the CodePipeline action set, and exported for later actions.
 *
 * Pure: command text only, no construct scope. Every value from outside (refs, PR numbers) is read
 * from a variable and expanded in double quotes; each command is one self-contained line.
 *
 * Sources (CodeBuild user guide, "Environment variables in build environments", and "GitHub webhook
 * events"):
 * - CODEBUILD_WEBHOOK_TRIGGER: `pr/<number>` for a pull request, `branch/<name>` for a branch push,
 *   `tag/<name>` for a tag push; set only for webhook builds.
 * - CODEBUILD_WEBHOOK_EVENT: PUSH, PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED,
 *   PULL_REQUEST_MERGED, PULL_REQUEST_CLOSED, RELEASED, PRERELEASED.
 * - CODEBUILD_WEBHOOK_HEAD_REF: `refs/heads/<branch>` or `refs/tags/<tag>`; for a pull request the
 *   source branch (possibly a fork's: its name says nothing about trust).
 * - CODEBUILD_WEBHOOK_BASE_REF: a pull request's destination branch.
 * - CODEBUILD_SOURCE_VERSION, for a build started by hand: a commit ID, branch name or tag name, or
 *   `pr/<number>`; for CodePipeline an S3 object ARN.
 */

import { command } from './fragments';

/** Names of the scalar variables the build context sets (all also exported to CodePipeline). */
export const BUILD_CONTEXT_VARIABLES = [
  'BUILD_EVENT',
  'BUILD_REF',
  'BUILD_REF_TYPE',
  'BUILD_COMMIT',
  'PULL_REQUEST_NUMBER',
  'PULL_REQUEST_ACTION',
  'PULL_REQUEST_BASE',
  'CACHE_SCOPE',
];

/**
 * Namespaces of every cache scope and mutable image tag other than the default branch's. The
 * default branch's cache tag may not fall in any of them (checked at synth time), so no ref can
 * map onto it, and no lifecycle rule that names it can match another scope.
 */
export const RESERVED_SCOPE_PREFIXES = ['br-', 'pr-', 'tag-'];

/** Longest part of a ref kept in a scope or tag name (ECR allows 128 characters in all). */
export const REF_NAME_MAX_BYTES = 80;

/** Hex digits of the SHA-256 of the raw ref appended when the mapping loses information. */
export const REF_HASH_DIGITS = 12;

/** ECR tag characters, spelled out: a range such as `a-z` may match other characters in a UTF-8 locale. */
const TAG_CHARACTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-';

/**
 * A statement that sets `target` to `prefix` + the ref in variable `name`, collision-free: the ref
 * itself when it is made only of ECR tag characters `[a-zA-Z0-9._-]`, is 1 to 80 bytes long and does
 * not end like a hashed name (checked by bash alone, no process); otherwise its bytes mapped to tag
 * characters (others become `-`), cut to 80 bytes, plus `-h` and 12 hex digits of the SHA-256 of
 * the raw ref. Distinct refs give distinct names, up to a 48-bit hash collision.
 */
export function shellScopeName(target: string, prefix: string, name: string): string {
  for (const v of [target, name]) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) {
      throw new Error(`not a shell variable name: ${v}`);
    }
  }
  if (!/^[a-z]+(-[a-z]+)*-$/.test(prefix)) {
    throw new Error(`not a scope prefix: ${prefix}`);
  }
  const lossless = `[[ "$r" =~ ^[${TAG_CHARACTERS}]{1,${REF_NAME_MAX_BYTES}}$ ]] && ! [[ "$r" =~ -h[0123456789abcdef]{${REF_HASH_DIGITS}}$ ]]`;
  const mapped = `$(printf '%s' "$r" | LC_ALL=C tr -c 'a-zA-Z0-9._-' '-' | LC_ALL=C head -c ${REF_NAME_MAX_BYTES})`;
  const hash = `$(printf '%s' "$r" | sha256sum | head -c ${REF_HASH_DIGITS})`;
  return `r="\${${name}}"; if ${lossless}; then ${target}="${prefix}$r"; else ${target}="${prefix}${mapped}-h${hash}"; fi`;
}

/** Clears every variable of the context: a retried phase starts from nothing. */
const RESET = 'CIB_EVENT=""; CIB_REF=""; CIB_REF_KIND=""; CIB_PR_NUMBER=""; CIB_PR_ACTION=""; CIB_PR_BASE=""';

/** A webhook pull request: `pr/N` trigger or a PULL_REQUEST_* event, whatever its head branch is called. */
const FROM_WEBHOOK_PULL_REQUEST = command(
  'if [[ "${CODEBUILD_WEBHOOK_TRIGGER:-}" == pr/* || "${CODEBUILD_WEBHOOK_EVENT:-}" == PULL_REQUEST_* ]]; then',
  'CIB_EVENT=pull-request; CIB_REF_KIND=branch; h="${CODEBUILD_WEBHOOK_HEAD_REF:-}"; CIB_REF="${h#refs/heads/}";',
  'b="${CODEBUILD_WEBHOOK_BASE_REF:-}"; CIB_PR_BASE="${b#refs/heads/}";',
  't="${CODEBUILD_WEBHOOK_TRIGGER:-}"; if [[ "$t" == pr/* ]]; then CIB_PR_NUMBER="${t#pr/}"; fi;',
  'e="${CODEBUILD_WEBHOOK_EVENT:-}"; e="${e#PULL_REQUEST_}"; CIB_PR_ACTION="${e,,}"; fi',
);

/** A webhook push of a branch or a tag: the head ref names it, else the trigger. */
const FROM_WEBHOOK_PUSH = command(
  'if [ -z "$CIB_EVENT" ] && [ -n "${CODEBUILD_WEBHOOK_TRIGGER:-}${CODEBUILD_WEBHOOK_EVENT:-}" ]; then',
  'CIB_EVENT=push; h="${CODEBUILD_WEBHOOK_HEAD_REF:-}"; t="${CODEBUILD_WEBHOOK_TRIGGER:-}"; case "$h" in',
  '(refs/heads/*) CIB_REF_KIND=branch; CIB_REF="${h#refs/heads/}" ;; (refs/tags/*) CIB_REF_KIND=tag; CIB_REF="${h#refs/tags/}" ;;',
  '(*) case "$t" in (branch/*) CIB_REF_KIND=branch; CIB_REF="${t#branch/}" ;; (tag/*) CIB_REF_KIND=tag; CIB_REF="${t#tag/}" ;; esac ;;',
  'esac; if [ "$CIB_REF_KIND" = tag ]; then CIB_EVENT=tag; fi; fi',
);

/** A CodePipeline action: the branch comes from the action (`toCodeBuildAction({ branch })`). */
const FROM_PIPELINE = command(
  'if [ -z "$CIB_EVENT" ] && [ "${CIB_TRIGGER:-}" = pipeline ]; then CIB_EVENT=pipeline;',
  'if [ -n "${CIB_BRANCH:-}" ]; then CIB_REF_KIND=branch; CIB_REF="${CIB_BRANCH#refs/heads/}"; fi;',
  'if [ "${CIB_PIPELINE_PULL_REQUEST:-}" = true ]; then CIB_EVENT=pull-request; fi; fi',
);

/** A build started by hand: CODEBUILD_SOURCE_VERSION is `pr/N`, a ref, a branch name or a commit. */
const FROM_MANUAL_START = command(
  'if [ -z "$CIB_EVENT" ]; then CIB_EVENT=manual; s="${CODEBUILD_SOURCE_VERSION:-}"; case "$s" in',
  '(pr/*) CIB_EVENT=pull-request; CIB_PR_NUMBER="${s#pr/}" ;;',
  '(refs/heads/*) CIB_REF_KIND=branch; CIB_REF="${s#refs/heads/}" ;; (refs/tags/*) CIB_REF_KIND=tag; CIB_REF="${s#refs/tags/}" ;;',
  '(arn:*) ;; ("") ;; (*) if ! [[ "$s" =~ ^[0-9a-fA-F]{40}$ ]]; then CIB_REF_KIND=branch; CIB_REF="$s"; fi ;; esac; fi',
);

/** A PR number is digits or nothing; an empty ref has no kind. */
const NORMALIZE = command(
  'if ! [[ "$CIB_PR_NUMBER" =~ ^[0-9]{1,18}$ ]]; then CIB_PR_NUMBER=""; fi;',
  'if [ -z "$CIB_REF" ]; then CIB_REF_KIND=""; fi',
);

/** Only a build that is not a pull request, of exactly the default branch (raw name), is trusted with its cache. */
const DEFAULT_BRANCH_CHECK = command(
  'CIB_IS_DEFAULT=false; if [ "$CIB_EVENT" != pull-request ] && [ "$CIB_REF_KIND" = branch ] &&',
  '[ "$CIB_REF" = "$CIB_DEFAULT_BRANCH" ]; then CIB_IS_DEFAULT=true; fi',
);

/**
 * The build's own cache scope: `pr-<N>` for a pull request (`pr-br-<branch>` when the number is
 * unknown, as in a pipeline), the default branch's tag for the default branch, `br-<branch>` for
 * another branch, `tag-<tag>` for a git tag, and nothing for an unknown ref (a bare commit, an S3
 * artifact without a branch): such a build reads the default branch's cache and writes none.
 */
const OWN_SCOPE = command(
  'CIB_CACHE_SCOPE=""; if [ "$CIB_EVENT" = pull-request ]; then if [ -n "$CIB_PR_NUMBER" ]; then CIB_CACHE_SCOPE="pr-$CIB_PR_NUMBER";',
  `elif [ -n "$CIB_REF" ]; then ${shellScopeName('CIB_CACHE_SCOPE', 'pr-br-', 'CIB_REF')}; fi;`,
  'elif [ "$CIB_IS_DEFAULT" = true ]; then CIB_CACHE_SCOPE="$CIB_DEFAULT_CACHE_TAG";',
  `elif [ "$CIB_REF_KIND" = branch ]; then ${shellScopeName('CIB_CACHE_SCOPE', 'br-', 'CIB_REF')};`,
  `elif [ "$CIB_REF_KIND" = tag ]; then ${shellScopeName('CIB_CACHE_SCOPE', 'tag-', 'CIB_REF')}; fi`,
);

/**
 * What the build writes (its own scope, unless it is a pull request under a policy that writes
 * nothing) and what it reads: its own scope, a pull request's base branch, the default branch.
 */
const READ_WRITE_SCOPES = command(
  'CIB_CACHE_WRITE_SCOPE="$CIB_CACHE_SCOPE"; if [ "$CIB_EVENT" = pull-request ] && [ "$CIB_PR_POLICY" != push ]; then CIB_CACHE_WRITE_SCOPE=""; fi;',
  'CIB_CACHE_READ_SCOPES="$CIB_CACHE_SCOPE"; if [ -n "$CIB_PR_BASE" ] && [ "$CIB_PR_BASE" != "$CIB_DEFAULT_BRANCH" ]; then',
  `${shellScopeName('CIB_BASE_SCOPE', 'br-', 'CIB_PR_BASE')}; CIB_CACHE_READ_SCOPES="$CIB_CACHE_READ_SCOPES $CIB_BASE_SCOPE"; fi;`,
  'if [ "$CIB_CACHE_SCOPE" != "$CIB_DEFAULT_CACHE_TAG" ]; then CIB_CACHE_READ_SCOPES="$CIB_CACHE_READ_SCOPES $CIB_DEFAULT_CACHE_TAG"; fi;',
  'CIB_CACHE_READ_SCOPES="${CIB_CACHE_READ_SCOPES# }"',
);

/** Pull requests get the build secrets only when the policy says so. */
const SECRETS_GATE = command(
  'CIB_MOUNT_SECRETS=true; if [ "$CIB_EVENT" = pull-request ] && [ "$CIB_PR_SECRETS" != true ]; then CIB_MOUNT_SECRETS=false; fi',
);

/** The exported names, and one line of log that shows every value (`%q`: a ref cannot forge log lines). */
const EXPORT_AND_LOG = command(
  'export BUILD_EVENT="$CIB_EVENT" BUILD_REF="$CIB_REF" BUILD_REF_TYPE="$CIB_REF_KIND" BUILD_COMMIT="${CODEBUILD_RESOLVED_SOURCE_VERSION:-}"',
  'PULL_REQUEST_NUMBER="$CIB_PR_NUMBER" PULL_REQUEST_ACTION="$CIB_PR_ACTION" PULL_REQUEST_BASE="$CIB_PR_BASE" CACHE_SCOPE="$CIB_CACHE_SCOPE";',
  'printf \'build context: event %s, %s %q, pull request %s, base %q, default branch %s; cache scope %q, writes %q, reads %q\\n\'',
  '"$CIB_EVENT" "${CIB_REF_KIND:-ref}" "$CIB_REF" "${CIB_PR_NUMBER:--}" "$CIB_PR_BASE" "$CIB_IS_DEFAULT"',
  '"$CIB_CACHE_SCOPE" "$CIB_CACHE_WRITE_SCOPE" "$CIB_CACHE_READ_SCOPES"',
);

/**
 * The pre_build commands that resolve the build context. They read the project variables
 * CIB_DEFAULT_BRANCH (raw name), CIB_DEFAULT_CACHE_TAG, CIB_PR_POLICY (`push` or `build-only`) and
 * CIB_PR_SECRETS (`true` or `false`), and leave CIB_EVENT, CIB_REF, CIB_REF_KIND, CIB_PR_NUMBER,
 * CIB_IS_DEFAULT, CIB_CACHE_SCOPE, CIB_CACHE_WRITE_SCOPE, CIB_CACHE_READ_SCOPES, CIB_MOUNT_SECRETS
 * and the exported BUILD_CONTEXT_VARIABLES.
 */
export const RESOLVE_BUILD_CONTEXT: string[] = [
  RESET,
  FROM_WEBHOOK_PULL_REQUEST,
  FROM_WEBHOOK_PUSH,
  FROM_PIPELINE,
  FROM_MANUAL_START,
  NORMALIZE,
  DEFAULT_BRANCH_CHECK,
  OWN_SCOPE,
  READ_WRITE_SCOPES,
  SECRETS_GATE,
  EXPORT_AND_LOG,
];

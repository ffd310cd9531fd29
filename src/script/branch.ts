import { command } from './fragments';

/**
 * The branch being built, and its cache tag, in the shell. The mapping must agree with
 * `branchToTag()` in `ecr-naming.ts` (tests check both on arbitrary input).
 */

/**
 * Branch name or ref to ECR tag, in the shell: a command substitution over the variable `name`.
 * Must agree with `branchToTag()` in `ecr-naming.ts`. Byte-wise (LC_ALL=C): strip one `refs/heads/` or
 * `refs/tags/`, map bytes outside [a-zA-Z0-9._-] to '-', drop leading '.' and '-', keep 100 bytes.
 */
export function shellBranchToTag(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(`not a shell variable name: ${name}`);
  }
  return `$(r="\${${name}:-}"; case "$r" in (refs/heads/*) r="\${r#refs/heads/}" ;; (refs/tags/*) r="\${r#refs/tags/}" ;; esac; ` +
    "printf '%s' \"$r\" | LC_ALL=C tr -c 'a-zA-Z0-9._-' '-' | LC_ALL=C sed -e 's/^[.-]*//' | head -c 100)";
}

/** Takes CODEBUILD_SOURCE_VERSION as the branch when nothing else named one and it names a branch (no S3 ARN, no commit SHA). */
const BRANCH_FROM_SOURCE_VERSION = command(
  'if [ -z "$CIB_BRANCH_REF" ] && [ -n "${CODEBUILD_SOURCE_VERSION:-}" ]',
  '&& [[ "$CODEBUILD_SOURCE_VERSION" != arn:* ]] && ! [[ "$CODEBUILD_SOURCE_VERSION" =~ ^[0-9a-fA-F]{40}$ ]];',
  'then CIB_BRANCH_REF="$CODEBUILD_SOURCE_VERSION"; fi',
);

/**
 * The branch being built: the CIB_BRANCH variable (set by the CodePipeline action from a source
 * variable), else the webhook head ref, else CODEBUILD_SOURCE_VERSION when it names a branch
 * (not a commit SHA, not an S3 artifact ARN). Empty when unknown: the default branch is used.
 */
export const RESOLVE_BRANCH = [
  'CIB_BRANCH_REF="${CIB_BRANCH:-${CODEBUILD_WEBHOOK_HEAD_REF:-}}"',
  BRANCH_FROM_SOURCE_VERSION,
  `CIB_CACHE_TAG="${shellBranchToTag('CIB_BRANCH_REF')}"`,
  'if [ -z "$CIB_CACHE_TAG" ]; then CIB_CACHE_TAG="$CIB_DEFAULT_CACHE_TAG"; fi',
  'echo "branch: \'$CIB_BRANCH_REF\' -> cache tag \'$CIB_CACHE_TAG\' (default-branch cache tag \'$CIB_DEFAULT_CACHE_TAG\')"',
];

/** The commit tag: the resolved source version mapped to a tag, else `build-<build number>`. */
export const RESOLVE_COMMIT_TAG = [
  `CIB_COMMIT_TAG="${shellBranchToTag('CODEBUILD_RESOLVED_SOURCE_VERSION')}"`,
  'if [ -z "$CIB_COMMIT_TAG" ]; then CIB_COMMIT_TAG="build-${CODEBUILD_BUILD_NUMBER:-0}"; fi',
];

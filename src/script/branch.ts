/**
 * The commit tag, and the default branch's cache tag mapping in the shell. The mapping must agree
 * with `branchToTag()` in `ecr-naming.ts` (tests check both on arbitrary input). Which ref a build
 * builds, and its cache scope, is in `build-context.ts`.
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

/** The commit tag: the resolved source version mapped to a tag, else `build-<build number>`. */
export const RESOLVE_COMMIT_TAG = [
  `CIB_COMMIT_TAG="${shellBranchToTag('CODEBUILD_RESOLVED_SOURCE_VERSION')}"`,
  'if [ -z "$CIB_COMMIT_TAG" ]; then CIB_COMMIT_TAG="build-${CODEBUILD_BUILD_NUMBER:-0}"; fi',
];

/**
 * ECR naming and tag rules, and the branch-to-tag mapping. The doctor package keeps a copy of the
 * naming rule and the mapping (packages/doctor/src/tags.ts); test/doctor-agreement.test.ts checks both agree.
 *
 * The same mapping exists twice: here (used at synth time, for lifecycle rules that must name
 * the default branch's cache tag) and as the shell function in `script/build-script.ts` (used at build
 * time for the branch being built). Tests check that both agree on arbitrary input.
 */

/** ECR repository name rule (2-256 characters, checked separately). */
export const ECR_REPOSITORY_NAME_PATTERN = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** ECR's tag rule: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. */
export const ECR_TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/**
 * Longest tag the branch mapping produces. ECR allows 128 characters; the rest is kept free for
 * suffixes a cache strategy may add to a branch tag.
 */
export const BRANCH_TAG_MAX_LENGTH = 100;

/**
 * Map a branch name or ref (`refs/heads/feature/x`, `feature/x`, `pr/12`) to a valid ECR tag.
 *
 * Works on UTF-8 bytes, as the shell function does under `LC_ALL=C`: strips one leading
 * `refs/heads/` or `refs/tags/`, turns every byte outside `[a-zA-Z0-9._-]` into `-`, drops leading
 * `.` and `-` (a tag must start with `[a-zA-Z0-9_]`) and keeps the first 100 bytes.
 * Returns an empty string when nothing usable is left (the caller falls back to the default branch).
 */
export function branchToTag(ref: string): string {
  let bytes = Buffer.from(ref, 'utf8');
  for (const prefix of ['refs/heads/', 'refs/tags/']) {
    const p = Buffer.from(prefix, 'utf8');
    if (bytes.length >= p.length && bytes.subarray(0, p.length).equals(p)) {
      bytes = bytes.subarray(p.length);
      break;
    }
  }
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[a-zA-Z0-9._-]/.test(c) ? c : '-';
  }
  out = out.replace(/^[.-]+/, '');
  return out.slice(0, BRANCH_TAG_MAX_LENGTH);
}

/** True when `tag` is a valid ECR image tag. */
export function isValidTag(tag: string): boolean {
  return ECR_TAG_PATTERN.test(tag);
}

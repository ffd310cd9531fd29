/**
 * The doctor's copy of the construct's ECR naming rule and branch-to-tag mapping (the construct's
 * src/tags.ts). A copy, so that this package depends on the AWS SDK only and not on aws-cdk-lib;
 * the construct repository's test/doctor-agreement.test.ts checks on generated input that both
 * copies agree.
 */

/** ECR repository name rule (2-256 characters, checked separately). */
export const ECR_REPOSITORY_NAME_PATTERN = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Longest tag the branch mapping produces (the construct keeps the rest of ECR's 128 free for suffixes). */
export const BRANCH_TAG_MAX_LENGTH = 100;

/**
 * Map a branch name or ref (`refs/heads/feature/x`, `feature/x`) to its cache tag, as the build
 * does: on UTF-8 bytes, strip one leading `refs/heads/` or `refs/tags/`, turn every byte outside
 * `[a-zA-Z0-9._-]` into `-`, drop leading `.` and `-`, keep the first 100 bytes. Empty when
 * nothing usable is left.
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
  return out.replace(/^[.-]+/, '').slice(0, BRANCH_TAG_MAX_LENGTH);
}

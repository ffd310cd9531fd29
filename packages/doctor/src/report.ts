/**
 * The doctor's report: one verdict per check, and the exit code they add up to.
 */

/**
 * - `pass`: healthy;
 * - `warn`: a problem that costs money, may explain a miss, or breaks some of the image's
 *   consumers (counts as a problem);
 * - `fail`: a problem that makes the cache miss or lose its content;
 * - `error`: the check could not be done (access denied, throttled, ...);
 * - `skip`: not applicable (a repository is missing, no --branch given, ...).
 */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'error' | 'skip';

export interface CheckResult {
  /** Stable identifier, for scripts reading the JSON output. */
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  /** One line: the verdict's reason. */
  readonly summary: string;
  /** Facts found on the way (digests, ages, rules). */
  readonly details: string[];
  /** What to do about a warn / fail / error. */
  readonly fix?: string;
}

/** The setup that was checked. */
export interface DoctorTarget {
  readonly region: string;
  readonly repository: string;
  readonly cacheRepository: string;
  readonly branch?: string;
  readonly branchTag?: string;
  readonly defaultBranch: string;
  readonly defaultBranchTag: string;
  /** The cache strategy checked (undefined: not given and not detected). */
  readonly strategy?: string;
  /** `option` (--strategy), `tags` or `lifecycle-policy` (detected), `none`. */
  readonly strategySource?: string;
  /** The architectures of per-architecture scopes (empty: single-architecture). */
  readonly architectures: string[];
}

export interface DoctorReport {
  readonly target: DoctorTarget;
  readonly checks: CheckResult[];
}

export const EXIT_HEALTHY = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_COULD_NOT_CHECK = 2;

export type Verdict = 'healthy' | 'problems' | 'incomplete';

/**
 * `incomplete` (exit 2) when any check could not be done, since its problem may be the one
 * that matters; else `problems` (exit 1) when any check warns or fails; else `healthy` (exit 0).
 */
export function verdictOf(checks: readonly CheckResult[]): Verdict {
  if (checks.some((c) => c.status === 'error')) return 'incomplete';
  if (checks.some((c) => c.status === 'fail' || c.status === 'warn')) return 'problems';
  return 'healthy';
}

export function exitCodeOf(verdict: Verdict): number {
  switch (verdict) {
    case 'healthy': return EXIT_HEALTHY;
    case 'problems': return EXIT_PROBLEMS;
    default: return EXIT_COULD_NOT_CHECK;
  }
}

export function countByStatus(checks: readonly CheckResult[]): Record<CheckStatus, number> {
  const counts: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, error: 0, skip: 0 };
  for (const c of checks) counts[c.status]++;
  return counts;
}

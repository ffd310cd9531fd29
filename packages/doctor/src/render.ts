/**
 * The report for people (a verdict per check, wrapped text) and for scripts (JSON).
 */
import { PROGRAM } from './args';
import { CheckResult, CheckStatus, DoctorReport, countByStatus, exitCodeOf, verdictOf } from './report';

const WIDTH = 100;
const INDENT = '      ';

const LABEL: Record<CheckStatus, string> = {
  pass: 'PASS',
  warn: 'WARN',
  fail: 'FAIL',
  error: 'ERROR',
  skip: 'SKIP',
};

/** Wraps `text` at word boundaries to WIDTH columns; continuation lines get `indent`. */
export function wrap(text: string, firstIndent: string, indent: string = firstIndent): string[] {
  const lines: string[] = [];
  let line = firstIndent;
  let empty = true;
  // Text in backticks (commands, JSON) is never broken, so it can be copied.
  const words = text.match(/`[^`]*`\S*|\S+/g) ?? [];
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = indent + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

function renderCheck(check: CheckResult): string[] {
  const lines = [`${LABEL[check.status].padEnd(5)} ${check.title}`];
  lines.push(...wrap(check.summary, INDENT));
  for (const d of check.details) lines.push(...wrap(d, `${INDENT}- `, `${INDENT}  `));
  if (check.fix) lines.push(...wrap(check.fix, `${INDENT}fix: `, `${INDENT}     `));
  return lines;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The human report, ending with the verdict and the exit code. */
export function renderHuman(report: DoctorReport): string {
  const t = report.target;
  const lines = [
    PROGRAM,
    `  region            ${t.region}`,
    `  repository        ${t.repository}`,
    `  cache repository  ${t.cacheRepository}`,
  ];
  if (t.strategySource !== undefined) {
    const how = { 'option': '--strategy', 'tags': 'detected from the tags', 'lifecycle-policy': 'detected from the lifecycle policy' }[t.strategySource];
    lines.push(`  cache strategy    ${t.strategy ? `${t.strategy} (${how})` : 'unknown: pass --strategy'}`);
  }
  // Buildah's cache has no scopes.
  const scopes = (scope: string) => (t.architectures.length ? t.architectures.map((a) => `${scope}-${a}`) : [scope]);
  const scopeOf = (scope: string) => (t.strategy === 'buildah' ? 'shared step cache'
    : `cache scope${t.architectures.length ? 's' : ''} ${scopes(scope).join(', ')}`);
  lines.push(`  default branch    ${t.defaultBranch} (${scopeOf(t.defaultBranchTag)})`);
  if (t.branch !== undefined) lines.push(`  branch            ${t.branch} (${t.branchTag ? scopeOf(t.branchTag) : 'no cache scope: reads the default branch\'s'})`);
  lines.push('');
  for (const check of report.checks) lines.push(...renderCheck(check));
  lines.push('');

  const verdict = verdictOf(report.checks);
  const counts = countByStatus(report.checks);
  const parts = [
    counts.fail ? `${counts.fail} failed` : '',
    counts.warn ? plural(counts.warn, 'warning') : '',
    counts.error ? `${counts.error} could not be checked` : '',
    `${counts.pass} passed`,
    counts.skip ? `${counts.skip} skipped` : '',
  ].filter((p) => p !== '').join(', ');
  const head = verdict === 'healthy'
    ? 'HEALTHY: no problem found'
    : verdict === 'problems' ? 'PROBLEMS FOUND' : 'COULD NOT CHECK EVERYTHING';
  lines.push(`Verdict: ${head} (${parts}). Exit code ${exitCodeOf(verdict)}.`);
  return lines.join('\n') + '\n';
}

/** The JSON report (stable field names; `checks[].id` identifies a check). */
export function renderJson(report: DoctorReport): string {
  const verdict = verdictOf(report.checks);
  return JSON.stringify({
    verdict,
    exitCode: exitCodeOf(verdict),
    target: report.target,
    counts: countByStatus(report.checks),
    checks: report.checks,
  }, null, 2) + '\n';
}

/** The JSON printed when the doctor stops before checking anything. */
export function renderJsonAbort(message: string, exitCode: number): string {
  return JSON.stringify({ verdict: 'incomplete', exitCode, error: message }, null, 2) + '\n';
}

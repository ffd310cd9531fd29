import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Bash ANSI-C quoting of any string without NUL: every byte as `\xHH`. */
export function ansiC(value: string): string {
  return `$'${[...Buffer.from(value, 'utf8')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}'`;
}

/** What one case left behind: the named variables, and the index of the first failing command. */
export interface CaseResult {
  readonly vars: Record<string, string>;
  /** Index of the first command that exited non-zero, or -1. */
  readonly failed: number;
  /** Everything the commands printed (stdout and stderr). */
  readonly stderr: string;
}

/**
 * Runs `commands` in order, as CodeBuild does (one command a line, only scalar variables carried
 * from one to the next), once per case in a clean environment holding only the case's variables,
 * all cases in one bash process; returns the `outputs` variables of each case.
 */
export function runCases(commands: string[], cases: Array<Record<string, string>>, outputs: string[]): CaseResult[] {
  const lines: string[] = ['set +e', 'exec 3>&1'];
  cases.forEach((env, i) => {
    lines.push('(');
    lines.push(`__f=-1; exec 1>"$__dir/log-${i}" 2>&1`);
    for (const [name, value] of Object.entries(env)) {
      lines.push(`export ${name}=${ansiC(value)}`);
    }
    commands.forEach((command, j) => {
      lines.push(command);
      lines.push(`if [ $? -ne 0 ] && [ "$__f" = -1 ]; then __f=${j}; fi`);
    });
    lines.push(`printf '%s\\0' "__failed=$__f" ${outputs.map((o) => `"${o}=\${${o}-}"`).join(' ')} >&3`);
    lines.push('printf \'\\1\' >&3');
    lines.push(')');
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cib-cases-'));
  const script = path.join(dir, 'cases.sh');
  fs.writeFileSync(script, lines.join('\n'));
  const result = spawnSync('env', ['-i', `__dir=${dir}`, 'PATH=/usr/bin:/bin', 'bash', script], {
    encoding: 'buffer',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`bash exited ${result.status} (${result.error}): ${result.stderr?.toString()}`);
  }
  const chunks = result.stdout.toString('utf8').split('\x01').slice(0, -1);
  const out = chunks.map((chunk, i) => {
    const vars: Record<string, string> = {};
    for (const field of chunk.split('\0').slice(0, -1)) {
      const eq = field.indexOf('=');
      vars[field.slice(0, eq)] = field.slice(eq + 1);
    }
    const stderr = fs.readFileSync(path.join(dir, `log-${i}`), 'utf8');
    return { vars, failed: Number(vars.__failed), stderr };
  });
  fs.rmSync(dir, { recursive: true, force: true });
  if (out.length !== cases.length) {
    throw new Error(`expected ${cases.length} results, got ${out.length}`);
  }
  return out;
}

/**
 * Runs buildspec phases the way CodeBuild does, on this machine.
 *
 * CodeBuild (buildspec 0.2, `env.shell: bash`) runs the commands of each phase in order and
 * stops the phase at the first command that exits non-zero; with `on-failure: ABORT` the build
 * ends there. Between commands it carries the working directory and the shell's scalar
 * variables, but not arrays, functions or shell options. This runner is at least as strict:
 * each command runs in a new bash process that gets only the scalar variables (exported or not)
 * and the working directory left by the previous command.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export interface BuildSpecPhases {
  readonly [phase: string]: { readonly 'commands'?: string[]; readonly 'on-failure'?: string } | undefined;
}

export interface RunOptions {
  readonly phases: BuildSpecPhases;
  /** Environment of the build container (CodeBuild variables, project variables). */
  readonly env: Record<string, string>;
  /** Source directory: the working directory of the first command. */
  readonly sourceDir: string;
  /** Where the runner keeps its state files and the log. */
  readonly workDir: string;
  /** Log file (appended). */
  readonly logFile: string;
}

export interface RunResult {
  /** 0 when every command succeeded, else the failing command's exit status. */
  readonly exitCode: number;
  /** The failing command, if any. */
  readonly failedCommand?: string;
  /** Scalar variables at the end of the build. */
  readonly variables: Record<string, string>;
  readonly seconds: number;
}

const PHASE_ORDER = ['install', 'pre_build', 'build', 'post_build'];

/** Bash variables that belong to the shell itself and are never carried over. */
const SHELL_OWNED =
  'BASH*|PPID|UID|EUID|SHELLOPTS|SHLVL|PWD|OLDPWD|_|RANDOM|SRANDOM|SECONDS|LINENO|HISTCMD|FUNCNAME|GROUPS|DIRSTACK|' +
  'PIPESTATUS|EPOCHSECONDS|EPOCHREALTIME|IFS|OPTIND|OPTERR|OPTARG|PS1|PS2|PS4|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|' +
  'COLUMNS|LINES|COMP_WORDBREAKS|__cib_*';

/** Wrapper around one command: restore state, run the command, save scalar state. */
const WRAPPER = `
set +e
if [ -s "$__cib_state" ]; then . "$__cib_state"; fi
cd "$(cat "$__cib_cwd")" || exit 97
. "$__cib_cmd"
__cib_rc=$?
pwd > "$__cib_cwd"
for __cib_v in $(compgen -v); do
  case "$__cib_v" in ${SHELL_OWNED}) continue ;; esac
  __cib_d="$(declare -p "$__cib_v" 2>/dev/null)"
  case "$__cib_d" in "declare -- "*|"declare -x "*) printf '%s\\n' "$__cib_d" ;; esac
done > "$__cib_state.new"
mv "$__cib_state.new" "$__cib_state"
exit $__cib_rc
`;

export async function runBuildSpec(options: RunOptions): Promise<RunResult> {
  const t0 = Date.now();
  fs.mkdirSync(options.workDir, { recursive: true });
  const state = path.join(options.workDir, 'state.sh');
  const cwd = path.join(options.workDir, 'cwd');
  const cmdFile = path.join(options.workDir, 'command.sh');
  const wrapper = path.join(options.workDir, 'wrapper.sh');
  fs.writeFileSync(state, '');
  fs.writeFileSync(cwd, options.sourceDir);
  fs.writeFileSync(wrapper, WRAPPER);
  const log = (line: string) => fs.appendFileSync(options.logFile, line + '\n');

  let exitCode = 0;
  let failedCommand: string | undefined;
  outer: for (const phase of PHASE_ORDER) {
    const spec = options.phases[phase];
    if (!spec?.commands?.length) continue;
    log(`[Container] Entering phase ${phase.toUpperCase()}`);
    for (const command of spec.commands) {
      log(`[Container] Running command ${command}`);
      fs.writeFileSync(cmdFile, command + '\n');
      const out = fs.openSync(options.logFile, 'a');
      // Asynchronous, so that two builds can run at the same time (the concurrency fault).
      const rc = await new Promise<number>((resolve) => {
        const child = spawn('bash', ['--noprofile', '--norc', wrapper], {
          env: { ...options.env, __cib_state: state, __cib_cwd: cwd, __cib_cmd: cmdFile },
          stdio: ['ignore', out, out],
        });
        child.on('close', (code) => resolve(code ?? 128));
        child.on('error', () => resolve(127));
      });
      fs.closeSync(out);
      if (rc !== 0) {
        log(`[Container] Command did not exit successfully ${command} exit status ${rc}`);
        log(`[Container] Phase complete: ${phase.toUpperCase()} State: FAILED`);
        exitCode = rc;
        failedCommand = command;
        // on-failure: ABORT ends the build; later phases do not run.
        break outer;
      }
    }
    log(`[Container] Phase complete: ${phase.toUpperCase()} State: SUCCEEDED`);
  }
  return { exitCode, failedCommand, variables: readState(state), seconds: (Date.now() - t0) / 1000 };
}

/** Reads the scalar variables saved by the wrapper (a bash `declare -p` dump). */
function readState(file: string): Record<string, string> {
  const r = spawnSync('bash', ['--noprofile', '--norc', '-c', '. "$1"; for v in $(compgen -v); do printf "%s=%s\\0" "$v" "${!v}"; done', '_', file], {
    env: {},
    encoding: 'utf8',
  });
  const out: Record<string, string> = {};
  for (const entry of (r.stdout ?? '').split('\0')) {
    const i = entry.indexOf('=');
    if (i > 0) out[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return out;
}

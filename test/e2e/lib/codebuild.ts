/**
 * Runs buildspec phases the way CodeBuild does, on this machine.
 *
 * Like CodeBuild's log agent, the runner reads the build's output through a pipe; it writes it
 * unchanged to the log file and, with the arrival time of each line (ms since the epoch), to a
 * timed copy from which the harness derives per-phase times.
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
import { StringDecoder } from 'string_decoder';

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

/** One line of the build's output and when the runner read it. */
export interface TimedLine {
  readonly ms: number;
  readonly line: string;
}

export interface RunResult {
  /** 0 when every command succeeded, else the failing command's exit status. */
  readonly exitCode: number;
  /** The failing command, if any. */
  readonly failedCommand?: string;
  /** Scalar variables at the end of the build. */
  readonly variables: Record<string, string>;
  readonly seconds: number;
  /** The output of this run, line by line, with arrival times. */
  readonly timed: TimedLine[];
}

const PHASE_ORDER = ['install', 'pre_build', 'build', 'post_build'];

/** Bash variables that belong to the shell itself and are never carried over. */
const SHELL_OWNED =
  'BASH*|PPID|UID|EUID|SHELLOPTS|SHLVL|PWD|OLDPWD|_|RANDOM|SRANDOM|SECONDS|LINENO|HISTCMD|FUNCNAME|GROUPS|DIRSTACK|' +
  'PIPESTATUS|EPOCHSECONDS|EPOCHREALTIME|IFS|OPTIND|OPTERR|OPTARG|PS1|PS2|PS4|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|' +
  'COLUMNS|LINES|COMP_WORDBREAKS|__cib_*';

/**
 * Wrapper around one command: restore state, run the command, save scalar state. Only builtins
 * around the command (no command substitution, no external program): it runs once per command.
 */
const WRAPPER = `
set +e
if [ -s "$__cib_state" ]; then . "$__cib_state"; fi
IFS= read -r -d '' __cib_dir < "$__cib_cwd"
cd "$__cib_dir" || exit 97
. "$__cib_cmd"
__cib_rc=$?
printf '%s' "$PWD" > "$__cib_cwd"
compgen -v > "$__cib_state.names"
mapfile -t __cib_names < "$__cib_state.names"
for __cib_v in "\${__cib_names[@]}"; do
  case "$__cib_v" in ${SHELL_OWNED}) continue ;; esac
  # scalars only, exported or not: no attribute, or only -x
  case "\${!__cib_v@a}" in ''|x) declare -p "$__cib_v" ;; esac
done > "$__cib_state"
exit $__cib_rc
`;

/**
 * Runs the phases: for each command, a new bash (the wrapper) whose environment is the build's
 * environment. One bash process drives them, rather than Node: forking a large Node process for
 * every command costs more than the command. When a command fails it writes
 * `<exit status> <command number>` to $__cib_work/result and stops (on-failure: ABORT).
 */
const DRIVER = `
# one stream, in order: the runner reads stdout only
exec 2>&1
# the commands' shells get the SHLVL a shell started by Node would get
SHLVL=$((SHLVL - 1))
__cib_phase() {
  local phase="$1" i text rc
  shift
  printf '[Container] Entering phase %s\\n' "$phase"
  for i in "$@"; do
    IFS= read -r -d '' text < "$__cib_work/command-$i.sh"
    text="\${text%$'\\n'}"
    printf '[Container] Running command %s\\n' "$text"
    printf '%s\\n' "$text" > "$__cib_work/command.sh"
    __cib_cmd="$__cib_work/command.sh" bash --noprofile --norc "$__cib_work/wrapper.sh"
    rc=$?
    if [ "$rc" -ne 0 ]; then
      printf '[Container] Command did not exit successfully %s exit status %s\\n' "$text" "$rc"
      printf '[Container] Phase complete: %s State: FAILED\\n' "$phase"
      printf '%s %s' "$rc" "$i" > "$__cib_work/result"
      exit 0
    fi
  done
  printf '[Container] Phase complete: %s State: SUCCEEDED\\n' "$phase"
}
`;

export async function runBuildSpec(options: RunOptions): Promise<RunResult> {
  const t0 = Date.now();
  fs.mkdirSync(options.workDir, { recursive: true });
  const state = path.join(options.workDir, 'state.sh');
  const cwd = path.join(options.workDir, 'cwd');
  const result = path.join(options.workDir, 'result');
  fs.writeFileSync(state, '');
  fs.writeFileSync(cwd, options.sourceDir);
  fs.writeFileSync(path.join(options.workDir, 'wrapper.sh'), WRAPPER);
  fs.rmSync(result, { force: true });

  // One file per command, numbered in order; the driver runs the phases in order.
  const commands: string[] = [];
  const steps: string[] = [];
  for (const phase of PHASE_ORDER) {
    const spec = options.phases[phase];
    if (!spec?.commands?.length) continue;
    const numbers = spec.commands.map((command) => {
      fs.writeFileSync(path.join(options.workDir, `command-${commands.length}.sh`), command + '\n');
      return commands.push(command) - 1;
    });
    steps.push(`__cib_phase ${phase.toUpperCase()} ${numbers.join(' ')}`);
  }
  const driver = path.join(options.workDir, 'driver.sh');
  fs.writeFileSync(driver, [DRIVER, ...steps, ''].join('\n'));

  const out = fs.openSync(options.logFile, 'a');
  const timed: TimedLine[] = [];
  let partial = '';
  const decoder = new StringDecoder('utf8');
  // Asynchronous, so that two builds can run at the same time (the concurrency fault).
  const status = await new Promise<string | number>((resolve) => {
    const child = spawn('bash', ['--noprofile', '--norc', driver], {
      env: { ...options.env, __cib_state: state, __cib_cwd: cwd, __cib_work: options.workDir },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    child.stdout.on('data', (chunk: Buffer) => {
      fs.writeSync(out, chunk);
      const ms = Date.now();
      const lines = (partial + decoder.write(chunk)).split('\n');
      partial = lines.pop()!;
      for (const line of lines) timed.push({ ms, line });
    });
    child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.on('error', (e) => resolve(e.message));
  });
  if (partial) timed.push({ ms: Date.now(), line: partial });
  fs.closeSync(out);
  fs.writeFileSync(path.join(options.workDir, 'timed.log'), timed.map((t) => `${t.ms} ${t.line}\n`).join(''));
  if (status !== 0) {
    throw new Error(`the buildspec runner itself failed (${status}); see ${options.logFile}`);
  }

  let exitCode = 0;
  let failedCommand: string | undefined;
  if (fs.existsSync(result)) {
    const [rc, i] = fs.readFileSync(result, 'utf8').split(' ').map(Number);
    exitCode = rc;
    failedCommand = commands[i];
  }
  return { exitCode, failedCommand, variables: readState(state), seconds: (Date.now() - t0) / 1000, timed };
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

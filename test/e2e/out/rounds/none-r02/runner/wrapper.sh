
set +e
if [ -s "$__cib_state" ]; then . "$__cib_state"; fi
cd "$(cat "$__cib_cwd")" || exit 97
. "$__cib_cmd"
__cib_rc=$?
pwd > "$__cib_cwd"
for __cib_v in $(compgen -v); do
  case "$__cib_v" in BASH*|PPID|UID|EUID|SHELLOPTS|SHLVL|PWD|OLDPWD|_|RANDOM|SRANDOM|SECONDS|LINENO|HISTCMD|FUNCNAME|GROUPS|DIRSTACK|PIPESTATUS|EPOCHSECONDS|EPOCHREALTIME|IFS|OPTIND|OPTERR|OPTARG|PS1|PS2|PS4|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|COLUMNS|LINES|COMP_WORDBREAKS|__cib_*) continue ;; esac
  __cib_d="$(declare -p "$__cib_v" 2>/dev/null)"
  case "$__cib_d" in "declare -- "*|"declare -x "*) printf '%s\n' "$__cib_d" ;; esac
done > "$__cib_state.new"
mv "$__cib_state.new" "$__cib_state"
exit $__cib_rc

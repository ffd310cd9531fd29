#!/usr/bin/env bash
# test/e2e/env/env.sh - local, loopback-only environment for the end-to-end tests.
#
# Gives the e2e harness, on a Debian 12 machine (root, no Docker Hub, only Debian mirrors):
#   - a registry (Debian's docker-registry, i.e. distribution 2.8) on 127.0.0.1:$E2E_REGISTRY_PORT
#   - dockerd 26 + buildx 0.13 (Debian 13 packages, unpacked privately, never installed system-wide):
#       "cd"      daemon with the containerd image store (plain `docker buildx build` can export
#                 registry cache: `--cache-to type=registry,...,image-manifest=true`)
#       "classic" daemon with the classic overlay2 store, like CodeBuild's dockerd
#       "classic2" a second one (optional), for two builds on two hosts at the same time
#   - Docker 20.10 (Debian 12's docker.io) unpacked privately as well (optional "d20" daemon)
#   - a tiny base image $REGISTRY/base:1 made from busybox-static (no Docker Hub needed)
#   - a BuildKit daemon image for docker-container builders, built from Debian 13 sources by
#     buildkit-image.sh (pinned in buildkit-image.lock), kept under $E2E_ROOT/pkgs/buildkit and pushed
#     to the registry by `up` ($BUILDKIT_IMAGE, by digest)
#
# Usage (as root):
#   bash test/e2e/env/env.sh install            # apt packages + private Docker 26 / 20.10 (idempotent)
#   bash test/e2e/env/env.sh up                 # registry + daemons + base image (idempotent)
#   bash test/e2e/env/env.sh smoke              # prove buildx + registry cache + reset work
#   bash test/e2e/env/env.sh reset-daemon cd|classic|classic2|d20 [prune|restart]   # fresh build host
#   bash test/e2e/env/env.sh status | vars      # vars prints `export ...` lines to eval
#   bash test/e2e/env/env.sh down               # stop everything we started (idempotent, trap-safe)
#   bash test/e2e/env/env.sh clean              # down + delete all state except downloaded packages
#   bash test/e2e/env/env.sh buildkit-lock      # re-pin the BuildKit image's Debian files (maintainers)
# or, from bash:  source test/e2e/env/env.sh   # exports the vars, defines `e2e_env <subcommand>`
#
# Daemons have no network bridge: RUN steps need `--network none` (docker buildx build --network none).
# The harness must put $DOCKER_BIN_DIR first in PATH: /usr/local/bin/docker may be another client.
#
# Environment knobs: E2E_ROOT (/tmp/cdk-cib-e2e), E2E_REGISTRY_PORT (5000), E2E_DAEMONS ("cd classic";
# add classic2 and d20 for the second classic engine and Docker 20.10), E2E_TIMEOUT (60 s start timeout), E2E_RESET_MODE (prune|restart),
# E2E_DOCKER_SUITE (trixie), E2E_APT_MIRROR (default: this machine's Debian mirror),
# E2E_KEEP_ON_FAIL=1 (a failed `up` leaves its services running for inspection).

# ------------------------------------------------------------------ sourced: export vars, define e2e_env
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  _e2e_self=$(readlink -f "${BASH_SOURCE[0]}")
  e2e_env() { E2E_ROOT=${E2E_ROOT:-/tmp/cdk-cib-e2e} E2E_REGISTRY_PORT=${E2E_REGISTRY_PORT:-5000} bash "$_e2e_self" "$@"; }
  if _e2e_vars=$(e2e_env vars); then eval "$_e2e_vars"; fi
  unset _e2e_vars
  return 0
fi

set -euo pipefail

E2E_ROOT=${E2E_ROOT:-/tmp/cdk-cib-e2e}
E2E_REGISTRY_PORT=${E2E_REGISTRY_PORT:-5000}
E2E_DAEMONS=${E2E_DAEMONS:-cd classic}
E2E_TIMEOUT=${E2E_TIMEOUT:-60}
E2E_RESET_MODE=${E2E_RESET_MODE:-prune}
E2E_DOCKER_SUITE=${E2E_DOCKER_SUITE:-trixie}
REGISTRY=127.0.0.1:$E2E_REGISTRY_PORT

case $E2E_ROOT in
  /*/*) ;;
  *) echo "env.sh: E2E_ROOT must be an absolute path below / (got '$E2E_ROOT')" >&2; exit 2 ;;
esac
if [[ $E2E_ROOT =~ [[:space:]] ]] || [ ${#E2E_ROOT} -gt 60 ]; then
  echo "env.sh: E2E_ROOT must have no spaces and at most 60 characters (unix socket paths)" >&2; exit 2
fi
E2E_ROOT=${E2E_ROOT%/}
[[ $E2E_REGISTRY_PORT =~ ^[0-9]+$ ]] || { echo "env.sh: E2E_REGISTRY_PORT must be a number" >&2; exit 2; }

PKG=$E2E_ROOT/pkgs                  # downloads and unpacked packages (kept by `clean`)
D26=$PKG/docker26                   # dpkg -x root of docker.io + docker-cli + docker-buildx (Debian 13)
D20=$PKG/docker20                   # dpkg -x root of docker.io (Debian 12)
DOCKER_BIN_DIR=$D26/usr/bin
DOCKER20_BIN_DIR=$D20/usr/bin
DOCKER_CONFIG_DIR=$E2E_ROOT/docker-config
RUN=$E2E_ROOT/run                   # pidfiles and sockets
LOGS=$E2E_ROOT/log
DATA=$E2E_ROOT/data                 # daemon data-roots, registry storage
XROOT=$E2E_ROOT/x                   # daemon exec-roots (short: containerd socket lives there)
ETC=$E2E_ROOT/etc
VERSIONS=$PKG/versions.txt
APT_PKGS=(containerd runc tini docker-registry busybox-static jq curl buildah patch xz-utils)
BUILDKIT_SH=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/buildkit-image.sh
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
WAITING_FOR=()
BASE_APPLETS=(sh echo sleep cat ls mkdir cp touch date env printf test wc rm true)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
log() { printf 'env.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# ------------------------------------------------------------------ per-daemon facts
daemon_known() { case $1 in cd | classic | classic2 | d20) return 0 ;; *) return 1 ;; esac; }
sock() { echo "$RUN/$1.sock"; }
bin_dir() { if [ "$1" = d20 ]; then echo "$DOCKER20_BIN_DIR"; else echo "$DOCKER_BIN_DIR"; fi; }
dockerd_bin() { if [ "$1" = d20 ]; then echo "$D20/usr/sbin/dockerd"; else echo "$D26/usr/sbin/dockerd"; fi; }
# a string that only the process we started has in its /proc/PID/cmdline
daemon_sig() { echo "unix://$(sock "$1")"; }
registry_sig() { echo "serve $ETC/registry.yml"; }

# docker client for daemon $1 (the unpacked client that matches the daemon, our DOCKER_CONFIG)
dk() {
  local name=$1; shift
  DOCKER_HOST="unix://$(sock "$name")" DOCKER_CONFIG=$DOCKER_CONFIG_DIR DOCKER_CONTEXT='' \
    "$(bin_dir "$name")/docker" "$@"
}

# ------------------------------------------------------------------ process helpers
# pid from pidfile $1 if that process is alive and its cmdline contains $2
live_pid() {
  local f=$1 sig=$2 pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$sig" || return 1
  echo "$pid"
}
# alive and not a zombie (an orphan's zombie stays until PID 1 reaps it, which can take seconds)
alive() {
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  case ${st%% *} in Z | X | x | '') return 1 ;; *) return 0 ;; esac
}
# TERM the given pids together, wait up to $1 s, then KILL those left; only these pids
stop_pids() {
  local wait_s=$1 pid i left=(); shift
  [ $# -gt 0 ] || return 0
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i <= wait_s * 10; i++)); do
    left=()
    for pid in "$@"; do if alive "$pid"; then left+=("$pid"); fi; done
    [ ${#left[@]} -gt 0 ] || return 0
    sleep 0.1
  done
  log "pids ${left[*]} did not stop in ${wait_s}s, sending KILL"
  kill -KILL "${left[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    set -- "${left[@]}"; left=()
    for pid in "$@"; do if alive "$pid"; then left+=("$pid"); fi; done
    [ ${#left[@]} -gt 0 ] || return 0
    sleep 0.1
  done
  log "pids ${left[*]} still alive after KILL"
  return 1
}
stop_pidfile() {  # $1 pidfile  $2 cmdline signature
  local pid
  if pid=$(live_pid "$1" "$2"); then stop_pids 15 "$pid" || true; fi
  rm -f "$1"
}
# processes of ours left behind (e.g. a dockerd's containerd after a KILL): known binaries whose
# cmdline names a path under $E2E_ROOT. Prints PIDs. Never matches by name alone.
leftover_pids() {
  local d pid comm
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = "$$" ] && continue
    comm=$(cat "$d/comm" 2>/dev/null) || continue
    case $comm in
      dockerd | containerd | containerd-shim* | docker-registry | docker-proxy | runc | buildkitd | docker-init | tini*) ;;
      *) continue ;;
    esac
    tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$E2E_ROOT/" && echo "$pid"
  done
  return 0
}
# unmount everything mounted under $1 (deepest first)
umount_under() {
  local prefix=${1%/}/ m
  awk -v p="$prefix" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
}

# ------------------------------------------------------------------ install
# "URI SUITE" lines from this machine's apt sources (deb822 and one-line formats)
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ } print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      { types = ""; uri = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^#/) continue
          split($i, kv, /:[ \t]*/); k = tolower(kv[1]); v = substr($i, length(kv[1]) + 2); sub(/^[ \t]+/, "", v)
          if (k == "types") types = v; else if (k == "uris") uri = v; else if (k == "suites") suites = v
          else if (k == "enabled") enabled = tolower(v)
        }
        if (types !~ /(^| )deb( |$)/ || enabled == "no") next
        split(uri, u, /[ \t]+/); n = split(suites, s, /[ \t]+/)
        for (j = 1; j <= n; j++) print u[1], s[j] }' "$f"
  done
}
apt_mirror() {
  if [ -n "${E2E_APT_MIRROR:-}" ]; then echo "$E2E_APT_MIRROR"; return; fi
  apt_sources | awk '$2 !~ /-security$/ && $1 ~ /^https?:/ { print $1; exit }'
}
apt_security_mirror() { apt_sources | awk '$2 ~ /-security$/ && $1 ~ /^https?:/ { print $1; exit }'; }

# download .debs with a private sources.list / lists / cache, dpkg -x them into $2
# $1 = private apt dir   $2 = unpack root   $3 = sources.list text   $4... = packages
fetch_private() {
  local dir=$1 root=$2 sources=$3; shift 3
  local opts f
  rm -rf "$dir" "$root"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs" "$root"
  printf '%s\n' "$sources" >"$dir/sources.list"
  opts=(-q -o "Dir::Etc::sourcelist=$dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache=$dir/cache" -o Dir::Etc::preferencesparts=- -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update >"$dir/update.log" 2>&1 || { tail -20 "$dir/update.log" >&2; die "private apt-get update failed ($dir)"; }
  (cd "$dir/debs" && apt-get "${opts[@]}" download "$@") >"$dir/download.log" 2>&1 ||
    { tail -20 "$dir/download.log" >&2; die "apt-get download $* failed ($dir)"; }
  for f in "$dir"/debs/*.deb; do
    # shellcheck disable=SC2016 # dpkg-deb's own ${field} syntax
    dpkg-deb -W --showformat='${Package}=${Version}\n' "$f" >>"$dir/debs.txt"
    dpkg -x "$f" "$root"
  done
  rm -rf "$dir/lists" "$dir/cache"   # ~100 MB of package lists, not needed any more
  # Debian's docker-init is a relative symlink to tini-static (package tini): point it at the system one
  if [ -L "$root/usr/bin/docker-init" ] && [ ! -e "$root/usr/bin/docker-init" ]; then
    ln -sfn /usr/bin/tini-static "$root/usr/bin/tini-static"
  fi
}

write_versions() {
  {
    echo "# written by env.sh install, $(date -u +%FT%TZ)"
    echo "dockerd26: $("$D26/usr/sbin/dockerd" --version)"
    echo "docker26-client: $("$DOCKER_BIN_DIR/docker" --version)"
    echo "buildx: $(DOCKER_CONFIG=$DOCKER_CONFIG_DIR "$DOCKER_BIN_DIR/docker" buildx version)"
    echo "containerd: $(containerd --version)"
    echo "runc: $(runc --version | head -1)"
    echo "registry: $(docker-registry --version)"
    echo "buildah: $(buildah --version)"
    echo "tini: $(tini --version)"
    echo "busybox: $(busybox 2>&1 | head -n 1)"
    echo "dockerd20: $("$D20/usr/sbin/dockerd" --version)"
    echo "docker20-client: $("$DOCKER20_BIN_DIR/docker" --version)"
    echo "debs-docker26: $(paste -sd, "$PKG/apt-docker26/debs.txt")"
    echo "debs-docker20: $(paste -sd, "$PKG/apt-docker20/debs.txt")"
    cat "$PKG/buildkit/versions.txt"
  } >"$VERSIONS.tmp"
  mv "$VERSIONS.tmp" "$VERSIONS"
}

cmd_install() {
  need_root
  local t0 missing=() p mirror='' sec sources changed=0 stamp
  t0=$(now)
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -q >/dev/null
    # --no-install-recommends: buildah recommends fuse-overlayfs, not needed as root on kernel overlayfs
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    changed=1
  fi

  mirror=$(apt_mirror)
  [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list(.d); set E2E_APT_MIRROR"
  [ -r "$KEYRING" ] || die "$KEYRING missing (apt-get install debian-archive-keyring)"
  if [ ! -x "$D26/usr/sbin/dockerd" ] || [ ! -x "$DOCKER_BIN_DIR/docker" ] ||
    [ ! -x "$D26/usr/libexec/docker/cli-plugins/docker-buildx" ]; then
    log "downloading docker.io docker-cli docker-buildx from Debian $E2E_DOCKER_SUITE ($mirror)"
    fetch_private "$PKG/apt-docker26" "$D26" "deb [signed-by=$KEYRING] $mirror $E2E_DOCKER_SUITE main" \
      docker.io docker-cli docker-buildx
    changed=1
  fi
  if [ ! -x "$D20/usr/sbin/dockerd" ]; then
    sec=$(apt_security_mirror)
    sources="deb [signed-by=$KEYRING] $mirror bookworm main
deb [signed-by=$KEYRING] $mirror bookworm-updates main"
    [ -z "$sec" ] || sources="$sources
deb [signed-by=$KEYRING] $sec bookworm-security main"
    log "downloading docker.io from Debian 12 (bookworm)"
    fetch_private "$PKG/apt-docker20" "$D20" "$sources" docker.io
    changed=1
  fi
  ensure_arm64_packages "$mirror"
  # the BuildKit image: rebuilt only when buildkit-image.sh or its lock file changed
  stamp=$(cat "$PKG/buildkit/stamp" 2>/dev/null || true)
  E2E_ROOT=$E2E_ROOT E2E_APT_MIRROR=$mirror bash "$BUILDKIT_SH" ensure
  [ "$stamp" = "$(cat "$PKG/buildkit/stamp")" ] || changed=1
  mkdir -p "$DOCKER_CONFIG_DIR/cli-plugins"
  ln -sfn "$D26/usr/libexec/docker/cli-plugins/docker-buildx" "$DOCKER_CONFIG_DIR/cli-plugins/docker-buildx"
  if [ "$changed" = 1 ] || [ ! -s "$VERSIONS" ] || ! grep -q '^buildkit-image:' "$VERSIONS"; then write_versions; fi

  grep -q '^dockerd26: Docker version 26\.' "$VERSIONS" || log "WARNING: expected dockerd 26.x: $(grep '^dockerd26' "$VERSIONS")"
  grep -q '^buildx: .* v\?0\.13\.' "$VERSIONS" || log "WARNING: expected buildx 0.13.x: $(grep '^buildx' "$VERSIONS")"
  log "install done in $(since "$t0")s ($VERSIONS)"
}

# ------------------------------------------------------------------ services
write_configs() {
  mkdir -p "$ETC" "$RUN" "$LOGS" "$DATA" "$XROOT"
  local common
  # bridge none + no iptables: no docker0, no NAT rules on the host; RUN steps use --network none.
  # Own containerd namespaces, so that two daemons never share images even if they share a containerd.
  common='"bridge": "none", "iptables": false, "ip-forward": false, "ip-masq": false,
  "insecure-registries": ["'"$REGISTRY"'"], "shutdown-timeout": 5'
  cat >"$ETC/cd.json" <<EOF
{ "features": { "containerd-snapshotter": true },
  "containerd-namespace": "cib-cd", "containerd-plugins-namespace": "cib-cd-plugins",
  $common }
EOF
  cat >"$ETC/classic.json" <<EOF
{ "storage-driver": "overlay2",
  "containerd-namespace": "cib-classic", "containerd-plugins-namespace": "cib-classic-plugins",
  $common }
EOF
  cat >"$ETC/classic2.json" <<EOF
{ "storage-driver": "overlay2",
  "containerd-namespace": "cib-classic2", "containerd-plugins-namespace": "cib-classic2-plugins",
  $common }
EOF
  cat >"$ETC/d20.json" <<EOF
{ "storage-driver": "overlay2",
  "containerd-namespace": "cib-d20", "containerd-plugins-namespace": "cib-d20-plugins",
  $common }
EOF
  cat >"$ETC/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DATA/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
  secret: cdk-cib-e2e-local-only
EOF
}

registry_up() { curl -fsS -o /dev/null --max-time 2 "http://$REGISTRY/v2/" 2>/dev/null; }

start_registry() {
  if live_pid "$RUN/registry.pid" "$(registry_sig)" >/dev/null; then return 0; fi
  if registry_up; then die "something that is not ours already answers on $REGISTRY (set E2E_REGISTRY_PORT)"; fi
  rm -rf "$DATA/registry"; mkdir -p "$DATA/registry"
  setsid docker-registry serve "$ETC/registry.yml" </dev/null >"$LOGS/registry.log" 2>&1 &
  echo "$!" >"$RUN/registry.pid"
}

start_daemon() {  # $1 = cd|classic|classic2|d20; a fresh, empty data-root every time it starts
  local name=$1 bin
  bin=$(dockerd_bin "$name")
  [ -x "$bin" ] || die "$bin missing: run 'env.sh install' first"
  if live_pid "$RUN/$name.pid" "$(daemon_sig "$name")" >/dev/null; then return 0; fi
  umount_under "$DATA/$name"; umount_under "$XROOT/$name"
  rm -rf "${DATA:?}/$name" "${XROOT:?}/$name" "$(sock "$name")" "$RUN/$name.dockerd.pid"
  mkdir -p "$DATA/$name" "$XROOT/$name"
  # dockerd runs its own containerd (binary from PATH: Debian 12's /usr/bin/containerd), with its
  # state in <exec-root>/containerd and <data-root>/containerd, so the daemons never collide.
  # PATH: the unpacked engine first (docker-init, docker-proxy), never /usr/local/bin.
  env -u DOCKER_HOST PATH="$(dirname "$bin"):$(bin_dir "$name"):/usr/sbin:/usr/bin:/sbin:/bin" \
    setsid "$bin" --config-file "$ETC/$name.json" --host "$(daemon_sig "$name")" \
    --data-root "$DATA/$name" --exec-root "$XROOT/$name" --pidfile "$RUN/$name.dockerd.pid" \
    </dev/null >"$LOGS/$name.log" 2>&1 &
  echo "$!" >"$RUN/$name.pid"
}

# (`docker info` exits 0 even when the daemon does not answer; `docker version` does not)
daemon_ready() { [ -n "$(dk "$1" version --format '{{.Server.Version}}' 2>/dev/null)" ]; }

wait_ready() {  # $@ = daemon names; the registry is always waited for
  local deadline name ok
  WAITING_FOR=("$@")
  deadline=$(($(date +%s) + E2E_TIMEOUT))
  while :; do
    ok=1
    registry_up || ok=0
    live_pid "$RUN/registry.pid" "$(registry_sig)" >/dev/null || fail_start registry
    for name in "$@"; do
      live_pid "$RUN/$name.pid" "$(daemon_sig "$name")" >/dev/null || fail_start "$name"
      daemon_ready "$name" || ok=0
    done
    [ "$ok" = 1 ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail_start "timeout after ${E2E_TIMEOUT}s"
    sleep 0.1
  done
}
fail_start() {
  local n f
  log "ERROR: services did not come up ($1)"
  for n in registry "${WAITING_FOR[@]}"; do
    f=$LOGS/$n.log
    [ -f "$f" ] || continue
    printf '\n==> %s (last 25 lines) <==\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
  if [ "${E2E_KEEP_ON_FAIL:-0}" != 1 ]; then cmd_down || true; fi
  exit 1
}

base_pushed() {
  curl -fsS -o /dev/null --max-time 5 -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REGISTRY/v2/base/manifests/1" 2>/dev/null
}
push_base() {  # $1 = daemon to build it with
  local d=$1 r=$E2E_ROOT/base-rootfs a
  base_pushed && return 0
  rm -rf "$r"; mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root"
  chmod 1777 "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"
  for a in "${BASE_APPLETS[@]}"; do ln -s busybox "$r/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  tar --numeric-owner --owner=0 --group=0 -C "$r" -c . |
    dk "$d" import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$REGISTRY/base:1" >/dev/null
  dk "$d" push -q "$REGISTRY/base:1" >/dev/null
  dk "$d" image rm "$REGISTRY/base:1" >/dev/null
  base_pushed || die "base image push to $REGISTRY failed"
}

# ------------------------------------------------------------------ linux/arm64 (issue 12)
# Debian's arm64 busybox-static (the arm64 base image) and qemu-user-static (qemu-aarch64-static, to
# run arm64 RUN steps on this amd64 host through binfmt_misc), downloaded and unpacked privately.
ARM64=$PKG/apt-arm64
QEMU_AARCH64=$ARM64/root-qemu/usr/bin/qemu-aarch64-static
BINFMT=/proc/sys/fs/binfmt_misc
BINFMT_NAME=cib-e2e-aarch64
ensure_arm64_packages() {  # $1 = mirror
  local d=$ARM64 opts f
  [ -x "$QEMU_AARCH64" ] && [ -x "$ARM64/root-busybox/bin/busybox" ] && return 0
  log "downloading busybox-static:arm64 and qemu-user-static from Debian 12 ($1)"
  rm -rf "$d"; mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/debs" "$d/root-qemu" "$d/root-busybox"
  printf 'deb [arch=amd64,arm64 signed-by=%s] %s bookworm main\n' "$KEYRING" "$1" >"$d/sources.list"
  opts=(-q -o "Dir::Etc::sourcelist=$d/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$d/lists"
    -o "Dir::Cache=$d/cache" -o Dir::Etc::preferencesparts=- -o APT::Sandbox::User=root
    -o APT::Architectures::=amd64 -o APT::Architectures::=arm64)
  apt-get "${opts[@]}" update >"$d/update.log" 2>&1 || { tail -20 "$d/update.log" >&2; die "private apt-get update (arm64) failed"; }
  (cd "$d/debs" && apt-get "${opts[@]}" download busybox-static:arm64 qemu-user-static) >"$d/download.log" 2>&1 ||
    { tail -20 "$d/download.log" >&2; die "apt-get download busybox-static:arm64 qemu-user-static failed"; }
  for f in "$d"/debs/*.deb; do
    # shellcheck disable=SC2016 # dpkg-deb's own ${field} syntax
    dpkg-deb -W --showformat='${Package}:${Architecture}=${Version}\n' "$f" >>"$d/debs.txt"
  done
  dpkg -x "$d"/debs/busybox-static_*_arm64.deb "$d/root-busybox"
  dpkg -x "$d"/debs/qemu-user-static_*.deb "$d/root-qemu"
  rm -rf "$d/lists" "$d/cache"
}

# Registers qemu-aarch64-static for arm64 ELF binaries (flag F: the kernel opens the interpreter now,
# so it works inside containers; flag P: argv[0] is kept, which busybox needs to pick its applet). Prints yes or no (the kernel refused: arm64 RUN steps cannot run).
arm64_emulation() {
  local magic mask
  if [ -e "$BINFMT/$BINFMT_NAME" ] || [ -e "$BINFMT/qemu-aarch64" ]; then echo yes; return; fi
  [ -w "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || true
  magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
  mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
  if printf ':%s:M::%s:%s:%s:PF\n' "$BINFMT_NAME" "$magic" "$mask" "$QEMU_AARCH64" >"$BINFMT/register" 2>/dev/null; then echo yes; else echo no; fi
}

manifest_pushed() {  # $1 = repository, $2 = tag
  curl -fsS -o /dev/null --max-time 5 -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null
}
# base-arm64:1 (busybox for arm64, imported with --platform linux/arm64) and base-multi:1, the
# image index of base:1 and base-arm64:1 that the multi-architecture sample app builds FROM.
push_arm64_base() {  # $1 = daemon
  local d=$1 r=$E2E_ROOT/base-rootfs-arm64 a
  manifest_pushed base-multi 1 && return 0
  rm -rf "$r"; mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root"
  chmod 1777 "$r/tmp"
  cp "$ARM64/root-busybox/bin/busybox" "$r/bin/busybox"
  for a in "${BASE_APPLETS[@]}"; do ln -s busybox "$r/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  tar --numeric-owner --owner=0 --group=0 -C "$r" -c . |
    dk "$d" import --platform linux/arm64 -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$REGISTRY/base-arm64:1" >/dev/null
  dk "$d" push -q "$REGISTRY/base-arm64:1" >/dev/null
  dk "$d" image rm "$REGISTRY/base-arm64:1" >/dev/null
  DOCKER_CONFIG=$DOCKER_CONFIG_DIR dk "$d" buildx imagetools create --tag "$REGISTRY/base-multi:1" "$REGISTRY/base:1" "$REGISTRY/base-arm64:1" >/dev/null 2>&1 ||
    die "could not create the image index $REGISTRY/base-multi:1"
  manifest_pushed base-multi 1 || die "base-multi:1 push to $REGISTRY failed"
}

cmd_up() {
  need_root
  local t0 name daemons=()
  t0=$(now)
  read -r -a daemons <<<"$E2E_DAEMONS"
  for name in "${daemons[@]}"; do daemon_known "$name" || die "unknown daemon '$name' in E2E_DAEMONS"; done
  if ! command -v docker-registry >/dev/null || [ ! -x "$D26/usr/sbin/dockerd" ]; then die "run 'env.sh install' first"; fi
  write_configs
  start_registry
  for name in "${daemons[@]}"; do start_daemon "$name"; done
  wait_ready "${daemons[@]}"
  push_base "${daemons[0]}"
  push_arm64_base "${daemons[0]}"
  log "arm64 emulation (binfmt_misc, qemu-aarch64-static): $(arm64_emulation)"
  [ -s "$PKG/buildkit/image/digest" ] || die "no BuildKit image: run 'env.sh install' first"
  log "BuildKit image $(E2E_ROOT=$E2E_ROOT bash "$BUILDKIT_SH" push "$REGISTRY")"
  log "up in $(since "$t0")s: registry $REGISTRY, daemons ${daemons[*]} (eval \"\$(bash $0 vars)\")"
}

cmd_down() {
  local t0 name pids=() pid rc=0 left
  t0=$(now)
  # all at once: TERM everything we started, then wait (dockerd stops its own containerd)
  pids=()
  for name in d20 classic2 classic cd; do
    if pid=$(live_pid "$RUN/$name.pid" "$(daemon_sig "$name")"); then pids+=("$pid"); fi
  done
  if pid=$(live_pid "$RUN/registry.pid" "$(registry_sig)"); then pids+=("$pid"); fi
  stop_pids 20 "${pids[@]}" || true
  # leftovers: e.g. a dockerd's containerd or shims after a KILL, or after a crash of this script
  read -r -a pids <<<"$(leftover_pids | paste -sd' ')"
  for pid in "${pids[@]}"; do
    log "stopping leftover pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-150)"
  done
  stop_pids 10 "${pids[@]}" || true
  [ -d "$E2E_ROOT" ] && umount_under "$E2E_ROOT"
  rm -f "$RUN"/*.sock "$RUN"/*.pid 2>/dev/null || true
  left=$(leftover_pids | paste -sd' ')
  if [ -n "$left" ]; then log "ERROR: still running: $left"; rc=1; fi
  if awk -v p="$E2E_ROOT/" 'index($5, p) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
    log "ERROR: mounts left under $E2E_ROOT"; rc=1
  fi
  log "down in $(since "$t0")s"
  return "$rc"
}

cmd_clean() {
  cmd_down || true
  [ -d "$E2E_ROOT" ] || return 0
  local d
  for d in "$E2E_ROOT"/* "$E2E_ROOT"/.[!.]*; do
    [ -e "$d" ] || continue
    case $d in "$PKG" | "$DOCKER_CONFIG_DIR") continue ;; esac
    rm -rf "$d"
  done
  rm -rf "$DOCKER_CONFIG_DIR/buildx" "$DOCKER_CONFIG_DIR/config.json"
}

# ------------------------------------------------------------------ fresh build host
# prune: delete containers, images, build cache (measured ~0.2-0.3 s; verified by `smoke`: a rebuild
# without --cache-from shows no CACHED step afterwards). restart: new dockerd with an empty data-root.
cmd_reset_daemon() {
  local name=${1:-} mode=${2:-$E2E_RESET_MODE} t0 ids
  daemon_known "$name" || die "usage: env.sh reset-daemon cd|classic|classic2|d20 [prune|restart]"
  t0=$(now)
  case $mode in
    prune)
      live_pid "$RUN/$name.pid" "$(daemon_sig "$name")" >/dev/null || die "daemon $name is not running"
      # running containers too (a docker-container builder), and their volumes (its state)
      read -r -a ids <<<"$(dk "$name" ps -aq | paste -sd' ')"
      [ ${#ids[@]} -eq 0 ] || dk "$name" rm -f -v "${ids[@]}" >/dev/null
      if [ "$name" = d20 ]; then dk "$name" volume prune -f >/dev/null; else dk "$name" volume prune -a -f >/dev/null; fi
      dk "$name" image prune -a -f >/dev/null
      dk "$name" builder prune -a -f >/dev/null
      [ -z "$(dk "$name" image ls -aq)" ] || die "images left on $name after prune"
      [ -z "$(dk "$name" ps -aq)$(dk "$name" volume ls -q)" ] || die "containers or volumes left on $name after prune"
      ;;
    restart)
      stop_pidfile "$RUN/$name.pid" "$(daemon_sig "$name")"
      start_daemon "$name"
      wait_ready "$name"
      ;;
    *) die "reset mode must be prune or restart" ;;
  esac
  log "reset-daemon $name ($mode) in $(since "$t0")s"
}

# ------------------------------------------------------------------ smoke test
# CACHED steps in a --progress=plain log; $2=all also counts FROM / internal steps.
# Beware: with registry cache on the containerd store, a step restored from the remote cache is
# sometimes printed with blob downloads instead of "CACHED" (seen on the last step, about every
# other build). So hits are judged by marker output of RUN steps, CACHED is only informative.
cached_steps() {
  awk -v all="${2:-}" '
    /^#[0-9]+ \[/ { if (all == "all" || ($0 !~ /\] FROM / && $0 !~ /^#[0-9]+ \[internal\]/)) step[$1] = 1 }
    /^#[0-9]+ CACHED/ { c[$1] = 1 }
    END { n = 0; for (id in c) if (id in step) n++; print n }' "$1"
}
# RUN steps that really ran: they print "stepN ran-42" (the Dockerfile text says $((6*7)))
ran_steps() { grep -cE '^#[0-9]+ [0-9.]+ step[0-9]+ ran-42$' "$1" || true; }
smoke_build() {  # $1 daemon  $2 log  $3... extra args
  local d=$1 logf=$2; shift 2
  dk "$d" buildx build --progress=plain --network none --provenance=false "$@" "$E2E_ROOT/smoke" >"$logf" 2>&1 ||
    { tail -n 30 "$logf" >&2; die "smoke build on $d failed ($logf)"; }
}
smoke_check() {  # $1 log  $2 label  $3 expected ran steps  $4 expected CACHED (all) or '' for any
  local ran cached
  ran=$(ran_steps "$1"); cached=$(cached_steps "$1" all)
  log "smoke $2: RUN steps executed=$ran (expected $3), CACHED=$cached${4:+ (expected $4)}"
  [ "$ran" = "$3" ] || die "smoke $2: unexpected result ($1)"
  [ -z "${4:-}" ] || [ "$cached" = "$4" ] || die "smoke $2: unexpected CACHED steps ($1)"
}
cmd_smoke() {
  need_root
  local t0 ctx=$E2E_ROOT/smoke ref cache n l=$LOGS
  t0=$(now)
  ref=$REGISTRY/smoke:t
  cache=type=registry,ref=$REGISTRY/smoke-cache:run-$(date +%s)-$$   # new per run: round 1 is cold
  for n in cd classic; do daemon_ready "$n" || die "daemon $n not running: env.sh up"; done
  dk cd buildx version >&2
  mkdir -p "$ctx"
  # shellcheck disable=SC2016 # $((6*7)) is for the RUN step's shell
  printf 'FROM %s/base:1\nRUN echo "step1 ran-$((6*7))" && echo 1 > /one && sleep 1\nRUN echo "step2 ran-$((6*7))" && date > /two\n' \
    "$REGISTRY" >"$ctx/Dockerfile"

  cmd_reset_daemon cd prune
  smoke_build cd "$l/smoke-1.log" --push -t "$ref" \
    --cache-to "$cache,mode=max,image-manifest=true,oci-mediatypes=true" --cache-from "$cache"
  smoke_check "$l/smoke-1.log" "1 (cd, cold, --push --cache-to registry)" 2
  cmd_reset_daemon cd prune
  smoke_build cd "$l/smoke-2.log" --push -t "$ref" \
    --cache-to "$cache,mode=max,image-manifest=true,oci-mediatypes=true" --cache-from "$cache"
  smoke_check "$l/smoke-2.log" "2 (cd, after reset, --cache-from registry)" 0
  cmd_reset_daemon cd prune
  smoke_build cd "$l/smoke-3.log" -t "$ref"
  smoke_check "$l/smoke-3.log" "3 (cd, after reset, no --cache-from)" 2 0

  cmd_reset_daemon classic prune
  smoke_build classic "$l/smoke-4.log" -t "$ref-classic"
  smoke_check "$l/smoke-4.log" "4 (classic)" 2
  smoke_build classic "$l/smoke-5.log" -t "$ref-classic"
  smoke_check "$l/smoke-5.log" "5 (classic, local cache)" 0
  cmd_reset_daemon classic prune
  smoke_build classic "$l/smoke-6.log" -t "$ref-classic"
  smoke_check "$l/smoke-6.log" "6 (classic, after reset)" 2 0
  log "smoke OK in $(since "$t0")s"
}

# ------------------------------------------------------------------ status / vars
cmd_status() {
  local name pid
  if pid=$(live_pid "$RUN/registry.pid" "$(registry_sig)"); then
    echo "registry  running pid $pid  http://$REGISTRY/v2/ $(registry_up && echo ok || echo 'not answering')"
  else echo "registry  stopped"; fi
  for name in cd classic classic2 d20; do
    if pid=$(live_pid "$RUN/$name.pid" "$(daemon_sig "$name")"); then
      echo "$(printf '%-9s' "$name") running pid $pid  $(daemon_sig "$name")  $(dk "$name" info --format 'docker {{.ServerVersion}} driver={{.Driver}}' 2>/dev/null || echo 'not answering')"
    else echo "$(printf '%-9s' "$name") stopped"; fi
  done
  if [ -s "$VERSIONS" ]; then cat "$VERSIONS"; else echo "not installed (env.sh install)"; fi
}

cmd_vars() {
  local v
  for v in E2E_ROOT REGISTRY DOCKER_BIN_DIR DOCKER20_BIN_DIR; do printf 'export %s=%q\n' "$v" "${!v}"; done
  printf 'export DOCKER_CONFIG=%q\n' "$DOCKER_CONFIG_DIR"
  printf 'export DOCKER_HOST_CD=%q\n' "unix://$(sock cd)"
  printf 'export DOCKER_HOST_CLASSIC=%q\n' "unix://$(sock classic)"
  printf 'export DOCKER_HOST_CLASSIC2=%q\n' "unix://$(sock classic2)"
  if [ -s "$PKG/buildkit/image/digest" ]; then printf 'export BUILDKIT_IMAGE=%q\n' "$(E2E_ROOT=$E2E_ROOT bash "$BUILDKIT_SH" ref "$REGISTRY")"; fi
  printf 'export DOCKER_HOST_D20=%q\n' "unix://$(sock d20)"
  if [ -e "$BINFMT/$BINFMT_NAME" ] || [ -e "$BINFMT/qemu-aarch64" ]; then echo 'export E2E_ARM64_EMULATION=yes'; else echo 'export E2E_ARM64_EMULATION=no'; fi
}

usage() {
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [ $# -eq 0 ] || shift
  case $cmd in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    vars) cmd_vars ;;
    smoke) cmd_smoke ;;
    reset-daemon) cmd_reset_daemon "$@" ;;
    clean) cmd_clean ;;
    buildkit-lock) E2E_ROOT=$E2E_ROOT E2E_APT_MIRROR=$(apt_mirror) bash "$BUILDKIT_SH" lock ;;
    *) usage ;;
  esac
}
main "$@"

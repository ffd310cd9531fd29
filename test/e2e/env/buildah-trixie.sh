#!/usr/bin/env bash
# test/e2e/env/buildah-trixie.sh - a recent Buildah for the e2e next to Debian 12's 1.28 (/usr/bin/buildah):
# Debian 13's buildah 1.39 with what it links and runs (runc, netavark, containers-common's configuration),
# downloaded from the Debian mirror and unpacked privately into a root under $E2E_ROOT/pkgs/buildah-trixie;
# nothing is installed system-wide. A wrapper, $E2E_ROOT/pkgs/buildah-trixie/bin/buildah, runs it in that
# root (a private mount namespace, the host's /proc /dev /sys /tmp and $E2E_ROOT bound in at the same paths,
# plus the colon-separated E2E_BUILDAH_BINDS, e.g. the harness's output directory; the host's network).
#
# Every file is pinned in buildah-trixie.lock (path on the mirror, size, sha256) and verified; the root is
# unpacked again only when this script or the lock change.
#   buildah-trixie.sh ensure     download (verified), unpack, write the wrapper; ~0.1 s when done
#   buildah-trixie.sh lock       re-resolve the packages against the mirror's trixie and rewrite the lock
#   buildah-trixie.sh bin-dir    print the directory of the wrapper
# Needs E2E_ROOT and E2E_APT_MIRROR (env.sh passes both).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/buildah-trixie.sh
LOCK=$HERE/buildah-trixie.lock
SUITE=trixie
# buildah and what its binary and runc link (found with ld.so --list in the root), its OCI runtime,
# netavark (buildah 1.39 needs it even with --network none) and containers-common's configuration
PKGS=(buildah runc netavark golang-github-containers-common golang-github-containers-image libc6 libgcc-s1 libgpgme11t64
  libassuan9 libgpg-error0 libseccomp2 libsqlite3-0 libsubid5 libaudit1 libcap-ng0 libselinux1 libpcre2-8-0 libsemanage2
  libsepol2 libbz2-1.0 libcrypt1 libacl1 libattr1 libpam0g libbsd0 libmd0)
: "${E2E_ROOT:?E2E_ROOT must be set (env.sh sets it)}"
BT=$E2E_ROOT/pkgs/buildah-trixie
DL=$BT/dl
ROOT=$BT/root
BIN=$BT/bin
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'buildah-trixie: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
inputs_hash() { cat "$SELF" "$LOCK" | sha256sum | cut -d' ' -f1; }
mirror() { [ -n "${E2E_APT_MIRROR:-}" ] || die "E2E_APT_MIRROR is not set (env.sh passes this machine's Debian mirror)"; echo "${E2E_APT_MIRROR%/}"; }

cmd_lock() {
  local apt o
  apt=$(mktemp -d "$E2E_ROOT/buildah-lock.XXXXXX")
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"; touch "$apt/status"
  printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$(mirror)" "$SUITE" >"$apt/sources.list"
  o=(-q -o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache" -o Dir::Etc::preferencesparts=- -o APT::Sandbox::User=root -o "Dir::State::status=$apt/status")
  apt-get "${o[@]}" update >"$apt/update.log" 2>&1 || { tail "$apt/update.log" >&2; die "apt-get update ($SUITE) failed"; }
  {
    echo "# buildah-trixie.lock - every file buildah-trixie.sh downloads: deb <sha256> <size> <path on the mirror> <package=version>"
    echo "# suite $SUITE; written by 'buildah-trixie.sh lock' on $(date -u +%F)"
    apt-cache "${o[@]}" show --no-all-versions "${PKGS[@]}" 2>/dev/null | awk '
      /^Package: / { p = $2 } /^Version: / { v = $2 } /^Filename: / { f = $2 } /^Size: / { s = $2 } /^SHA256: / { h = $2 }
      /^$/ { if (p != "") print "deb", h, s, f, p "=" v; p = "" } END { if (p != "") print "deb", h, s, f, p "=" v }' | sort -k5,5
  } >"$LOCK.tmp"
  [ "$(grep -c '^deb ' "$LOCK.tmp")" = "${#PKGS[@]}" ] || die "not every package was found in $SUITE: ${PKGS[*]}"
  mv "$LOCK.tmp" "$LOCK"; rm -rf "$apt"
  log "wrote $LOCK ($(grep -c '^deb ' "$LOCK") packages)"
}

verified() { [ -f "$DL/${3##*/}" ] && [ "$(stat -c %s "$DL/${3##*/}")" = "$2" ] && echo "$1  $DL/${3##*/}" | sha256sum -c --status; }
fetch() {
  local m kind sha size path pkg missing=()
  m=$(mirror); mkdir -p "$DL"
  while read -r kind sha size path pkg; do
    verified "$sha" "$size" "$path" || curl -fsS --retry 2 -o "$DL/${path##*/}" "$m/$path" 2>>"$BT/curl.log" || true
    verified "$sha" "$size" "$path" || missing+=("$pkg")
  done < <(grep '^deb ' "$LOCK")
  [ ${#missing[@]} -eq 0 ] || die "the mirror $m no longer has (or served something else for) ${missing[*]}.
  Debian replaces packages in $SUITE at point releases: run 'E2E_ROOT=... E2E_APT_MIRROR=... bash $SELF lock', check that
  the e2e's buildah 1.39 configuration still passes, and commit buildah-trixie.lock."
}

write_wrapper() {
  mkdir -p "$BIN"
  cat >"$BIN/buildah.tmp" <<EOF
#!/bin/bash
# Debian 13's buildah in its private root ($ROOT), written by test/e2e/env/buildah-trixie.sh.
# RUN steps get open-files and process limits no higher than this process's hard limits (1.39's defaults are
# higher, which fails here); the containers.conf in the root says so.
r=$ROOT
EOF
  cat >>"$BIN/buildah.tmp" <<'EOF'
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$(ulimit -Sn)" "$(ulimit -Hn)" "$(ulimit -Su)" "$(ulimit -Hu)" >"$r/etc/containers/containers.conf.$$"
mv -f "$r/etc/containers/containers.conf.$$" "$r/etc/containers/containers.conf"
exec unshare --mount --propagation private bash -c '
  set -e; r=$1; shift
  mount --bind "$r" "$r"   # the root must be a mount point (containers-storage remounts it private)
  for d in /proc /dev /sys; do mount --rbind "$d" "$r$d"; done
  IFS=: read -r -a extra <<< "${E2E_BUILDAH_BINDS:-}"
  for d in /tmp "$E2E_ROOT" "${extra[@]}"; do [ -n "$d" ] && [ -d "$d" ] || continue; mkdir -p "$r$d"; mount --bind "$d" "$r$d"; done
  wd=$PWD; [ -d "$r$wd" ] || wd=/
  exec unshare --root="$r" --wd="$wd" /usr/bin/buildah "$@"' _ "$r" "$@"
EOF
  chmod +x "$BIN/buildah.tmp"; mv "$BIN/buildah.tmp" "$BIN/buildah"
}

cmd_ensure() {
  local f v
  [ -s "$LOCK" ] || die "$LOCK missing"
  if [ -s "$BT/stamp" ] && [ "$(cat "$BT/stamp")" = "$(inputs_hash)" ] && [ -x "$BIN/buildah" ] && [ -s "$BT/versions.txt" ]; then return 0; fi
  log "unpacking Debian $SUITE's buildah ($(awk '$5 ~ /^buildah=/ { sub(/^buildah=/, "", $5); print $5 }' "$LOCK")) under $BT"
  rm -f "$BT/stamp"
  fetch
  rm -rf "$ROOT"; mkdir -p "$ROOT"
  while read -r _ _ _ path _; do dpkg -x "$DL/${path##*/}" "$ROOT"; done < <(grep '^deb ' "$LOCK")
  for f in lib lib64 bin sbin; do [ -e "$ROOT/$f" ] || ln -s "usr/$f" "$ROOT/$f"; done
  mkdir -p "$ROOT"/{proc,dev,sys,tmp,var/tmp,run,etc/containers}
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"   # buildah looks up the user of RUN steps here
  printf 'root:x:0:\n' >"$ROOT/etc/group"
  write_wrapper
  v=$(E2E_BUILDAH_BINDS='' "$BIN/buildah" --version 2>&1) || die "Debian $SUITE's buildah does not start in its root: $v"
  printf 'buildah-trixie: %s (Debian %s buildah %s, runc %s; %s packages pinned in test/e2e/env/buildah-trixie.lock)\n' "$v" "$SUITE" \
    "$(awk '$5 ~ /^buildah=/ { sub(/^buildah=/, "", $5); print $5 }' "$LOCK")" "$(awk '$5 ~ /^runc=/ { sub(/^runc=/, "", $5); print $5 }' "$LOCK")" \
    "$(grep -c '^deb ' "$LOCK")" >"$BT/versions.txt"
  inputs_hash >"$BT/stamp"
  log "ready: $(sed 's/^buildah-trixie: //' "$BT/versions.txt")"
}

case ${1:-} in
  ensure) cmd_ensure ;;
  lock) cmd_lock ;;
  bin-dir) echo "$BIN" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

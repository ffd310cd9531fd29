#!/usr/bin/env bash
# test/e2e/env/buildkit-image.sh - the BuildKit daemon image that the e2e's docker-container builder
# runs, built from Debian sources (no Docker Hub): buildkitd and buildctl from the BuildKit component
# of Debian 13's docker.io source package, compiled with Debian's Go and golang-*-dev packages in
# GOPATH mode (static, no cgo), plus Debian's runc and a CA bundle, as a one-layer OCI image.
#
# Every download is pinned in buildkit-image.lock (path on the mirror, size, sha256) and verified.
# The result is kept under $E2E_ROOT/pkgs/buildkit and rebuilt only when this script or the lock
# file change (their sha256 is the stamp). Called by env.sh; not meant to be run by hand except for
# `lock`, which re-resolves the packages against the mirror's current suite and rewrites the lock.
#
#   buildkit-image.sh ensure              build unless the stamp matches (env.sh install)
#   buildkit-image.sh push REGISTRY       upload the image to REGISTRY/$REPO:$TAG (env.sh up);
#                                         prints the reference by digest
#   buildkit-image.sh ref REGISTRY        prints that reference (no upload)
#   buildkit-image.sh lock                rewrite buildkit-image.lock from the mirror (maintainers)
#
# Needs E2E_ROOT and E2E_APT_MIRROR (env.sh passes both). Root is not needed except for tar ownership.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/buildkit-image.sh
LOCK=$HERE/buildkit-image.lock

# ---- what is pinned (the lock file holds the exact files)
SUITE=trixie                              # Debian 13
SRC_PACKAGE=docker.io
SRC_VERSION=26.1.5+dfsg1-9+deb13u1        # Debian's moby 26.1.5, with its buildkit component
BUILDKIT_VERSION=v0.13.2                  # what moby 26.1.5 vendors (engine/vendor.mod), checked
GO_VERSION=1.24                           # golang-1.24-go / golang-1.24-src
RUNTIME_PKGS=(runc libseccomp2 libc6 ca-certificates)
REPO=cib-e2e/buildkit
TAG=$BUILDKIT_VERSION-debian-${SRC_VERSION//+/_}
SOURCE_DATE_EPOCH=1735689600              # 2025-01-01: file times in the image, its `created`

: "${E2E_ROOT:?E2E_ROOT must be set (env.sh sets it)}"
BK=$E2E_ROOT/pkgs/buildkit
DL=$BK/dl          # verified downloads, kept between builds
W=$BK/work         # build tree, removed after a successful build
IMG=$BK/image      # layer.tar.gz config.json manifest.json digest: what `push` uploads
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'buildkit-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
inputs_hash() { cat "$SELF" "$LOCK" | sha256sum | cut -d' ' -f1; }
mirror() { [ -n "${E2E_APT_MIRROR:-}" ] || die "E2E_APT_MIRROR is not set (env.sh passes this machine's Debian mirror)"; echo "${E2E_APT_MIRROR%/}"; }

# ------------------------------------------------------------------ lock: resolve against the mirror
apt_opts() {
  echo -q -o "Dir::Etc::sourcelist=$1/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$1/lists" \
    -o "Dir::Cache=$1/cache" -o Dir::Etc::preferencesparts=- -o APT::Sandbox::User=root -o "Dir::State::status=$1/status"
}
# `<kind> <sha256> <size> <path> [<package>=<version>]` for the newest candidates of packages $2...
lock_debs() {
  local kind=$1 apt=$2; shift 2
  # shellcheck disable=SC2046 # apt_opts is a word list without spaces inside words
  apt-cache $(apt_opts "$apt") show --no-all-versions "$@" 2>/dev/null | awk -v k="$kind" '
    /^Package: / { p = $2 } /^Version: / { v = $2 } /^Filename: / { f = $2 } /^Size: / { s = $2 } /^SHA256: / { h = $2 }
    /^$/ { if (p != "") print k, h, s, f, p "=" v; p = "" }
    END { if (p != "") print k, h, s, f, p "=" v }'
}
cmd_lock() {
  local apt m bd
  m=$(mirror)
  apt=$(mktemp -d "$E2E_ROOT/buildkit-lock.XXXXXX")
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
  touch "$apt/status"   # empty dpkg status: apt thinks nothing is installed
  printf 'deb [signed-by=%s] %s %s main\ndeb-src [signed-by=%s] %s %s main\n' "$KEYRING" "$m" "$SUITE" "$KEYRING" "$m" "$SUITE" >"$apt/sources.list"
  # shellcheck disable=SC2046
  apt-get $(apt_opts "$apt") update >"$apt/update.log" 2>&1 || { tail "$apt/update.log" >&2; die "apt-get update ($SUITE) failed"; }
  # shellcheck disable=SC2046
  apt-cache $(apt_opts "$apt") showsrc "$SRC_PACKAGE" >"$apt/showsrc.txt" 2>/dev/null
  grep -qx "Version: $SRC_VERSION" "$apt/showsrc.txt" || die "$SUITE has no $SRC_PACKAGE $SRC_VERSION any more ($(grep '^Version:' "$apt/showsrc.txt" | paste -sd' ')): update SRC_VERSION"
  # golang-* Build-Depends of that version, plus github.com/docker/docker (a Build-Conflict of docker.io:
  # it builds the engine from its own tree, buildkit imports it) and fsutil
  bd=$(awk -v v="$SRC_VERSION" '$0 == "Version: " v { f = 1 } f && /^Build-Depends:/ { sub(/^Build-Depends: /, ""); print; exit }' "$apt/showsrc.txt" |
    tr ',' '\n' | sed 's/([^)]*)//g; s/|.*//; s/^ *//; s/ *$//' | grep -E '^golang-' | grep -vx golang-any |
    sort -u | paste -sd' ')
  bd="$bd golang-github-docker-docker-dev golang-github-tonistiigi-fsutil-dev golang-$GO_VERSION-go"
  {
    echo "# buildkit-image.lock - every file buildkit-image.sh downloads: <kind> <sha256> <size> <path on the mirror> [package=version]"
    echo "# kinds: src (docker.io source), go (Go toolchain and golang-*-dev packages), rt (what the image ships)"
    echo "# suite $SUITE, $SRC_PACKAGE $SRC_VERSION; written by 'env.sh buildkit-lock' on $(date -u +%F)"
    awk -v v="$SRC_VERSION" '
      $0 == "Version: " v { f = 1; next } f && /^Version: / { exit }
      f && /^Directory: / { dir = $2 } f && /^Checksums-Sha256:/ { c = 1; next } f && c && /^ / { h[++n] = $1; s[n] = $2; name[n] = $3; next }
      f && c { c = 0 }
      END { for (i = 1; i <= n; i++) if (name[i] !~ /\.dsc$/) print "src", h[i], s[i], dir "/" name[i] }' "$apt/showsrc.txt"
    # the recursive Depends closure, only golang-*-dev and the toolchain. protobuf 1-3 and 1-5 ship
    # the same import path (they conflict in Debian); docker.io builds with 1-5: leave 1-3 out.
    # shellcheck disable=SC2046,SC2086
    lock_debs go "$apt" $(apt-cache $(apt_opts "$apt") depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances $bd 2>/dev/null | grep -v '^[ <]' |
      grep -E "^golang-.*-dev\$|^golang-$GO_VERSION-(go|src)\$" | grep -vx golang-github-golang-protobuf-1-3-dev | sort -u) | sort -u -k5,5
    lock_debs rt "$apt" "${RUNTIME_PKGS[@]}" | sort -u -k5,5
  } >"$LOCK.tmp"
  [ "$(grep -c '^src ' "$LOCK.tmp")" -ge 4 ] || die "source files of $SRC_PACKAGE $SRC_VERSION not found in the Sources index"
  [ "$(grep -c '^rt ' "$LOCK.tmp")" = "${#RUNTIME_PKGS[@]}" ] || die "runtime packages missing: ${RUNTIME_PKGS[*]}"
  mv "$LOCK.tmp" "$LOCK"
  rm -rf "$apt"
  log "wrote $LOCK: $(grep -c '^go ' "$LOCK") go, $(grep -c '^rt ' "$LOCK") rt packages, $(grep -c '^src ' "$LOCK") source files"
}

# ------------------------------------------------------------------ fetch: pinned files, verified
lock_entries() { grep -E "^${1:-[a-z]+} " "$LOCK"; }
verified() { [ -f "$DL/${3##*/}" ] && [ "$(stat -c %s "$DL/${3##*/}")" = "$2" ] && echo "$1  $DL/${3##*/}" | sha256sum -c --status; }
fetch() {
  local m cfg kind sha size path pkg missing=() n=0
  m=$(mirror)
  mkdir -p "$DL"
  cfg=$BK/curl.cfg; : >"$cfg"
  while read -r kind sha size path pkg; do
    verified "$sha" "$size" "$path" && continue
    printf 'url = "%s/%s"\noutput = "%s"\n' "$m" "$path" "$DL/${path##*/}" >>"$cfg"
    n=$((n + 1))
  done < <(lock_entries)
  if [ "$n" -gt 0 ]; then
    log "downloading $n pinned files from $m"
    curl -fsS --parallel --parallel-max 8 --retry 2 -K "$cfg" 2>"$BK/curl.log" || true
  fi
  while read -r kind sha size path pkg; do
    verified "$sha" "$size" "$path" || missing+=("${pkg:-$path}")
  done < <(lock_entries)
  if [ ${#missing[@]} -gt 0 ]; then
    die "the mirror $m no longer has (or served something else for) ${#missing[@]} pinned file(s): ${missing[*]:0:8}${missing[8]:+ ...}
  (curl: $(tail -n 3 "$BK/curl.log" | paste -sd' ')).
  Debian replaces packages in $SUITE at point releases. Re-resolve the pins against the current suite with
  'bash test/e2e/env/env.sh buildkit-lock', check that the image still builds, and commit buildkit-image.lock."
  fi
}

# ------------------------------------------------------------------ build
build() {
  local t0=$SECONDS t f p src=$W/src gop=$W/gopath root=$W/root rt=$W/rt ld vendored
  rm -rf "$W"; mkdir -p "$src" "$root" "$rt" "$gop/src/github.com/moby"
  t=$SECONDS
  while read -r _ _ _ path _; do dpkg -x "$DL/${path##*/}" "$root"; done < <(lock_entries go)
  while read -r _ _ _ path _; do dpkg -x "$DL/${path##*/}" "$rt"; done < <(lock_entries rt)
  # Debian's source layout: main tarball -> engine/, components -> buildkit/ cli/, then debian/patches
  for f in $(lock_entries src | awk '{ print $4 }'); do tar xf "$DL/${f##*/}" -C "$src"; done
  mv "$src"/moby-moby-*/engine "$src/engine" && rmdir "$src"/moby-moby-*
  [ -f "$src/debian/patches/series" ] || die "no debian/patches/series in the source"
  while read -r p; do
    (cd "$src" && patch -p1 -t -s --no-backup-if-mismatch <"debian/patches/$p") >/dev/null || die "Debian patch $p does not apply"
  done < <(grep -v '^#' "$src/debian/patches/series" | grep .)
  vendored=$(awk '$1 == "github.com/moby/buildkit" { print $2 }' "$src/engine/vendor.mod")
  [ "$vendored" = "$BUILDKIT_VERSION" ] || die "the source vendors buildkit $vendored, not $BUILDKIT_VERSION: update BUILDKIT_VERSION"
  mv "$src/buildkit" "$gop/src/github.com/moby/buildkit"   # with buildkit/vendor: the parts Debian does not package
  T_UNPACK=$((SECONDS - t))

  t=$SECONDS
  ld="-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION+debian-$SRC_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit"
  (
    export GOROOT=$root/usr/lib/go-$GO_VERSION PATH=$root/usr/lib/go-$GO_VERSION/bin:$PATH
    export GOPATH=$gop:$root/usr/share/gocode GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local GOFLAGS= GOCACHE=$W/gocache CGO_ENABLED=0
    cd "$gop/src/github.com/moby/buildkit"
    go build -trimpath -tags "osusergo netgo static_build seccomp" -ldflags "$ld" -o "$W/bin/buildkitd" ./cmd/buildkitd
    go build -trimpath -tags "osusergo netgo static_build" -ldflags "$ld" -o "$W/bin/buildctl" ./cmd/buildctl
    go version >"$W/go-version"
  ) >"$BK/go-build.log" 2>&1 || { tail -n 30 "$BK/go-build.log" >&2; die "go build failed ($BK/go-build.log)"; }
  T_GO=$((SECONDS - t))
  "$W/bin/buildkitd" --version >/dev/null || die "the built buildkitd does not run"

  t=$SECONDS
  image "$rt"
  T_IMAGE=$((SECONDS - t))
  T_TOTAL=$((SECONDS - t0))
}

# rootfs: buildkitd, buildctl, runc (+ the libraries it links), a CA bundle; one gzip layer, OCI image
image() {
  local rt=$1 r=$W/rootfs diff layer cfg man now
  mkdir -p "$r"/{usr/bin,usr/lib/x86_64-linux-gnu,usr/lib64,etc/buildkit,etc/ssl/certs,var/lib/buildkit,tmp,root,run,proc,sys,dev}
  chmod 1777 "$r/tmp"
  ln -s usr/lib "$r/lib"; ln -s usr/lib64 "$r/lib64"; ln -s usr/bin "$r/bin"; ln -s usr/bin "$r/sbin"
  install -m 0755 "$W/bin/buildkitd" "$W/bin/buildctl" "$rt/usr/sbin/runc" "$r/usr/bin/"
  ln -s runc "$r/usr/bin/buildkit-runc"
  cp -a "$rt"/usr/lib/x86_64-linux-gnu/{ld-linux-x86-64.so.2,libc.so.6,libseccomp.so.2*} "$r/usr/lib/x86_64-linux-gnu/"
  ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$r/usr/lib64/ld-linux-x86-64.so.2"
  # what update-ca-certificates would make of the package's certificates
  find "$rt/usr/share/ca-certificates" -name '*.crt' | sort | xargs cat >"$r/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  echo 'hosts: files dns' >"$r/etc/nsswitch.conf"
  chroot "$r" /usr/bin/runc --version >/dev/null || die "runc does not find its libraries in the image"
  chroot "$r" /usr/bin/buildctl --version >/dev/null || die "buildctl does not run in the image"

  rm -rf "$IMG.tmp"; mkdir -p "$IMG.tmp"
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner --owner=0 --group=0 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$r" -cf "$W/layer.tar" .
  diff=sha256:$(sha256sum "$W/layer.tar" | cut -d' ' -f1)
  gzip -n -6 -c "$W/layer.tar" >"$IMG.tmp/layer.tar.gz"
  layer=sha256:$(sha256sum "$IMG.tmp/layer.tar.gz" | cut -d' ' -f1)
  now=$(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ)
  printf '{"architecture":"amd64","os":"linux","created":"%s","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":["buildkitd"],"Volumes":{"/var/lib/buildkit":{}}},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created":"%s","created_by":"test/e2e/env/buildkit-image.sh: buildkit %s from Debian %s %s"}]}' \
    "$now" "$diff" "$now" "$BUILDKIT_VERSION" "$SRC_PACKAGE" "$SRC_VERSION" >"$IMG.tmp/config.json"
  cfg=sha256:$(sha256sum "$IMG.tmp/config.json" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
    "$cfg" "$(stat -c %s "$IMG.tmp/config.json")" "$layer" "$(stat -c %s "$IMG.tmp/layer.tar.gz")" >"$IMG.tmp/manifest.json"
  man=sha256:$(sha256sum "$IMG.tmp/manifest.json" | cut -d' ' -f1)
  echo "$man" >"$IMG.tmp/digest"
  echo "$(du -sm "$r" | cut -f1) $(( $(stat -c %s "$IMG.tmp/layer.tar.gz") / 1048576 ))" >"$IMG.tmp/size-mb"
  rm -rf "$IMG"; mv "$IMG.tmp" "$IMG"
}

write_versions() {
  local go runc sizes
  go=$(cut -d' ' -f3 "$W/go-version")
  runc=$(awk '$5 ~ /^runc=/ { sub(/^runc=/, "", $5); print $5 }' "$LOCK")
  read -r -a sizes <"$IMG/size-mb"
  cat >"$BK/versions.txt" <<EOF
buildkit-image: $REPO:$TAG@$(cat "$IMG/digest"): buildkitd/buildctl $BUILDKIT_VERSION from Debian $SUITE $SRC_PACKAGE $SRC_VERSION, $go (GOPATH mode, static), runc $runc; ${sizes[0]} MB unpacked, ${sizes[1]} MB compressed
buildkit-image-pins: $(grep -c '^go ' "$LOCK") Go packages, $(grep -c '^rt ' "$LOCK") runtime packages, $(grep -c '^src ' "$LOCK") source files (test/e2e/env/buildkit-image.lock, inputs sha256 $(inputs_hash | cut -c1-16))
buildkit-image-build: $(date -u +%FT%TZ): download ${T_FETCH}s, unpack+patch ${T_UNPACK}s, go build ${T_GO}s, image ${T_IMAGE}s, total $((T_FETCH + T_TOTAL))s
EOF
}

cmd_ensure() {
  local t
  [ -s "$LOCK" ] || die "$LOCK missing"
  if [ -s "$BK/stamp" ] && [ "$(cat "$BK/stamp")" = "$(inputs_hash)" ] && [ -s "$IMG/digest" ] && [ -s "$BK/versions.txt" ]; then
    return 0
  fi
  log "building the BuildKit image ($BUILDKIT_VERSION from Debian $SUITE $SRC_PACKAGE $SRC_VERSION); takes about 2 minutes"
  rm -f "$BK/stamp"
  t=$SECONDS; fetch; T_FETCH=$((SECONDS - t))
  build
  write_versions
  rm -rf "$W"
  inputs_hash >"$BK/stamp"
  log "$(sed -n 's/^buildkit-image-build: //p' "$BK/versions.txt")"
}

# ------------------------------------------------------------------ push to a registry (HTTP, no auth)
blob_upload() {  # $1 registry  $2 file  $3 digest
  local loc
  if curl -fsS -o /dev/null -I "http://$1/v2/$REPO/blobs/$3" 2>/dev/null; then return 0; fi
  loc=$(curl -fsS -X POST -D - -o /dev/null "http://$1/v2/$REPO/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
  [ -n "$loc" ] || die "registry $1 gave no upload location"
  case $loc in http*) ;; *) loc=http://$1$loc ;; esac
  case $loc in *\?*) loc="$loc&digest=$3" ;; *) loc="$loc?digest=$3" ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" -o /dev/null "$loc" || die "blob upload of $2 to $1 failed"
}
cmd_ref() {
  [ -s "$IMG/digest" ] || die "no image built (run env.sh install)"
  echo "$1/$REPO@$(cat "$IMG/digest")"
}
cmd_push() {
  local reg=${1:?usage: buildkit-image.sh push REGISTRY} got
  [ -s "$IMG/digest" ] || die "no image built (run env.sh install)"
  blob_upload "$reg" "$IMG/layer.tar.gz" "$(jq -r '.layers[0].digest' "$IMG/manifest.json")"
  blob_upload "$reg" "$IMG/config.json" "$(jq -r '.config.digest' "$IMG/manifest.json")"
  curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$IMG/manifest.json" \
    -o /dev/null "http://$reg/v2/$REPO/manifests/$TAG" || die "manifest upload to $reg failed"
  got=$(curl -fsS -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/$REPO/manifests/$TAG" |
    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" { print $2 }')
  [ "$got" = "$(cat "$IMG/digest")" ] || die "registry $reg holds $got for $REPO:$TAG, expected $(cat "$IMG/digest")"
  cmd_ref "$reg"
}

case ${1:-} in
  ensure) cmd_ensure ;;
  push) shift; cmd_push "$@" ;;
  ref) shift; cmd_ref "${1:?usage: buildkit-image.sh ref REGISTRY}" ;;
  lock) cmd_lock ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

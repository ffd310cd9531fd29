#!/usr/bin/env bash
# test/e2e/env/buildah-versions.sh - does Buildah's remote layer cache survive instructions declared
# inside a stage (ARG, ENV, LABEL) and a build arg used in a non-final stage? Measured for Debian 12's
# Buildah (the e2e's, /usr/bin/buildah) and Debian 13's (unpacked privately into a chroot under
# $E2E_ROOT/pkgs/buildah-trixie by buildah-trixie.sh; nothing installed system-wide). A measurement, not part of `npm run e2e`.
#
# Needs the e2e environment up (env.sh up: the registry on $E2E_REGISTRY_PORT and $REGISTRY/base:1).
#   bash test/e2e/env/buildah-versions.sh [ROUNDS]    (default 3: one cold round, then warm ones)
#   BV_VERSIONS="1.39" limits the run to some versions (default "1.28 1.39").
# Every round: a fresh Buildah storage, the app file changed, `buildah build --layers --cache-from
# --cache-to` the same cache repository (what CacheStrategy.buildah() runs). A RUN step prints
# `<name> ran-42` when it executes: a warm round should execute only the steps after the app file.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${E2E_ROOT:=/tmp/cdk-cib-e2e}" "${E2E_REGISTRY_PORT:=5000}"
REGISTRY=127.0.0.1:$E2E_REGISTRY_PORT
ROUNDS=${1:-3}
RUN_ID=$(date +%s)   # cache repositories of their own: round 1 is cold on every run
W=$E2E_ROOT/buildah-versions
log() { printf 'buildah-versions: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mirror() {
  [ -n "${E2E_APT_MIRROR:-}" ] && { echo "$E2E_APT_MIRROR"; return; }
  awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
}

# Debian 13's buildah, unpacked and run by buildah-trixie.sh (the e2e's second Buildah)
prepare_trixie() { E2E_ROOT=$E2E_ROOT E2E_APT_MIRROR=$(mirror) bash "$HERE/buildah-trixie.sh" ensure; }
buildah_trixie() { E2E_BUILDAH_BINDS='' "$(E2E_ROOT=$E2E_ROOT bash "$HERE/buildah-trixie.sh" bin-dir)/buildah" "$@"; }

# ---- the sample apps: each variant adds in-stage instructions before the cacheable steps
dockerfile() {  # $1 variant
  local pre=''
  case $1 in
    plain) ;;
    arg) pre='ARG APP_VERSION=1' ;;
    env) pre='ENV APP_MODE=production' ;;
    label) pre='LABEL org.example.team=e2e' ;;
    multistage-arg)
      # shellcheck disable=SC2016 # $((6*7)) and $FLAVOR are for the RUN steps' shell
      printf '%s\n' 'ARG BASE_IMAGE' 'FROM ${BASE_IMAGE} AS build' 'ARG FLAVOR' 'WORKDIR /src' \
        'RUN echo "slow ran-$((6*7))" && echo "$FLAVOR" > /flavor && sleep 1' 'COPY requirements.txt .' \
        'RUN echo "deps ran-$((6*7))" && cat requirements.txt > /deps.txt' 'COPY app.txt .' \
        'RUN echo "compile ran-$((6*7))" && cat /flavor app.txt > /artifact.txt' \
        'FROM ${BASE_IMAGE}' 'WORKDIR /app' 'COPY --from=build /artifact.txt /app/app.txt' 'CMD ["cat", "/app/app.txt"]'
      return ;;
  esac
  # shellcheck disable=SC2016
  printf '%s\n' 'ARG BASE_IMAGE' 'FROM ${BASE_IMAGE}' ${pre:+"$pre"} 'WORKDIR /app' \
    'RUN echo "slow ran-$((6*7))" && sleep 1 && echo slow > /slow.txt' 'COPY requirements.txt .' \
    'RUN echo "deps ran-$((6*7))" && cat requirements.txt > /deps.txt' 'COPY app.txt .' 'CMD ["cat", "/app/app.txt"]'
}
one_round() {  # $1 version label  $2 variant  $3 round  -> prints "executed using-cache"
  local v=$1 variant=$2 round=$3 d="$W/$1-$2" cache="$REGISTRY/bv-$1-$2-cache-$RUN_ID" store log rc=0
  store=$d/storage-$round
  mkdir -p "$d/ctx" "$store"
  dockerfile "$variant" >"$d/ctx/Dockerfile"
  echo deps-1 >"$d/ctx/requirements.txt"
  echo "app round $round" >"$d/ctx/app.txt"
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n' "$store" "$store" >"$d/storage.conf"
  printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REGISTRY" >"$d/registries.conf"
  log="$d/build-$round.log"
  local args=(build --layers --network none --isolation oci --cache-from "$cache" --cache-to "$cache"
    --build-arg "BASE_IMAGE=$REGISTRY/base:1" --build-arg FLAVOR=blue -t "$REGISTRY/bv-$v-$variant:r$round" "$d/ctx")
  (
    cd "$d/ctx"
    export CONTAINERS_STORAGE_CONF=$d/storage.conf CONTAINERS_REGISTRIES_CONF=$d/registries.conf BUILDAH_ISOLATION=oci
    if [ "$v" = 1.28 ]; then /usr/bin/buildah "${args[@]}"; else buildah_trixie "${args[@]}"; fi
  ) >"$log" 2>&1 || rc=$?
  # unmount and drop the storage: the next round is a fresh host
  awk -v p="$store/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$store"
  [ "$rc" = 0 ] || { tail -n 20 "$log" >&2; die "buildah $v $variant round $round failed ($log)"; }
  echo "$(grep -cE '^[a-z]+ ran-42$' "$log" || true) $(grep -c '^--> Using cache ' "$log" || true)"
}

main() {
  curl -fsS -o /dev/null "http://$REGISTRY/v2/base/manifests/1" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' || die "no $REGISTRY/base:1: run env.sh up first"
  prepare_trixie
  rm -rf "$W"; mkdir -p "$W"
  local v variant r res line
  printf '| Buildah | variant | %s |\n|---|---|%s\n' "$(seq -s ' | ' -f 'round %g' 1 "$ROUNDS")" "$(printf -- '---|%.0s' $(seq 1 "$ROUNDS"))"
  for v in ${BV_VERSIONS:-1.28 1.39}; do
    for variant in plain arg env label multistage-arg; do
      line="| $v ($( if [ "$v" = 1.28 ]; then /usr/bin/buildah --version | awk '{print $3}'; else buildah_trixie --version 2>/dev/null | awk '{print $3}'; fi)) | $variant |"
      for r in $(seq 1 "$ROUNDS"); do
        res=$(one_round "$v" "$variant" "$r")
        line="$line ${res% *} RUN executed, ${res#* } from cache |"
      done
      echo "$line"
    done
  done
  echo
  echo "Two RUN steps come before COPY app.txt: a warm round (2+) should execute none of them, so 0 RUN steps"
  echo "(multistage-arg: 1, the compile step after the app file)."
}
main

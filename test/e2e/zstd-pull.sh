#!/usr/bin/env bash
# Which engines of the e2e environment pull and run an image whose layers are zstd
# (LayerCompression.zstd(): BuildKit's compression=zstd with OCI media types)? Builds a small image with
# the e2e's BuildKit image, pushes it to the e2e registry, pulls and runs it with Docker 26 (classic
# store, as on CodeBuild standard:7.0) and Docker 20.10 (as on standard:5.0 and 6.0). A manual check, not
# part of CI; root only. Environment: E2E_ROOT and E2E_REGISTRY_PORT as env/env.sh reads them.
# Exits 1 when an engine fails, after printing its error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
env_sh=$here/env/env.sh
[ "$(id -u)" = 0 ] || { echo "zstd-pull.sh needs root (it starts Docker engines)" >&2; exit 1; }
trap 'bash "$env_sh" down' EXIT
bash "$env_sh" install
E2E_DAEMONS="classic d20" bash "$env_sh" up
eval "$(bash "$env_sh" vars)"
w=$(mktemp -d "$E2E_ROOT/zstd-pull.XXXX")
printf 'FROM %s/base:1\nRUN head -c 1000000 /dev/zero > /zeros && echo zstd-layer-ok > /ok\n' "$REGISTRY" > "$w/Dockerfile"
printf '[registry."%s"]\n  http = true\n' "$REGISTRY" > "$w/buildkitd.toml"
export DOCKER_HOST=$DOCKER_HOST_CLASSIC PATH=$DOCKER_BIN_DIR:$PATH
builder=zstd-pull-$$
docker buildx create --name "$builder" --driver docker-container --driver-opt "image=$BUILDKIT_IMAGE" --driver-opt network=host \
  --config "$w/buildkitd.toml" --bootstrap >/dev/null
docker buildx build --builder "$builder" --progress=quiet --provenance=false \
  --output "type=image,name=$REGISTRY/zstd-pull:1,push=true,compression=zstd,force-compression=true,oci-mediatypes=true" "$w" >/dev/null
docker buildx rm "$builder" >/dev/null 2>&1 || true
echo "layer media types of $REGISTRY/zstd-pull:1:"
curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REGISTRY/v2/zstd-pull/manifests/1" | grep -o 'layer.v1.tar[+a-z]*' | sort | uniq -c
rc=0
for engine in "classic $DOCKER_BIN_DIR/docker" "d20 $DOCKER20_BIN_DIR/docker"; do
  name=${engine%% *} docker_bin=${engine#* }
  host_var=DOCKER_HOST_$(tr '[:lower:]' '[:upper:]' <<<"$name")
  version=$(DOCKER_HOST=${!host_var} "$docker_bin" version --format '{{.Server.Version}}')
  if out=$(DOCKER_HOST=${!host_var} "$docker_bin" pull -q "$REGISTRY/zstd-pull:1" 2>&1 && DOCKER_HOST=${!host_var} "$docker_bin" run --rm --network none "$REGISTRY/zstd-pull:1" cat /ok 2>&1); then
    echo "Docker $version: pulls and runs ($(tail -1 <<<"$out"))"
  else
    echo "Docker $version: fails: $out"; rc=1
  fi
done
rm -rf "$w"
exit "$rc"

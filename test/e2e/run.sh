#!/usr/bin/env bash
# npm run e2e: set up the local Docker engines and registry (test/e2e/env/env.sh), run the
# harness, and stop every service it started, also on failure. Needs root (Debian 12).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
[ "$(id -u)" = 0 ] || { echo "npm run e2e needs root (it starts Docker engines)" >&2; exit 1; }

t0=$(date +%s.%N)
env_sh=$here/env/env.sh
trap 'bash "$env_sh" down' EXIT
bash "$env_sh" install
E2E_DAEMONS="cd classic classic2 d20" bash "$env_sh" up
eval "$(bash "$env_sh" vars)"
t1=$(date +%s.%N)
echo "e2e set-up: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"

npx ts-node --project test/tsconfig.json test/e2e/harness.ts

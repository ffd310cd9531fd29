#!/usr/bin/env bash
# npm run bench / npm run bench:quick: set up the e2e's environment (test/e2e/env/env.sh: the
# registry, the classic-store and containerd-store engines, the BuildKit image), run the benchmark
# (bench.ts, options passed through), and stop every service it started, also on failure. Root only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
[ "$(id -u)" = 0 ] || { echo "npm run bench needs root (it starts Docker engines)" >&2; exit 1; }

env_sh=$here/env/env.sh
trap 'bash "$env_sh" down' EXIT
bash "$env_sh" install
E2E_DAEMONS="cd classic" bash "$env_sh" up
eval "$(bash "$env_sh" vars)"
npx ts-node --project test/tsconfig.json test/e2e/bench.ts "$@"

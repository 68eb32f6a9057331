#!/usr/bin/env bash
# npm test: type-check, lint, start a private Kafka and Redis, run every test file against
# them, and stop them again, whatever happened. Arguments narrow the run to those test files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

node="scripts/node.sh"
if [ ! -d node_modules ]; then
  echo "== installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

echo "== type check"
"$node" node_modules/typescript/bin/tsc --noEmit -p .
echo "== lint"
"$node" node_modules/eslint/bin/eslint.js --max-warnings 0 .

services_dir="$(mktemp -d "${TMPDIR:-/tmp}/spillway-services.XXXXXX")"
cleanup() {
  deploy/local/services.sh clean --dir "$services_dir" >&2 || true
}
trap cleanup EXIT INT TERM

echo "== browser for the browser tests (Debian chromium, installed when missing)"
CHROMIUM_PATH="$(scripts/browser-deps.sh)"; export CHROMIUM_PATH
echo "== docker compose for the deploy tests (built from the Go module proxy when missing)"
COMPOSE_PATH="$(scripts/compose-deps.sh)"; export COMPOSE_PATH

echo "== starting Kafka and Redis"
settings="$(deploy/local/services.sh start --dir "$services_dir")"
while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_BROKERS | REDIS_URL) export "$name=$value" ;;
  esac
done <<<"$settings"
echo "KAFKA_BROKERS=$KAFKA_BROKERS REDIS_URL=$REDIS_URL"

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=('libs/**/*.test.ts' 'services/**/*.test.ts' 'test/**/*.test.ts' 'deploy/**/*.test.ts' 'bench/**/*.test.ts')
fi

echo "== tests"
# Test files are mostly waiting on Kafka, Redis and sockets, so a few run side by side; each
# uses its own topic and key prefix.
"$node" --test --test-concurrency="${TEST_CONCURRENCY:-3}" --test-timeout=300000 "${files[@]}"

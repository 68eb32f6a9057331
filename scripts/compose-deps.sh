#!/usr/bin/env bash
# Makes sure a Docker Compose v2 CLI is on the machine for the deploy tests (deploy/*.test.ts run
# `docker compose config` on deploy/compose/) and prints its path. Compose is a Go program and no
# reachable registry ships it as a package, so it is built from its source on the Go module proxy
# (checked against the Go checksum database) into .cache/ the first time: about 3 minutes on two
# cores with cold Go caches, seconds once the machine's Go caches are warm. An installed Compose v2
# plugin is used instead when there is one. Quiet on success apart from the path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

readonly version=v2.40.3
readonly module=github.com/docker/compose/v2
readonly dir="$root/.cache/compose-$version"
readonly binary="$dir/docker-compose"

log() { printf 'compose-deps: %s\n' "$*" >&2; }

# A Compose v2 (or later) CLI plugin already installed, from Docker's packages or by hand.
installed_plugin() {
  local candidate
  for candidate in "${DOCKER_CONFIG:-${HOME:-/root}/.docker}/cli-plugins/docker-compose" \
    /usr/local/lib/docker/cli-plugins/docker-compose /usr/local/libexec/docker/cli-plugins/docker-compose \
    /usr/lib/docker/cli-plugins/docker-compose /usr/libexec/docker/cli-plugins/docker-compose; do
    [ -x "$candidate" ] || continue
    if "$candidate" version --short 2>/dev/null | grep -Eq '^v?([2-9]|[1-9][0-9])\.'; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
if path="$(installed_plugin)"; then echo "$path"; exit 0; fi

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
  if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return 0; fi
  return 1
}

mkdir -p "$dir"
# Parallel test runs on a fresh machine build it once.
exec 9>"$dir/.lock"
flock 9
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi

if ! go="$(find_go)"; then
  log "no Docker Compose v2 found, and building it needs Go 1.24 or newer (none on PATH or in /usr/local/go)"
  exit 1
fi
started=$SECONDS
log "building Docker Compose $version from the Go module proxy into ${dir#"$root"/}"
build_log="$dir/build.log"
# GOTOOLCHAIN=local: build with this Go, never download another. Compose's go.mod has exclude
# directives, which `go install module@version` refuses, so the module is downloaded and built
# where it lies in the module cache (read-only; the build writes only its output).
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
if ! source_dir="$("$go" mod download -json "$module@$version" 2>>"$build_log" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || [ -z "$source_dir" ]; then
  log "downloading $module@$version failed:"
  cat "$build_log" >&2
  exit 1
fi
if ! (cd "$source_dir" && "$go" build -trimpath -ldflags "-s -w -X $module/internal.Version=$version" \
  -o "$binary.tmp" ./cmd) >>"$build_log" 2>&1; then
  log "building $module@$version failed (Go: $("$go" version)):"
  tail -n 40 "$build_log" >&2
  rm -f "$binary.tmp"
  exit 1
fi
mv "$binary.tmp" "$binary"
log "built $("$binary" version --short) in $((SECONDS - started)) s"
echo "$binary"

#!/usr/bin/env bash
# Makes sure a Chromium is on the machine for the browser tests (test/browser/) and prints its
# path. Installs Debian's `chromium` package only when none is found: playwright-core drives a
# browser but never downloads one, and only Debian's mirror is reachable from CI. Quiet on
# success apart from the path; apt's output is shown only when the install fails.
set -euo pipefail

find_chromium() {
  local name
  for name in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

if path="$(find_chromium)"; then
  echo "$path"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "browser-deps: no Chromium found, and installing Debian's chromium needs root (or sudo)" >&2
    exit 1
  fi
  as_root=(sudo -n)
fi

log="$(mktemp "${TMPDIR:-/tmp}/browser-deps.XXXXXX")"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# A machine may list more sources than Debian's mirror; one that cannot be reached fails the
# update without keeping chromium from installing, so only the install's outcome counts.
"${as_root[@]}" apt-get update -qq >"$log" 2>&1 || true
if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; then
  echo "browser-deps: apt-get install chromium failed:" >&2
  cat "$log" >&2
  exit 1
fi

if ! path="$(find_chromium)"; then
  echo "browser-deps: installed Debian's chromium, but no chromium binary is on PATH" >&2
  exit 1
fi
echo "$path"

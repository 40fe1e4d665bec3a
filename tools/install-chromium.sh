#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it; its own browser download
# is not used). Needs root or sudo the first time; does nothing when Chromium is there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
run() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
run apt-get update -qq
run apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version

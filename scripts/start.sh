#!/usr/bin/env bash
# Quick start #1: installs everything, builds, and starts CALM Studio on the
# bundled model. Without a display it runs the command-line demo instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
if [ -x build/app/calm-studio ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
  exec build/app/calm-studio "$@"
fi
echo "No display found (or the app is not built): showing the command-line demo instead." >&2
build/app/calm info
exec build/app/calm generate --prompt "${CALM_DEMO_PROMPT:-And God said, Let there be light: and there was light.}" --lambda 0.6 --max-new-tokens 32

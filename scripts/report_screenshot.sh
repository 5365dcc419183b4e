#!/usr/bin/env bash
# A screenshot of a deepzine page (log_dir/report.html or an output folder's index.html) by headless
# Chromium (Debian's `chromium`): what a person sees, without a display.
# Usage: scripts/report_screenshot.sh PAGE.html OUT.png [WIDTH HEIGHT]
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 PAGE.html OUT.png [WIDTH HEIGHT]" >&2
  exit 2
fi
page=$(realpath "$1")
out=$(realpath -m "$2")
width=${3:-1300}
height=${4:-1500}
[ -f "$page" ] || { echo "$0: $1 is not a file" >&2; exit 2; }
command -v chromium >/dev/null || { echo "$0: chromium is not installed (apt-get install chromium)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --no-sandbox: Chromium refuses to run as root with its sandbox (CI and containers run as root).
timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size="$width,$height" --screenshot="$out" "file://$page" >/dev/null 2>&1
[ -s "$out" ] || { echo "$0: chromium wrote no screenshot" >&2; exit 1; }
echo "$out"

#!/usr/bin/env bash
# Regenerates assets/screenshot.png: `p2phd edit` (template street, demo model) in a real X window,
# a car selected so the style gallery shows its clusters. Needs Xvfb, xdotool and ImageMagick
# (Debian: apt install xvfb xdotool imagemagick, and Qt's X11 libraries: see README). Run from anywhere; takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-assets/screenshot.png}
export DISPLAY=${SHOT_DISPLAY:-:77}
HOME=$(mktemp -d)  # fresh settings: default layout, the demo notice shown
export HOME
Xvfb "$DISPLAY" -screen 0 1728x918x24 >/dev/null 2>&1 &
XVFB=$!
trap 'kill $XVFB ${EDITOR_PID:-} 2>/dev/null || true; rm -rf "$HOME"' EXIT  # HOME: settings + a conversion
sleep 2
p2phd edit >/dev/null 2>&1 &
EDITOR_PID=$!
WIN=$(xdotool search --sync --name "pix2pixHD Studio" | head -1)
xdotool windowmove "$WIN" 0 0 windowsize "$WIN" 1728 918
sleep "${SHOT_WAIT:-30}"  # the model loads and the first exact frames arrive
# Alt+click selects the object under the cursor: the nearer car of the label pane
xdotool mousemove 420 560 keydown alt click 1 keyup alt
sleep 3
xdotool mousemove 549 545  # hover another car (lighter fill)
sleep "${SHOT_SETTLE:-15}"  # the style thumbnails render
import -window root "$OUT"
echo "wrote $OUT"

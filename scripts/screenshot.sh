#!/usr/bin/env bash
# screenshot.sh: render an HTML page in headless Chromium, save a PNG
# screenshot of it, and check that every <img> of the page loaded.
#
# Usage:
#   scripts/screenshot.sh PAGE.html [OUT.png] [HEIGHT]
#
#   PAGE.html  the page (its images are resolved relative to it)
#   OUT.png    the screenshot (default: PAGE.png beside the page)
#   HEIGHT     window height in pixels (default: the page's own height,
#              measured in the browser, at most 16000); the width is 1400
#              unless $SCREENSHOT_WIDTH says otherwise.
#
# It prints "PAGE: N image(s), all loaded" and exits 0, or lists every
# broken image and exits 1 (2 for usage errors, 3 if Chromium fails).
#
# The check runs inside the browser: a copy of the page with a small
# script added (written beside the page, so relative links still resolve,
# and removed afterwards) waits for the load event, then lists every <img>
# that is not complete or has no natural size, and measures the page's
# height; Chromium's --dump-dom prints the result. The page itself is not
# changed.
#
# Chromium: Debian's `chromium` package, installed with apt-get when it is
# missing and we are root. Every run uses a fresh profile folder and no
# network service (the flags below), so it neither needs nor touches the
# network for a local page.
set -euo pipefail

usage() { sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 && $# -le 3 ]] || usage
page=$1
[[ -f $page ]] || { echo "screenshot.sh: $page: no such file" >&2; exit 2; }
out=${2:-${page%.*}.png}
height=${3:-}
width=${SCREENSHOT_WIDTH:-1400}
[[ ( -z $height || $height =~ ^[0-9]+$ ) && $width =~ ^[0-9]+$ ]] || { echo "screenshot.sh: height and width must be integers" >&2; exit 2; }

browser=""
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [[ -z $browser ]]; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "screenshot.sh: installing chromium (apt-get)..." >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
			{ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
		browser=chromium
	else
		echo "screenshot.sh: no chromium found; install Debian's chromium package" >&2
		exit 3
	fi
fi

dir=$(cd "$(dirname "$page")" && pwd)
base=$(basename "$page")
abs=$dir/$base
profile=$(mktemp -d "${TMPDIR:-/tmp}/screenshot-profile.XXXXXX")
check=$(mktemp "$dir/.screenshot-check.XXXXXX.html")
cleanup() { rm -rf "$profile" "$check"; }
trap cleanup EXIT

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
	--disable-background-networking --disable-component-update --disable-sync
	--disable-default-apps --disable-extensions --hide-scrollbars --mute-audio
	--user-data-dir="$profile" --virtual-time-budget=10000)

# 1. The image check: the page plus a script that reports on every <img>
# and on the page's height (appended after </html>, where browsers still
# run it).
script='<script>
window.addEventListener("load", function () {
  var imgs = document.images, bad = [];
  for (var i = 0; i < imgs.length; i++) {
    var im = imgs[i];
    if (!im.complete || im.naturalWidth === 0 || im.naturalHeight === 0) bad.push(im.getAttribute("src"));
  }
  var h = Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);
  var p = document.createElement("pre");
  p.id = "screenshot-image-check";
  p.textContent = "IMAGES " + imgs.length + " BROKEN " + bad.length + " HEIGHT " + h + (bad.length ? "\n" + bad.join("\n") : "");
  document.body.appendChild(p);
});
</script>'
{ cat "$page"; printf '%s\n' "$script"; } >"$check"
dom=$("$browser" "${flags[@]}" --window-size="$width,1000" --dump-dom "file://$check" 2>"$profile/dom.log") || {
	echo "screenshot.sh: chromium --dump-dom failed:" >&2
	tail -5 "$profile/dom.log" >&2
	exit 3
}
report=$(printf '%s\n' "$dom" | sed -n '/<pre id="screenshot-image-check">/,/<\/pre>/p' | sed 's/<[^>]*>//g')
if [[ -z $report ]]; then
	echo "screenshot.sh: the image check did not run (no load event within the time budget?)" >&2
	exit 3
fi
read -r _ total _ broken _ measured <<<"${report%%$'\n'*}"
if [[ -z $height ]]; then
	height=$((measured > 0 ? measured + 20 : 6000))
	((height <= 16000)) || height=16000
fi

# 2. The screenshot.
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
if ! "$browser" "${flags[@]}" --window-size="$width,$height" --screenshot="$out_abs" "file://$abs" >"$profile/shot.log" 2>&1; then
	echo "screenshot.sh: chromium failed:" >&2
	tail -5 "$profile/shot.log" >&2
	exit 3
fi
[[ -s $out_abs ]] || { echo "screenshot.sh: chromium wrote no screenshot" >&2; tail -5 "$profile/shot.log" >&2; exit 3; }

if [[ $broken -ne 0 ]]; then
	echo "$page: $broken of $total images did not load (screenshot $out):" >&2
	printf '%s\n' "$report" | tail -n +2 | sed 's/^/  /' >&2
	exit 1
fi
echo "$page: $total image(s), all loaded; screenshot $out (${width}x${height})"

#!/usr/bin/env bash
# chromium.sh (make tools runs it): the console's browser tests drive Debian's
# chromium headless through chromedp. Installed from apt when missing, as
# tools.sh installs the lab's components; prints the binary's path.
set -euo pipefail
for b in chromium chromium-browser; do
	if p=$(command -v "$b"); then
		echo "$p"
		exit 0
	fi
done
sudo=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "chromium is missing and installing it needs root (apt-get install -y chromium)" >&2; exit 1; }
	sudo="sudo"
fi
echo "[tools] installing chromium (apt, once)" >&2
# One installer at a time (parallel test packages may ask together).
exec 9>/tmp/driftgate-chromium.lock
flock 9
if ! command -v chromium >/dev/null; then
	$sudo apt-get update -qq >&2 || true
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
fi
command -v chromium

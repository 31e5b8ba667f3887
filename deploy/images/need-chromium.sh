#!/usr/bin/env bash
# Installs Debian's chromium when it is missing, and says so: the console's
# browser tests (integration/console_test.go) drive it with chromedp.
#
#   need-chromium.sh [who]   who prefixes the message ("make")
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
	exit 0
fi
echo "${1:-need-chromium}: chromium is missing: installing Debian's chromium package (apt-get)" >&2
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null

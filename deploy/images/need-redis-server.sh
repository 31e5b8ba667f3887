#!/usr/bin/env bash
# Installs Debian's redis-server when it is missing, and says so. Two users:
# the Redis image copies the binary (build.sh), and the unit tests run Lua
# scripts against a real server (make test-unit).
#
#   need-redis-server.sh [who]   who prefixes the message ("images", "make")
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
	exit 0
fi
echo "${1:-need-redis-server}: redis-server is missing: installing Debian's redis-server package (apt-get)" >&2
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null

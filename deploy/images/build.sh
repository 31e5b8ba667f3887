#!/usr/bin/env bash
# Builds every container image the project uses, locally: this machine has no
# registry, so nothing can be pulled, not even a base image. Each image is
# FROM scratch plus static Go binaries or a Debian binary with its libraries.
#
#   lifecycle:dev        the lifecycle binary (static, CGO_ENABLED=0)
#   lifecycle-redis:dev  Debian's redis-server and the libraries ldd names
#   lifecycle-s3:dev     versitygw, an S3 server that checks SigV4 signatures
#   lifecycle-sentinel:dev  Debian's redis-sentinel (deploy/compose.sentinel.yaml)
#
# Both Redis images carry redis-cli for their health checks. The lifecycle
# image says its version (LIFECYCLE_VERSION, default `git describe`) in
# `lifecycle version` and in its OCI labels.
#
# Missing tools are installed, and the script says so: redis-server from
# Debian's packages, versitygw with `go install`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tag=${IMAGE_TAG:-dev}
versitygw_version=v1.8.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { echo "images: $*" >&2; }

build() { # name context-dir [docker build args]
	docker build -q -t "$1:$tag" "${@:3}" "$2" >/dev/null
	say "built $1:$tag"
}

# lifecycle
version=${LIFECYCLE_VERSION:-$(cd "$root" && git describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=$(cd "$root" && git rev-parse HEAD 2>/dev/null || echo unknown)
mkdir -p "$work/lifecycle/data" "$work/lifecycle/tmp"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$version" -o "$work/lifecycle/lifecycle" ./cmd/lifecycle)
cp "$here/lifecycle.Dockerfile" "$work/lifecycle/Dockerfile"
build lifecycle "$work/lifecycle" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
	--build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# redis and sentinel
bash "$here/need-redis-server.sh" images
if [ ! -e /usr/bin/redis-sentinel ]; then
	say "redis-sentinel is missing: installing Debian's redis-sentinel package (apt-get)"
	sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-sentinel >/dev/null
fi
with_libs() { # dir binary...: the binaries (cp -L: each path is a symlink, and
	# the binary picks its mode from its own name) and every library ldd names
	local dir=$1; shift
	mkdir -p "$dir/usr/bin" "$dir/data"
	for bin in "$@"; do
		cp -L "$bin" "$dir$bin"
		for lib in $(ldd "$bin" | grep -o '/[^ ]*') /lib64/ld-linux-x86-64.so.2; do
			mkdir -p "$dir$(dirname "$lib")"
			cp -L "$lib" "$dir$lib"
		done
	done
}
with_libs "$work/redis" /usr/bin/redis-server /usr/bin/redis-cli
cp "$here/redis.Dockerfile" "$work/redis/Dockerfile"
build lifecycle-redis "$work/redis"
with_libs "$work/sentinel" /usr/bin/redis-sentinel /usr/bin/redis-cli
cp "$here/sentinel.conf" "$work/sentinel/data/sentinel.conf"
cp "$here/sentinel.Dockerfile" "$work/sentinel/Dockerfile"
build lifecycle-sentinel "$work/sentinel"

# s3
gobin=$(go env GOBIN); [ -n "$gobin" ] || gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/versitygw" ]; then
	say "versitygw is missing: go install github.com/versity/versitygw/cmd/versitygw@$versitygw_version (about a minute)"
	CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
fi
mkdir -p "$work/s3/data" "$work/s3/tmp"
cp "$gobin/versitygw" "$work/s3/versitygw"
cp "$here/s3.Dockerfile" "$work/s3/Dockerfile"
build lifecycle-s3 "$work/s3"

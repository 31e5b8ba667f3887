#!/usr/bin/env bash
# Builds every container image the project uses, locally: this machine has no
# registry, so nothing can be pulled, not even a base image. Each image is
# FROM scratch plus static Go binaries or a Debian binary with its libraries.
#
#   lifecycle:dev        the lifecycle binary (static, CGO_ENABLED=0)
#   lifecycle-redis:dev  Debian's redis-server and the libraries ldd names
#   lifecycle-s3:dev     versitygw, an S3 server that checks SigV4 signatures
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

build() { # name context-dir
	docker build -q -t "$1:$tag" "$2" >/dev/null
	say "built $1:$tag"
}

# lifecycle
mkdir -p "$work/lifecycle/data" "$work/lifecycle/tmp"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/lifecycle/lifecycle" ./cmd/lifecycle)
cp "$here/lifecycle.Dockerfile" "$work/lifecycle/Dockerfile"
build lifecycle "$work/lifecycle"

# redis
bash "$here/need-redis-server.sh" images
mkdir -p "$work/redis/usr/bin" "$work/redis/data"
# cp -L: the path is a symlink, and the binary picks its mode from its own name.
cp -L /usr/bin/redis-server "$work/redis/usr/bin/redis-server"
for lib in $(ldd /usr/bin/redis-server | grep -o '/[^ ]*') /lib64/ld-linux-x86-64.so.2; do
	mkdir -p "$work/redis$(dirname "$lib")"
	cp -L "$lib" "$work/redis$lib"
done
cp "$here/redis.Dockerfile" "$work/redis/Dockerfile"
build lifecycle-redis "$work/redis"

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

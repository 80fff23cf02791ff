#!/usr/bin/env bash
# Builds the docker buildx CLI plugin from source at a pinned version
# (through the Go module proxy) and installs it as DIR/cli-plugins/docker-buildx,
# DIR being the first argument, else ${XDG_CACHE_HOME:-~/.cache}/gantry/buildx.
# Cached: nothing is built when the binary there already reports that
# version. Prints the plugin's path. The integration tests link it into the
# DOCKER_CONFIG of their docker CLI (DOCKER_CONFIG/cli-plugins/docker-buildx).
set -euo pipefail

version=v0.38.2
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/buildx}
plugin=$dir/cli-plugins/docker-buildx

if [ -x "$plugin" ] && [ "$("$plugin" version 2>/dev/null | awk '{print $2}')" = "$version" ]; then
	echo "$plugin"
	exit 0
fi

mkdir -p "$dir/cli-plugins"
gobin=$(mktemp -d)
trap 'rm -rf "$gobin"' EXIT
GOBIN=$gobin CGO_ENABLED=0 go install \
	-ldflags "-X github.com/docker/buildx/version.Version=$version" \
	"github.com/docker/buildx/cmd/buildx@$version" >&2
install -m 0755 "$gobin/buildx" "$plugin.tmp"
mv "$plugin.tmp" "$plugin"
echo "$plugin"

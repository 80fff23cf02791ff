#!/usr/bin/env bash
# Builds the Compose v5 CLI plugin (docker compose) from source at a pinned
# version, once: the binary is cached and later runs only print where it is.
#
#   scripts/compose.sh          build if missing; print the cli-plugins directory
#   scripts/compose.sh --check  print the directory if the plugin is built, else exit 1
#
# The plugin is installed as <dir>/docker-compose, where <dir> is
# $GANTRY_TOOLS/compose-<version>/cli-plugins (GANTRY_TOOLS defaults to
# ~/.cache/gantry-tools). Point DOCKER_CONFIG at <dir>/.. (or link the
# binary into your own DOCKER_CONFIG/cli-plugins) to use it; ~/.docker is
# never touched. The integration tests link it into each test's DOCKER_CONFIG.
#
# compose's go.mod has exclude directives, so `go install module@version`
# refuses it: the module is downloaded with `go mod download`, copied to a
# writable directory, and ./cmd is built there with its own go.mod.
set -euo pipefail

module=github.com/docker/compose/v5
version=v5.6.0
tools=${GANTRY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry-tools}
dir=$tools/compose-$version/cli-plugins
bin=$dir/docker-compose

if [ -x "$bin" ]; then
	echo "$dir"
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "compose $version not built: run scripts/compose.sh" >&2
	exit 1
fi

moddir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$moddir" ] || [ ! -d "$moddir" ]; then
	echo "compose.sh: go mod download $module@$version named no directory" >&2
	exit 1
fi
mkdir -p "$dir"
work=$(mktemp -d "$tools/compose-src.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$moddir/." "$work/"
chmod -R u+w "$work"
echo "compose.sh: building $module@$version (once; cached in $dir)" >&2
# The version is stamped as the release's own Makefile does, so that
# `docker compose version` names it.
(cd "$work" && GOFLAGS=-buildvcs=false go build -trimpath \
	-ldflags "-s -w -X $module/internal.Version=$version" \
	-o "$bin.tmp" ./cmd)
mv "$bin.tmp" "$bin"
echo "$dir"

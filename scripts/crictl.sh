#!/usr/bin/env bash
# Builds crictl, the CRI client of sigs.k8s.io/cri-tools, from source at a
# pinned version (through the Go module proxy) and installs it as
# DIR/crictl, DIR being the first argument, else
# ${XDG_CACHE_HOME:-~/.cache}/gantry/crictl. Cached: nothing is built when
# the binary there already reports that version. Prints crictl's path. The
# integration tests of the CRI (integration/cri_test.go) drive gantryd's
# CRI socket with it.
set -euo pipefail

version=v1.37.0
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/crictl}
bin=$dir/crictl

if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null | awk '{print $3}')" = "$version" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
gobin=$(mktemp -d)
trap 'rm -rf "$gobin"' EXIT
GOBIN=$gobin CGO_ENABLED=0 go install \
	-ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$version" \
	"sigs.k8s.io/cri-tools/cmd/crictl@$version" >&2
install -m 0755 "$gobin/crictl" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"

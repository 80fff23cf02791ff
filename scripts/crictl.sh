#!/usr/bin/env bash
# Builds crictl, the CRI client of sigs.k8s.io/cri-tools, from source at a
# pinned version (through the Go module proxy), once: the binary is cached
# and later runs only print where it is.
#
#   scripts/crictl.sh          build if missing; print crictl's path
#   scripts/crictl.sh --check  print the path if crictl is built, else exit 1
#
# crictl is $GANTRY_TOOLS/crictl-<version>/crictl (GANTRY_TOOLS defaults to
# ~/.cache/gantry-tools). The integration tests of the CRI
# (integration/cri_test.go) drive gantryd's CRI socket with it.
set -euo pipefail

version=v1.37.0
tools=${GANTRY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry-tools}
dir=$tools/crictl-$version
bin=$dir/crictl

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "crictl $version not built: run scripts/crictl.sh" >&2
	exit 1
fi

mkdir -p "$dir"
gobin=$(mktemp -d "$tools/crictl-bin.XXXXXX")
trap 'rm -rf "$gobin"' EXIT
echo "crictl.sh: building sigs.k8s.io/cri-tools/cmd/crictl@$version (once; cached in $dir)" >&2
GOBIN=$gobin CGO_ENABLED=0 go install \
	-ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$version" \
	"sigs.k8s.io/cri-tools/cmd/crictl@$version" >&2
install -m 0755 "$gobin/crictl" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"

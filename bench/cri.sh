#!/usr/bin/env bash
# Benchmark of the CRI (`make bench-cri`): gantryd and containerd (Debian's,
# CRI plugin) side by side, both started fresh in one network namespace with
# the same CNI plugins (bridge, host-local, portmap; a bridge each) and the
# same images from a local registry (scripts/critest.sh --bench sets it all
# up), driven by bench/cribench, a CRI client that alternates between them
# round after round:
#
#   pod start        RunPodSandbox + CreateContainer + StartContainer (the
#                    kubelet's start of a one-container pod, image present)
#   pod stop         StopPodSandbox + RemovePodSandbox
#   container start  CreateContainer + StartContainer in a running pod
#   container stop   StopContainer (the container exits on SIGTERM) +
#                    RemoveContainer
#   ListContainers   with SCALE containers running (ten per pod)
#
# Printed: the median of each per runtime and gantry/containerd. The goal
# of issue 15: pod start at most 0.5x containerd's median.
#
# Environment: N rounds (default 20), SCALE (default 100), GANTRYD (default
# bin/gantryd).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${N:-20}
SCALE=${SCALE:-100}
exec scripts/critest.sh --bench -n "$N" -scale "$SCALE"

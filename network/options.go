package network

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// optMTU is the one driver option (`network create -o`) of Docker's
// com.docker.network namespace that gantry's bridge driver honours: the MTU
// of the bridge and of its veths.
const optMTU = "com.docker.network.driver.mtu"

// checkOptions refuses the com.docker.network options gantry does not
// honour (the bridge's name, masquerading, ICC...) rather than ignore them,
// and an MTU that is not a number from 68 to 65535: invalid arguments.
// Other options are only kept, for inspect, as Docker does.
func checkOptions(opts map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		switch {
		case k == optMTU:
			if parseMTU(opts[k]) == 0 {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid MTU %q in option %s: want a number from 68 to 65535", opts[k], k))
			}
		case strings.HasPrefix(k, "com.docker.network."):
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network option %s is not supported: of the com.docker.network options, only %s is", k, optMTU))
		}
	}
	return nil
}

// mtu is the MTU the network's options ask for; 0 for the kernel's default
// (also for a network created before the options were checked, with a bad
// one).
func (n *Network) mtu() int {
	return parseMTU(n.Options[optMTU])
}

// parseMTU is s as an IPv4 MTU (68 to 65535), or 0.
func parseMTU(s string) int {
	mtu, err := strconv.Atoi(s)
	if err != nil || mtu < 68 || mtu > 65535 {
		return 0
	}
	return mtu
}

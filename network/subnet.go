package network

import (
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"
)

// candidatePools are the subnets tried, in order, for a network created
// without one: Docker's default address pools without 172.17.0.0/16, which
// docker0 holds on hosts where dockerd ran (its address goes away when
// dockerd stops, its containers' routes may not).
func candidatePools() []netip.Prefix {
	var pools []netip.Prefix
	for b := 18; b <= 31; b++ {
		pools = append(pools, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(b), 0, 0}), 16))
	}
	for c := 0; c < 256; c += 16 {
		pools = append(pools, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(c), 0}), 20))
	}
	return pools
}

// pickSubnet returns the first candidate pool that overlaps none of taken
// (other networks' subnets, the routes and addresses of the namespace).
func pickSubnet(taken []netip.Prefix) (netip.Prefix, error) {
	for _, p := range candidatePools() {
		if !overlapsAny(p, taken) {
			return p, nil
		}
	}
	return netip.Prefix{}, errdefs.ErrUnavailable.WithMessage("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
}

func overlapsAny(p netip.Prefix, others []netip.Prefix) bool {
	for _, o := range others {
		if p.Overlaps(o) {
			return true
		}
	}
	return false
}

// parseSubnet reads a --subnet value; host bits are dropped as Docker does
// ("10.1.2.3/16" is 10.1.0.0/16).
func parseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid subnet %s: invalid CIDR address", s))
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid subnet %s: only IPv4 subnets are supported", s))
	}
	if p.Bits() > 30 {
		return netip.Prefix{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid subnet %s: a bridge network needs at least a /30", s))
	}
	return p.Masked(), nil
}

// parseGateway reads a --gateway value; "" is the first host address.
func parseGateway(s string, subnet netip.Prefix) (netip.Addr, error) {
	if s == "" {
		return subnet.Addr().Next(), nil
	}
	gw, err := netip.ParseAddr(s)
	if err != nil || !gw.Is4() {
		return netip.Addr{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid gateway %s: not an IPv4 address", s))
	}
	if !isHost(gw, subnet) {
		return netip.Addr{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid gateway %s: not a host address of subnet %s", s, subnet))
	}
	return gw, nil
}

// parseBridgeIP reads --bip: the gateway address with the prefix length of
// the default bridge's subnet.
func parseBridgeIP(s string) (subnet netip.Prefix, gateway netip.Addr, err error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Prefix{}, netip.Addr{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --bip %q: want an IPv4 address with a prefix length of at most 30 (172.18.0.1/16)", s))
	}
	if !isHost(p.Addr(), p.Masked()) {
		return netip.Prefix{}, netip.Addr{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --bip %q: %s is the network or broadcast address", s, p.Addr()))
	}
	return p.Masked(), p.Addr(), nil
}

// isHost reports whether a is in subnet and is neither its network nor its
// broadcast address.
func isHost(a netip.Addr, subnet netip.Prefix) bool {
	return subnet.Contains(a) && a != subnet.Addr() && a != broadcast(subnet)
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// allocate returns the lowest host address of subnet that is neither the
// gateway nor used.
func allocate(subnet netip.Prefix, gateway netip.Addr, used map[netip.Addr]bool) (netip.Addr, bool) {
	last := broadcast(subnet)
	for a := subnet.Addr().Next(); a.Less(last); a = a.Next() {
		if a != gateway && !used[a] {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// macOf derives a container interface's MAC address from its IPv4 address,
// as Docker does (172.17.0.2 -> 02:42:ac:11:00:02), so that an address
// reused by the next container keeps its neighbours' ARP entries valid.
func macOf(a netip.Addr) [6]byte {
	b := a.As4()
	return [6]byte{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

func formatMAC(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

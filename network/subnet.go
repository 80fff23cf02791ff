package network

import (
	"encoding/binary"
	"fmt"
	"iter"
	"net/netip"

	"github.com/containerd/errdefs"
)

// AddressPool is a default address pool, dockerd's: subnets of prefix
// length Size are cut from Base, in order.
type AddressPool struct {
	Base netip.Prefix
	Size int
}

// CheckAddressPool refuses a pool no bridge network can be cut from, with
// dockerd's words where it has a check.
func CheckAddressPool(p AddressPool) error {
	switch {
	case !p.Base.IsValid() || !p.Base.Addr().Is4():
		return fmt.Errorf("invalid pool %s: only IPv4 pools are supported", p.Base)
	case p.Base != p.Base.Masked():
		return fmt.Errorf("network %s is not in canonical form", p.Base)
	case p.Size < p.Base.Bits():
		return fmt.Errorf("network %s has a smaller prefix (/%d) than the target size of that pool (/%d)", p.Base, p.Base.Bits(), p.Size)
	case p.Size > 30:
		return fmt.Errorf("invalid pool %s size %d: a bridge network needs at least a /30", p.Base, p.Size)
	}
	return nil
}

// dockerPools are the subnets tried, in order, for a network created
// without one and no --default-address-pool: Docker's default address
// pools without 172.17.0.0/16, which docker0 holds on hosts where dockerd
// ran (its address goes away when dockerd stops, its containers' routes
// may not).
var dockerPools = []AddressPool{
	{netip.MustParsePrefix("172.18.0.0/15"), 16}, {netip.MustParsePrefix("172.20.0.0/14"), 16},
	{netip.MustParsePrefix("172.24.0.0/14"), 16}, {netip.MustParsePrefix("172.28.0.0/14"), 16},
	{netip.MustParsePrefix("192.168.0.0/16"), 20},
}

// candidates yields the subnets of the pools, in order.
func candidates(pools []AddressPool) iter.Seq[netip.Prefix] {
	return func(yield func(netip.Prefix) bool) {
		for _, p := range pools {
			step := uint64(1) << (32 - p.Size)
			base := p.Base.Masked().Addr().As4()
			first := uint64(binary.BigEndian.Uint32(base[:]))
			for i := uint64(0); i < uint64(1)<<(p.Size-p.Base.Bits()); i++ {
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], uint32(first+i*step))
				if !yield(netip.PrefixFrom(netip.AddrFrom4(a), p.Size)) {
					return
				}
			}
		}
	}
}

// pickSubnet returns the first subnet of the pools (nil: Docker's) that
// overlaps none of taken (other networks' subnets, the routes and
// addresses of the namespace).
func pickSubnet(pools []AddressPool, taken []netip.Prefix) (netip.Prefix, error) {
	if pools == nil {
		pools = dockerPools
	}
	for p := range candidates(pools) {
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

package network

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	defaultBridge = "gantry0"
	vethPrefix    = "veth"
	// userBridgePrefix starts the bridge name of every user-defined network.
	userBridgePrefix = "gbr-"
)

// bridgeName is the Linux bridge of a user-defined network.
func bridgeName(networkID string) string { return userBridgePrefix + networkID[:11] }

// ensureBridge creates the bridge of a network if it is missing and makes
// it match the network: only the gateway address (with the subnet's
// prefix), the MTU its options ask for, up, and route_localnet on
// (published ports on 127.0.0.1).
func ensureBridge(n *Network) (*netlink.Bridge, error) {
	br, err := bridgeLink(n)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	want := netlink.Addr{IPNet: ipNet(n.Gateway, n.Subnet.Bits())}
	addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(br, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.IPNet.String() {
			have = true
			continue
		}
		if err := netlink.AddrDel(br, &a); err != nil {
			return nil, fmt.Errorf("bridge %s: remove address %s: %w", n.Bridge, a.IPNet, err)
		}
	}
	if !have {
		if err := netlink.AddrAdd(br, &want); err != nil {
			return nil, fmt.Errorf("bridge %s: add address %s: %w", n.Bridge, want.IPNet, err)
		}
	}
	if mtu := n.mtu(); mtu != 0 && br.MTU != mtu {
		if err := netlink.LinkSetMTU(br, mtu); err != nil {
			return nil, fmt.Errorf("bridge %s: set MTU %d: %w", n.Bridge, mtu, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("bridge %s: set up: %w", n.Bridge, err)
	}
	if err := sysctl(filepath.Join("net/ipv4/conf", n.Bridge, "route_localnet"), "1"); err != nil {
		return nil, err
	}
	return br, nil
}

// bridgeLink finds or creates the bridge. Its MAC address is fixed (from
// the gateway's address, and set again on an existing bridge whose gateway
// changed); otherwise the kernel would change it to the lowest of its
// ports' as containers come and go.
func bridgeLink(n *Network) (*netlink.Bridge, error) {
	mac := macOf(n.Gateway)
	l, err := netlink.LinkByName(n.Bridge)
	if err == nil {
		br, ok := l.(*netlink.Bridge)
		if !ok {
			return nil, fmt.Errorf("%s exists and is a %s, not a bridge", n.Bridge, l.Type())
		}
		if !bytes.Equal(br.HardwareAddr, mac[:]) {
			if err := netlink.LinkSetHardwareAddr(br, net.HardwareAddr(mac[:])); err != nil {
				return nil, fmt.Errorf("set MAC address %s: %w", net.HardwareAddr(mac[:]), err)
			}
			br.HardwareAddr = net.HardwareAddr(mac[:])
		}
		return br, nil
	}
	var notFound netlink.LinkNotFoundError
	if !errors.As(err, &notFound) {
		return nil, err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge, HardwareAddr: net.HardwareAddr(mac[:])}}
	if err := netlink.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	l, err = netlink.LinkByName(n.Bridge)
	if err != nil {
		return nil, err
	}
	return l.(*netlink.Bridge), nil
}

// deleteBridge removes a network's bridge; its veths go with it.
func deleteBridge(name string) error {
	l, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// userBridges lists the bridges named as those of user-defined networks.
func userBridges() ([]string, error) {
	links, err := dump(netlink.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var names []string
	for _, l := range links {
		if _, ok := l.(*netlink.Bridge); ok && strings.HasPrefix(l.Attrs().Name, userBridgePrefix) {
			names = append(names, l.Attrs().Name)
		}
	}
	return names, nil
}

// deleteStrayVeths removes the veths attached to a bridge: the host ends of
// the containers of a gantryd that died, but those named in keep.
func deleteStrayVeths(br *netlink.Bridge, keep map[string]bool) error {
	links, err := dump(netlink.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		if _, ok := l.(*netlink.Veth); !ok || l.Attrs().MasterIndex != br.Index || keep[l.Attrs().Name] {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("delete %s: %w", l.Attrs().Name, err)
		}
	}
	return nil
}

// usedPrefixes are the subnets of the routes and addresses of the
// namespace, which a picked subnet must not overlap. Those of gantry0 do not
// count: they are the default network's, whatever subnet it is given.
func usedPrefixes() ([]netip.Prefix, error) {
	ours := -1
	if l, err := netlink.LinkByName(defaultBridge); err == nil {
		ours = l.Attrs().Index
	}
	var used []netip.Prefix
	routes, err := dump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 && r.LinkIndex != ours {
			used = append(used, p)
		}
	}
	addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && a.LinkIndex != ours {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}

// dump runs a netlink dump again while the kernel reports it interrupted
// (netlink.ErrDumpInterrupted: the links, addresses or routes changed
// during it, as when another namespace's veth goes), so that a listing is
// never half of one. A dump still interrupted after a few tries fails.
func dump[T any](list func() ([]T, error)) ([]T, error) {
	for try := 1; ; try++ {
		out, err := list()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || try == 10 {
			return out, err
		}
	}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
}

// sysctl sets a value under /proc/sys, for the network namespace of the
// calling thread, unless it already has it.
func sysctl(name, value string) error {
	path := filepath.Join("/proc/sys", name)
	if cur, err := os.ReadFile(path); err == nil && string(bytes.TrimSpace(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

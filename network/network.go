// Package network gives containers their networks: a default bridge
// ("bridge", Linux bridge gantry0) and user-defined bridge networks, each
// container in a network namespace of its own joined to them by veth pairs,
// addresses from a per-network allocator whose state is kept on disk, NAT
// (MASQUERADE) to the outside, published ports (iptables DNAT, reachable from
// other hosts and from the host itself on 127.0.0.1), isolation between
// networks, and on user-defined networks an embedded DNS server per
// container (package network/dns) that names its peers.
//
// One gantryd owns the network stack of the network namespace it runs in: its
// bridges, its iptables chains (GANTRY*) and the namespaces under RunDir.
// Everything a Manager finds there at New that no container can be using (the
// leftovers of a gantryd that died) is removed.
package network

import (
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Config is how gantryd set up networking.
type Config struct {
	Root          string     // persistent state (networks and address allocations)
	RunDir        string     // network namespaces are bind-mounted here (under --exec-root)
	BridgeIP      string     // --bip: gateway address and prefix of the default bridge ("172.18.0.1/16"); "" picks a free private /16
	DefaultBindIP netip.Addr // --default-bind-ip: host address of ports published without one; zero means all addresses
	// AddressPools (--default-address-pool) are where the subnets of
	// networks created without one, and the default bridge's first one,
	// are taken from; nil means Docker's default pools.
	AddressPools []AddressPool
	Log          *slog.Logger
	// Keep names the containers a previous gantryd left running that are
	// adopted: New keeps their namespaces, veths, addresses, ports and
	// rules instead of removing them. Nil keeps none.
	Keep func(containerID string) bool
}

// The predefined networks, as Docker names them.
const (
	DefaultNetwork = "bridge" // the default bridge network (interface gantry0)
	HostNetwork    = "host"
	NoneNetwork    = "none"
)

// Network is one network: the predefined bridge, host and none, or a
// user-defined bridge network.
type Network struct {
	ID       string // 64 hex characters
	Name     string
	Driver   string // "bridge", "host" or "null"
	Bridge   string // the Linux bridge: gantry0, or gbr-<first 11 of ID> (15 characters at most); "" for host and none
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Internal bool // no route to the outside
	Labels   map[string]string
	Options  map[string]string
	Created  time.Time
}

// CreateOptions are what `network create` gives.
type CreateOptions struct {
	Name     string
	Driver   string // "" or "bridge"
	Subnet   string // "" allocates a free private subnet
	Gateway  string // "" is the first address of the subnet
	Internal bool
	Labels   map[string]string
	Options  map[string]string
}

// PortBinding is one published port.
type PortBinding struct {
	Proto         string // "tcp" or "udp"
	ContainerPort uint16
	HostIP        netip.Addr // zero: Config.DefaultBindIP
	HostPort      uint16     // 0 picks a free port; Join returns the one bound
	HostPortEnd   uint16     // above HostPort: the first free port of HostPort-HostPortEnd; Join returns 0
}

// EndpointOptions describe a container joining a network.
type EndpointOptions struct {
	Name    string   // the container's name, resolvable by its peers on user-defined networks
	Aliases []string // more names (network-scoped aliases)
	IPv4    netip.Addr
	// MAC is the interface's address (--mac-address); nil derives it from
	// the IPv4 address, as Docker does.
	MAC   net.HardwareAddr
	Ports []PortBinding // published through this endpoint
}

// Endpoint is a container's attachment to one network.
type Endpoint struct {
	ID          string // 64 hex characters (inspect's EndpointID)
	NetworkID   string
	NetworkName string
	ContainerID string
	Name        string
	Aliases     []string
	IfName      string // inside the container: eth0, eth1 ...
	MAC         string
	IP          netip.Addr
	Prefix      int
	Gateway     netip.Addr    // zero on internal networks
	Ports       []PortBinding // as bound: every HostPort set
}

// DNSConfig is where a container's embedded DNS server (on user-defined
// networks) forwards the questions it cannot answer.
type DNSConfig struct {
	Servers  []netip.Addr // upstream nameservers, port 53, tried in order
	NdotsSet bool         // the container set ndots: a single-label name that is no peer's is not forwarded
	// Links are the container's legacy links on user-defined networks:
	// alias -> the linked container's name (lower case), names only this
	// container's server answers, as dockerd's.
	Links map[string]string
}

// Sandbox is a container's network namespace.
type Sandbox struct {
	ContainerID string
	Path        string // the bind-mounted namespace file, for the runtime spec
	// UserNSPath is the bind-mounted user namespace that owns the network
	// namespace, for a sandbox made WithUserNS; "" otherwise.
	UserNSPath string
}

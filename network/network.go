// Package network gives containers their networks: a default bridge
// ("bridge", Linux bridge gantry0) and user-defined bridge networks, each
// container in a network namespace of its own joined to them by veth pairs,
// addresses from a per-network allocator whose state is kept on disk, NAT
// (MASQUERADE) to the outside, published ports (iptables DNAT, reachable from
// other hosts and from the host itself on 127.0.0.1), and isolation between
// networks.
//
// One gantryd owns the network stack of the network namespace it runs in: its
// bridges, its iptables chains (GANTRY*) and the namespaces under RunDir.
// Everything a Manager finds there at New that no container can be using (the
// leftovers of a gantryd that died) is removed.
package network

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/containerd/errdefs"
)

// Config is how gantryd set up networking.
type Config struct {
	Root          string     // persistent state (networks and address allocations)
	RunDir        string     // network namespaces are bind-mounted here (under --exec-root)
	BridgeIP      string     // --bip: gateway address and prefix of the default bridge ("172.18.0.1/16"); "" picks a free private /16
	DefaultBindIP netip.Addr // --default-bind-ip: host address of ports published without one; zero means all addresses
	Log           *slog.Logger
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
	Bridge   string // the Linux bridge: gantry0, or gbr-<first 12 of ID>; "" for host and none
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
}

// EndpointOptions describe a container joining a network.
type EndpointOptions struct {
	Name    string   // the container's name, resolvable by its peers on user-defined networks
	Aliases []string // more names (network-scoped aliases)
	IPv4    netip.Addr
	Ports   []PortBinding // published through this endpoint
}

// Endpoint is a container's attachment to one network.
type Endpoint struct {
	NetworkID   string
	NetworkName string
	ContainerID string
	Name        string
	Aliases     []string
	IfName      string // inside the container: eth0, eth1 ...
	MAC         string
	IP          netip.Addr
	Prefix      int
	Gateway     netip.Addr
	Ports       []PortBinding // as bound: every HostPort set
}

// Sandbox is a container's network namespace.
type Sandbox struct {
	ContainerID string
	Path        string // the bind-mounted namespace file, for the runtime spec
}

// Manager owns the networks. It is safe for concurrent use.
type Manager struct {
	cfg Config
}

// New loads the networks from cfg.Root, creates the default bridge network
// if it is missing, and removes what a previous gantryd left: namespaces
// under cfg.RunDir, veths, published-port rules and address allocations.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	return &Manager{cfg: cfg}, nil
}

var errTODO = errdefs.ErrNotImplemented.WithMessage("bridge networking is not implemented yet")

// Create makes a user-defined network. A duplicate name is a conflict; an
// unknown driver, a malformed or overlapping subnet or a gateway outside the
// subnet is an invalid argument.
func (m *Manager) Create(ctx context.Context, opts CreateOptions) (*Network, error) {
	return nil, errTODO
}

// Get finds a network by name, full ID or unambiguous ID prefix (not found:
// "network NAME not found").
func (m *Manager) Get(nameOrID string) (*Network, error) { return nil, errTODO }

// List returns every network, the predefined ones included.
func (m *Manager) List() []*Network { return nil }

// Remove deletes a user-defined network. The predefined ones cannot be
// removed (errdefs.ErrPermissionDenied: "bridge is a pre-defined network and
// cannot be removed"); one with endpoints is a conflict naming them.
func (m *Manager) Remove(ctx context.Context, nameOrID string) error { return errTODO }

// Endpoints returns the endpoints on a network, for inspect and for the
// peers' /etc/hosts.
func (m *Manager) Endpoints(nameOrID string) ([]Endpoint, error) { return nil, errTODO }

// NewSandbox creates the network namespace of a container, with lo up.
func (m *Manager) NewSandbox(ctx context.Context, containerID string) (*Sandbox, error) {
	return nil, errTODO
}

// Join connects the sandbox to a network: a veth pair with the container end
// in the namespace, an address, the default route through the first network
// joined, and the published ports. A host port already taken is a conflict
// naming it; nothing of the endpoint is left after an error.
func (m *Manager) Join(ctx context.Context, sb *Sandbox, network string, opts EndpointOptions) (*Endpoint, error) {
	return nil, errTODO
}

// Leave disconnects the sandbox from a network, releasing its address and
// ports.
func (m *Manager) Leave(ctx context.Context, sb *Sandbox, network string) error { return errTODO }

// DeleteSandbox leaves every network and removes the namespace. Deleting a
// sandbox that does not exist is not an error.
func (m *Manager) DeleteSandbox(ctx context.Context, containerID string) error { return nil }

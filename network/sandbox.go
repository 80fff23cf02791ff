package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"

	"github.com/gantry/gantry/network/dns"
)

// userNSSuffix names the file of a sandbox's user namespace, beside its
// network namespace's.
const userNSSuffix = ".userns"

// sandbox is a container's namespace as the Manager holds it: by its
// path only. The namespace is opened for the operations that need it and
// closed after, so that an idle sandbox costs gantryd no descriptor; the
// handle its creation made is kept for its first Join, the next step of a
// container's start, which spares that join opening the namespace again
// (a netlink socket is born in the namespace of the thread that makes it:
// opening one in the sandbox means a setns there and back).
type sandbox struct {
	Sandbox
	ready     bool          // the namespace is made and not being deleted; else the ID is only reserved
	created   *netNS        // creation's handle until the first Join or DeleteSandbox takes it; guarded by Manager.mu
	endpoints []*endpoint   // in the order joined
	dnsConfig DNSConfig     // guarded by Manager.mu
	resolver  *dns.Resolver // started at the first join of a user-defined network
}

// endpoint is one attachment of a sandbox, with what undoes it.
type endpoint struct {
	Endpoint
	net          *netState
	defaultRoute bool       // the sandbox's default route goes through this network
	link         link       // set once the veth exists
	ports        []heldPort // the host ports, held
	rules        []rule     // set once installed
}

func (ep *endpoint) public() Endpoint {
	out := ep.Endpoint
	out.Aliases = slices.Clone(ep.Aliases)
	out.Ports = slices.Clone(ep.Ports)
	return out
}

// SandboxOption configures NewSandbox.
type SandboxOption func(*sandboxOptions)

type sandboxOptions struct {
	uids, gids []syscall.SysProcIDMap
}

// WithUserNS makes the sandbox's network namespace belong to a new user
// namespace with mapping m (Sandbox.UserNSPath), for a container that
// runs in it: it may then mount its sysfs. An empty m is no option.
func WithUserNS(m user.IdentityMapping) SandboxOption {
	conv := func(ranges []user.IDMap) []syscall.SysProcIDMap {
		var out []syscall.SysProcIDMap
		for _, r := range ranges {
			out = append(out, syscall.SysProcIDMap{ContainerID: int(r.ID), HostID: int(r.ParentID), Size: int(r.Count)})
		}
		return out
	}
	return func(o *sandboxOptions) { o.uids, o.gids = conv(m.UIDMaps), conv(m.GIDMaps) }
}

// NewSandbox creates the network namespace of a container, with lo up.
// A sandbox for the container that already exists is a conflict. The
// sandbox keeps the namespace open until its first Join (or DeleteSandbox)
// and holds no descriptor after.
func (m *Manager) NewSandbox(ctx context.Context, containerID string, opts ...SandboxOption) (*Sandbox, error) {
	var o sandboxOptions
	for _, opt := range opts {
		opt(&o)
	}
	if containerID == "" || filepath.Base(containerID) != containerID || containerID[0] == '.' {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid container ID %q for a sandbox", containerID))
	}
	m.mu.Lock()
	if _, ok := m.sandboxes[containerID]; ok {
		m.mu.Unlock()
		return nil, errdefs.ErrConflict.WithMessage("the network sandbox of container " + containerID + " already exists")
	}
	s := &sandbox{Sandbox: Sandbox{ContainerID: containerID, Path: filepath.Join(m.cfg.RunDir, containerID)}}
	m.sandboxes[containerID] = s // reserved; not ready until created
	m.mu.Unlock()

	var ns *netNS
	var err error
	if len(o.uids) > 0 {
		s.UserNSPath = s.Path + userNSSuffix
		ns, err = createUserNetNS(s.Path, s.UserNSPath, o.uids, o.gids)
	} else {
		ns, err = createNetNS(s.Path)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		delete(m.sandboxes, containerID)
		return nil, err
	}
	s.ready, s.created = true, ns
	out := s.Sandbox
	return &out, nil
}

// Sandbox returns the sandbox of a container (not found if it has none).
func (m *Manager) Sandbox(containerID string) (*Sandbox, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.sandbox(containerID)
	if err != nil {
		return nil, err
	}
	out := s.Sandbox
	return &out, nil
}

// sandbox finds a ready sandbox; the caller holds m.mu.
func (m *Manager) sandbox(containerID string) (*sandbox, error) {
	s := m.sandboxes[containerID]
	if s == nil || !s.ready {
		return nil, errdefs.ErrNotFound.WithMessage("no network sandbox for container " + containerID)
	}
	return s, nil
}

// Join connects the sandbox to a network: a veth pair with the container end
// in the namespace, an address, the default route through the first network
// joined, and the published ports. A host port already taken is a conflict
// naming it; nothing of the endpoint is left after an error. Ports are not
// published on internal networks (as Docker does). The first join of a
// user-defined network starts the sandbox's embedded DNS server (see
// SetDNS), which serves until DeleteSandbox. Calls concerning one sandbox
// (Join, Leave, DeleteSandbox) must not overlap.
func (m *Manager) Join(ctx context.Context, sb *Sandbox, network string, opts EndpointOptions) (*Endpoint, error) {
	s, ep, ns, err := m.reserve(sb.ContainerID, network, opts)
	if err != nil {
		return nil, err
	}
	var l link
	var rules []rule
	if ns == nil {
		ns, err = openNetNS(s.Path)
	}
	if err == nil {
		defer ns.close()
		if ep.net.resolvesNames() {
			err = m.startResolver(s, ns, false)
		}
	}
	if err == nil {
		l, rules, err = m.connect(ns, ep)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.forget(s, ep)
		m.save(false)
		closeAll(ep.ports)
		return nil, err
	}
	ep.link, ep.rules = l, rules
	if ep.net.rec.Endpoints == nil {
		ep.net.rec.Endpoints = map[string]savedEndpoint{}
	}
	ep.net.rec.Endpoints[ep.ContainerID] = savedEndpoint{Endpoint: ep.public(), HostLink: l.hostName, DefaultRoute: ep.defaultRoute}
	if err := m.save(false); err != nil {
		m.log.Warn("save network state", "error", err)
	}
	out := ep.public()
	return &out, nil
}

// reserve does the bookkeeping of a join: the address, the host ports, the
// interface name, and the endpoint recorded on the network and sandbox. It
// hands over the handle the sandbox's creation kept, if no join took it
// yet: the caller closes it.
func (m *Manager) reserve(containerID, network string, opts EndpointOptions) (*sandbox, *endpoint, *netNS, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.sandbox(containerID)
	if err != nil {
		return nil, nil, nil, err
	}
	n, err := m.lookup(network)
	if err != nil {
		return nil, nil, nil, err
	}
	if n.rec.Driver != "bridge" {
		return nil, nil, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("container cannot be connected to network %s: it is not a bridge network", n.rec.Name))
	}
	if _, ok := n.endpoints[containerID]; ok {
		return nil, nil, nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", opts.Name, n.rec.Name))
	}
	ip, err := m.address(n, opts.IPv4)
	if err != nil {
		return nil, nil, nil, err
	}
	ep := &endpoint{Endpoint: Endpoint{
		ID: randomHex(32), NetworkID: n.rec.ID, NetworkName: n.rec.Name, ContainerID: containerID,
		Name: opts.Name, Aliases: slices.Clone(opts.Aliases), IfName: s.nextIfName(),
		MAC: formatMAC(macOf(ip)), IP: ip, Prefix: n.rec.Subnet.Bits(),
	}, net: n}
	if opts.MAC != nil {
		ep.MAC = opts.MAC.String()
	}
	if !n.rec.Internal { // as Docker: an internal network is no way out
		ep.Gateway = n.rec.Gateway
	}
	ep.defaultRoute = !n.rec.Internal && !slices.ContainsFunc(s.endpoints, func(e *endpoint) bool { return e.defaultRoute })
	if !n.rec.Internal {
		if ep.ports, err = m.holdPorts(ep, opts.Ports); err != nil {
			return nil, nil, nil, err
		}
		for _, p := range ep.ports {
			ep.Ports = append(ep.Ports, p.binding)
		}
	}
	n.endpoints[containerID] = ep
	if n.rec.Allocations == nil {
		n.rec.Allocations = map[string]netip.Addr{}
	}
	n.rec.Allocations[containerID] = ip
	s.endpoints = append(s.endpoints, ep)
	if err := m.save(false); err != nil {
		m.forget(s, ep)
		closeAll(ep.ports)
		return nil, nil, nil, err
	}
	ns := s.created
	s.created = nil
	return s, ep, ns, nil
}

// address picks the endpoint's address: the requested one if it is free,
// else the lowest free one.
func (m *Manager) address(n *netState, want netip.Addr) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, a := range n.rec.Allocations {
		used[a] = true
	}
	if want.IsValid() {
		if !want.Is4() || !isHost(want, n.rec.Subnet) {
			return netip.Addr{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("no configured subnet or ip-range contain the IP address %s", want))
		}
		if used[want] || want == n.rec.Gateway {
			return netip.Addr{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Address already in use: %s on network %s", want, n.rec.Name))
		}
		return want, nil
	}
	ip, ok := allocate(n.rec.Subnet, n.rec.Gateway, used)
	if !ok {
		return netip.Addr{}, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("no available IPv4 addresses on this network's address pools: %s (%s)", n.rec.Name, n.rec.ID))
	}
	return ip, nil
}

// nextIfName is the lowest ethN the sandbox does not use.
func (s *sandbox) nextIfName() string {
	for i := 0; ; i++ {
		name := "eth" + strconv.Itoa(i)
		if !slices.ContainsFunc(s.endpoints, func(e *endpoint) bool { return e.IfName == name }) {
			return name
		}
	}
}

// connect does the kernel side of a join in the sandbox's namespace ns:
// the veth, then the published ports' rules. After an error nothing of it
// is left.
func (m *Manager) connect(ns *netNS, ep *endpoint) (link, []rule, error) {
	cfg := linkConfig{bridgeIndex: ep.net.bridgeIndex, ifName: ep.IfName, ip: ep.IP, bits: ep.Prefix, mtu: ep.net.rec.mtu()}
	if mac, err := net.ParseMAC(ep.MAC); err == nil {
		cfg.mac = mac
	}
	if ep.defaultRoute {
		cfg.gateway = ep.Gateway
	}
	l, err := ns.addLink(cfg)
	if err != nil {
		return link{}, nil, fmt.Errorf("join network %s: %w", ep.NetworkName, err)
	}
	var rules []rule
	for _, p := range ep.Ports {
		rules = append(rules, portRules(ep.net.rec.Bridge, ep.IP, p)...)
	}
	if err := appendRules(rules); err != nil {
		deleteLink(l)
		return link{}, nil, fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", ep.Name, ep.ID, err)
	}
	return l, rules, nil
}

// forget removes an endpoint from the bookkeeping and releases its
// address; the caller holds m.mu and saves.
func (m *Manager) forget(s *sandbox, ep *endpoint) {
	delete(ep.net.endpoints, ep.ContainerID)
	delete(ep.net.rec.Allocations, ep.ContainerID)
	delete(ep.net.rec.Endpoints, ep.ContainerID)
	s.endpoints = slices.DeleteFunc(s.endpoints, func(e *endpoint) bool { return e == ep })
}

// Leave disconnects the sandbox from a network, releasing its address and
// ports. The address is released once the veth is gone from the bridge, so
// that no other container is given it (and its MAC) meanwhile.
func (m *Manager) Leave(ctx context.Context, sb *Sandbox, network string) error {
	m.mu.Lock()
	s, err := m.sandbox(sb.ContainerID)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	n, err := m.lookup(network)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	ep := n.endpoints[sb.ContainerID]
	m.mu.Unlock()
	if ep == nil {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not connected to network %s", sb.ContainerID, n.rec.Name))
	}
	err = errors.Join(deleteRules(ep.rules), closeAll(ep.ports), deleteLink(ep.link))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forget(s, ep)
	return errors.Join(err, m.save(false))
}

// DeleteSandbox leaves every network, stops the DNS server (its sockets
// closed, no question being answered once it returns) and removes the
// namespace. Deleting a sandbox that does not exist is not an error. Its
// addresses are released once its veths are off their bridges; until the
// namespace is removed, a new sandbox for the container is a conflict.
//
// The veths are only detached from their bridges (well under a millisecond):
// the kernel deletes them with the namespace, soon after. Deleting them here
// would wait for an RCU barrier, about 25 ms.
func (m *Manager) DeleteSandbox(ctx context.Context, containerID string) error {
	m.mu.Lock()
	s := m.sandboxes[containerID]
	if s == nil || !s.ready {
		m.mu.Unlock()
		return nil
	}
	s.ready = false // being deleted: not found, and still reserved
	created := s.created
	s.created = nil
	eps := slices.Clone(s.endpoints)
	m.mu.Unlock()

	var errs []error
	var rules []rule
	for _, ep := range eps {
		rules = append(rules, ep.rules...)
	}
	errs = append(errs, deleteRules(rules))
	for _, ep := range eps {
		errs = append(errs, closeAll(ep.ports), detachLink(ep.link))
	}

	m.mu.Lock()
	for _, ep := range eps {
		m.forget(s, ep)
	}
	if len(eps) > 0 {
		errs = append(errs, m.save(false))
	}
	m.mu.Unlock()

	if s.resolver != nil { // before the namespace goes: it dials through it
		errs = append(errs, s.resolver.Close())
		s.resolver = nil
	}
	created.close()
	errs = append(errs, removeNetNS(s.Path))
	if s.UserNSPath != "" {
		errs = append(errs, removeNetNS(s.UserNSPath))
	}
	m.mu.Lock()
	delete(m.sandboxes, containerID)
	m.mu.Unlock()
	return errors.Join(errs...)
}

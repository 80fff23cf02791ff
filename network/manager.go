package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"

	"github.com/gantry/gantry/internal/atomicfile"
)

// Manager owns the networks. It is safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	networks  []*netState         // the predefined ones first, then in creation order
	sandboxes map[string]*sandbox // by container ID
}

// netState is a network as the Manager holds it.
type netState struct {
	rec         *record              // what is persisted
	bridgeIndex int                  // of rec.Bridge, for attaching veths
	endpoints   map[string]*endpoint // by container ID
}

// New loads the networks from cfg.Root, creates the default bridge network
// if it is missing, and removes what a previous gantryd left: namespaces
// under cfg.RunDir, veths, published-port rules, address allocations and
// the gbr-* bridges of no network (one killed mid create or remove).
func New(ctx context.Context, cfg Config) (*Manager, error) {
	m := &Manager{cfg: cfg, log: cfg.Log, sandboxes: map[string]*sandbox{}}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	for _, dir := range []string{cfg.Root, cfg.RunDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	if err := atomicfile.RemoveTemps(cfg.Root); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := m.removeLeftoverSandboxes(); err != nil {
		return nil, err
	}
	recs, err := loadState(cfg.Root)
	if err != nil {
		return nil, err
	}
	if recs, err = m.withPredefined(recs); err != nil {
		return nil, err
	}
	if err := m.removeStrayBridges(recs); err != nil {
		return nil, err
	}
	var rules []rule
	for _, rec := range recs {
		keptLinks := m.keptOnly(rec)
		n := &netState{rec: rec, endpoints: map[string]*endpoint{}}
		if rec.Driver == "bridge" {
			if err := n.bridgeUp(true, keptLinks); err != nil {
				return nil, err
			}
			rules = append(rules, networkRules(&rec.Network)...)
		}
		m.networks = append(m.networks, n)
	}
	rules = append(rules, m.adoptEndpoints()...)
	if err := resetChains(rules); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := m.enableForwarding(); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := m.save(true); err != nil {
		return nil, err
	}
	return m, nil
}

// removeLeftoverSandboxes removes the namespaces of a gantryd that died.
func (m *Manager) removeLeftoverSandboxes() error {
	entries, err := os.ReadDir(m.cfg.RunDir)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, e := range entries {
		if m.kept(e.Name()) {
			continue
		}
		m.log.Info("removing a network namespace left by a previous gantryd", "container", e.Name())
		if err := removeNetNS(filepath.Join(m.cfg.RunDir, e.Name())); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	return nil
}

// removeStrayBridges deletes the user-network bridges (gbr-*) that no
// record names: a gantryd killed between creating a bridge and saving its
// network, or between saving a removal and deleting the bridge, left them.
func (m *Manager) removeStrayBridges(recs []*record) error {
	names, err := userBridges()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, name := range names {
		if slices.ContainsFunc(recs, func(r *record) bool { return r.Bridge == name }) {
			continue
		}
		m.log.Info("removing a bridge of no network, left by a previous gantryd", "bridge", name)
		if err := deleteBridge(name); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	return nil
}

// withPredefined returns the loaded records with bridge, host and none
// present (their IDs are random once, then kept) and the default bridge's
// subnet settled: --bip if given, else the one it had, else a free one.
func (m *Manager) withPredefined(recs []*record) ([]*record, error) {
	var predefined []*record
	for _, def := range []Network{
		{Name: DefaultNetwork, Driver: "bridge", Bridge: defaultBridge},
		{Name: HostNetwork, Driver: "host"},
		{Name: NoneNetwork, Driver: "null"},
	} {
		i := slices.IndexFunc(recs, func(r *record) bool { return r.Name == def.Name })
		if i < 0 {
			def.ID, def.Created = randomHex(32), time.Now().UTC()
			predefined = append(predefined, &record{Network: def})
			continue
		}
		predefined = append(predefined, recs[i])
		recs = slices.Delete(recs, i, i+1)
	}
	var user []netip.Prefix
	for _, r := range recs {
		user = append(user, r.Subnet)
	}
	bridge := predefined[0]
	switch {
	case m.cfg.BridgeIP != "":
		subnet, gw, err := parseBridgeIP(m.cfg.BridgeIP)
		if err != nil {
			return nil, err
		}
		if overlapsAny(subnet, user) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("--bip %s overlaps the subnet of a user-defined network", m.cfg.BridgeIP))
		}
		bridge.Subnet, bridge.Gateway = subnet, gw
	case !bridge.Subnet.IsValid():
		taken, err := usedPrefixes()
		if err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
		if bridge.Subnet, err = pickSubnet(m.cfg.AddressPools, append(taken, user...)); err != nil {
			return nil, err
		}
		bridge.Gateway = bridge.Subnet.Addr().Next()
	}
	return append(predefined, recs...), nil
}

// kept reports whether the container's networking is adopted (Config.Keep).
func (m *Manager) kept(containerID string) bool {
	return m.cfg.Keep != nil && m.cfg.Keep(containerID)
}

// keptOnly drops from a loaded record the addresses and endpoints of the
// containers not adopted, and returns the host veths of the others.
func (m *Manager) keptOnly(rec *record) map[string]bool {
	links := map[string]bool{}
	for id := range rec.Allocations {
		if ep, ok := rec.Endpoints[id]; ok && m.kept(id) {
			links[ep.HostLink] = true
			continue
		}
		delete(rec.Allocations, id)
	}
	for id := range rec.Endpoints {
		if _, ok := rec.Allocations[id]; !ok {
			delete(rec.Endpoints, id)
		}
	}
	return links
}

// adoptEndpoints takes back the sandboxes and endpoints the records kept:
// their namespaces are checked (and not kept open), their host ports held
// again, and the rules of their ports returned for the chains. An endpoint
// that cannot be taken back is dropped with a warning (its container keeps
// running unreachable from published ports).
func (m *Manager) adoptEndpoints() []rule {
	var rules []rule
	for _, n := range m.networks {
		ids := slices.Sorted(maps.Keys(n.rec.Endpoints))
		for _, id := range ids {
			saved := n.rec.Endpoints[id]
			s := m.sandboxes[id]
			if s == nil {
				path := filepath.Join(m.cfg.RunDir, id)
				if err := isNetNS(path); err != nil {
					m.log.Warn("cannot adopt the network of a running container", "container", id, "error", err)
					delete(n.rec.Allocations, id)
					delete(n.rec.Endpoints, id)
					continue
				}
				s = &sandbox{Sandbox: Sandbox{ContainerID: id, Path: path}, ready: true}
				m.sandboxes[id] = s
			}
			ep := &endpoint{Endpoint: saved.Endpoint, net: n, defaultRoute: saved.DefaultRoute, link: link{hostName: saved.HostLink}}
			if l, err := netlink.LinkByName(saved.HostLink); err == nil {
				ep.link.hostIndex = l.Attrs().Index
			}
			ep.Ports = nil
			for _, b := range saved.Ports {
				h, err := m.holdPort(ep, b)
				if err != nil {
					m.log.Warn("cannot hold the published port of an adopted container again", "container", id, "port", b.HostPort, "error", err)
					continue
				}
				ep.ports = append(ep.ports, h)
				ep.Ports = append(ep.Ports, h.binding)
				ep.rules = append(ep.rules, portRules(n.rec.Bridge, ep.IP, h.binding)...)
			}
			rules = append(rules, ep.rules...)
			n.endpoints[id] = ep
			s.endpoints = append(s.endpoints, ep)
			slices.SortFunc(s.endpoints, func(a, b *endpoint) int { return strings.Compare(a.IfName, b.IfName) })
		}
	}
	return rules
}

// bridgeUp makes the network's bridge match it; fresh (at New) also
// removes the veths a previous gantryd left on it, but those of keep.
func (n *netState) bridgeUp(fresh bool, keep map[string]bool) error {
	br, err := ensureBridge(&n.rec.Network)
	if err != nil {
		return fmt.Errorf("network %s: %w", n.rec.Name, err)
	}
	n.bridgeIndex = br.Index
	if fresh {
		if err := deleteStrayVeths(br, keep); err != nil {
			return fmt.Errorf("network %s: %w", n.rec.Name, err)
		}
	}
	return nil
}

// save persists the records; the caller holds m.mu (or is New).
func (m *Manager) save(durable bool) error {
	recs := make([]*record, len(m.networks))
	for i, n := range m.networks {
		recs[i] = n.rec
	}
	if err := saveState(m.cfg.Root, recs, durable); err != nil {
		return fmt.Errorf("network: save state: %w", err)
	}
	return nil
}

// Create makes a user-defined network. A duplicate name is a conflict; an
// unknown driver, a malformed or overlapping subnet, a gateway outside the
// subnet or an option checkOptions refuses is an invalid argument.
func (m *Manager) Create(ctx context.Context, opts CreateOptions) (*Network, error) {
	if opts.Driver != "" && opts.Driver != "bridge" {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("plugin %q not found: only the bridge driver is supported", opts.Driver))
	}
	if opts.Name == "" || strings.ContainsAny(opts.Name, "/\\: \t\n") {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid network name %q", opts.Name))
	}
	if err := checkOptions(opts.Options); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName(opts.Name) != nil {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("network with name %s already exists", opts.Name))
	}
	subnet, err := m.subnetFor(opts.Subnet)
	if err != nil {
		return nil, err
	}
	gateway, err := parseGateway(opts.Gateway, subnet)
	if err != nil {
		return nil, err
	}
	id := randomHex(32)
	n := &netState{rec: &record{Network: Network{
		ID: id, Name: opts.Name, Driver: "bridge", Bridge: bridgeName(id),
		Subnet: subnet, Gateway: gateway, Internal: opts.Internal,
		Labels: opts.Labels, Options: opts.Options, Created: time.Now().UTC(),
	}}, endpoints: map[string]*endpoint{}}
	if err := n.bridgeUp(false, nil); err != nil {
		deleteBridge(n.rec.Bridge)
		return nil, err
	}
	if err := insertRules(networkRules(&n.rec.Network)); err != nil {
		deleteBridge(n.rec.Bridge)
		return nil, fmt.Errorf("network %s: %w", n.rec.Name, err)
	}
	m.networks = append(m.networks, n)
	if err := m.save(true); err != nil {
		m.networks = m.networks[:len(m.networks)-1]
		tearDown(n)
		return nil, err
	}
	out := n.rec.Network
	return &out, nil
}

// subnetFor parses a requested subnet, refusing one that overlaps another
// network's, or picks a free one.
func (m *Manager) subnetFor(s string) (netip.Prefix, error) {
	var others []netip.Prefix
	for _, n := range m.networks {
		if n.rec.Subnet.IsValid() {
			others = append(others, n.rec.Subnet)
		}
	}
	if s != "" {
		subnet, err := parseSubnet(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if overlapsAny(subnet, others) {
			return netip.Prefix{}, errdefs.ErrInvalidArgument.WithMessage("Pool overlaps with other one on this address space")
		}
		return subnet, nil
	}
	taken, err := usedPrefixes()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network: %w", err)
	}
	return pickSubnet(m.cfg.AddressPools, append(taken, others...))
}

// tearDown removes a bridge network's rules and bridge.
func tearDown(n *netState) error {
	return errors.Join(deleteRules(networkRules(&n.rec.Network)), deleteBridge(n.rec.Bridge))
}

// Get finds a network by name, full ID or unambiguous ID prefix (not found:
// "network NAME not found").
func (m *Manager) Get(nameOrID string) (*Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(nameOrID)
	if err != nil {
		return nil, err
	}
	out := n.rec.Network
	return &out, nil
}

// lookup is Get for callers holding m.mu.
func (m *Manager) lookup(nameOrID string) (*netState, error) {
	if n := m.byName(nameOrID); n != nil {
		return n, nil
	}
	var found []*netState
	for _, n := range m.networks {
		if n.rec.ID == nameOrID {
			return n, nil
		}
		if nameOrID != "" && strings.HasPrefix(n.rec.ID, nameOrID) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", nameOrID))
	case 1:
		return found[0], nil
	}
	return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network %s is ambiguous (%d matches found based on ID prefix)", nameOrID, len(found)))
}

func (m *Manager) byName(name string) *netState {
	for _, n := range m.networks {
		if n.rec.Name == name {
			return n
		}
	}
	return nil
}

// List returns every network, the predefined ones included.
func (m *Manager) List() []*Network {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Network, len(m.networks))
	for i, n := range m.networks {
		c := n.rec.Network
		out[i] = &c
	}
	return out
}

// Remove deletes a user-defined network. The predefined ones cannot be
// removed (errdefs.ErrPermissionDenied: "bridge is a pre-defined network and
// cannot be removed"); one with endpoints is a conflict naming them. The
// record goes first, then the bridge and rules: a gantryd killed between
// the two leaves a bridge that the next New deletes. A teardown that fails
// once the record is gone is logged, not returned.
func (m *Manager) Remove(ctx context.Context, nameOrID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(nameOrID)
	if err != nil {
		return err
	}
	switch n.rec.Name {
	case DefaultNetwork, HostNetwork, NoneNetwork:
		return errdefs.ErrPermissionDenied.WithMessage(n.rec.Name + " is a pre-defined network and cannot be removed")
	}
	if len(n.endpoints) > 0 {
		var names []string
		for _, ep := range n.endpoints {
			names = append(names, ep.Name)
		}
		slices.Sort(names)
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("error while removing network: network %s id %s has active endpoints (%s)",
			n.rec.Name, n.rec.ID, strings.Join(names, ", ")))
	}
	i := slices.Index(m.networks, n)
	m.networks = slices.Delete(m.networks, i, i+1)
	if err := m.save(true); err != nil {
		m.networks = slices.Insert(m.networks, i, n)
		return err
	}
	if err := tearDown(n); err != nil {
		m.log.Warn("removed network left its bridge or rules; the next start removes them", "network", n.rec.Name, "error", err)
	}
	return nil
}

// Endpoints returns the endpoints on a network, for inspect and for the
// peers' /etc/hosts.
func (m *Manager) Endpoints(nameOrID string) ([]Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(nameOrID)
	if err != nil {
		return nil, err
	}
	out := make([]Endpoint, 0, len(n.endpoints))
	for _, ep := range n.endpoints {
		out = append(out, ep.public())
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return a.IP.Compare(b.IP) })
	return out, nil
}

// closeAll closes what it is given and returns the errors.
func closeAll[T io.Closer](cs []T) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

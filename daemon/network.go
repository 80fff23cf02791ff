package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	evtypes "github.com/moby/moby/api/types/events"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	gcontainer "github.com/gantry/gantry/container"
	gnetwork "github.com/gantry/gantry/network"
)

// networkName is the network a network mode puts the container on first:
// "bridge" for the default, the user network's name, "host" and "none";
// "" for container:<id>, which has no network of its own.
func (d *Daemon) networkName(mode container.NetworkMode) (string, error) {
	switch {
	case mode == "", mode.IsDefault(), mode.IsBridge():
		return gnetwork.DefaultNetwork, nil
	case mode.IsHost(), mode.IsNone():
		return string(mode), nil
	case mode.IsContainer():
		return "", nil
	}
	n, err := d.networks.Get(string(mode))
	if err != nil {
		return "", err
	}
	return n.Name, nil
}

// sandboxed reports whether the network mode gives the container a sandbox
// of package network: every mode but host, none and container:<id>.
func sandboxed(mode container.NetworkMode) bool {
	return !mode.IsHost() && !mode.IsNone() && !mode.IsContainer()
}

// isUserNetwork reports whether name is a user-defined network, whose
// members resolve each other by name.
func isUserNetwork(name string) bool {
	return name != gnetwork.DefaultNetwork && name != gnetwork.HostNetwork && name != gnetwork.NoneNetwork
}

// createNetworking checks the network settings of a container being created
// and returns the networks it is to join: the one its network mode names
// (with the endpoint settings given for it under that name or "default")
// and the others of nc. It normalises hc.NetworkMode ("" is "default") and
// exposes the published ports.
func (d *Daemon) createNetworking(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (map[string]*network.EndpointSettings, []string, error) {
	var warnings []string
	mode := hc.NetworkMode
	if mode == "" {
		mode = network.NetworkDefault
	}
	hc.NetworkMode = mode
	if mode.IsContainer() {
		if err := checkContainerMode(cfg, hc, nc); err != nil {
			return nil, nil, err
		}
		if _, err := d.containers.Get(mode.ConnectedContainer()); err != nil {
			return nil, nil, err
		}
	}
	if err := d.checkHostsOptions(mode, hc); err != nil {
		return nil, nil, err
	}
	if mode.IsHost() && (hc.PublishAllPorts || len(hc.PortBindings) > 0) {
		warnings = append(warnings, "Published ports are discarded when using host network mode")
		hc.PortBindings, hc.PublishAllPorts = nil, false
	}
	if err := checkPortBindings(hc.PortBindings); err != nil {
		return nil, nil, err
	}
	for p := range hc.PortBindings {
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		cfg.ExposedPorts[p] = struct{}{}
	}
	primary, err := d.networkName(mode)
	if err != nil {
		return nil, nil, err
	}
	if !sandboxed(mode) && nc != nil && slices.ContainsFunc(slices.Collect(maps.Values(nc.EndpointsConfig)), func(es *network.EndpointSettings) bool {
		return es != nil && len(es.MacAddress) > 0
	}) {
		// dockerd's words for host; with none there is no interface to give it to.
		return nil, nil, errdefs.ErrInvalidArgument.WithMessage("conflicting options: mac-address and the network mode")
	}
	nets := map[string]*network.EndpointSettings{}
	if primary == "" {
		return nets, warnings, nil
	}
	var given map[string]*network.EndpointSettings
	if nc != nil {
		given = nc.EndpointsConfig
	}
	nets[primary] = endpointConfig(given[string(mode)], given[network.NetworkDefault], given[primary])
	for name, es := range given {
		if name == string(mode) || name == network.NetworkDefault || name == primary {
			continue
		}
		if !sandboxed(mode) {
			return nil, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("container cannot be connected to network endpoints: %s, %s", mode, name))
		}
		n, err := d.networks.Get(name)
		if err != nil {
			return nil, nil, err
		}
		nets[n.Name] = endpointConfig(es)
	}
	for name, es := range nets {
		if err := checkEndpointConfig(name, es); err != nil {
			return nil, nil, err
		}
		if n, err := d.networks.Get(name); err == nil {
			es.NetworkID = n.ID
		}
	}
	return nets, warnings, nil
}

// checkContainerMode refuses what --network container:<name> conflicts
// with, in the order and words of Docker's validateNetContainerMode.
func checkContainerMode(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	var msg string
	switch {
	case hc.NetworkMode.ConnectedContainer() == "":
		msg = "invalid network mode: invalid container format container:<name|id>"
	case cfg.Hostname != "":
		msg = "conflicting options: hostname and the network mode"
	case len(hc.Links) > 0:
		msg = "conflicting options: container type network can't be used with links. This would result in undefined behavior"
	case len(hc.DNS) > 0:
		msg = "conflicting options: dns and the network mode"
	case len(hc.ExtraHosts) > 0:
		msg = "conflicting options: custom host-to-IP mapping and the network mode"
	case nc != nil && slices.ContainsFunc(slices.Collect(maps.Values(nc.EndpointsConfig)), func(es *network.EndpointSettings) bool {
		return es != nil && len(es.MacAddress) > 0
	}):
		msg = "conflicting options: mac-address and the network mode"
	case len(hc.PortBindings) > 0 || hc.PublishAllPorts:
		msg = "conflicting options: port publishing and the container type network mode"
	case len(cfg.ExposedPorts) > 0:
		msg = "conflicting options: port exposing and the container type network mode"
	default:
		return nil
	}
	return errdefs.ErrInvalidArgument.WithMessage(msg)
}

// checkHostsOptions checks --add-host entries and legacy links: a link
// names an existing container; on a user-defined network it is an alias
// of it that the container's DNS server answers, as dockerd's.
func (d *Daemon) checkHostsOptions(mode container.NetworkMode, hc *container.HostConfig) error {
	for _, h := range hc.ExtraHosts {
		if _, _, err := parseExtraHost(h); err != nil {
			return err
		}
	}
	if len(hc.Links) == 0 {
		return nil
	}
	switch {
	case mode.IsHost():
		return errdefs.ErrInvalidArgument.WithMessage("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
	case mode.IsNone():
		return errdefs.ErrInvalidArgument.WithMessage("conflicting options: none type networking can't be used with links. This would result in undefined behavior")
	}
	for _, l := range hc.Links {
		name, _, err := parseLink(l)
		if err != nil {
			return err
		}
		if _, err := d.containers.Get(name); err != nil {
			return fmt.Errorf("could not get container for %s: %w", name, err)
		}
	}
	return nil
}

// endpointConfig is the first non-nil of the settings, reduced to what a
// client may ask for: aliases and a fixed address.
func endpointConfig(given ...*network.EndpointSettings) *network.EndpointSettings {
	for _, es := range given {
		if es != nil {
			// MacAddress is the one asked for (--mac-address) until
			// CreateContainer moves it to the record's MACs.
			return &network.EndpointSettings{Aliases: slices.Clone(es.Aliases), IPAMConfig: es.IPAMConfig.Copy(), MacAddress: slices.Clone(es.MacAddress)}
		}
	}
	return &network.EndpointSettings{}
}

// checkEndpointConfig refuses what Docker refuses on its predefined
// networks: fixed addresses and aliases belong to user-defined networks.
func checkEndpointConfig(name string, es *network.EndpointSettings) error {
	if isUserNetwork(name) {
		return nil
	}
	if es.IPAMConfig != nil && (es.IPAMConfig.IPv4Address.IsValid() || es.IPAMConfig.IPv6Address.IsValid()) {
		return errdefs.ErrInvalidArgument.WithMessage("user specified IP address is supported on user defined networks only")
	}
	if len(es.Aliases) > 0 {
		return errdefs.ErrInvalidArgument.WithMessage("network-scoped alias is supported only for containers in user defined networks")
	}
	return nil
}

// checkPortBindings refuses host ports that are neither port numbers nor
// ranges, with Docker's wording.
func checkPortBindings(pm network.PortMap) error {
	for p, bindings := range pm {
		for _, b := range bindings {
			if _, _, err := hostPortRange(b.HostPort); err != nil {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid port specification: %q for %s: %v", b.HostPort, p, err))
			}
		}
	}
	return nil
}

// hostPort parses a bound host port; "" is 0.
func hostPort(s string) (uint16, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("host port must be a number from 0 to 65535")
	}
	return uint16(n), nil
}

// hostPortRange parses a binding's host port: "" (any free port), a
// number, or a range "first-last", served by its first free port as
// dockerd does.
func hostPortRange(s string) (first, last uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if first, err = hostPort(a); err != nil || !isRange {
		return first, first, err
	}
	if last, err = hostPort(b); err != nil || a == "" || b == "" || last < first {
		return 0, 0, fmt.Errorf("host port range must be first-last, from 0 to 65535")
	}
	return first, last, nil
}

// publishedPorts are the ports a container publishes: its PortBindings and,
// with PublishAllPorts, every other exposed port on a free host port.
func publishedPorts(cfg *container.Config, hc *container.HostConfig) []gnetwork.PortBinding {
	var out []gnetwork.PortBinding
	add := func(p network.Port, b network.PortBinding) {
		first, last, _ := hostPortRange(b.HostPort) // checked at create
		out = append(out, gnetwork.PortBinding{Proto: string(p.Proto()), ContainerPort: p.Num(), HostIP: b.HostIP, HostPort: first, HostPortEnd: last})
	}
	for _, p := range sortedPorts(slices.Collect(maps.Keys(hc.PortBindings))) {
		bindings := hc.PortBindings[p]
		if len(bindings) == 0 {
			bindings = []network.PortBinding{{}}
		}
		for _, b := range bindings {
			add(p, b)
		}
	}
	if hc.PublishAllPorts {
		for _, p := range sortedPorts(slices.Collect(maps.Keys(cfg.ExposedPorts))) {
			if _, ok := hc.PortBindings[p]; !ok {
				add(p, network.PortBinding{})
			}
		}
	}
	return out
}

func sortedPorts(ports []network.Port) []network.Port {
	slices.SortFunc(ports, func(a, b network.Port) int {
		if a.Num() != b.Num() {
			return int(a.Num()) - int(b.Num())
		}
		return strings.Compare(string(a.Proto()), string(b.Proto()))
	})
	return ports
}

// setupNetwork gives a starting container its network and writes its
// hostname, hosts and resolv.conf files. It returns the network namespace
// to join ("" for a new one, or the host's in host mode), the container
// whose files are mounted (c, or the one whose namespace c shares) and the
// environment c's legacy links give it. The caller holds c.Lock and calls
// releaseNetwork on error.
func (d *Daemon) setupNetwork(ctx context.Context, c *gcontainer.Container) (netns string, etc *gcontainer.Container, linkEnv []string, err error) {
	mode := c.HostConfig.NetworkMode
	if mode.IsContainer() {
		netns, etc, err := d.sharedNetNS(c)
		return netns, etc, nil, err
	}
	extra, linkEnv, err := d.extraHosts(c)
	if err != nil {
		return "", nil, nil, err
	}
	if !sandboxed(mode) {
		return "", c, nil, writeEtcFiles(c, nil, extra, &d.cfg)
	}
	primary, err := d.networkName(mode)
	if err != nil {
		return "", nil, nil, err
	}
	sb, err := d.networks.NewSandbox(ctx, c.ID, d.sandboxOptions(c)...)
	if err != nil {
		return "", nil, nil, fmt.Errorf("create network namespace: %w", err)
	}
	if err := d.networks.SetDNS(c.ID, dnsConfig(c, &d.cfg)); err != nil {
		return "", nil, nil, err
	}
	c.Ports = network.PortMap{}
	for p := range c.Config.ExposedPorts {
		c.Ports[p] = nil
	}
	names := slices.Sorted(maps.Keys(c.Networks))
	slices.SortStableFunc(names, func(a, b string) int { return boolRank(a == primary) - boolRank(b == primary) })
	var joined []gnetwork.Endpoint
	for _, name := range names {
		var ports []gnetwork.PortBinding
		if name == primary {
			ports = publishedPorts(c.Config, c.HostConfig)
		}
		ep, err := d.join(ctx, c, sb, name, ports)
		if err != nil {
			return "", nil, nil, err
		}
		joined = append(joined, *ep)
	}
	if err := writeEtcFiles(c, joined, extra, &d.cfg); err != nil {
		return "", nil, nil, err
	}
	return sb.Path, c, linkEnv, nil
}

func boolRank(first bool) int {
	if first {
		return 0
	}
	return 1
}

// join connects a running (or starting) container's sandbox to a network
// and records the endpoint in c.Networks and its ports in c.Ports. The
// caller holds c.Lock.
func (d *Daemon) join(ctx context.Context, c *gcontainer.Container, sb *gnetwork.Sandbox, name string, ports []gnetwork.PortBinding) (*gnetwork.Endpoint, error) {
	es := c.Networks[name]
	if es == nil {
		es = &network.EndpointSettings{}
		c.Networks[name] = es
	}
	opts := gnetwork.EndpointOptions{Name: c.Name, Aliases: es.Aliases, Ports: ports}
	if mac, ok := c.MACs[name]; ok {
		opts.MAC, _ = net.ParseMAC(mac)
	}
	if es.IPAMConfig != nil {
		opts.IPv4 = es.IPAMConfig.IPv4Address
	}
	ep, err := d.networks.Join(ctx, sb, name, opts)
	if err != nil {
		if errdefs.IsConflict(err) {
			return nil, err // Docker's wording already, naming the port or address
		}
		return nil, fmt.Errorf("join network %s: %w", name, err)
	}
	recordEndpoint(c, es, ep)
	d.networkEvent(evtypes.ActionConnect, ep.NetworkID, name, "bridge", c.ID)
	return ep, nil
}

// recordEndpoint fills the endpoint settings inspect shows from what the
// network package bound.
func recordEndpoint(c *gcontainer.Container, es *network.EndpointSettings, ep *gnetwork.Endpoint) {
	es.NetworkID = ep.NetworkID
	es.EndpointID = ep.ID
	es.Gateway = ep.Gateway
	es.IPAddress = ep.IP
	es.IPPrefixLen = ep.Prefix
	if mac, err := net.ParseMAC(ep.MAC); err == nil {
		es.MacAddress = network.HardwareAddr(mac)
	}
	if isUserNetwork(ep.NetworkName) {
		es.DNSNames = append(append([]string{c.Name}, es.Aliases...), c.ID[:12])
	}
	for _, pb := range ep.Ports {
		p, _ := network.PortFrom(pb.ContainerPort, network.IPProtocol(pb.Proto))
		ip := pb.HostIP
		if !ip.IsValid() {
			ip = netip.IPv4Unspecified()
		}
		c.Ports[p] = append(c.Ports[p], network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(int(pb.HostPort))})
	}
}

// forgetEndpoint clears what recordEndpoint filled, keeping what was asked
// for (aliases, a fixed address) for the next start.
func forgetEndpoint(es *network.EndpointSettings) {
	*es = network.EndpointSettings{NetworkID: es.NetworkID, Aliases: es.Aliases, IPAMConfig: es.IPAMConfig}
}

// sharedNetNS is the network of a container started with
// --network container:<id>: the namespace of that running container, and
// its hostname, hosts and resolv.conf files.
func (d *Daemon) sharedNetNS(c *gcontainer.Container) (string, *gcontainer.Container, error) {
	ref := c.HostConfig.NetworkMode.ConnectedContainer()
	other, err := d.containers.Get(ref)
	if err != nil {
		return "", nil, err
	}
	if other.ID == c.ID {
		return "", nil, errdefs.ErrInvalidArgument.WithMessage("cannot join own network namespace")
	}
	st := other.Snapshot()
	if !st.IsRunning() {
		return "", nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot join network namespace of a non running container: container %s is not running", other.ID))
	}
	c.Config.Hostname = other.Config.Hostname
	return fmt.Sprintf("/proc/%d/ns/net", st.Pid), other, nil
}

// releaseNetwork undoes setupNetwork: the container leaves its networks
// (its published ports go, its peers' DNS servers no longer name it) and
// its sandbox is removed with its DNS server. It is safe to call for a container that has no
// network. The caller holds c.Lock.
func (d *Daemon) releaseNetwork(ctx context.Context, c *gcontainer.Container) {
	if !sandboxed(c.HostConfig.NetworkMode) {
		return
	}
	if err := d.networks.DeleteSandbox(ctx, c.ID); err != nil {
		d.log.Warn("delete network sandbox", "container", c.ID, "error", err)
	}
	for name, es := range c.Networks {
		if es.EndpointID != "" {
			d.networkEvent(evtypes.ActionDisconnect, es.NetworkID, name, "bridge", c.ID)
		}
		forgetEndpoint(es)
	}
	c.Ports = nil
}

// sandbox is the sandbox of a running container, nil if it has none.
func (d *Daemon) sandbox(id string) *gnetwork.Sandbox {
	sb, err := d.networks.Sandbox(id)
	if err != nil {
		return nil
	}
	return sb
}

// etcFileMode is the mode of the files bind-mounted into /etc.
const etcFileMode = 0o644

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf, bind-mounted by the runtime spec. eps are the
// endpoints the container joined (none in host and none modes; on a
// user-defined network, resolv.conf names the embedded DNS server); extra
// are the lines of extraHosts, also added to the host's hosts file in
// host mode. defaults has the daemon's DNS settings.
func writeEtcFiles(c *gcontainer.Container, eps []gnetwork.Endpoint, extra []string, defaults *Config) error {
	hostname := c.Config.Hostname
	var hosts, resolv []byte
	if c.HostConfig.NetworkMode.IsHost() {
		hosts, _ = os.ReadFile("/etc/hosts")
		if len(hosts) > 0 && !bytes.HasSuffix(hosts, []byte("\n")) {
			hosts = append(hosts, '\n')
		}
		for _, l := range extra {
			hosts = append(hosts, l+"\n"...)
		}
		resolv, _ = gnetwork.HostResolvConf()
	} else {
		hosts = gnetwork.HostsFile(hostname, extra, eps)
		resolv = plainResolvConf(c, defaults)
		if onUserNetwork(eps) {
			resolv, _ = gnetwork.EmbeddedResolvConf(resolv)
		}
	}
	for name, data := range map[string][]byte{
		"hostname":    []byte(hostname + "\n"),
		"hosts":       hosts,
		"resolv.conf": resolv,
	} {
		// Rewritten at every start; a torn file after a crash is rewritten too.
		if err := os.WriteFile(filePath(c, name), data, etcFileMode); err != nil {
			return err
		}
	}
	return nil
}

// portSummaries are the published ports as `docker ps` lists them.
func portSummaries(pm network.PortMap) []container.PortSummary {
	out := []container.PortSummary{}
	for _, p := range sortedPorts(slices.Collect(maps.Keys(pm))) {
		if len(pm[p]) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
		for _, b := range pm[p] {
			public, _ := hostPort(b.HostPort)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: public, Type: string(p.Proto())})
		}
	}
	return out
}

// copyPorts is a copy of pm safe to hand out after the lock is released;
// never nil, as inspect shows {} for a container without ports.
func copyPorts(pm network.PortMap) network.PortMap {
	out := network.PortMap{}
	for p, b := range pm {
		out[p] = slices.Clone(b)
	}
	return out
}

// copyNetworks is a deep copy of a container's endpoint settings.
func copyNetworks(nets map[string]*network.EndpointSettings) map[string]*network.EndpointSettings {
	out := make(map[string]*network.EndpointSettings, len(nets))
	for name, es := range nets {
		out[name] = es.Copy()
	}
	return out
}

// sandboxID names a running container's network stack, as inspect shows it.
func sandboxID(c *gcontainer.View) string {
	if !c.State.IsRunning() || !sandboxed(c.HostConfig.NetworkMode) {
		return ""
	}
	sum := sha256.Sum256([]byte("sandbox/" + c.ID))
	return hex.EncodeToString(sum[:])
}

func sandboxKey(sb *gnetwork.Sandbox) string {
	if sb == nil {
		return ""
	}
	return sb.Path
}

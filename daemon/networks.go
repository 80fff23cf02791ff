package daemon

import (
	"context"
	"fmt"
	evtypes "github.com/moby/moby/api/types/events"
	"maps"
	"net"
	"net/netip"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
	gnetwork "github.com/gantry/gantry/network"
)

// Networks implements GET /networks.
func (d *Daemon) Networks(ctx context.Context, filters api.Filters) ([]network.Summary, error) {
	match, err := networkFilter(filters)
	if err != nil {
		return nil, err
	}
	out := []network.Summary{}
	for _, n := range d.networks.List() {
		if match(n) {
			out = append(out, network.Summary{Network: networkResource(n)})
		}
	}
	return out, nil
}

// networkFilter compiles the filters of GET /networks and POST
// /networks/prune.
func networkFilter(f api.Filters) (func(*gnetwork.Network) bool, error) {
	for key := range f {
		switch key {
		case "name", "id", "driver", "type", "label":
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage("invalid filter '" + key + "'")
		}
	}
	for v := range f["type"] {
		if v != "custom" && v != "builtin" {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter: 'type'='%s'", v))
		}
	}
	return func(n *gnetwork.Network) bool {
		return anyOf(f["name"], func(v string) bool { return strings.Contains(n.Name, v) }) &&
			anyOf(f["id"], func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
			anyOf(f["driver"], func(v string) bool { return n.Driver == v }) &&
			anyOf(f["type"], func(v string) bool { return (v == "custom") == isUserNetwork(n.Name) }) &&
			matchLabels(n.Labels, f["label"])
	}, nil
}

// networkResource is a network as the API shows it.
func networkResource(n *gnetwork.Network) network.Network {
	r := network.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
		EnableIPv4: true, Internal: n.Internal,
		IPAM:    network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
		Options: maps.Clone(n.Options), Labels: maps.Clone(n.Labels),
	}
	if n.Subnet.IsValid() {
		r.IPAM.Config = append(r.IPAM.Config, network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway})
	}
	if r.Options == nil {
		r.Options = map[string]string{}
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	return r
}

// NetworkInspect implements GET /networks/{id}.
func (d *Daemon) NetworkInspect(ctx context.Context, name string) (*network.Inspect, error) {
	n, err := d.networks.Get(name)
	if err != nil {
		return nil, err
	}
	eps, err := d.networks.Endpoints(n.ID)
	if err != nil {
		return nil, err
	}
	out := &network.Inspect{Network: networkResource(n), Containers: map[string]network.EndpointResource{}}
	for _, ep := range eps {
		r := network.EndpointResource{Name: ep.Name, EndpointID: ep.ID, IPv4Address: netip.PrefixFrom(ep.IP, ep.Prefix)}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			r.MacAddress = network.HardwareAddr(mac)
		}
		out.Containers[ep.ContainerID] = r
	}
	return out, nil
}

// CreateNetwork implements POST /networks/create.
func (d *Daemon) CreateNetwork(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if req.Name == "" {
		return network.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage("network name must not be empty")
	}
	if !isUserNetwork(req.Name) {
		return network.CreateResponse{}, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("operation is not permitted on predefined %s network", req.Name))
	}
	opts := gnetwork.CreateOptions{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Labels: req.Labels, Options: req.Options}
	if req.IPAM != nil {
		if d := req.IPAM.Driver; d != "" && d != "default" {
			return network.CreateResponse{}, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("IPAM driver %q is not supported: gantry has the default one only", d))
		}
		switch len(req.IPAM.Config) {
		case 0:
		case 1:
			cfg := req.IPAM.Config[0]
			if cfg.IPRange.IsValid() || len(cfg.AuxAddress) > 0 {
				return network.CreateResponse{}, errdefs.ErrNotImplemented.WithMessage("IP ranges and auxiliary addresses are not supported")
			}
			if cfg.Subnet.IsValid() {
				opts.Subnet = cfg.Subnet.String()
			}
			if cfg.Gateway.IsValid() {
				opts.Gateway = cfg.Gateway.String()
			}
		default:
			return network.CreateResponse{}, errdefs.ErrNotImplemented.WithMessage("a network with more than one subnet is not supported")
		}
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return network.CreateResponse{}, errdefs.ErrNotImplemented.WithMessage("IPv6 networks are not supported")
	}
	n, err := d.networks.Create(ctx, opts)
	if err != nil {
		return network.CreateResponse{}, err
	}
	d.networkEvent(evtypes.ActionCreate, n.ID, n.Name, n.Driver, "")
	return network.CreateResponse{ID: n.ID}, nil
}

// RemoveNetwork implements DELETE /networks/{id}.
func (d *Daemon) RemoveNetwork(ctx context.Context, name string) error {
	return d.removeNetwork(ctx, name)
}

// removeNetwork removes a network and says so.
func (d *Daemon) removeNetwork(ctx context.Context, name string) error {
	n, err := d.networks.Get(name)
	if err != nil {
		return err
	}
	if err := d.networks.Remove(ctx, n.ID); err != nil {
		return err
	}
	d.networkEvent(evtypes.ActionDestroy, n.ID, n.Name, n.Driver, "")
	return nil
}

// PruneNetworks implements POST /networks/prune: every user-defined network
// no running container uses and the filters (until, label, label!, as the
// other prunes) pass is removed.
func (d *Daemon) PruneNetworks(ctx context.Context, filters api.Filters) (network.PruneReport, error) {
	pf, err := parsePruneFilter(filters)
	if err != nil {
		return network.PruneReport{}, err
	}
	report := network.PruneReport{NetworksDeleted: []string{}}
	for _, n := range d.networks.List() {
		if !isUserNetwork(n.Name) || !pf.match(n.Created, n.Labels) {
			continue
		}
		err := d.removeNetwork(ctx, n.ID)
		switch {
		case err == nil:
			report.NetworksDeleted = append(report.NetworksDeleted, n.Name)
		case !errdefs.IsConflict(err) && !errdefs.IsNotFound(err):
			return report, err
		}
	}
	d.pruneEvent(evtypes.NetworkEventType, 0)
	return report, nil
}

// ConnectNetwork implements POST /networks/{id}/connect: a running
// container joins the network at once, a stopped one at its next start.
func (d *Daemon) ConnectNetwork(ctx context.Context, name string, req network.ConnectRequest) error {
	n, err := d.networks.Get(name)
	if err != nil {
		return err
	}
	c, err := d.containers.Get(req.Container)
	if err != nil {
		return err
	}
	if !isUserNetwork(n.Name) && n.Name != gnetwork.DefaultNetwork {
		return errdefs.ErrInvalidArgument.WithMessage("container cannot be disconnected from host network or connected to host network")
	}
	if err := gcontainer.CheckEndpointSupported(n.Name, req.EndpointConfig, c.HostConfig.Links); err != nil {
		return err
	}
	es := endpointConfig(req.EndpointConfig)
	if err := checkEndpointConfig(n.Name, es); err != nil {
		return err
	}
	if err := gcontainer.CheckAliases(n.Name, es.Aliases); err != nil {
		return err
	}
	es.NetworkID = n.ID
	c.Lock()
	defer c.Unlock()
	if !sandboxed(c.HostConfig.NetworkMode) {
		return errdefs.ErrInvalidArgument.WithMessage("container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if _, ok := c.Networks[n.Name]; ok {
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", c.Name, n.Name))
	}
	if c.Networks == nil {
		c.Networks = map[string]*network.EndpointSettings{}
	}
	c.Networks[n.Name] = es
	if sb := d.sandbox(c.ID); sb != nil {
		ep, err := d.join(ctx, c, sb, n.Name, nil)
		if err != nil {
			delete(c.Networks, n.Name)
			return err
		}
		d.updateOwnHosts(c, ep.IP, true)
		if isUserNetwork(n.Name) {
			d.useEmbeddedDNS(c)
		}
	}
	return d.containers.Save(c)
}

// DisconnectNetwork implements POST /networks/{id}/disconnect.
func (d *Daemon) DisconnectNetwork(ctx context.Context, name string, req network.DisconnectRequest) error {
	n, err := d.networks.Get(name)
	if err != nil {
		return err
	}
	c, err := d.containers.Get(req.Container)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if !sandboxed(c.HostConfig.NetworkMode) {
		return errdefs.ErrInvalidArgument.WithMessage("container cannot be disconnected from host network or connected to host network")
	}
	if _, ok := c.Networks[n.Name]; !ok {
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("container %s is not connected to network %s", c.ID, n.Name))
	}
	if sb := d.sandbox(c.ID); sb != nil {
		if err := d.networks.Leave(ctx, sb, n.Name); err != nil {
			return err
		}
		d.networkEvent(evtypes.ActionDisconnect, n.ID, n.Name, n.Driver, c.ID)
		d.updateOwnHosts(c, c.Networks[n.Name].IPAddress, false)
		if primary, _ := d.networkName(c.HostConfig.NetworkMode); primary == n.Name {
			for p := range c.Ports {
				c.Ports[p] = nil // published through the endpoint that went
			}
		}
	}
	delete(c.Networks, n.Name)
	return d.containers.Save(c)
}

package daemon

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/containerd/errdefs"

	gcontainer "github.com/gantry/gantry/container"
	gnetwork "github.com/gantry/gantry/network"
)

// Name resolution on user-defined networks is a managed /etc/hosts: every
// running member's hosts file lists its peers (address, container name,
// aliases, short ID) and is rewritten whenever a container joins or leaves
// one of its networks. There is no DNS server process to run, restart or
// reach (it works in a static busybox with no resolver library, and with
// --dns pointing elsewhere), and a change is visible at once. The file is
// bind-mounted into the container, so it is rewritten in place: a new file
// renamed over it would not be seen through the mount. The default bridge
// does not resolve names, as in Docker.

// hostsFile is a running container's /etc/hosts on the host.
type hostsFile struct {
	path     string
	hostname string
	extra    []string // lines from --add-host and --link, see extraHosts
	primary  string   // ID of the network joined first, whose address is the container's own line
}

// registerHosts starts keeping c's hosts file up to date, and tells the
// members of c's user-defined networks about it.
func (d *Daemon) registerHosts(c *gcontainer.Container, extra []string, primary string) {
	d.net.mu.Lock()
	if d.net.hosts == nil {
		d.net.hosts = map[string]hostsFile{}
	}
	d.net.hosts[c.ID] = hostsFile{path: filePath(c, "hosts"), hostname: c.Config.Hostname, extra: extra, primary: primary}
	d.net.mu.Unlock()
	for name := range c.Networks {
		if isUserNetwork(name) {
			d.refreshHosts(name)
		}
	}
}

// refreshHosts rewrites the hosts file of every running member of the
// network, and of the containers named by also (one that just left it).
// Refreshes are serialised, each reading the endpoints and writing the
// files under d.net.mu: one that read an older view cannot write after
// one that read a newer.
func (d *Daemon) refreshHosts(network string, also ...string) {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	members, err := d.networks.Endpoints(network)
	if err != nil {
		d.log.Warn("list network endpoints", "network", network, "error", err)
		return
	}
	ids := also
	for _, m := range members {
		ids = append(ids, m.ContainerID)
	}
	byContainer := d.endpointsByContainer()
	for _, id := range ids {
		hf, ok := d.net.hosts[id]
		if !ok {
			continue
		}
		own := primaryFirst(byContainer[id], hf.primary)
		var peers []gnetwork.Endpoint
		for _, ep := range own {
			if !isUserNetwork(ep.NetworkName) {
				continue
			}
			for _, p := range byContainer.onNetwork(ep.NetworkID) {
				if p.ContainerID != id {
					peers = append(peers, p)
				}
			}
		}
		// In place (O_TRUNC keeps the inode), since the file is bind-mounted.
		if err := os.WriteFile(hf.path, gnetwork.HostsFile(hf.hostname, hf.extra, own, peers), etcFileMode); err != nil {
			d.log.Warn("update hosts file", "container", id, "error", err)
		}
	}
}

// parseExtraHost splits an --add-host entry, "name:address" (split at the
// first colon, so an IPv6 address needs no brackets) or "name=address";
// the address may be "host-gateway", the default bridge's gateway.
func parseExtraHost(s string) (name, addr string, err error) {
	sep := ":"
	if strings.Contains(s, "=") {
		sep = "="
	}
	name, addr, ok := strings.Cut(s, sep)
	if !ok || name == "" {
		return "", "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("bad format for add-host: %q", s))
	}
	if addr == hostGateway {
		return name, addr, nil
	}
	a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return "", "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IP address in add-host: %q", addr))
	}
	return name, a.String(), nil
}

// hostGateway is the --add-host address Docker replaces with its host
// gateway IP, the default bridge's gateway.
const hostGateway = "host-gateway"

// parseLink splits a legacy link, "name:alias" or "name" (the alias is the
// name); the API's form, "/name:/container/alias", is accepted too.
func parseLink(s string) (name, alias string, err error) {
	name, alias, ok := strings.Cut(s, ":")
	if !ok {
		alias = name
	}
	name = strings.TrimPrefix(name, "/")
	alias = alias[strings.LastIndex(alias, "/")+1:]
	if name == "" || alias == "" {
		return "", "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid link %q: want name:alias", s))
	}
	return name, alias, nil
}

// extraHosts are the lines a container's hosts file has before its own
// address: its --add-host entries, then (on the default bridge) its legacy
// links, each "address<TAB>alias hostname name" as Docker writes them; and,
// if c is on the default bridge, the environment its links give it (see
// linkEnv). A linked container that is not running, or not on the default
// bridge, is an error, as with Docker.
func (d *Daemon) extraHosts(c *gcontainer.Container) (lines, env []string, err error) {
	for _, h := range c.HostConfig.ExtraHosts {
		name, addr, err := parseExtraHost(h)
		if err != nil {
			return nil, nil, err
		}
		if addr == hostGateway {
			bridge, err := d.networks.Get(gnetwork.DefaultNetwork)
			if err != nil {
				return nil, nil, err
			}
			addr = bridge.Gateway.String()
		}
		lines = append(lines, addr+"\t"+name)
	}
	if len(c.HostConfig.Links) == 0 {
		return lines, nil, nil
	}
	_, onBridge := c.Networks[gnetwork.DefaultNetwork]
	eps, err := d.networks.Endpoints(gnetwork.DefaultNetwork)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range c.HostConfig.Links {
		name, alias, err := parseLink(l)
		if err != nil {
			return nil, nil, err
		}
		child, err := d.containers.Get(name)
		if err != nil {
			return nil, nil, err
		}
		// Its endpoint on the bridge tells that it runs there, without
		// taking its lock while c's is held (two containers starting,
		// each linked to the other, would wait for each other).
		i := slices.IndexFunc(eps, func(ep gnetwork.Endpoint) bool { return ep.ContainerID == child.ID })
		if i < 0 {
			if mode := child.HostConfig.NetworkMode; !mode.IsDefault() && !mode.IsBridge() {
				return nil, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Cannot link to /%s, as it does not belong to the default network", name))
			}
			return nil, nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot link to a non running container: /%s AS /%s/%s", name, c.Name, alias))
		}
		names := alias + " " + child.Config.Hostname
		if alias != eps[i].Name {
			names += " " + eps[i].Name
		}
		lines = append(lines, eps[i].IP.String()+"\t"+names)
		if onBridge {
			env = append(env, linkEnv("/"+c.Name+"/"+alias, eps[i].IP, child.Config.Env, slices.Collect(maps.Keys(child.Config.ExposedPorts)))...)
		}
	}
	return lines, env, nil
}

// primaryFirst orders a container's endpoints for its hosts file: the one
// on the primary network (by ID) first, whatever order they were listed in.
func primaryFirst(own []gnetwork.Endpoint, primary string) []gnetwork.Endpoint {
	out := slices.Clone(own)
	slices.SortStableFunc(out, func(a, b gnetwork.Endpoint) int {
		return boolRank(a.NetworkID == primary) - boolRank(b.NetworkID == primary)
	})
	return out
}

// endpoints indexes every endpoint by container ID.
type endpoints map[string][]gnetwork.Endpoint

func (d *Daemon) endpointsByContainer() endpoints {
	out := endpoints{}
	for _, n := range d.networks.List() {
		eps, err := d.networks.Endpoints(n.ID)
		if err != nil {
			continue // removed meanwhile
		}
		for _, ep := range eps {
			out[ep.ContainerID] = append(out[ep.ContainerID], ep)
		}
	}
	return out
}

// onNetwork is the endpoints on one network.
func (e endpoints) onNetwork(networkID string) []gnetwork.Endpoint {
	var out []gnetwork.Endpoint
	for _, eps := range e {
		for _, ep := range eps {
			if ep.NetworkID == networkID {
				out = append(out, ep)
			}
		}
	}
	return out
}

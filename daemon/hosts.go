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

// A container's /etc/hosts is written at its start, as dockerd writes it:
// localhost, the --add-host and --link lines, and its own address with its
// hostname. Peers on user-defined networks find each other through the
// embedded DNS server (see dns.go), not through this file. The default
// bridge does not resolve names, as in Docker, but for links.

// updateOwnHosts adds (joined) or removes the own line of an address in a
// running container's hosts file, after a network connect or disconnect.
// The caller holds c.Lock.
func (d *Daemon) updateOwnHosts(c *gcontainer.Container, ip netip.Addr, joined bool) {
	path := filePath(c, "hosts")
	cur, err := os.ReadFile(path)
	if err != nil {
		return
	}
	next := gnetwork.WithOwnLine(cur, ip, c.Config.Hostname, joined)
	// In place (O_TRUNC keeps the inode), since the file is bind-mounted.
	if err := os.WriteFile(path, next, etcFileMode); err != nil {
		d.log.Warn("update hosts file", "container", c.ID, "error", err)
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
		lines = append(lines, strings.TrimSuffix(gnetwork.HostsLine(addr, name), "\n"))
	}
	if len(c.HostConfig.Links) == 0 || !onDefaultBridge(c.HostConfig.NetworkMode) {
		return lines, nil, nil // on a user-defined network the DNS server answers links
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
		names := []string{alias, child.Config.Hostname}
		if alias != eps[i].Name {
			names = append(names, eps[i].Name)
		}
		lines = append(lines, strings.TrimSuffix(gnetwork.HostsLine(eps[i].IP.String(), names...), "\n"))
		if onBridge {
			env = append(env, linkEnv("/"+c.Name+"/"+alias, eps[i].IP, child.Config.Env, slices.Collect(maps.Keys(child.Config.ExposedPorts)))...)
		}
	}
	return lines, env, nil
}

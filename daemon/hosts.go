package daemon

import (
	"bytes"
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

// localhostEntries open every container's hosts file, as Docker's.
const localhostEntries = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"

// hostsContent is a hosts file: localhost, the extra lines, then the
// container's own lines, an address of each of its endpoints (in the order
// joined) with its hostname, as dockerd 20.10 writes them.
func hostsContent(hostname string, extra []string, own []gnetwork.Endpoint) []byte {
	var b bytes.Buffer
	b.WriteString(localhostEntries)
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	for _, ep := range own {
		b.WriteString(ownHostsLine(ep.IP, hostname))
	}
	return b.Bytes()
}

// ownHostsLine is the hosts line of one of the container's own addresses.
func ownHostsLine(ip netip.Addr, hostname string) string {
	return fmt.Sprintf("%s\t%s\n", ip, hostname)
}

// updateOwnHosts adds (joined) or removes the own line of an address in a
// running container's hosts file, after a network connect or disconnect.
// The caller holds c.Lock.
func (d *Daemon) updateOwnHosts(c *gcontainer.Container, ip netip.Addr, joined bool) {
	path := filePath(c, "hosts")
	cur, err := os.ReadFile(path)
	if err != nil {
		return
	}
	line := ownHostsLine(ip, c.Config.Hostname)
	var next string
	if joined {
		next = string(cur) + line
	} else {
		next = strings.Replace(string(cur), line, "", 1)
	}
	// In place (O_TRUNC keeps the inode), since the file is bind-mounted.
	if err := os.WriteFile(path, []byte(next), etcFileMode); err != nil {
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

// Docker's fallback when the host has no nameserver a container can reach.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// Where the host's resolver configuration is.
const (
	hostResolvConfPath = "/etc/resolv.conf"
	// systemd-resolved's list of its upstream servers: the host's
	// /etc/resolv.conf names only its stub, 127.0.0.53.
	resolvedConfPath = "/run/systemd/resolve/resolv.conf"
)

// readHostResolvConf returns the host's resolv.conf at path and the
// systemd-resolved one at resolvedPath, each nil if missing.
func readHostResolvConf(path, resolvedPath string) (host, resolved []byte) {
	host, _ = os.ReadFile(path)
	resolved, _ = os.ReadFile(resolvedPath)
	return host, resolved
}

// resolvConf is a container's resolv.conf: the host's, without nameservers
// on the host's loopback (the container cannot reach them), with dns,
// search and options replacing the host's when given. With no nameserver
// left, those of resolved (systemd-resolved's upstream servers, as dockerd
// takes them) are used, else Google's public ones, as Docker does.
func resolvConf(host, resolved []byte, dns, search, options []string) []byte {
	var keep []string
	for line := range strings.Lines(string(host)) {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "nameserver",
			len(f) > 0 && f[0] == "search" && len(search) > 0,
			len(f) > 0 && f[0] == "options" && len(options) > 0:
		default:
			keep = append(keep, strings.TrimRight(line, "\n"))
		}
	}
	servers := nameservers(host)
	if len(servers) == 0 {
		servers = nameservers(resolved)
	}
	if len(dns) > 0 {
		servers = dns
	}
	if len(servers) == 0 {
		servers = defaultNameservers
	}
	var b strings.Builder
	for _, l := range keep {
		if strings.TrimSpace(l) != "" {
			b.WriteString(l + "\n")
		}
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return []byte(b.String())
}

// nameservers is the nameservers of a resolv.conf, but those on the
// loopback.
func nameservers(conf []byte) []string {
	var out []string
	for line := range strings.Lines(string(conf)) {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && !a.IsLoopback() {
				out = append(out, f[1])
			}
		}
	}
	return out
}

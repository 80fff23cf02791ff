package daemon

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"

	gcontainer "github.com/gantry/gantry/container"
	gnetwork "github.com/gantry/gantry/network"
	"github.com/gantry/gantry/network/dns"
)

// On a user-defined network a container asks the embedded DNS server of
// its sandbox (package network/dns), as with dockerd: its resolv.conf
// names 127.0.0.11, with the search domains and options it would have had
// (and ndots:0 unless it has an ndots option), and the nameservers it would
// have named (see network.ResolvConf: the host's but loopback ones,
// systemd-resolved's, or --dns) are where the server forwards what is not
// a peer's name.

// dnsConfig is what c's embedded DNS server forwards to, should c join a
// user-defined network, and the aliases of its links there.
func dnsConfig(c *gcontainer.Container, defaults *Config) gnetwork.DNSConfig {
	_, cfg := gnetwork.EmbeddedResolvConf(plainResolvConf(c, defaults))
	if onDefaultBridge(c.HostConfig.NetworkMode) {
		return cfg // links there are hosts lines
	}
	for _, l := range c.HostConfig.Links {
		if name, alias, err := parseLink(l); err == nil {
			if cfg.Links == nil {
				cfg.Links = map[string]string{}
			}
			cfg.Links[strings.ToLower(alias)] = strings.ToLower(name)
		}
	}
	return cfg
}

// onDefaultBridge reports whether a container of network mode runs on the
// default bridge, where legacy links are hosts lines and variables.
func onDefaultBridge(mode container.NetworkMode) bool {
	return mode.IsDefault() || mode.IsBridge()
}

// plainResolvConf is the resolv.conf of a container in a namespace of its
// own that uses no embedded DNS server: its --dns, --dns-search and
// --dns-opt, each else the daemon's (defaults).
func plainResolvConf(c *gcontainer.Container, defaults *Config) []byte {
	return resolvConf(c.HostConfig.DNS, c.HostConfig.DNSSearch, c.HostConfig.DNSOptions, defaults)
}

// resolvConf is the resolv.conf of the given settings, each else the
// daemon's (dockerd's order: a container's own list replaces the daemon's).
func resolvConf(servers []netip.Addr, search, options []string, defaults *Config) []byte {
	host, resolved := gnetwork.HostResolvConf()
	if len(servers) == 0 {
		servers = defaults.DNS
	}
	if len(search) == 0 {
		search = defaults.DNSSearch
	}
	if len(options) == 0 {
		options = defaults.DNSOptions
	}
	var names []string
	for _, a := range servers {
		names = append(names, a.String())
	}
	return gnetwork.ResolvConf(host, resolved, names, search, options)
}

// CheckDNSDefaults checks the daemon's --dns-search and --dns-opt as a
// container's are checked (--dns values are addresses once parsed).
func CheckDNSDefaults(search, options []string) error {
	return gcontainer.CheckCreate(&container.Config{}, &container.HostConfig{DNSSearch: search, DNSOptions: options}, nil)
}

// onUserNetwork reports whether one of the endpoints is on a user-defined
// network.
func onUserNetwork(eps []gnetwork.Endpoint) bool {
	return slices.ContainsFunc(eps, func(ep gnetwork.Endpoint) bool { return isUserNetwork(ep.NetworkName) })
}

// useEmbeddedDNS points the resolv.conf of a running container that has
// just joined a user-defined network at its DNS server, if it does not
// already (it started on the default bridge), as dockerd does. The caller
// holds c.Lock.
func (d *Daemon) useEmbeddedDNS(c *gcontainer.Container) {
	path := filePath(c, "resolv.conf")
	cur, err := os.ReadFile(path)
	if err != nil || bytes.Contains(cur, []byte("nameserver "+dns.Address.String()+"\n")) {
		return
	}
	conf, _ := gnetwork.EmbeddedResolvConf(cur)
	// In place (O_TRUNC keeps the inode), since the file is bind-mounted.
	if err := os.WriteFile(path, conf, etcFileMode); err != nil {
		d.log.Warn("update resolv.conf", "container", c.ID, "error", err)
	}
}

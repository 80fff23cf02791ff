package network

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/gantry/gantry/network/dns"
)

// A container's /etc/hosts and /etc/resolv.conf, rendered from its
// endpoints and the host's resolver configuration. The daemon writes them.

// LocalhostEntries open every container's hosts file, as Docker's; alone
// they are the hosts file of a container without a network.
const LocalhostEntries = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"

// HostsFile is a container's /etc/hosts, as dockerd 20.10 writes it:
// localhost, the extra lines (--add-host, --link), then a line per own
// endpoint (in the order joined), its address with the hostname. Peers on
// user-defined networks are named by the embedded DNS server, not here.
func HostsFile(hostname string, extra []string, own []Endpoint) []byte {
	var b bytes.Buffer
	b.WriteString(LocalhostEntries)
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	for _, ep := range own {
		b.WriteString(HostsLine(ep.IP.String(), hostname))
	}
	return b.Bytes()
}

// HostsLine is a line of a hosts file: the address, a tab, the names.
func HostsLine(addr string, names ...string) string {
	return addr + "\t" + strings.Join(names, " ") + "\n"
}

// WithOwnLine is the hosts file cur with the own line of an address added
// (joined: a network connect) or removed (a disconnect), as dockerd 20.10
// edits a running container's file.
func WithOwnLine(cur []byte, ip netip.Addr, hostname string, joined bool) []byte {
	line := HostsLine(ip.String(), hostname)
	if joined {
		return append(bytes.Clone(cur), line...)
	}
	return bytes.Replace(cur, []byte(line), nil, 1)
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

// HostResolvConf returns the host's /etc/resolv.conf and
// systemd-resolved's list of upstream servers, each nil if missing: what
// ResolvConf starts from.
func HostResolvConf() (host, resolved []byte) {
	return readHostResolvConf(hostResolvConfPath, resolvedConfPath)
}

// readHostResolvConf returns the host's resolv.conf at path and the
// systemd-resolved one at resolvedPath, each nil if missing.
func readHostResolvConf(path, resolvedPath string) (host, resolved []byte) {
	host, _ = os.ReadFile(path)
	resolved, _ = os.ReadFile(resolvedPath)
	return host, resolved
}

// ResolvConf is a container's resolv.conf: the host's, without
// nameservers on the host's loopback (the container cannot reach them),
// with dns, search and options replacing the host's when given. With no
// nameserver left, those of resolved (systemd-resolved's upstream servers,
// as dockerd takes them) are used, else Google's public ones, as Docker
// does.
func ResolvConf(host, resolved []byte, dns, search, options []string) []byte {
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

// EmbeddedResolvConf turns a container's resolv.conf into the one of a
// container using the embedded DNS server, as dockerd writes it (search,
// nameserver, options; nothing else), and returns what the server
// forwards to: the nameservers the file named.
func EmbeddedResolvConf(conf []byte) ([]byte, DNSConfig) {
	var cfg DNSConfig
	var search, options []string
	for line := range strings.Lines(string(conf)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil {
				cfg.Servers = append(cfg.Servers, a)
			}
		case "search":
			search = f[1:] // the last one counts, as for the C library
		case "options":
			options = append(options, f[1:]...)
		}
	}
	cfg.NdotsSet = slices.ContainsFunc(options, func(o string) bool { return strings.HasPrefix(o, "ndots:") })
	if !cfg.NdotsSet {
		options = append(options, "ndots:0")
	}
	var b strings.Builder
	if len(search) > 0 && !slices.Equal(search, []string{"."}) {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	b.WriteString("nameserver " + dns.Address.String() + "\n")
	b.WriteString("options " + strings.Join(options, " ") + "\n")
	return []byte(b.String()), cfg
}

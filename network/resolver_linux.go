package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"

	"github.com/vishvananda/netns"

	"github.com/gantry/gantry/network/dns"
)

// The embedded DNS server, as dockerd's: a container on a user-defined
// network gets one (package dns) when it joins its first such network. Its
// UDP socket and TCP listener are opened inside the container's namespace
// on 127.0.0.11, on ports the kernel picks, and a nat rule there redirects
// port 53 of 127.0.0.11 to them, so that port 53 stays the container's
// own. The sockets stay in the namespace they were born in: gantryd's
// thread that made them returns to its own namespace, and serving them
// costs two goroutines and two descriptors per container (the server
// holds nothing else: not the namespace). Forwarded questions leave from
// the container's namespace too (a socket per question, opened the same
// way through the namespace opened from its path for that question only),
// so that they go where the container's own traffic would, and nowhere on
// an internal network.

// chainDNS is the nat chain, in a container's namespace, of the redirect.
const chainDNS = "GANTRY-DNS"

// resolvesNames reports whether the network's members find each other by
// name: the user-defined bridge networks.
func (n *netState) resolvesNames() bool {
	return n.rec.Driver == "bridge" && n.rec.Name != DefaultNetwork
}

// SetDNS records where the container's embedded DNS server forwards the
// questions it cannot answer; it takes effect when the server starts, at
// the container's first join of a user-defined network. A sandbox that
// does not exist is not found.
func (m *Manager) SetDNS(containerID string, cfg DNSConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.sandbox(containerID)
	if err != nil {
		return err
	}
	s.dnsConfig = cfg
	return nil
}

// AdoptResolver starts again the embedded DNS server of a sandbox adopted
// from a gantryd that died (its sockets went with that process): cfg is
// as SetDNS's, and the server starts only when the sandbox is on a
// user-defined network. The namespace's redirect then points at the new
// sockets. A sandbox that does not exist is not found.
func (m *Manager) AdoptResolver(containerID string, cfg DNSConfig) error {
	m.mu.Lock()
	s, err := m.sandbox(containerID)
	if err == nil {
		s.dnsConfig = cfg
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(s.endpoints, func(ep *endpoint) bool { return ep.net.resolvesNames() }) {
		return nil
	}
	ns, err := openNetNSFile(s.Path)
	if err != nil {
		return fmt.Errorf("start the embedded DNS server: %w", err)
	}
	defer ns.close()
	return m.startResolver(s, ns, true)
}

// startResolver starts the sandbox's DNS server if it has none yet; ns is
// the sandbox's namespace, open for the call (its netlink socket unused).
// An adopted sandbox's namespace already jumps to the redirect chain; a
// new one does not, and is spared the check on the start's path.
func (m *Manager) startResolver(s *sandbox, ns *netNS, adopted bool) error {
	if s.resolver != nil {
		return nil
	}
	var udp *net.UDPConn
	var tcp *net.TCPListener
	err := ns.do(func() error {
		var err error
		if udp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dns.Address, 0))); err != nil {
			return err
		}
		if tcp, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(dns.Address, 0))); err != nil {
			return err
		}
		return redirectDNS(udp.LocalAddr().(*net.UDPAddr).AddrPort().Port(), tcp.Addr().(*net.TCPAddr).AddrPort().Port(), adopted)
	})
	if err != nil {
		if udp != nil {
			udp.Close()
		}
		if tcp != nil {
			tcp.Close()
		}
		return fmt.Errorf("start the embedded DNS server: %w", err)
	}
	m.mu.Lock()
	cfg := s.dnsConfig
	m.mu.Unlock()
	up := dns.Config{NdotsSet: cfg.NdotsSet}
	for _, a := range cfg.Servers {
		up.Upstreams = append(up.Upstreams, netip.AddrPortFrom(a, 53))
	}
	s.resolver = dns.Serve(udp, tcp, sandboxNames{m, s.ContainerID}, dialIn(s.Path), up, m.log.With("container", s.ContainerID))
	return nil
}

// redirectDNS sends what the namespace it runs in sends to port 53 of
// 127.0.0.11 to the given ports of it; the caller is in the namespace. The
// chain is refilled, and jumped to once: in an adopted sandbox the jump is
// looked for first (a gantryd killed before adding it left none).
func redirectDNS(udpPort, tcpPort uint16, adopted bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*nat\n:%s - [0:0]\n", chainDNS)
	jump := []string{"OUTPUT", "-d", dns.Address.String() + "/32", "-j", chainDNS}
	if !adopted || exec.Command("iptables", append([]string{"--wait", "-t", "nat", "-C"}, jump...)...).Run() != nil {
		fmt.Fprintf(&b, "-A %s\n", strings.Join(jump, " "))
	}
	fmt.Fprintf(&b, "-A %s -p udp --dport 53 -j DNAT --to-destination %s:%d\n", chainDNS, dns.Address, udpPort)
	fmt.Fprintf(&b, "-A %s -p tcp --dport 53 -j DNAT --to-destination %s:%d\n", chainDNS, dns.Address, tcpPort)
	b.WriteString("COMMIT\n")
	return restore(b.String()) // the child is born in the caller's thread's namespace
}

// do runs f on a thread inside the namespace, which then returns to its
// own. A thread that cannot return is left locked, and the Go runtime
// destroys it with its goroutine.
func (ns *netNS) do(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.fd); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter the network namespace: %w", err)
			return
		}
		err = f()
		if netns.Set(orig) != nil {
			done <- errors.Join(err, errors.New("return to the original network namespace failed"))
			return
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}

// dialIn is the DNS server's Dialer for the namespace mounted at path: a
// connection opened inside it, through a descriptor of the namespace held
// for the dial only.
func dialIn(path string) dns.Dialer {
	return func(ctx context.Context, network string, server netip.AddrPort) (net.Conn, error) {
		ns, err := openNetNSFile(path)
		if err != nil {
			return nil, err
		}
		defer ns.close()
		var conn net.Conn
		err = ns.do(func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, network, server.String())
			return err
		})
		return conn, err
	}
}

// sandboxNames is the registry of one container's DNS server: the
// endpoints of the user-defined networks the container is on.
type sandboxNames struct {
	m           *Manager
	containerID string
}

// LookupIPv4 finds name, as dockerd does: a container name, a network
// alias or a short container ID on any of the container's user-defined
// networks, or "<that>.<network name>" on that network; the alias of one
// of the container's links stands for the linked container's name.
func (r sandboxNames) LookupIPv4(name string) []netip.Addr {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if s := r.m.sandboxes[r.containerID]; s != nil {
		if target, ok := s.dnsConfig.Links[name]; ok {
			name = target
		}
	}
	nets := r.networks()
	var out []netip.Addr
	for _, n := range nets {
		out = append(out, n.addrsOf(name)...)
	}
	if len(out) == 0 {
		for _, n := range nets {
			if host, ok := strings.CutSuffix(name, "."+strings.ToLower(n.rec.Name)); ok {
				out = append(out, n.addrsOf(host)...)
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// LookupAddr names the container holding addr, "<name>.<network name>".
func (r sandboxNames) LookupAddr(addr netip.Addr) (string, bool) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	for _, n := range r.networks() {
		for _, ep := range n.endpoints {
			if ep.IP == addr {
				return ep.Name + "." + n.rec.Name, true
			}
		}
	}
	return "", false
}

// networks are the user-defined networks the container is on; the caller
// holds m.mu.
func (r sandboxNames) networks() []*netState {
	s := r.m.sandboxes[r.containerID]
	if s == nil {
		return nil
	}
	var out []*netState
	for _, ep := range s.endpoints {
		if ep.net.resolvesNames() {
			out = append(out, ep.net)
		}
	}
	return out
}

// addrsOf is the addresses of the endpoints called name (lower case) on
// the network; the caller holds m.mu.
func (n *netState) addrsOf(name string) []netip.Addr {
	var out []netip.Addr
	for _, ep := range n.endpoints {
		if ep.answersTo(name) {
			out = append(out, ep.IP)
		}
	}
	return out
}

// answersTo reports whether the endpoint is called name (lower case): its
// container's name, one of its aliases, or its container's short ID.
func (ep *endpoint) answersTo(name string) bool {
	if strings.EqualFold(ep.Name, name) || (len(ep.ContainerID) >= 12 && ep.ContainerID[:12] == name) {
		return true
	}
	for _, a := range ep.Aliases {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

package network

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// askIn sends one question to 127.0.0.11:53 from inside a namespace.
func askIn(nsPath, network, name string, qtype uint16) (*dns.Msg, error) {
	var m *dns.Msg
	err := inNS(nsPath, func() error {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), qtype)
		var err error
		m, _, err = (&dns.Client{Net: network, Timeout: time.Second}).Exchange(q, "127.0.0.11:53")
		return err
	})
	return m, err
}

func answerAddrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// startUpstreamAt serves example.com (and NXDOMAIN for the rest) on port
// 53 of addr, in the test's namespace.
func startUpstreamAt(t *testing.T, addr netip.Addr) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(addr, 53).String())
	if err != nil {
		t.Fatal(err)
	}
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "example.com." {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 7)})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go s.ActivateAndServe()
	<-started
	t.Cleanup(func() { s.Shutdown() })
}

func TestEmbeddedDNS(t *testing.T) {
	m, _ := newManager(t)
	front := mustCreate(t, m, CreateOptions{Name: "front", Subnet: "10.71.0.0/24"})
	startUpstreamAt(t, front.Gateway)
	goroutines := runtime.NumGoroutine()

	a, b, d := mustSandbox(t, m, "a0123456789abcdef"), mustSandbox(t, m, "b0123456789abcdef"), mustSandbox(t, m, "d0123456789abcdef")
	for _, sb := range []*Sandbox{a, b} {
		if err := m.SetDNS(sb.ContainerID, DNSConfig{Servers: []netip.Addr{front.Gateway}}); err != nil {
			t.Fatal(err)
		}
	}
	epA := mustJoin(t, m, a, "front", EndpointOptions{Name: "web", Aliases: []string{"www"}})
	mustJoin(t, m, d, DefaultNetwork, EndpointOptions{Name: "plain"})

	t.Run("names", func(t *testing.T) {
		for _, name := range []string{"web", "WEB", "www", "a0123456789a", "web.front"} {
			m, err := askIn(a.Path, "udp", name, dns.TypeA)
			if err != nil || !slices.Equal(answerAddrs(m), []string{epA.IP.String()}) {
				t.Errorf("%s from a: %v %v, want %s", name, m, err, epA.IP)
			}
		}
		if m, err := askIn(a.Path, "tcp", "web", dns.TypeA); err != nil || !slices.Equal(answerAddrs(m), []string{epA.IP.String()}) {
			t.Errorf("web over TCP: %v %v", m, err)
		}
	})

	t.Run("a peer that joins later", func(t *testing.T) {
		if m, err := askIn(a.Path, "udp", "db", dns.TypeA); err != nil || m.Rcode != dns.RcodeNameError {
			t.Fatalf("db before it joins: %v %v, want NXDOMAIN (the upstream's)", m, err)
		}
		epB := mustJoin(t, m, b, "front", EndpointOptions{Name: "db", Aliases: []string{"www"}})
		if m, err := askIn(a.Path, "udp", "db", dns.TypeA); err != nil || !slices.Equal(answerAddrs(m), []string{epB.IP.String()}) {
			t.Errorf("db after it joined: %v %v", m, err)
		}
		first, err1 := askIn(b.Path, "udp", "www", dns.TypeA)
		second, err2 := askIn(b.Path, "udp", "www", dns.TypeA)
		if err1 != nil || err2 != nil || len(first.Answer) != 2 || answerAddrs(first)[0] == answerAddrs(second)[0] {
			t.Errorf("www twice: %v %v / %v %v, want both addresses, rotated", first, err1, second, err2)
		}
	})

	t.Run("forwarded from the container's namespace", func(t *testing.T) {
		m, err := askIn(a.Path, "udp", "example.com", dns.TypeA)
		if err != nil || !slices.Equal(answerAddrs(m), []string{"192.0.2.7"}) {
			t.Errorf("example.com: %v %v", m, err)
		}
	})

	t.Run("port 53 stays the container's", func(t *testing.T) {
		err := inNS(a.Path, func() error {
			c, err := net.ListenPacket("udp4", "0.0.0.0:53")
			if err == nil {
				c.Close()
			}
			return err
		})
		if err != nil {
			t.Errorf("bind 0.0.0.0:53 in the container: %v", err)
		}
		out, err := exec.Command("nsenter", "--net="+a.Path, "iptables-save", "-t", "nat").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "-A "+chainDNS+" -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:") {
			t.Errorf("nat rules in the container: %v\n%s", err, out)
		}
	})

	t.Run("none on the default bridge", func(t *testing.T) {
		if m, err := askIn(d.Path, "udp", "web", dns.TypeA); err == nil {
			t.Errorf("a question on the default bridge was answered: %v", m)
		}
	})

	t.Run("deleted sandbox", func(t *testing.T) {
		if err := m.DeleteSandbox(context.Background(), a.ContainerID); err != nil {
			t.Fatal(err)
		}
		if m, err := askIn(b.Path, "udp", "web", dns.TypeA); err != nil || m.Rcode != dns.RcodeNameError {
			t.Errorf("web after it left: %v %v, want NXDOMAIN", m, err)
		}
		if err := m.DeleteSandbox(context.Background(), b.ContainerID); err != nil {
			t.Fatal(err)
		}
		if err := m.DeleteSandbox(context.Background(), d.ContainerID); err != nil {
			t.Fatal(err)
		}
		goroutines++ // this subtest's
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutines {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines after the sandboxes are gone, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
		}
	})
}

package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// fakeNames is a registry of names a test changes as it goes.
type fakeNames struct {
	mu    sync.Mutex
	addrs map[string][]netip.Addr
}

func (f *fakeNames) set(name string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrs == nil {
		f.addrs = map[string][]netip.Addr{}
	}
	if len(addrs) == 0 {
		delete(f.addrs, name)
		return
	}
	f.addrs[name] = nil
	for _, a := range addrs {
		f.addrs[name] = append(f.addrs[name], netip.MustParseAddr(a))
	}
}

func (f *fakeNames) LookupIPv4(name string) []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs[name])
}

func (f *fakeNames) LookupAddr(addr netip.Addr) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, addrs := range f.addrs {
		if slices.Contains(addrs, addr) {
			return name + ".testnet", true
		}
	}
	return "", false
}

// upstream is a DNS server on 127.0.0.1 that knows example.com and says
// NXDOMAIN for everything else; it counts the questions it got.
type upstream struct {
	addr      netip.AddrPort
	questions atomic.Int32
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	pc, l := listenPair(t)
	u.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		u.questions.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "example.com." && q.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(93, 184, 216, 34)})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		go s.ActivateAndServe()
		t.Cleanup(func() { s.Shutdown() })
	}
	return u
}

// listenPair opens a UDP socket and a TCP listener on one free port of
// 127.0.0.1; the kernel's free UDP port may be a TCP port in use, so a
// few ports are tried.
func listenPair(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	var err error
	for range 20 {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			break
		}
		var l net.Listener
		if l, err = net.Listen("tcp4", pc.LocalAddr().String()); err == nil {
			return pc, l
		}
		pc.Close()
	}
	t.Fatal(err)
	return nil, nil
}

// startResolver serves names on 127.0.0.1 (a test needs no namespace);
// it returns the server's address.
func startResolver(t *testing.T, names Names, cfg Config) (*Resolver, string) {
	t.Helper()
	pc, l := listenPair(t)
	var d net.Dialer
	dial := func(ctx context.Context, network string, server netip.AddrPort) (net.Conn, error) {
		return d.DialContext(ctx, network, server.String())
	}
	r := Serve(pc.(*net.UDPConn), l, names, dial, cfg, nil)
	t.Cleanup(func() { r.Close() })
	return r, pc.LocalAddr().String()
}

// ask sends one question over network ("udp" or "tcp").
func ask(t *testing.T, network, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	m, _, err := c.Exchange(q, server)
	if err != nil {
		t.Fatalf("%s %s: %v", dns.TypeToString[qtype], name, err)
	}
	return m
}

func addrsOf(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func TestResolverNames(t *testing.T) {
	names := &fakeNames{}
	names.set("web", "10.0.0.2")
	names.set("www", "10.0.0.3", "10.0.0.4")
	up := startUpstream(t)
	_, srv := startResolver(t, names, Config{Upstreams: []netip.AddrPort{up.addr}})

	tests := []struct {
		name, network, q string
		qtype            uint16
		rcode            int
		want             []string
	}{
		{"container name", "udp", "web.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.0.2"}},
		{"case does not matter", "udp", "WEB.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.0.2"}},
		{"over tcp", "tcp", "web.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.0.2"}},
		{"ipv6 of a known name: no address, not forwarded", "udp", "web.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"forwarded", "udp", "example.com.", dns.TypeA, dns.RcodeSuccess, []string{"93.184.216.34"}},
		{"forwarded over tcp", "tcp", "example.com.", dns.TypeA, dns.RcodeSuccess, []string{"93.184.216.34"}},
		{"unknown: the upstream's answer", "udp", "nothere.", dns.TypeA, dns.RcodeNameError, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.questions.Load()
			m := ask(t, tt.network, srv, tt.q, tt.qtype)
			if m.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
			}
			if diff := cmp.Diff(tt.want, addrsOf(m)); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
			forwarded := up.questions.Load() != before
			if wantForward := !strings.HasPrefix(tt.q, "web") && !strings.HasPrefix(tt.q, "WEB"); forwarded != wantForward {
				t.Errorf("forwarded %v, want %v", forwarded, wantForward)
			}
		})
	}

	t.Run("alias rotates", func(t *testing.T) {
		first := addrsOf(ask(t, "udp", srv, "www.", dns.TypeA))
		second := addrsOf(ask(t, "udp", srv, "www.", dns.TypeA))
		third := addrsOf(ask(t, "udp", srv, "www.", dns.TypeA))
		if len(first) != 2 || first[0] == second[0] || first[0] != third[0] {
			t.Errorf("answers %v %v %v, want both addresses, the first changing at each", first, second, third)
		}
		if diff := cmp.Diff(first, []string{second[1], second[0]}); diff != "" {
			t.Errorf("second answer is not the first rotated (-first +second rotated):\n%s", diff)
		}
	})

	t.Run("reverse", func(t *testing.T) {
		m := ask(t, "udp", srv, "2.0.0.10.in-addr.arpa.", dns.TypePTR)
		if len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "web.testnet." {
			t.Errorf("PTR 10.0.0.2: %v, want web.testnet.", m.Answer)
		}
	})

	t.Run("joins and leaves are seen at the next question", func(t *testing.T) {
		if m := ask(t, "udp", srv, "late.", dns.TypeA); m.Rcode != dns.RcodeNameError {
			t.Fatalf("late before it joins: %s", dns.RcodeToString[m.Rcode])
		}
		names.set("late", "10.0.0.9")
		if got := addrsOf(ask(t, "udp", srv, "late.", dns.TypeA)); !slices.Equal(got, []string{"10.0.0.9"}) {
			t.Errorf("late after it joined: %v", got)
		}
		names.set("late")
		if m := ask(t, "udp", srv, "late.", dns.TypeA); m.Rcode != dns.RcodeNameError || len(m.Answer) > 0 {
			t.Errorf("late after it left: %s %v, want NXDOMAIN", dns.RcodeToString[m.Rcode], m.Answer)
		}
	})
}

func TestResolverNdotsAndNoUpstream(t *testing.T) {
	names := &fakeNames{}
	up := startUpstream(t)
	_, srv := startResolver(t, names, Config{Upstreams: []netip.AddrPort{up.addr}, NdotsSet: true})
	m := ask(t, "udp", srv, "single.", dns.TypeA)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) > 0 || up.questions.Load() != 0 {
		t.Errorf("single-label name with ndots set: %s %v, %d forwarded; want an empty answer, not forwarded", dns.RcodeToString[m.Rcode], m.Answer, up.questions.Load())
	}
	if got := addrsOf(ask(t, "udp", srv, "example.com.", dns.TypeA)); len(got) != 1 {
		t.Errorf("example.com with ndots set: %v", got)
	}

	_, lonely := startResolver(t, names, Config{})
	if m := ask(t, "udp", lonely, "example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Errorf("no upstream: %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
	}
}

// TestResolverFlood: a client asking as fast as it can is held to the rate
// limit, and another container's resolver answers meanwhile.
func TestResolverFlood(t *testing.T) {
	names := &fakeNames{}
	names.set("web", "10.0.0.2")
	_, flooded := startResolver(t, names, Config{})
	_, other := startResolver(t, names, Config{})

	conn, err := net.Dial("udp4", flooded)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := new(dns.Msg)
	q.SetQuestion("web.", dns.TypeA)
	wire, _ := q.Pack()
	var answered atomic.Int32
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
			answered.Add(1)
		}
	}()
	const sent = 20000
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range sent {
			conn.Write(wire)
		}
	}()
	for i := range 20 {
		if got := addrsOf(ask(t, "udp", other, "web.", dns.TypeA)); len(got) != 1 {
			t.Fatalf("question %d to the other resolver during the flood: %v", i, got)
		}
	}
	<-done
	time.Sleep(100 * time.Millisecond)
	elapsed := time.Since(start).Seconds()
	if max := QueryBurst + int32(elapsed*QueryRate) + 1; answered.Load() > max {
		t.Errorf("%d of %d answered in %.2fs, want at most %d", answered.Load(), sent, elapsed, max)
	}
	if answered.Load() == 0 {
		t.Error("nothing answered during the flood")
	}
}

func TestTokenBucket(t *testing.T) {
	now := time.Unix(0, 0)
	b := newTokenBucket(10, 3, func() time.Time { return now })
	var got []time.Duration
	for range 4 {
		got = append(got, b.take())
	}
	now = now.Add(350 * time.Millisecond) // 3.5 tokens, one owed
	for range 4 {
		got = append(got, b.take())
	}
	ms := time.Millisecond
	want := []time.Duration{0, 0, 0, 100 * ms, 0, 0, 50 * ms, 150 * ms}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

// TestResolverClose: Close interrupts a forward to a server that never
// answers, and closes the sockets.
func TestResolverClose(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	r, srv := startResolver(t, &fakeNames{}, Config{Upstreams: []netip.AddrPort{silent.LocalAddr().(*net.UDPAddr).AddrPort()}})
	go func() {
		q := new(dns.Msg)
		q.SetQuestion("example.com.", dns.TypeA)
		(&dns.Client{Timeout: 10 * time.Second}).Exchange(q, srv)
	}()
	buf := make([]byte, 512)
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := silent.ReadFrom(buf); err != nil {
		t.Fatalf("the question did not reach the upstream: %v", err)
	}
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if d := time.Since(start); d > forwardTimeout/2 {
		t.Errorf("close took %v: it waited for the forward", d)
	}
	if c, err := net.ListenPacket("udp4", srv); err != nil {
		t.Errorf("the UDP address is still taken after close: %v", err)
	} else {
		c.Close()
	}
	if l, err := net.Listen("tcp4", srv); err != nil {
		t.Errorf("the TCP address is still taken after close: %v", err)
	} else {
		l.Close()
	}
}

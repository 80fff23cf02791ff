package dns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
)

// Address is where containers send their questions (their resolv.conf's
// nameserver), as dockerd's embedded server: port 53 of it is redirected
// to the Resolver's sockets inside each container's namespace.
var Address = netip.MustParseAddr("127.0.0.11")

// Limits of one Resolver, that is of one container.
const (
	// QueryRate and QueryBurst bound the questions a container's server
	// reads (a token bucket; see limitReader): a flood waits in the
	// socket's buffer, and costs gantryd no more than this rate.
	QueryRate  = 2000 // per second
	QueryBurst = 500
	// maxForwards bounds the questions being forwarded at once (as
	// dockerd's 100); one more is answered SERVFAIL.
	maxForwards = 100
	// maxTCPConns bounds the TCP connections being served at once.
	maxTCPConns = 16
	// maxUpstreams is how many upstream servers are tried, in order.
	maxUpstreams = 3
	// forwardTimeout bounds one try of one upstream server.
	forwardTimeout = 2 * time.Second
	// ttl is the TTL of the answers about containers, dockerd's.
	ttl = 600
)

// Names is the registry a Resolver answers from, for the container it
// serves: what its peers are called on the networks it is on. It is read
// at every question (nothing is cached), so a name that joins resolves at
// the next question and a name that left is no longer answered.
// Implementations are safe for concurrent use.
type Names interface {
	// LookupIPv4 returns the IPv4 addresses of name (lower case, no
	// trailing dot) on the container's networks, nil if it has none. The
	// order is stable from one call to the next: the Resolver rotates it.
	LookupIPv4(name string) []netip.Addr
	// LookupAddr returns the name (no trailing dot) of the container
	// holding addr on one of the container's networks.
	LookupAddr(addr netip.Addr) (string, bool)
}

// Dialer opens a connection to an upstream server ("udp" or "tcp") from
// inside the container's network namespace, as the container itself would
// reach it: on an internal network it fails.
type Dialer func(ctx context.Context, network string, server netip.AddrPort) (net.Conn, error)

// Config is what a container's Resolver forwards to.
type Config struct {
	// Upstreams are the servers questions about other names go to (the
	// nameservers the container's resolv.conf would have named, --dns);
	// with none, such questions are answered SERVFAIL.
	Upstreams []netip.AddrPort
	// NdotsSet is true when the container asked for an ndots option: a
	// question for a name without a dot that is not a peer's is then
	// answered empty rather than forwarded, so that the client goes on
	// with its search domains (dockerd's rule).
	NdotsSet bool
}

// Resolver is one container's DNS server. It serves until Close.
type Resolver struct {
	names   Names
	dial    Dialer
	cfg     Config
	log     *slog.Logger
	limit   *tokenBucket
	servers []*dns.Server
	served  sync.WaitGroup // the servers' ActivateAndServe calls
	ctx     context.Context
	cancel  context.CancelFunc
	fwd     chan struct{} // a slot per forward in progress

	mu       sync.Mutex
	rotation map[string]uint32 // next first address, by name
}

// Serve starts serving DNS on udp and tcp (both open, made by the caller
// inside the container's namespace; the Resolver owns them from now on,
// closed after an error too). Questions are answered from names, and the
// others forwarded through dial to cfg's upstreams.
func Serve(udp *net.UDPConn, tcp net.Listener, names Names, dial Dialer, cfg Config, log *slog.Logger) *Resolver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{
		names: names, dial: dial, cfg: cfg, log: log,
		limit:    newTokenBucket(QueryRate, QueryBurst, time.Now),
		fwd:      make(chan struct{}, maxForwards),
		rotation: map[string]uint32{},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	decorate := func(inner dns.Reader) dns.Reader { return &limitReader{Reader: inner, limit: r.limit} }
	r.servers = []*dns.Server{
		// An idle UDP server wakes at each read timeout: rarely, then.
		{PacketConn: udp, Net: "udp", Handler: r, DecorateReader: decorate, UDPSize: dns.DefaultMsgSize, ReadTimeout: time.Hour},
		{Listener: netutil.LimitListener(tcp, maxTCPConns), Net: "tcp", Handler: r, DecorateReader: decorate},
	}
	started := make(chan struct{}, 2*len(r.servers))
	for _, s := range r.servers {
		s.NotifyStartedFunc = func() { started <- struct{}{} }
		r.served.Add(1)
		go func() {
			defer r.served.Done()
			if err := s.ActivateAndServe(); err != nil {
				log.Warn("dns server stopped", "net", s.Net, "error", err)
				started <- struct{}{}
			}
		}()
	}
	for range r.servers {
		<-started // so that Close finds them started
	}
	return r
}

// Close stops serving: forwards in progress are abandoned, the sockets are
// closed, and no handler runs once Close returns. It is not safe to call
// twice.
func (r *Resolver) Close() error {
	r.cancel()
	var errs []error
	for _, s := range r.servers {
		if err := s.Shutdown(); err != nil && !strings.Contains(err.Error(), "server not started") {
			errs = append(errs, err)
		}
	}
	r.served.Wait()
	return errors.Join(errs...)
}

// ServeDNS answers one question: a peer's address (A), no address for a
// peer's name (AAAA: the networks are IPv4 only), a peer's name (PTR),
// else the upstream servers' answer.
func (r *Resolver) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	if len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNotImplemented)
		w.WriteMsg(m)
		return
	}
	question := q.Question[0]
	name := strings.ToLower(strings.TrimSuffix(question.Name, "."))
	if question.Qclass == dns.ClassINET {
		if m := r.answer(q, question, name); m != nil {
			r.reply(w, q, m)
			return
		}
	}
	if r.cfg.NdotsSet && (question.Qtype == dns.TypeA || question.Qtype == dns.TypeAAAA) && !strings.Contains(name, ".") {
		r.reply(w, q, reply(q))
		return
	}
	r.reply(w, q, r.forward(q, w.RemoteAddr().Network()))
}

// answer is the answer from the registry, nil if it has none.
func (r *Resolver) answer(q *dns.Msg, question dns.Question, name string) *dns.Msg {
	switch question.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		addrs := r.names.LookupIPv4(name)
		if len(addrs) == 0 {
			return nil
		}
		m := reply(q)
		if question.Qtype == dns.TypeAAAA {
			return m // the name is known: no IPv6 address, and nothing to forward
		}
		for _, a := range r.rotate(name, addrs) {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   a.AsSlice(),
			})
		}
		return m
	case dns.TypePTR:
		addr, ok := reverseAddr(name)
		if !ok {
			return nil
		}
		peer, ok := r.names.LookupAddr(addr)
		if !ok {
			return nil
		}
		m := reply(q)
		m.Answer = append(m.Answer, &dns.PTR{
			Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl},
			Ptr: dns.Fqdn(peer),
		})
		return m
	}
	return nil
}

// rotate returns addrs starting one further at each answer for name, so
// that the containers sharing an alias take turns at being first.
func (r *Resolver) rotate(name string, addrs []netip.Addr) []netip.Addr {
	if len(addrs) < 2 {
		return addrs
	}
	r.mu.Lock()
	if len(r.rotation) > 1024 { // names that left: start afresh rather than grow
		clear(r.rotation)
	}
	first := int(r.rotation[name] % uint32(len(addrs)))
	r.rotation[name]++
	r.mu.Unlock()
	return append(addrs[first:len(addrs):len(addrs)], addrs[:first]...)
}

// forward asks the upstream servers in turn, over network ("udp" or
// "tcp", as the question came), and returns the first answer that is not
// SERVFAIL; without one, SERVFAIL.
func (r *Resolver) forward(q *dns.Msg, network string) *dns.Msg {
	fail := new(dns.Msg)
	fail.SetRcode(q, dns.RcodeServerFailure)
	select {
	case r.fwd <- struct{}{}:
		defer func() { <-r.fwd }()
	default:
		r.log.Debug("dns: too many questions being forwarded; answering SERVFAIL", "limit", maxForwards)
		return fail
	}
	if network != "tcp" {
		network = "udp"
	}
	var last *dns.Msg
	for _, server := range r.cfg.Upstreams[:min(len(r.cfg.Upstreams), maxUpstreams)] {
		m, err := r.exchange(q, network, server)
		if err != nil {
			r.log.Debug("dns: forward", "server", server, "error", err)
			continue
		}
		if m.Rcode != dns.RcodeServerFailure {
			return m
		}
		last = m
	}
	if last != nil {
		return last
	}
	return fail
}

// exchange is one try of one upstream server; Close interrupts it.
func (r *Resolver) exchange(q *dns.Msg, network string, server netip.AddrPort) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(r.ctx, forwardTimeout)
	defer cancel()
	conn, err := r.dial(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := &dns.Client{Net: network, Timeout: forwardTimeout}
	m, _, err := c.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: conn})
	return m, err
}

// reply writes m to the client, truncated to what it can take over UDP.
func (r *Resolver) reply(w dns.ResponseWriter, q, m *dns.Msg) {
	m.Id = q.Id
	if w.RemoteAddr().Network() != "tcp" {
		size := dns.MinMsgSize
		if opt := q.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
		m.Truncate(size)
	}
	if err := w.WriteMsg(m); err != nil {
		r.log.Debug("dns: write answer", "error", err)
	}
}

// reply is an empty answer to q, NOERROR, as dockerd's (recursion
// available, not authoritative).
func reply(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = false
	m.RecursionAvailable = true
	return m
}

// reverseAddr parses "d.c.b.a.in-addr.arpa" (lower case, no trailing dot).
func reverseAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	labels := strings.Split(rest, ".")
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	a, err := netip.ParseAddr(strings.Join(labels, "."))
	return a, err == nil && a.Is4()
}

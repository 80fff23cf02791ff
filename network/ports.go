package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
)

// heldPort is a published host port, reserved by a socket gantryd keeps
// bound (and listening, for TCP) for as long as the port is published: no
// other program can take it, and a port someone else has is found at once.
// Traffic to it seldom reaches the socket: iptables sends it on to the
// container. What does reach it, a container dialling its own bridge's host
// address (hairpin, left alone by the DNAT rule as Docker does) or traffic
// whose rules were gone, is proxied to the container (TCP connections and
// UDP datagrams), as Docker's userland proxy does, rather than lost.
type heldPort struct {
	binding PortBinding // as bound: HostIP and HostPort set
	sock    io.Closer
}

func (h heldPort) Close() error { return h.sock.Close() }

// holdPorts binds every port of an endpoint. After an error none is held.
// The caller holds m.mu.
func (m *Manager) holdPorts(ep *endpoint, bindings []PortBinding) ([]heldPort, error) {
	var held []heldPort
	for _, b := range bindings {
		h, err := m.holdPort(ep, b)
		if err != nil {
			closeAll(held)
			return nil, fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", ep.Name, ep.ID, err)
		}
		held = append(held, h)
	}
	return held, nil
}

// holdPort binds one host port of the endpoint; HostPort 0 takes one the
// kernel picks, a range (HostPortEnd) its first free port.
func (m *Manager) holdPort(ep *endpoint, b PortBinding) (heldPort, error) {
	if b.Proto != "tcp" && b.Proto != "udp" {
		return heldPort{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unsupported protocol %q for port %d", b.Proto, b.ContainerPort))
	}
	if !b.HostIP.IsValid() {
		b.HostIP = m.cfg.DefaultBindIP
	}
	if !b.HostIP.IsValid() {
		b.HostIP = netip.IPv4Unspecified()
	}
	if !b.HostIP.Is4() {
		return heldPort{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("host IP %s of port %d: only IPv4 is supported", b.HostIP, b.ContainerPort))
	}
	last := max(b.HostPort, b.HostPortEnd)
	addr := netip.AddrPortFrom(b.HostIP, b.HostPort).String()
	if last > b.HostPort {
		addr += "-" + strconv.Itoa(int(last))
	}
	to := netip.AddrPortFrom(ep.IP, b.ContainerPort).String()
	var sock io.Closer
	var local net.Addr
	var err error
	for port := b.HostPort; ; port++ {
		sock, local, err = listen(b.Proto, netip.AddrPortFrom(b.HostIP, port).String(), to)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || port == last {
			break
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, syscall.EADDRINUSE) && (last > b.HostPort || m.publishing(b)):
			return heldPort{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Bind for %s failed: port is already allocated", addr))
		case errors.Is(err, syscall.EADDRINUSE):
			return heldPort{}, errdefs.ErrConflict.WithMessage("Error starting userland proxy: " + err.Error())
		}
		return heldPort{}, err
	}
	b.HostPort, b.HostPortEnd = uint16(netip.MustParseAddrPort(local.String()).Port()), 0
	return heldPort{binding: b, sock: sock}, nil
}

// listen binds addr and proxies what reaches it to the container's address
// to: the connections a TCP port accepts, the datagrams a UDP port receives.
func listen(proto, addr, to string) (io.Closer, net.Addr, error) {
	if proto == "tcp" {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return nil, nil, err
		}
		p := newProxy(l, to)
		go p.serve()
		return p, l.Addr(), nil
	}
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, nil, err
	}
	p, err := newUDPProxy(c.(*net.UDPConn), netip.MustParseAddrPort(to), udpIdleTimeout)
	if err != nil {
		return nil, nil, err
	}
	go p.serve()
	return p, c.LocalAddr(), nil
}

// publishing reports whether a container of this Manager publishes the
// host port of b; the caller holds m.mu.
func (m *Manager) publishing(b PortBinding) bool {
	for _, s := range m.sandboxes {
		for _, ep := range s.endpoints {
			for _, p := range ep.Ports {
				if p.Proto == b.Proto && p.HostPort == b.HostPort {
					return true
				}
			}
		}
	}
	return false
}

// proxy serves the connections a held TCP port accepts: each is spliced to
// the container's port. Closing it closes the listener and every accepted
// connection, and cancels the dials in progress.
type proxy struct {
	net.Listener
	to     string          // the container's address and port
	ctx    context.Context // done once the proxy is closed
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func newProxy(l net.Listener, to string) *proxy {
	ctx, cancel := context.WithCancel(context.Background())
	return &proxy{Listener: l, to: to, ctx: ctx, cancel: cancel, conns: map[net.Conn]bool{}}
}

// serve accepts until the proxy is closed. Another Accept error (out of
// descriptors, a connection aborted before it was accepted) is waited out.
func (p *proxy) serve() {
	var delay time.Duration
	for {
		c, err := p.Accept()
		if err != nil {
			if !waitOut(err, &delay, p.ctx.Done()) {
				return
			}
			continue
		}
		delay = 0
		if !p.track(c) {
			c.Close()
			return
		}
		go p.splice(c)
	}
}

// splice proxies c, already tracked, to the container.
func (p *proxy) splice(c net.Conn) {
	defer p.untrack(c)
	defer c.Close()
	d := net.Dialer{Timeout: 10 * time.Second}
	up, err := d.DialContext(p.ctx, "tcp4", p.to)
	if err != nil {
		return
	}
	defer up.Close()
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	<-done
}

// track records a connection for Close to close; false once closed.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *proxy) Close() error {
	p.cancel()
	err := p.Listener.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	return err
}

// waitOut handles an error of a held port's accept or read: false when the
// socket is closed or done is, else true after a wait that grows from 5 ms
// to 1 s with each error in a row (delay; the caller resets it to 0 after
// a success), as net/http's Server waits out Accept errors.
func waitOut(err error, delay *time.Duration, done <-chan struct{}) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	*delay = min(max(2*(*delay), 5*time.Millisecond), time.Second)
	select {
	case <-time.After(*delay):
		return true
	case <-done:
		return false
	}
}

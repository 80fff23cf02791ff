package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// udpIdleTimeout ends a UDP flow through a held port after this long with
// no datagram either way, as Docker's userland proxy does.
const udpIdleTimeout = 90 * time.Second

// udpMaxFlows bounds the flows of one held UDP port; a datagram that would
// open another is dropped.
const udpMaxFlows = 1024

// udpProxy serves the datagrams a held UDP port receives (a container
// sending to its own bridge's host address, which the DNAT rule leaves
// alone, or traffic that met no rule). Each flow, a client address and the
// local address it sent to, gets a socket connected to the container's
// port; what comes back on it goes to the client from the held port, with
// the local address the client sent to as its source. A flow ends after
// idle with no datagram either way; at most maxFlows are open at once.
// Closing the proxy closes the held socket and every flow.
type udpProxy struct {
	conn     *net.UDPConn
	to       netip.AddrPort // the container's address and port
	idle     time.Duration
	maxFlows int
	done     chan struct{} // closed by Close

	mu     sync.Mutex
	flows  map[udpFlow]*net.UDPConn
	closed bool
}

// udpFlow is one client of a held UDP port.
type udpFlow struct {
	client netip.AddrPort
	local  [4]byte // the address the client sent to; zero if unknown
}

// newUDPProxy proxies what conn receives to the container's to, until
// closed; the proxy owns conn, closed after an error too.
func newUDPProxy(conn *net.UDPConn, to netip.AddrPort, idle time.Duration) (*udpProxy, error) {
	raw, err := conn.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		})
		err = errors.Join(cerr, err)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("set IP_PKTINFO: %w", err)
	}
	return &udpProxy{
		conn: conn, to: to, idle: idle, maxFlows: udpMaxFlows,
		done: make(chan struct{}), flows: map[udpFlow]*net.UDPConn{},
	}, nil
}

// serve forwards datagrams to the container until the proxy is closed. A
// datagram that cannot be forwarded, or would open a flow beyond maxFlows,
// is dropped, as the network would. Another read error is waited out, as
// the TCP proxy waits out Accept errors.
func (p *udpProxy) serve() {
	buf := make([]byte, 65535)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	var delay time.Duration
	for {
		n, oobn, _, from, err := p.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if !waitOut(err, &delay, p.done) {
				return
			}
			continue
		}
		delay = 0
		up, err := p.flow(udpFlow{client: from, local: pktinfoLocal(oob[:oobn])})
		if err != nil {
			continue
		}
		up.SetReadDeadline(time.Now().Add(p.idle))
		up.Write(buf[:n])
	}
}

// errUDPFlows is flow's error when a new flow would exceed maxFlows.
var errUDPFlows = errors.New("too many UDP flows")

// flow returns the socket of the flow f, connecting it (and starting its
// replies) if new.
func (p *udpProxy) flow(f udpFlow) (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, net.ErrClosed
	}
	if up, ok := p.flows[f]; ok {
		return up, nil
	}
	if len(p.flows) >= p.maxFlows {
		return nil, errUDPFlows
	}
	up, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(p.to))
	if err != nil {
		return nil, err
	}
	up.SetReadDeadline(time.Now().Add(p.idle))
	p.flows[f] = up
	go p.reply(f, up)
	return up, nil
}

// reply sends what the container answers on up back to the client, until
// the flow is idle or the proxy closed; then the flow is removed.
func (p *udpProxy) reply(f udpFlow, up *net.UDPConn) {
	defer p.drop(f, up)
	buf := make([]byte, 65535)
	var oob []byte
	if f.local != [4]byte{} {
		oob = unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: f.local})
	}
	for {
		n, err := up.Read(buf)
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue // an earlier datagram found the port closed: the flow stays until idle
		}
		if err != nil {
			return // idle, or closed
		}
		up.SetReadDeadline(time.Now().Add(p.idle))
		p.conn.WriteMsgUDPAddrPort(buf[:n], oob, f.client)
	}
}

func (p *udpProxy) drop(f udpFlow, up *net.UDPConn) {
	p.mu.Lock()
	if p.flows[f] == up {
		delete(p.flows, f)
	}
	p.mu.Unlock()
	up.Close()
}

func (p *udpProxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		close(p.done)
	}
	p.closed = true
	for _, up := range p.flows {
		up.Close()
	}
	p.mu.Unlock()
	return p.conn.Close()
}

// pktinfoLocal is the local address of a received datagram, from its
// IP_PKTINFO control message (ipi_spec_dst, after the 4-byte interface
// index); zero if there is none.
func pktinfoLocal(oob []byte) [4]byte {
	var local [4]byte
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo {
			copy(local[:], m.Data[4:8])
		}
	}
	return local
}

package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"

	"github.com/containerd/errdefs"
)

// heldPort is a published host port, reserved by a socket gantryd keeps
// bound (and listening, for TCP) for as long as the port is published: no
// other program can take it, and a port someone else has is found at once.
// Traffic to it never reaches the socket; iptables sends it on to the
// container.
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
		h, err := m.holdPort(b)
		if err != nil {
			closeAll(held)
			return nil, fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", ep.Name, ep.ID, err)
		}
		held = append(held, h)
	}
	return held, nil
}

// holdPort binds one host port; HostPort 0 takes one the kernel picks.
func (m *Manager) holdPort(b PortBinding) (heldPort, error) {
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
	addr := netip.AddrPortFrom(b.HostIP, b.HostPort).String()
	var sock io.Closer
	var local net.Addr
	var err error
	if b.Proto == "tcp" {
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			sock, local = l, l.Addr()
		}
	} else {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp4", addr); err == nil {
			sock, local = c, c.LocalAddr()
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, syscall.EADDRINUSE) && m.publishing(b):
			return heldPort{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Bind for %s failed: port is already allocated", addr))
		case errors.Is(err, syscall.EADDRINUSE):
			return heldPort{}, errdefs.ErrConflict.WithMessage("Error starting userland proxy: " + err.Error())
		}
		return heldPort{}, err
	}
	b.HostPort = uint16(netip.MustParseAddrPort(local.String()).Port())
	return heldPort{binding: b, sock: sock}, nil
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

package network

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestUDPProxy(t *testing.T) {
	to := netip.MustParseAddrPort(echoUDP(t, "", "127.0.0.1:0").String())

	t.Run("idle flows end", func(t *testing.T) {
		p, addr, _ := startUDPProxy(t, to, 50*time.Millisecond)
		if got, err := askUDP(addr, "one"); err != nil || got != "one" {
			t.Fatalf("through the proxy: %q, %v; want the echo", got, err)
		}
		for deadline := time.Now().Add(5 * time.Second); len(udpFlows(p)) != 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d flows 5 s after their last datagram, want none (idle timeout 50 ms)", len(udpFlows(p)))
			}
		}
		if got, err := askUDP(addr, "two"); err != nil || got != "two" {
			t.Errorf("after an idle flow ended: %q, %v; want the echo", got, err)
		}
	})

	t.Run("read errors are waited out", func(t *testing.T) {
		p, addr, done := startUDPProxy(t, to, time.Minute)
		p.conn.SetReadDeadline(time.Now()) // every read fails until cleared
		time.Sleep(50 * time.Millisecond)
		select {
		case <-done:
			t.Fatal("serve returned on a read error other than closed")
		default:
		}
		p.conn.SetReadDeadline(time.Time{})
		if got, err := askUDP(addr, "one"); err != nil || got != "one" {
			t.Errorf("after read errors: %q, %v; want the echo", got, err)
		}
	})

	t.Run("flow cap", func(t *testing.T) {
		p, addr, _ := startUDPProxy(t, to, time.Minute)
		p.mu.Lock()
		p.maxFlows = 1
		p.mu.Unlock()
		if got, err := askUDP(addr, "one"); err != nil || got != "one" {
			t.Fatalf("first client: %q, %v; want the echo", got, err)
		}
		if got, err := askUDP(addr, "two"); err == nil {
			t.Errorf("second client beyond the cap: %q, want its datagram dropped", got)
		}
		if n := len(udpFlows(p)); n != 1 {
			t.Errorf("%d flows, want the cap of 1", n)
		}
	})

	t.Run("close", func(t *testing.T) {
		p, addr, done := startUDPProxy(t, to, time.Minute)
		if got, err := askUDP(addr, "one"); err != nil || got != "one" {
			t.Fatalf("through the proxy: %q, %v; want the echo", got, err)
		}
		ups := udpFlows(p)
		p.Close()
		<-done
		if len(ups) != 1 {
			t.Fatalf("%d flows after one client's datagram, want 1", len(ups))
		}
		if _, err := ups[0].Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("a flow's socket after Close: write = %v, want closed", err)
		}
		if _, err := askUDP(addr, "two"); err == nil {
			t.Error("the held port answers after Close")
		}
	})
}

// startUDPProxy serves a held port on 127.0.0.1 for to; done is closed once
// serve returns.
func startUDPProxy(t *testing.T, to netip.AddrPort, idle time.Duration) (p *udpProxy, addr string, done <-chan struct{}) {
	t.Helper()
	held, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	p, err = newUDPProxy(held, to, idle)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { p.serve(); close(served) }()
	t.Cleanup(func() { p.Close(); <-served })
	return p, held.LocalAddr().String(), served
}

// udpFlows is the flows' sockets.
func udpFlows(p *udpProxy) []*net.UDPConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ups []*net.UDPConn
	for _, up := range p.flows {
		ups = append(ups, up)
	}
	return ups
}

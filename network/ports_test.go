package network

import (
	"bufio"
	"errors"
	"net"
	"testing"
	"time"
)

// failingListener fails its first Accepts with an error other than closed,
// as a listener out of descriptors does.
type failingListener struct {
	net.Listener
	fails chan struct{} // one receive per failure
}

func (l failingListener) Accept() (net.Conn, error) {
	select {
	case <-l.fails:
		return nil, errors.New("accept: too many open files")
	default:
		return l.Listener.Accept()
	}
}

func TestProxyKeepsAcceptingAfterAnError(t *testing.T) {
	backend, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fails := make(chan struct{}, 2)
	fails <- struct{}{}
	fails <- struct{}{}
	p := newProxy(failingListener{Listener: l, fails: fails}, backend.Addr().String())
	done := make(chan struct{})
	go func() { p.serve(); close(done) }()
	defer func() {
		p.Close()
		<-done
	}()

	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a failure, not a wait
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "hello\n" {
		t.Errorf("through the proxy after Accept errors: %q, %v", line, err)
	}
}

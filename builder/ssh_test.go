package builder

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/sys/user"
)

// echoAgents are agents that echo what they get, or hang (read nothing,
// answer nothing) when hang is set.
type echoAgents struct {
	hang  bool
	dials atomic.Int32
}

func (a *echoAgents) Has(id string) bool { return id == "default" }

func (a *echoAgents) Dial(ctx context.Context, id string) (net.Conn, error) {
	a.dials.Add(1)
	c1, c2 := net.Pipe()
	go func() {
		defer c2.Close()
		if a.hang {
			<-ctx.Done()
			return
		}
		io.Copy(c2, c2)
	}()
	return c1, nil
}

// TestSSHSocket: the step's socket has the mount's mode, forwards a
// connection to the agent both ways, and the mounts' close ends the
// connections of an agent that hangs instead of waiting on them.
func TestSSHSocket(t *testing.T) {
	for _, hang := range []bool{false, true} {
		dir := t.TempDir()
		agents := &echoAgents{hang: hang}
		mode := uint64(0o660)
		m := &runMounts{}
		sock, err := m.sshSocket(context.Background(), filepath.Join(dir, "ssh-0.sock"), &instructions.Mount{CacheID: "default", Mode: &mode}, agents, user.IdentityMapping{})
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
			t.Fatalf("socket: %v %v", fi, err)
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("ping"))
		if !hang {
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo through the socket: %q %v", buf, err)
			}
		}
		done := make(chan struct{})
		go func() { m.close(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("hang=%v: the close of the mounts waited on the agent", hang)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("hang=%v: the step's connection after the close: %v, want it closed", hang, err)
		}
		c.Close()
		if _, err := net.Dial("unix", sock); err == nil {
			t.Errorf("hang=%v: the socket still takes connections", hang)
		}
	}
}

// TestSSHSocketLimit: connections beyond maxSSHConns at once are closed
// at once, the others served.
func TestSSHSocketLimit(t *testing.T) {
	agents := &echoAgents{hang: true}
	m := &runMounts{}
	sock, err := m.sshSocket(context.Background(), filepath.Join(t.TempDir(), "s.sock"), &instructions.Mount{CacheID: "default"}, agents, user.IdentityMapping{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < maxSSHConns; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for agents.dials.Load() < maxSSHConns && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling for the dials, no ordering
	}
	if n := agents.dials.Load(); n != maxSSHConns {
		t.Fatalf("%d dials, want %d", n, maxSSHConns)
	}
	over, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection over the limit: %v, want it closed", err)
	}
}

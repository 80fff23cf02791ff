package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/sys/user"
)

// maxSSHConns bounds the agent connections one ssh mount forwards at
// once; a connection beyond it is closed at once (its client sees the
// agent hang up), so a step cannot pile up streams to the client.
const maxSSHConns = 64

// sshSocket listens on a unix socket at sock (in the step's scratch
// directory, removed with it) owned by the mount's uid and gid (0:0) with
// its mode (0600), as BuildKit makes it, and forwards each connection to
// the client's agent id for as long as the step runs: the close of the
// mounts stops the listener and ends every connection. Nothing of the
// agent is written anywhere.
func (m *runMounts) sshSocket(ctx context.Context, sock string, mnt *instructions.Mount, agents SSHAgents, idmap user.IdentityMapping) (string, error) {
	mode, uid, gid := uint64(0o600), 0, 0
	if mnt.Mode != nil {
		mode = *mnt.Mode
	}
	if mnt.UID != nil {
		uid = int(*mnt.UID)
	}
	if mnt.GID != nil {
		gid = int(*mnt.GID)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return "", fmt.Errorf("ssh mount %s: %w", mnt.CacheID, err)
	}
	huid, hgid, err := idmap.ToHost(uid, gid)
	if err == nil {
		err = os.Chown(sock, huid, hgid)
	}
	if err == nil {
		err = os.Chmod(sock, os.FileMode(mode)&os.ModePerm)
	}
	if err != nil {
		l.Close()
		return "", fmt.Errorf("ssh mount %s: %w", mnt.CacheID, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &sshForward{agents: agents, id: mnt.CacheID, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.serve(ctx, l)
	}()
	m.cleanup = append(m.cleanup, func() {
		cancel()
		l.Close()
		<-done
		f.closeAll()
	})
	return sock, nil
}

// sshForward forwards the connections of one ssh mount.
type sshForward struct {
	agents SSHAgents
	id     string

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // the step's and the agents'
	steps  int                   // the step's connections open
	closed bool
	wg     sync.WaitGroup
}

func (f *sshForward) serve(ctx context.Context, l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return // closed by the cleanup
		}
		if !f.track(c, true) {
			c.Close()
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.untrack(c, true)
			agent, err := f.agents.Dial(ctx, f.id)
			if err != nil {
				return // the step's client sees the agent hang up
			}
			if !f.track(agent, false) {
				agent.Close()
				return
			}
			defer f.untrack(agent, false)
			pipe(c, agent)
		}()
	}
}

// track records c, the step's connection or an agent's, to be closed at
// the end, unless the forward ended or the step has too many open.
func (f *sshForward) track(c net.Conn, step bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || step && f.steps >= maxSSHConns {
		return false
	}
	if step {
		f.steps++
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *sshForward) untrack(c net.Conn, step bool) {
	f.mu.Lock()
	delete(f.conns, c)
	if step {
		f.steps--
	}
	f.mu.Unlock()
	c.Close()
}

// closeAll ends every connection and waits for their goroutines.
func (f *sshForward) closeAll() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// pipe copies both ways between a and b until either side ends, then
// closes both.
func pipe(a, b net.Conn) {
	errc := make(chan error, 2)
	cp := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
			_ = cw.CloseWrite()
		} else {
			dst.Close()
		}
		errc <- err
	}
	go cp(a, b)
	go cp(b, a)
	err := <-errc
	if err != nil && !errors.Is(err, net.ErrClosed) {
		a.Close()
		b.Close()
	}
	<-errc
	a.Close()
	b.Close()
}

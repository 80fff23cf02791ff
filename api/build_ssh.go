package api

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// parseSSHHeader reads an SSHHeader value: agent ids, comma-separated.
func parseSSHHeader(v string) ([]string, error) {
	ids := strings.Split(v, ",")
	if len(ids) > 32 {
		return nil, invalidf("invalid %s header: more than 32 agents", SSHHeader)
	}
	for _, id := range ids {
		if id == "" || len(id) > 128 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
			return nil, invalidf("invalid %s header: bad agent id %q", SSHHeader, id)
		}
	}
	return ids, nil
}

// sshStream is the output of a POST /build/sync whose client forwards
// SSH agents: until ForwardSSH, the build's messages go on the raw
// connection (an error of the sync), then on the session's first stream.
type sshStream struct {
	buildStream
	out  *switchWriter
	conn io.ReadWriteCloser // the upgraded connection after the sync
	ids  []string

	sess   *yamux.Session
	stream *yamux.Stream
}

func (s *sshStream) ForwardSSH() (SSHAgents, <-chan struct{}, error) {
	if s.sess != nil {
		return nil, nil, errors.New("ssh forwarding started twice")
	}
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	// A client that reads its output slowly is no reason to end the
	// build (yamux's default is 10 s); one that left closes the socket.
	cfg.ConnectionWriteTimeout = 2 * time.Minute
	sess, err := yamux.Server(s.conn, cfg)
	if err != nil {
		return nil, nil, err
	}
	st, err := sess.OpenStream()
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	s.sess, s.stream = sess, st
	s.out.set(st)
	return sshAgents{sess: sess, ids: s.ids}, sess.CloseChan(), nil
}

// finish ends the session after the last message: the output stream's
// end, then the session's.
func (s *sshStream) finish() {
	if s.sess != nil {
		s.stream.Close()
		s.sess.Close()
	}
}

// sshAgents dial the client's agents through the session.
type sshAgents struct {
	sess *yamux.Session
	ids  []string
}

func (a sshAgents) Has(id string) bool { return slices.Contains(a.ids, id) }

func (a sshAgents) Dial(ctx context.Context, id string) (net.Conn, error) {
	if !a.Has(id) {
		return nil, errors.New("no such agent")
	}
	st, err := a.sess.OpenStream()
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(st, id+"\n"); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// switchWriter writes to w, which set replaces.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}

// readWriteCloser is a connection whose reads come from r.
type readWriteCloser struct {
	io.Reader
	io.WriteCloser
}

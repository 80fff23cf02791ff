package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// Handshakes written on the hijacked connection (engine-api.md §4.4): 101
// when the client asked for an upgrade, else 200 followed by the raw stream
// until the connection closes. Neither carries the standard headers.
const (
	upgradeResponse = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	rawResponse     = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
)

// attach answers POST /containers/{name}/attach (stdin, stdout, stderr,
// stream, logs, detachKeys). Errors the backend returns before it asks for
// the streams are plain error responses. Once it asks (GetStreams), the
// connection is hijacked and the handshake written; the client's bytes
// become stdin, where EOF means the client half-closed (no more stdin), not
// that it left. A failed write to the client cancels the backend's context.
// The connection is closed (write side first) when AttachContainer returns.
func (s *Server) attach(w http.ResponseWriter, r *http.Request, name string) {
	_, upgrade := r.Header["Upgrade"]
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if r.ContentLength > 0 {
		_, _ = io.Copy(io.Discard, r.Body) // a body must not look like stdin
	}

	var (
		mu   sync.Mutex
		conn *hijackedConn
	)
	getStreams := func(multiplexed bool) (io.ReadCloser, io.Writer, io.Writer, error) {
		mu.Lock()
		defer mu.Unlock()
		if conn != nil {
			return nil, nil, nil, errors.New("attach streams already taken")
		}
		c, err := s.hijack(w, upgrade, cancel)
		if c != nil {
			conn = c // taken over: no HTTP error response any more
		}
		if err != nil {
			return nil, nil, nil, err
		}
		var wmu sync.Mutex
		if multiplexed {
			return c.stdin(), &frameWriter{mu: &wmu, w: c, stream: stdcopy.Stdout}, &frameWriter{mu: &wmu, w: c, stream: stdcopy.Stderr}, nil
		}
		out := &lockedWriter{mu: &wmu, w: c}
		return c.stdin(), out, out, nil
	}

	err := s.b.AttachContainer(ctx, name, AttachOptions{
		Stdin:      boolValue(r, "stdin"),
		Stdout:     boolValue(r, "stdout"),
		Stderr:     boolValue(r, "stderr"),
		Stream:     boolValue(r, "stream"),
		Logs:       boolValue(r, "logs"),
		DetachKeys: r.URL.Query().Get("detachKeys"),
		GetStreams: getStreams,
	})

	mu.Lock()
	c := conn
	if c == nil && err == nil {
		// Nothing to stream: still answer the handshake, then end.
		c, err = s.hijack(w, upgrade, cancel)
	}
	conn = &hijackedConn{} // later GetStreams calls fail
	mu.Unlock()
	if c == nil {
		writeError(w, err)
		return
	}
	if err != nil {
		s.log.Debug("api: attach ended", "container", name, "err", err)
	}
	c.close()
}

// hijack takes the connection over from the HTTP server, registers it for
// shutdown and writes the handshake. The connection is returned whenever it
// was taken over, even with an error; the caller closes it.
func (s *Server) hijack(w http.ResponseWriter, upgrade bool, onWriteError func()) (*hijackedConn, error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	// Bytes the server already read past the request are the first stdin.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	c := &hijackedConn{
		Conn:         nc,
		pending:      bytes.Clone(buffered),
		untrack:      s.trackHijacked(nc),
		onWriteError: onWriteError,
	}
	handshake := rawResponse
	if upgrade {
		handshake = upgradeResponse
	}
	if _, err := io.WriteString(c, handshake); err != nil {
		return c, err
	}
	return c, nil
}

// hijackedConn is an attach connection after the handshake.
type hijackedConn struct {
	net.Conn
	pending      []byte // stdin bytes buffered by the HTTP server
	untrack      func()
	onWriteError func()

	mu          sync.Mutex
	stdinClosed bool
}

// Write writes to the client; a failure means the client is gone.
func (c *hijackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && c.onWriteError != nil {
		c.onWriteError()
	}
	return n, err
}

func (c *hijackedConn) stdin() io.ReadCloser { return &hijackedStdin{c: c} }

// close half-closes the write side (the client sees EOF on its read side),
// then closes the connection.
func (c *hijackedConn) close() {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Conn.Close()
	c.untrack()
}

// hijackedStdin reads the client's bytes: first what the HTTP server had
// buffered, then the connection. EOF means the client half-closed its write
// side. Close ends stdin only: a pending Read returns io.EOF, output keeps
// flowing.
type hijackedStdin struct {
	c *hijackedConn
}

func (in *hijackedStdin) Read(p []byte) (int, error) {
	c := in.c
	c.mu.Lock()
	if c.stdinClosed {
		c.mu.Unlock()
		return 0, io.EOF
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		closed := c.stdinClosed
		c.mu.Unlock()
		if closed && errors.Is(err, os.ErrDeadlineExceeded) {
			return n, io.EOF
		}
	}
	return n, err
}

func (in *hijackedStdin) Close() error {
	in.c.mu.Lock()
	in.c.stdinClosed = true
	in.c.mu.Unlock()
	return in.c.Conn.SetReadDeadline(time.Now()) // wakes a pending Read
}

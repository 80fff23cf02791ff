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

	hs := &hijackSession{s: s, w: w, upgrade: upgrade, cancel: cancel}
	err := s.b.AttachContainer(ctx, name, AttachOptions{
		Stdin:      boolValue(r, "stdin"),
		Stdout:     boolValue(r, "stdout"),
		Stderr:     boolValue(r, "stderr"),
		Stream:     boolValue(r, "stream"),
		Logs:       boolValue(r, "logs"),
		DetachKeys: r.URL.Query().Get("detachKeys"),
		GetStreams: hs.getStreams,
	})
	if hs.finish(err) != nil {
		s.log.Debug("api: attach ended", "container", name, "err", err)
	}
}

// hijackSession lends a request's connection to a backend that streams
// over it (attach, exec start).
type hijackSession struct {
	s       *Server
	w       http.ResponseWriter
	upgrade bool
	cancel  func() // called when a write to the client fails

	mu     sync.Mutex
	conn   *hijackedConn
	stdout io.Writer
}

// getStreams is the backend's GetStreams: it hijacks the connection, writes
// the handshake and returns stdin and the output writers (multiplexed
// frames, or one raw stream). It may be called once.
func (h *hijackSession) getStreams(multiplexed bool) (io.ReadCloser, io.Writer, io.Writer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		return nil, nil, nil, errors.New("attach streams already taken")
	}
	c, err := h.s.hijack(h.w, h.upgrade, h.cancel)
	if c != nil {
		h.conn = c // taken over: no HTTP error response any more
	}
	if err != nil {
		return nil, nil, nil, err
	}
	var wmu sync.Mutex
	if multiplexed {
		h.stdout = &frameWriter{mu: &wmu, w: c, stream: stdcopy.Stdout}
		return c.stdin(), h.stdout, &frameWriter{mu: &wmu, w: c, stream: stdcopy.Stderr}, nil
	}
	h.stdout = &lockedWriter{mu: &wmu, w: c}
	return c.stdin(), h.stdout, h.stdout, nil
}

// finish ends the request once the backend returned err. Before the
// streams were taken, err is an ordinary error response, and nil still
// answers the handshake (a stream with nothing in it). After, the
// connection is closed, and err is returned for the caller to report.
func (h *hijackSession) finish(err error) error {
	h.mu.Lock()
	c := h.conn
	if c == nil && err == nil {
		c, err = h.s.hijack(h.w, h.upgrade, h.cancel)
	}
	h.conn = &hijackedConn{} // later getStreams calls fail
	h.mu.Unlock()
	if c == nil {
		writeError(h.w, err)
		return nil
	}
	c.close()
	return err
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

// streamText writes text to the stdout stream when the streams were taken,
// and reports whether it did.
func (h *hijackSession) streamText(text string) bool {
	h.mu.Lock()
	stdout := h.stdout
	h.mu.Unlock()
	if stdout == nil {
		return false
	}
	_, _ = io.WriteString(stdout, text)
	return true
}

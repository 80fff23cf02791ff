package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/container"
)

// ExecStartOptions are the body of POST /exec/{id}/start and, unless
// detached, the client's streams.
type ExecStartOptions struct {
	Detach bool
	// Tty is the start request's Tty, which decides the framing: raw with a
	// TTY, else multiplexed (as dockerd, whatever the exec was created with).
	Tty         bool
	ConsoleSize *[2]uint // [height, width]; nil when not given
	// GetStreams is nil when Detach; else as AttachOptions.GetStreams.
	GetStreams func(multiplexed bool) (stdin io.ReadCloser, stdout, stderr io.Writer, err error)
}

// ExecBackend answers the exec endpoints.
type ExecBackend interface {
	// CreateExec records a process to run in running container name and
	// returns its ID. A container that does not run is a conflict.
	CreateExec(ctx context.Context, name string, cfg container.ExecCreateRequest) (string, error)
	// StartExec starts exec id. Detached, it returns once the process runs.
	// Otherwise it takes the streams, and returns once the exit code is
	// recorded (after the last output was written), the client detached,
	// or ctx ended. An error returned after the streams were taken is
	// written to the client's stdout stream.
	StartExec(ctx context.Context, id string, opts ExecStartOptions) error
	// ResizeExec sets the size of exec id's TTY, waiting a little for the
	// process when the start is under way.
	ResizeExec(ctx context.Context, id string, height, width uint) error
	ExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error)
}

// createExec answers POST /containers/{name}/exec with 201 {"Id":...}.
func (s *Server) createExec(w http.ResponseWriter, r *http.Request, name string) {
	var req container.ExecCreateRequest
	if err := readJSON(w, r, &req); err != nil {
		if errors.Is(err, io.EOF) {
			writeError(w, invalidf("No exec command specified"))
			return
		}
		writeError(w, badJSON("invalid exec request", err))
		return
	}
	id, err := s.b.CreateExec(r.Context(), name, req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

// startExec answers POST /exec/{id}/start. Detached: 200 with an empty body
// once the process runs. Otherwise the connection is hijacked as for attach
// (101 with Upgrade, else 200 and the raw stream), the process's output
// follows (multiplexed without Tty) and the connection is closed once the
// exit code is recorded. Errors after the hijack (the process could not
// start) are written to the stdout stream, as dockerd does.
func (s *Server) startExec(w http.ResponseWriter, r *http.Request, id string) {
	var req container.ExecStartRequest
	// The body must be read before the hijack, or it would look like stdin.
	if err := readJSON(w, r, &req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, badJSON("invalid exec start request", err))
		return
	}
	_, _ = io.Copy(io.Discard, r.Body) // what follows the JSON value (its newline)
	opts := ExecStartOptions{Detach: req.Detach, Tty: req.Tty, ConsoleSize: req.ConsoleSize}
	if req.Detach {
		if err := s.b.StartExec(r.Context(), id, opts); err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	_, upgrade := r.Header["Upgrade"]
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	hs := &hijackSession{s: s, w: w, upgrade: upgrade, cancel: cancel}
	opts.GetStreams = hs.getStreams
	err := s.b.StartExec(ctx, id, opts)
	if err != nil && hs.streamText(err.Error()+"\r\n") {
		s.log.Debug("api: exec start failed", "exec", id, "err", err)
	}
	hs.finish(err)
}

// resizeExec answers POST /exec/{id}/resize?h=&w= with 200 and an empty body.
func (s *Server) resizeExec(w http.ResponseWriter, r *http.Request, id string) {
	h, wd, err := sizeValues(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.b.ResizeExec(r.Context(), id, h, wd); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// inspectExec answers GET /exec/{id}/json.
func (s *Server) inspectExec(w http.ResponseWriter, r *http.Request, id string) {
	resp, err := s.b.ExecInspect(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// sizeValues reads the h and w parameters of a resize.
func sizeValues(r *http.Request) (height, width uint, err error) {
	h, err := strconv.ParseUint(r.URL.Query().Get("h"), 10, 32)
	if err != nil {
		return 0, 0, invalidf("invalid height %q", r.URL.Query().Get("h"))
	}
	wd, err := strconv.ParseUint(r.URL.Query().Get("w"), 10, 32)
	if err != nil {
		return 0, 0, invalidf("invalid width %q", r.URL.Query().Get("w"))
	}
	return uint(h), uint(wd), nil
}

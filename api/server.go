package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// API versions this server speaks: it advertises DefaultAPIVersion and
// accepts requests for any version from MinAPIVersion up to it.
const (
	DefaultAPIVersion = "1.47"
	MinAPIVersion     = "1.24"
)

// DefaultShutdownGrace is how long Serve lets running requests finish after
// its context is done, when Options.ShutdownGrace is zero.
const DefaultShutdownGrace = 10 * time.Second

// Options configure a Server. The zero value is usable.
type Options struct {
	// Version is gantryd's own version, sent as "Server: Gantry/<Version> (linux)".
	Version string
	// APIVersion is the advertised API version; "" means DefaultAPIVersion.
	APIVersion string
	// MinAPIVersion is the oldest accepted API version; "" means MinAPIVersion.
	MinAPIVersion string
	// Logger receives one debug record per request and the server's own
	// errors; nil discards them.
	Logger *slog.Logger
	// ShutdownGrace bounds how long Serve waits for running requests
	// (hijacked streams included) once its context is done; 0 means
	// DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// Debug serves Go's profiles under /debug/pprof/, as dockerd does when
	// started with --debug.
	Debug bool
}

// Server serves the Docker Engine API from a Backend. It is an http.Handler;
// Serve runs it on a listener with graceful shutdown.
type Server struct {
	b      Backend
	opts   Options
	log    *slog.Logger
	routes []route

	mu       sync.Mutex
	hijacked map[net.Conn]struct{} // connections taken over by attach

	// stopping is closed when Serve begins its shutdown: endless streams
	// (events) end then instead of holding it for the grace period.
	stopping     chan struct{}
	stoppingOnce sync.Once
}

// New returns a Server answering from b.
func New(b Backend, opts Options) *Server {
	if opts.APIVersion == "" {
		opts.APIVersion = DefaultAPIVersion
	}
	if opts.MinAPIVersion == "" {
		opts.MinAPIVersion = MinAPIVersion
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{b: b, opts: opts, log: log, hijacked: map[net.Conn]struct{}{}, stopping: make(chan struct{})}
	s.routes = s.routeTable()
	return s
}

// Serve answers requests from every listener in ls until ctx is done.
// Then it stops accepting, lets running requests (hijacked attach streams
// included) finish for Options.ShutdownGrace, and after that cancels their
// contexts and closes their connections. It closes the listeners. It
// returns nil after a shutdown caused by ctx, or the error that stopped
// accepting on one of them (which stops them all). Call it once per Server.
func (s *Server) Serve(ctx context.Context, ls ...net.Listener) error {
	base, cancelAll := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAll()
	srv := &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if len(ls) == 0 {
		return errors.New("api: no listener to serve on")
	}
	served := make(chan error, len(ls))
	for _, l := range ls {
		go func() { served <- srv.Serve(l) }()
	}
	// wait collects the other listeners' ends once one has ended.
	wait := func(first error) error {
		for range len(ls) - 1 {
			<-served
		}
		if first != nil && !errors.Is(first, http.ErrServerClosed) {
			return first
		}
		return nil
	}

	select {
	case err := <-served:
		_ = srv.Close()
		s.closeHijacked()
		wait(nil)
		return err
	case <-ctx.Done():
	}
	s.stoppingOnce.Do(func() { close(s.stopping) })

	graceCtx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(graceCtx)
	if err == nil {
		err = s.waitHijacked(graceCtx)
	}
	if err != nil {
		s.log.Info("api: grace period over, cancelling running requests")
		cancelAll()
		s.closeHijacked()
		_ = srv.Close()
	}
	return wait(<-served)
}

// trackHijacked registers a connection taken over from the HTTP server so
// that shutdown can wait for it and close it; the returned func unregisters it.
func (s *Server) trackHijacked(c net.Conn) (untrack func()) {
	s.mu.Lock()
	s.hijacked[c] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.hijacked, c)
		s.mu.Unlock()
	}
}

// waitHijacked returns nil once no hijacked connection is left, or ctx's error.
func (s *Server) waitHijacked(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.hijacked)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *Server) closeHijacked() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.hijacked {
		_ = c.Close()
	}
}

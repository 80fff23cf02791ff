package api

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// timestampFormat is RFC 3339 with fixed nine-digit nanoseconds, as dockerd
// prefixes log lines ("2026-11-23T14:52:34.047764140Z").
const timestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// logs answers GET /containers/{name}/logs (stdout, stderr, follow, tail,
// since, until, timestamps). The body is chunked and has no Content-Type, as
// dockerd's: multiplexed frames for a container without a TTY, raw bytes for
// one with a TTY, one write and flush per message.
func (s *Server) logs(w http.ResponseWriter, r *http.Request, name string) {
	opts := LogsOptions{
		Stdout: boolValue(r, "stdout"),
		Stderr: boolValue(r, "stderr"),
		Follow: boolValue(r, "follow"),
		Tail:   -1,
	}
	if !opts.Stdout && !opts.Stderr {
		writeError(w, invalidf("Bad parameters: you must choose at least one stream"))
		return
	}
	if tail := r.URL.Query().Get("tail"); tail != "" && tail != "all" {
		if n, err := strconv.Atoi(tail); err == nil && n >= 0 {
			opts.Tail = n
		}
	}
	var err error
	if opts.Since, err = parseUnixTime(r.URL.Query().Get("since")); err != nil {
		writeError(w, err)
		return
	}
	if opts.Until, err = parseUnixTime(r.URL.Query().Get("until")); err != nil {
		writeError(w, err)
		return
	}
	timestamps := boolValue(r, "timestamps")

	ch, tty, err := s.b.ContainerLogs(r.Context(), name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header()["Content-Type"] = nil // no sniffing: dockerd sends none
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	var mu sync.Mutex
	stdout, stderr := io.Writer(w), io.Writer(w)
	if !tty {
		stdout = &frameWriter{mu: &mu, w: w, stream: stdcopy.Stdout}
		stderr = &frameWriter{mu: &mu, w: w, stream: stdcopy.Stderr}
	}
	for m := range ch {
		out := stdout
		if m.Stream == "stderr" {
			out = stderr
		}
		line := m.Line
		if timestamps {
			line = append([]byte(m.Time.UTC().Format(timestampFormat)+" "), m.Line...)
		}
		if _, err := out.Write(line); err != nil {
			break // client gone; the backend stops on ctx
		}
		_ = rc.Flush()
	}
	// Drain so that a backend blocked on a send sees ctx done and closes ch.
	go func() {
		for range ch {
		}
	}()
}

// parseUnixTime reads "seconds[.fraction]" since the epoch; "" or "0" is the
// zero time (unbounded).
func parseUnixTime(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	secStr, fracStr, _ := strings.Cut(v, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil {
		return time.Time{}, invalidf("invalid timestamp %q", v)
	}
	var nsec int64
	if fracStr != "" {
		if len(fracStr) > 9 {
			fracStr = fracStr[:9]
		}
		fracStr += strings.Repeat("0", 9-len(fracStr))
		if nsec, err = strconv.ParseInt(fracStr, 10, 64); err != nil {
			return time.Time{}, invalidf("invalid timestamp %q", v)
		}
	}
	return time.Unix(sec, nsec), nil
}

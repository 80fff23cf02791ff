package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"
)

// build answers POST /build: the body is the context tar, the answer the
// build's JSON-message stream. Errors before the first message (bad
// parameters, a Dockerfile that does not parse) are plain error responses.
func (s *Server) build(w http.ResponseWriter, r *http.Request, _ string) {
	opts, err := buildOptions(r)
	if err == nil && opts.SSH != nil {
		err = invalidf("the %s header needs POST /build/sync", SSHHeader)
	}
	if err == nil && opts.DockerfileData != nil {
		err = invalidf("the %s header needs POST /build/sync", DockerfileHeader)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	stream := newJSONStream(w)
	err = s.b.Build(r.Context(), r.Body, opts, buildStream{stream})
	if err == nil {
		return
	}
	if !stream.Started() {
		writeError(w, err)
		return
	}
	code := 0
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	_ = stream.Error(err, code)
}

// ContextSyncProtocol is the Upgrade header's value of POST /build/sync.
const ContextSyncProtocol = "gantry-context-sync"

// buildSync answers POST /build/sync (Gantry's own, for gantry build):
// the query is POST /build's plus context, the key of the client's
// context (64 hex digits); the request asks for an upgrade to
// ContextSyncProtocol. Bad parameters are plain error responses; then
// the connection is hijacked (101), the context synced over it in
// fsutil's protocol (package ctxsync) and the build's JSON-message
// stream follows on it until the connection closes. An error after the
// upgrade is the stream's last message (an error in the sync is also
// sent to the client's sender as the protocol's error packet).
func (s *Server) buildSync(w http.ResponseWriter, r *http.Request, _ string) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), ContextSyncProtocol) {
		writeError(w, invalidf("POST /build/sync needs Upgrade: %s", ContextSyncProtocol))
		return
	}
	opts, err := buildOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	key := r.URL.Query().Get("context")
	if len(key) != 64 || strings.Trim(key, "0123456789abcdef") != "" {
		writeError(w, invalidf("invalid context key %q: want 64 hex digits", key))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	c, err := s.hijack(w, true, cancel)
	if c == nil {
		writeError(w, err)
		return
	}
	defer c.close()
	if err != nil {
		return
	}
	// Cancelled when the client leaves: a read of the connection fails.
	sw := &switchWriter{w: c}
	stream := newJSONStream(&rawStream{w: sw})
	var out BuildOutput = buildStream{stream}
	if opts.SSH != nil {
		ss := &sshStream{buildStream: buildStream{stream}, out: sw, conn: readWriteCloser{c.stdin(), c}, ids: opts.SSH}
		defer ss.finish()
		out = ss
	}
	err = s.b.BuildSync(ctx, key, c.stdin(), c, opts, out)
	if err == nil {
		return
	}
	code := 0
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	_ = stream.Error(err, code)
}

// rawStream is the http.ResponseWriter of a JSON-message stream written
// on a hijacked connection: no status line, no headers.
type rawStream struct {
	w io.Writer
	h http.Header
}

func (r *rawStream) Header() http.Header {
	if r.h == nil {
		r.h = http.Header{}
	}
	return r.h
}
func (r *rawStream) WriteHeader(int)             {}
func (r *rawStream) Write(p []byte) (int, error) { return r.w.Write(p) }
func (r *rawStream) Flush()                      {}

// buildOptions decodes the query parameters of POST /build.
func buildOptions(r *http.Request) (BuildOptions, error) {
	q := r.URL.Query()
	opts := BuildOptions{
		Tags:           q["t"],
		Dockerfile:     q.Get("dockerfile"),
		Target:         q.Get("target"),
		NoCache:        boolValue(r, "nocache"),
		Remove:         boolValueOr(r, "rm", true),
		ForceRemove:    boolValue(r, "forcerm"),
		Pull:           boolValue(r, "pull"),
		Quiet:          boolValue(r, "q"),
		NetworkMode:    q.Get("networkmode"),
		Platform:       q.Get("platform"),
		RegistryConfig: r.Header.Get("X-Registry-Config"),
	}
	if v := q.Get("buildargs"); v != "" {
		if err := json.Unmarshal([]byte(v), &opts.BuildArgs); err != nil {
			return opts, invalidf("invalid buildargs: %v", err)
		}
	}
	if v := q.Get("cachefrom"); v != "" {
		if err := json.Unmarshal([]byte(v), &opts.CacheFrom); err != nil {
			return opts, invalidf("invalid cachefrom: %v", err)
		}
	}
	if v := q.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &opts.Labels); err != nil {
			return opts, invalidf("invalid labels: %v", err)
		}
	}
	if v := r.Header.Get(SecretsHeader); v != "" {
		secrets, err := DecodeSecrets(v)
		if err != nil {
			return opts, err
		}
		opts.Secrets = secrets
	}
	if v := r.Header.Get(SSHHeader); v != "" {
		ids, err := parseSSHHeader(v)
		if err != nil {
			return opts, err
		}
		opts.SSH = ids
	}
	if v := r.Header.Get(DockerfileHeader); v != "" {
		data, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return opts, invalidf("invalid %s header", DockerfileHeader)
		}
		opts.DockerfileData = data
	}
	if v := q.Get("shmsize"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return opts, invalidf("invalid value for shmsize: %q", v)
		}
		opts.ShmSize = n
	}
	return opts, nil
}

// buildStream writes a build's messages on a JSON-message stream.
type buildStream struct{ s *jsonStream }

func (b buildStream) Stream(text string) error {
	return b.s.Write(jsonstream.Message{Stream: text})
}

func (b buildStream) Progress(m jsonstream.Message) error {
	return b.s.Write(m)
}

func (b buildStream) Aux(id string) error {
	aux, err := json.Marshal(struct{ ID string }{id})
	if err != nil {
		return err
	}
	raw := json.RawMessage(aux)
	return b.s.Write(jsonstream.Message{Aux: &raw})
}

// DecodeSecrets reads a SecretsHeader value; a malformed one is an
// invalid-argument error that does not quote it.
func DecodeSecrets(v string) (map[string][]byte, error) {
	b, err := base64.StdEncoding.DecodeString(v)
	var secrets map[string][]byte
	if err == nil {
		err = json.Unmarshal(b, &secrets)
	}
	if err != nil {
		return nil, invalidf("invalid %s header", SecretsHeader)
	}
	return secrets, nil
}

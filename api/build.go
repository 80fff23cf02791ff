package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/jsonstream"
)

// build answers POST /build: the body is the context tar, the answer the
// build's JSON-message stream. Errors before the first message (bad
// parameters, a Dockerfile that does not parse) are plain error responses.
func (s *Server) build(w http.ResponseWriter, r *http.Request, _ string) {
	opts, err := buildOptions(r)
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

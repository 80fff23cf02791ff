package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/registry"
)

// pullImage answers POST /images/create?fromImage=&tag=&platform= with the
// pull's JSON-message stream. Errors found before the first message (a
// malformed reference, an unknown manifest, refused credentials) are plain
// error responses, as dockerd answers them.
func (s *Server) pullImage(w http.ResponseWriter, r *http.Request) {
	auth, err := decodeAuth(r.Header.Get(registry.AuthHeader))
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	stream := newJSONStream(w)
	err = s.b.PullImage(r.Context(), PullOptions{Image: q.Get("fromImage"), Tag: q.Get("tag"), Platform: q.Get("platform"), Auth: auth}, stream)
	finishStream(w, stream, err)
}

// pushImage answers POST /images/{name}/push?tag= with the push's
// JSON-message stream.
func (s *Server) pushImage(w http.ResponseWriter, r *http.Request, name string) {
	auth, err := decodeAuth(r.Header.Get(registry.AuthHeader))
	if err != nil {
		writeError(w, err)
		return
	}
	stream := newJSONStream(w)
	err = s.b.PushImage(r.Context(), PushOptions{Name: name, Tag: r.URL.Query().Get("tag"), Auth: auth}, stream)
	finishStream(w, stream, err)
}

// finishStream ends a pull or push: an error is a plain error response if
// nothing was streamed yet, else the stream's last message.
func finishStream(w http.ResponseWriter, stream *jsonStream, err error) {
	switch {
	case err == nil:
	case !stream.Started():
		writeError(w, err)
	default:
		_ = stream.Error(err, 0)
	}
}

// login answers POST /auth: the body is the credentials, checked against
// the registry they name; 200 {"Status":"Login Succeeded"} with the
// identity token the registry issued, if any.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ string) {
	var auth registry.AuthConfig
	if err := readJSON(w, r, &auth); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, badJSON("invalid credentials", err))
		return
	}
	token, err := s.b.Login(r.Context(), auth)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded", IdentityToken: token})
}

// decodeAuth decodes the X-Registry-Auth header: base64url (padded or not,
// or standard base64 from older clients) JSON credentials. An empty header
// is anonymous.
func decodeAuth(header string) (registry.AuthConfig, error) {
	var auth registry.AuthConfig
	if header == "" {
		return auth, nil
	}
	var data []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if data, err = enc.DecodeString(strings.TrimSpace(header)); err == nil {
			break
		}
	}
	if err != nil {
		return auth, invalidf("invalid X-Registry-Auth header: %v", err)
	}
	if err := json.Unmarshal(data, &auth); err != nil {
		return auth, invalidf("invalid X-Registry-Auth header: %v", err)
	}
	return auth, nil
}

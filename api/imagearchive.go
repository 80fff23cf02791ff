package api

import (
	"net/http"

	"github.com/moby/moby/api/types/jsonstream"
)

// saveImages answers GET /images/get?names=A&names=B and GET
// /images/{name}/get with a tar archive (application/x-tar). Errors before
// the archive starts (an unknown name) are plain error responses; after
// that the connection is cut, so that the client sees a failed transfer
// rather than a short archive that looks complete.
func (s *Server) saveImages(w http.ResponseWriter, r *http.Request, name string) {
	names := r.URL.Query()["names"]
	if name != "" {
		names = []string{name}
	}
	out := &tarResponse{w: w}
	err := s.b.SaveImages(r.Context(), names, out)
	switch {
	case err == nil:
	case !out.started:
		writeError(w, err)
	default:
		s.log.Warn("image save failed after the archive started", "names", names, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// tarResponse sends the 200 headers of a tar answer at its first write.
type tarResponse struct {
	w       http.ResponseWriter
	started bool
}

func (t *tarResponse) Write(p []byte) (int, error) {
	if !t.started {
		t.w.Header().Set("Content-Type", "application/x-tar")
		t.w.WriteHeader(http.StatusOK)
		t.started = true
	}
	return t.w.Write(p)
}

// loadImages answers POST /images/load?quiet=0|1: the body is an image
// archive, the answer a JSON-message stream ("Loaded image: ..."). Errors
// before the first message are plain error responses, later ones the
// stream's error message. Progress messages go out while the body still
// arrives, so the connection is full duplex: Go's HTTP/1 server otherwise
// discards the unread body at the first flush. (Import and build read
// their whole body before they write.)
func (s *Server) loadImages(w http.ResponseWriter, r *http.Request, _ string) {
	// It fails only on HTTP/2, which is full duplex anyway.
	_ = http.NewResponseController(w).EnableFullDuplex()
	stream := newJSONStream(w)
	err := s.b.LoadImages(r.Context(), r.Body, boolValue(r, "quiet"), loadStream{stream})
	switch {
	case err == nil:
	case !stream.Started():
		writeError(w, err)
	default:
		_ = stream.Error(err, 0)
	}
}

// loadStream writes a load's messages on a JSON-message stream.
type loadStream struct{ s *jsonStream }

func (l loadStream) Stream(text string) error {
	return l.s.Write(jsonstream.Message{Stream: text})
}

func (l loadStream) Progress(id string, current, total int64) error {
	return l.s.Write(jsonstream.Message{Status: "Loading layer", ID: id, Progress: &jsonstream.Progress{Current: current, Total: total}})
}

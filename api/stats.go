package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/container"
)

// StatsBackend answers the endpoints that look at a container's processes.
type StatsBackend interface {
	// ContainerTop lists the container's processes with the host's ps and
	// psArgs ("" means -ef). A container that does not run is a conflict.
	ContainerTop(ctx context.Context, name, psArgs string) (*container.TopResponse, error)
	// ContainerStats returns the container's resource usage samples: one
	// per second while stream, else one. The channel is closed at the end,
	// or when ctx is done.
	ContainerStats(ctx context.Context, name string, stream, oneShot bool) (<-chan *container.StatsResponse, error)
}

// top answers GET /containers/{name}/top?ps_args=.
func (s *Server) top(w http.ResponseWriter, r *http.Request, name string) {
	resp, err := s.b.ContainerTop(r.Context(), name, r.URL.Query().Get("ps_args"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// stats answers GET /containers/{name}/stats?stream=&one-shot= with 200 and
// one JSON object per sample, each flushed as it is made.
func (s *Server) stats(w http.ResponseWriter, r *http.Request, name string) {
	stream := boolValueOr(r, "stream", true)
	oneShot := boolValue(r, "one-shot")
	if stream && oneShot {
		writeError(w, invalidf("cannot have stream=true and one-shot=true"))
		return
	}
	samples, err := s.b.ContainerStats(r.Context(), name, stream, oneShot)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	for st := range samples {
		if enc.Encode(st) != nil {
			return // the client is gone; the backend stops with the request's context
		}
		_ = rc.Flush()
	}
}

package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"
)

// createContainer answers POST /containers/create?name= with 201
// {"Id":...,"Warnings":[...]}. The body is a container.CreateRequest; an empty
// or malformed body is an invalid argument.
func (s *Server) createContainer(w http.ResponseWriter, r *http.Request, _ string) {
	var req container.CreateRequest
	if err := readJSON(w, r, &req); err != nil {
		if errors.Is(err, io.EOF) {
			writeError(w, invalidf("config cannot be empty in order to create a container"))
			return
		}
		writeError(w, badJSON("invalid create request", err))
		return
	}
	if req.Config == nil {
		writeError(w, invalidf("config cannot be empty in order to create a container"))
		return
	}
	hc := req.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	resp, err := s.b.CreateContainer(r.Context(), r.URL.Query().Get("name"), req.Config, hc, req.NetworkingConfig)
	if err != nil {
		writeError(w, err)
		return
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	writeJSON(w, http.StatusCreated, resp)
}

// startContainer answers POST /containers/{name}/start with 204.
func (s *Server) startContainer(w http.ResponseWriter, r *http.Request, name string) {
	s.noContent(w, s.b.StartContainer(r.Context(), name))
}

// stopContainer answers POST /containers/{name}/stop?t=&signal= with 204, or
// 304 when the container was not running.
func (s *Server) stopContainer(w http.ResponseWriter, r *http.Request, name string) {
	t, err := intValue(r, "t")
	if err != nil {
		writeError(w, err)
		return
	}
	s.noContent(w, s.b.StopContainer(r.Context(), name, r.URL.Query().Get("signal"), t))
}

// killContainer answers POST /containers/{name}/kill?signal= with 204.
func (s *Server) killContainer(w http.ResponseWriter, r *http.Request, name string) {
	s.noContent(w, s.b.KillContainer(r.Context(), name, r.URL.Query().Get("signal")))
}

// restartContainer answers POST /containers/{name}/restart?t=&signal= with 204.
func (s *Server) restartContainer(w http.ResponseWriter, r *http.Request, name string) {
	t, err := intValue(r, "t")
	if err != nil {
		writeError(w, err)
		return
	}
	s.noContent(w, s.b.RestartContainer(r.Context(), name, r.URL.Query().Get("signal"), t))
}

// removeContainer answers DELETE /containers/{name}?force=&v= with 204.
func (s *Server) removeContainer(w http.ResponseWriter, r *http.Request, name string) {
	s.noContent(w, s.b.RemoveContainer(r.Context(), name, boolValue(r, "force"), boolValue(r, "v")))
}

// renameContainer answers POST /containers/{name}/rename?name= with 204.
func (s *Server) renameContainer(w http.ResponseWriter, r *http.Request, name string) {
	newName := r.URL.Query().Get("name")
	if newName == "" {
		writeError(w, invalidf("new name is required"))
		return
	}
	s.noContent(w, s.b.RenameContainer(r.Context(), name, newName))
}

// resizeContainer answers POST /containers/{name}/resize?h=&w= with 200 and
// an empty body.
func (s *Server) resizeContainer(w http.ResponseWriter, r *http.Request, name string) {
	h, wd, err := sizeValues(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.b.ResizeContainer(r.Context(), name, h, wd); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// listContainers answers GET /containers/json (all, size, limit, filters).
func (s *Server) listContainers(w http.ResponseWriter, r *http.Request, _ string) {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	limit, err := intValue(r, "limit")
	if err != nil {
		writeError(w, err)
		return
	}
	opts := ContainerListOptions{All: boolValue(r, "all"), Size: boolValue(r, "size"), Filters: filters}
	if limit != nil {
		opts.Limit = *limit
	}
	list, err := s.b.Containers(r.Context(), opts)
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []container.Summary{}
	}
	writeJSON(w, http.StatusOK, list)
}

// inspectContainer answers GET /containers/{name}/json?size=.
func (s *Server) inspectContainer(w http.ResponseWriter, r *http.Request, name string) {
	c, err := s.b.ContainerInspect(r.Context(), name, boolValue(r, "size"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, withLegacyNetworkSettings(c))
}

// wait answers POST /containers/{name}/wait?condition=. Errors found before
// the wait is registered are plain error responses; after that the 200
// headers are flushed at once (the docker CLI sends start only when they
// arrive) and the body follows when the condition is met:
// {"StatusCode":N} or {"Error":{"Message":...},"StatusCode":-1}.
func (s *Server) wait(w http.ResponseWriter, r *http.Request, name string) {
	cond := container.WaitCondition(r.URL.Query().Get("condition"))
	switch cond {
	case "":
		cond = container.WaitConditionNotRunning
	case container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		writeError(w, invalidf("invalid condition: %q", cond))
		return
	}
	ctx := r.Context()
	ch, err := s.b.WaitContainer(ctx, name, cond)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()

	var resp container.WaitResponse
	select {
	case res, ok := <-ch:
		resp = res
		if !ok {
			resp = container.WaitResponse{StatusCode: -1, Error: &container.WaitExitError{Message: "wait ended without a result"}}
		}
	case <-ctx.Done():
		resp = container.WaitResponse{StatusCode: -1, Error: &container.WaitExitError{Message: ctx.Err().Error()}}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// noContent answers 204, or the error.
func (s *Server) noContent(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/volume"
)

// listVolumes answers GET /volumes?filters= with {"Volumes":[...],"Warnings":null}.
func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request, _ string) {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	vols, err := s.b.Volumes(r.Context(), filters)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, volume.ListResponse{Volumes: vols})
}

// createVolume answers POST /volumes/create with 201 and the volume. An
// empty body creates a volume with a random name.
func (s *Server) createVolume(w http.ResponseWriter, r *http.Request, _ string) {
	var req volume.CreateRequest
	if err := readJSON(w, r, &req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, badJSON("invalid volume create request", err))
		return
	}
	v, err := s.b.VolumeCreate(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// inspectVolume answers GET /volumes/{name}.
func (s *Server) inspectVolume(w http.ResponseWriter, r *http.Request, name string) {
	v, err := s.b.VolumeInspect(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// removeVolume answers DELETE /volumes/{name}?force= with 204.
func (s *Server) removeVolume(w http.ResponseWriter, r *http.Request, name string) {
	s.noContent(w, s.b.VolumeRemove(r.Context(), name, boolValue(r, "force")))
}

// pruneVolumes answers POST /volumes/prune?filters= with the names removed
// and the space reclaimed. Before API 1.42 a prune removed every unused
// volume, named ones too: such requests get the filter all=true, as dockerd
// gives them.
func (s *Server) pruneVolumes(w http.ResponseWriter, r *http.Request, _ string) {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	if compareVersions(s.requestVersion(r), "1.42") < 0 {
		if filters == nil {
			filters = Filters{}
		}
		filters["all"] = map[string]bool{"true": true}
	}
	report, err := s.b.VolumesPrune(r.Context(), filters)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

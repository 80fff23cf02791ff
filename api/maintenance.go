package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/volume"
)

// BuildCachePruneOptions are the query parameters of POST /build/prune.
type BuildCachePruneOptions struct {
	All     bool
	Filters Filters // "until", "label", "label!", "id", ...
}

// The kinds of object GET /system/df?type= asks for.
const (
	DiskUsageContainers = "container"
	DiskUsageImages     = "image"
	DiskUsageVolumes    = "volume"
	DiskUsageBuildCache = "build-cache"
)

// DiskUsageOptions are the query parameters of GET /system/df.
type DiskUsageOptions struct {
	Types []string // empty: every kind
}

// Wants reports whether the answer includes the kind of object.
func (o DiskUsageOptions) Wants(kind string) bool {
	return len(o.Types) == 0 || slices.Contains(o.Types, kind)
}

// DiskUsage is the answer of GET /system/df in the shape of the API
// versions gantryd speaks (before 1.52); moby's api module keeps only the
// 1.52 shape, so the parts are its types but the whole is written here.
type DiskUsage struct {
	LayersSize int64
	Images     []image.Summary     `json:",omitempty"`
	Containers []container.Summary `json:",omitempty"`
	Volumes    []volume.Volume     `json:",omitempty"`
	BuildCache []build.CacheRecord `json:",omitempty"`
}

// MaintenanceBackend answers what changes a container in place (pause,
// update), reads it (changes), the prunes and the disk usage.
type MaintenanceBackend interface {
	// PauseContainer freezes a running container; one that is paused or
	// not running is a conflict.
	PauseContainer(ctx context.Context, name string) error
	// UnpauseContainer thaws a paused container; one that is not paused is
	// a conflict.
	UnpauseContainer(ctx context.Context, name string) error
	// ContainerChanges lists what the container changed in its image's
	// filesystem (docker diff).
	ContainerChanges(ctx context.Context, name string) ([]container.FilesystemChange, error)
	// UpdateContainer changes the resources of a container, at once when
	// it runs, and records them for its next start.
	UpdateContainer(ctx context.Context, name string, cfg container.UpdateConfig) (container.UpdateResponse, error)
	ContainersPrune(ctx context.Context, filters Filters) (*container.PruneReport, error)
	ImagesPrune(ctx context.Context, filters Filters) (*image.PruneReport, error)
	BuildCachePrune(ctx context.Context, opts BuildCachePruneOptions) (*build.CachePruneReport, error)
	DiskUsage(ctx context.Context, opts DiskUsageOptions) (*DiskUsage, error)
	// DistributionInspect asks the registry for the descriptor of the
	// manifest name points at and its platforms, with the client's
	// credentials; registry errors keep the registry's words.
	DistributionInspect(ctx context.Context, name string, auth registry.AuthConfig) (*registry.DistributionInspect, error)
}

// distributionInspect answers GET /distribution/{name}/json with the
// manifest's descriptor and platforms.
func (s *Server) distributionInspect(w http.ResponseWriter, r *http.Request, name string) {
	auth, err := decodeAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.b.DistributionInspect(r.Context(), name, auth)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// pauseContainer answers POST /containers/{name}/pause with 204.
func (s *Server) pauseContainer(w http.ResponseWriter, r *http.Request, name string) {
	s.noContent(w, s.b.PauseContainer(r.Context(), name))
}

// unpauseContainer answers POST /containers/{name}/unpause with 204.
func (s *Server) unpauseContainer(w http.ResponseWriter, r *http.Request, name string) {
	s.noContent(w, s.b.UnpauseContainer(r.Context(), name))
}

// containerChanges answers GET /containers/{name}/changes with the list of
// {"Path":...,"Kind":0|1|2}.
func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request, name string) {
	changes, err := s.b.ContainerChanges(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, changes)
}

// updateContainer answers POST /containers/{name}/update with 200
// {"Warnings":[...]}; the body is a container.UpdateConfig.
func (s *Server) updateContainer(w http.ResponseWriter, r *http.Request, name string) {
	var cfg container.UpdateConfig
	if err := readJSON(w, r, &cfg); err != nil {
		if errors.Is(err, io.EOF) {
			writeError(w, invalidf("invalid update request: empty body"))
			return
		}
		writeError(w, badJSON("invalid update request", err))
		return
	}
	resp, err := s.b.UpdateContainer(r.Context(), name, cfg)
	if err != nil {
		writeError(w, err)
		return
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// pruneContainers answers POST /containers/prune?filters= with the IDs
// removed and the space reclaimed.
func (s *Server) pruneContainers(w http.ResponseWriter, r *http.Request, _ string) {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	report, err := s.b.ContainersPrune(r.Context(), filters)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// pruneImages answers POST /images/prune?filters= with the untagged and
// deleted images and the space reclaimed.
func (s *Server) pruneImages(w http.ResponseWriter, r *http.Request, _ string) {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	report, err := s.b.ImagesPrune(r.Context(), filters)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// pruneBuildCache answers POST /build/prune?all=&filters= with the records
// removed and the space reclaimed. The size bounds of BuildKit's garbage
// collection (keep-storage, reserved-space, max-used-space, min-free-space)
// are refused: the classic build cache has no such policy.
func (s *Server) pruneBuildCache(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	for _, k := range []string{"keep-storage", "reserved-space", "max-used-space", "min-free-space"} {
		if v := q.Get(k); v != "" && v != "0" {
			writeError(w, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("build cache prune option %s is not supported by gantry", k)))
			return
		}
	}
	filters, err := decodeFilters(q.Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	report, err := s.b.BuildCachePrune(r.Context(), BuildCachePruneOptions{All: boolValue(r, "all"), Filters: filters})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// diskUsage answers GET /system/df?type= with a DiskUsage.
func (s *Server) diskUsage(w http.ResponseWriter, r *http.Request, _ string) {
	types := r.URL.Query()["type"]
	for _, t := range types {
		switch t {
		case DiskUsageContainers, DiskUsageImages, DiskUsageVolumes, DiskUsageBuildCache:
		default:
			writeError(w, invalidf("unknown object type: %s", t))
			return
		}
	}
	du, err := s.b.DiskUsage(r.Context(), DiskUsageOptions{Types: types})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, du)
}

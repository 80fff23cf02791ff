package api

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
)

// createImage answers POST /images/create. fromImage pulls (pullImage);
// fromSrc=- imports the request body (a tar) and answers a one-message
// stream {"status":"sha256:..."}; errors found before that are plain error
// responses. Imports from a URL are not implemented yet.
func (s *Server) createImage(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	switch {
	case q.Get("fromImage") != "":
		s.pullImage(w, r)
		return
	case q.Get("fromSrc") == "":
		writeError(w, invalidf("fromImage or fromSrc is required"))
		return
	case q.Get("fromSrc") != "-":
		writeError(w, errdefs.ErrNotImplemented.WithMessage("import from a URL is not implemented yet"))
		return
	}
	id, err := s.b.ImportImage(r.Context(), r.Body, ImportOptions{
		Repo:    q.Get("repo"),
		Tag:     q.Get("tag"),
		Message: q.Get("message"),
		Changes: q["changes"],
	})
	if err != nil {
		writeError(w, err)
		return
	}
	_ = newJSONStream(w).Write(jsonstream.Message{Status: id})
}

// listImages answers GET /images/json (all, filters, and the pre-1.41
// "filter" parameter, a reference pattern; shared-size from API 1.42 on).
// manifests (1.47) asks for Manifests, which the API sets only for a
// multi-platform image store: gantry's holds one platform per image, so its
// answer has none, as dockerd's with its graph-driver store.
//
// The answer is shaped by the request's version as dockerd shapes it:
// below 1.43 an untagged image lists RepoTags ["<none>:<none>"] and
// RepoDigests ["<none>@<none>"] (empty lists from 1.43 on), below 1.44
// every image has VirtualSize (equal to Size); from 1.44 on there is none.
func (s *Server) listImages(w http.ResponseWriter, r *http.Request, _ string) {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	if ref := r.URL.Query().Get("filter"); ref != "" {
		if filters == nil {
			filters = Filters{}
		}
		if filters["reference"] == nil {
			filters["reference"] = map[string]bool{}
		}
		filters["reference"][ref] = true
	}
	version := s.requestVersion(r)
	opts := ImageListOptions{
		All:        boolValue(r, "all"),
		Filters:    filters,
		SharedSize: compareVersions(version, "1.42") >= 0 && boolValue(r, "shared-size"),
	}
	images, err := s.b.Images(r.Context(), opts)
	if err != nil {
		writeError(w, err)
		return
	}
	if images == nil {
		images = []image.Summary{}
	}
	for i := range images {
		switch {
		case compareVersions(version, "1.43") < 0 && len(images[i].RepoTags) == 0 && len(images[i].RepoDigests) == 0:
			images[i].RepoTags = []string{"<none>:<none>"}
			images[i].RepoDigests = []string{"<none>@<none>"}
		case images[i].RepoTags == nil:
			images[i].RepoTags = []string{}
		}
		if images[i].RepoDigests == nil {
			images[i].RepoDigests = []string{}
		}
	}
	if compareVersions(version, "1.44") < 0 {
		old := make([]imageSummaryV143, len(images))
		for i := range images {
			old[i] = imageSummaryV143{Summary: images[i], VirtualSize: images[i].Size}
		}
		writeJSON(w, http.StatusOK, old)
		return
	}
	writeJSON(w, http.StatusOK, images)
}

// imageSummaryV143 is an image list entry below API 1.44, which still had
// VirtualSize (required up to 1.43, the same as Size since Docker 1.10).
type imageSummaryV143 struct {
	image.Summary
	VirtualSize int64
}

// inspectImage answers GET /images/{name}/json.
func (s *Server) inspectImage(w http.ResponseWriter, r *http.Request, name string) {
	img, err := s.b.ImageInspect(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	if compareVersions(s.requestVersion(r), "1.45") < 0 || strings.HasPrefix(r.UserAgent(), "docker-compose/") {
		writeJSON(w, http.StatusOK, imageInspectV144{ImageInspect: img, ContainerConfig: containerConfigOf(img)})
		return
	}
	writeJSON(w, http.StatusOK, img)
}

// imageInspectV144 is an image inspect answer below API 1.45, which still
// had ContainerConfig (dropped from 1.45), and the answer to docker-compose
// 1.29 (User-Agent docker-compose/1.29.2 docker-py/...), which negotiates
// the newest version yet reads ContainerConfig's Volumes on every recreate
// (KeyError: 'ContainerConfig' with dockerd 25 and later, docker/compose#11742).
type imageInspectV144 struct {
	*ImageInspect
	ContainerConfig *container.Config
}

// containerConfigOf is ContainerConfig of an image: gantry records no
// build container, so it is the image's own config in the container
// config's shape, as dockerd's is for a committed image (ports aside).
func containerConfigOf(img *ImageInspect) *container.Config {
	c := img.Config
	if c == nil {
		return &container.Config{}
	}
	return &container.Config{
		User: c.User, Env: c.Env, Cmd: c.Cmd, Entrypoint: c.Entrypoint, WorkingDir: c.WorkingDir,
		Volumes: c.Volumes, Labels: c.Labels, StopSignal: c.StopSignal, OnBuild: c.OnBuild, Shell: c.Shell,
	}
}

// imageHistory answers GET /images/{name}/history, newest first.
func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) {
	history, err := s.b.ImageHistory(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	if history == nil {
		history = []image.HistoryResponseItem{}
	}
	writeJSON(w, http.StatusOK, history)
}

// tagImage answers POST /images/{name}/tag?repo=&tag= with 201 and no body.
func (s *Server) tagImage(w http.ResponseWriter, r *http.Request, name string) {
	repo := r.URL.Query().Get("repo")
	if repo == "" {
		writeError(w, invalidf("repository name is required"))
		return
	}
	if err := s.b.TagImage(r.Context(), name, repo, r.URL.Query().Get("tag")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// removeImage answers DELETE /images/{name}?force=&noprune= with the list of
// untagged and deleted references.
func (s *Server) removeImage(w http.ResponseWriter, r *http.Request, name string) {
	deleted, err := s.b.RemoveImage(r.Context(), name, boolValue(r, "force"), boolValue(r, "noprune"))
	if err != nil {
		writeError(w, err)
		return
	}
	if deleted == nil {
		deleted = []image.DeleteResponse{}
	}
	writeJSON(w, http.StatusOK, deleted)
}

// commit answers POST /commit with 201 {"Id":"sha256:..."}. The optional JSON
// body is a container config merged into the image's.
func (s *Server) commit(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	opts := CommitOptions{
		Container: q.Get("container"),
		Repo:      q.Get("repo"),
		Tag:       q.Get("tag"),
		Comment:   q.Get("comment"),
		Author:    q.Get("author"),
		Changes:   q["changes"],
		Pause:     boolValueOr(r, "pause", true),
	}
	var cfg container.Config
	switch err := readJSON(w, r, &cfg); {
	case errors.Is(err, io.EOF):
	case err != nil:
		writeError(w, badJSON("invalid container config", err))
		return
	default:
		opts.Config = &cfg
	}
	id, err := s.b.Commit(r.Context(), opts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, container.CommitResponse{ID: id})
}

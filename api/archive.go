package api

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"
)

// pathStatHeader carries a container path's description, base64 JSON.
const pathStatHeader = "X-Docker-Container-Path-Stat"

// statPath answers HEAD /containers/{name}/archive?path= with 200 and the
// path's description in the X-Docker-Container-Path-Stat header.
func (s *Server) statPath(w http.ResponseWriter, r *http.Request, name string) {
	path, ok := archivePathParam(w, r)
	if !ok {
		return
	}
	st, err := s.b.ContainerStatPath(r.Context(), name, path)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := setPathStat(w, st); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// archivePath answers GET /containers/{name}/archive?path= with a tar of
// the path and its description in the X-Docker-Container-Path-Stat header.
func (s *Server) archivePath(w http.ResponseWriter, r *http.Request, name string) {
	path, ok := archivePathParam(w, r)
	if !ok {
		return
	}
	tar, st, err := s.b.ContainerArchivePath(r.Context(), name, path)
	if err != nil {
		writeError(w, err)
		return
	}
	defer tar.Close()
	if err := setPathStat(w, st); err != nil {
		writeError(w, err)
		return
	}
	s.streamTar(w, r, tar, "application/x-tar")
}

// extractToDir answers PUT /containers/{name}/archive?path= (a tar body)
// with 200 once the tar is unpacked into the directory path.
func (s *Server) extractToDir(w http.ResponseWriter, r *http.Request, name string) {
	path, ok := archivePathParam(w, r)
	if !ok {
		return
	}
	opts := ExtractOptions{
		NoOverwriteDirNonDir: boolValue(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           boolValue(r, "copyUIDGID"),
	}
	if err := s.b.ContainerExtractToDir(r.Context(), name, path, r.Body, opts); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// exportContainer answers GET /containers/{name}/export with a tar of the
// container's filesystem.
func (s *Server) exportContainer(w http.ResponseWriter, r *http.Request, name string) {
	tar, err := s.b.ContainerExport(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	defer tar.Close()
	s.streamTar(w, r, tar, "application/octet-stream")
}

// streamTar sends tar as a 200 response. An error after the status went
// out can only cut the body short, which the client sees as a broken tar.
func (s *Server) streamTar(w http.ResponseWriter, r *http.Request, tar io.Reader, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, tar); err != nil {
		if r.Context().Err() == nil {
			s.log.WarnContext(r.Context(), "tar stream ended early", "path", r.URL.Path, "error", err)
		}
		panic(http.ErrAbortHandler) // no clean end of the chunked body
	}
}

// archivePathParam returns the path query parameter, answering 400 when
// it is missing.
func archivePathParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	path := r.URL.Query().Get("path")
	if path == "" {
		writeError(w, invalidf("bad parameter: path cannot be empty"))
		return "", false
	}
	return path, true
}

func setPathStat(w http.ResponseWriter, st container.PathStat) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(data))
	return nil
}

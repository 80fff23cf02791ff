package api

import "net/http"

// ping answers GET and HEAD /_ping: 200, text/plain, no caching, body "OK"
// for GET. The docker CLI reads the version headers from it.
func (s *Server) ping(w http.ResponseWriter, r *http.Request, _ string) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if s.buildKit() != nil {
		h.Set("Builder-Version", "2")
	}
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
}

// version answers GET /version. The API versions this server speaks fill
// ApiVersion and MinAPIVersion when the backend leaves them empty.
func (s *Server) version(w http.ResponseWriter, r *http.Request, _ string) {
	v, err := s.b.Version(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if v.APIVersion == "" {
		v.APIVersion = s.opts.APIVersion
	}
	if v.MinAPIVersion == "" {
		v.MinAPIVersion = s.opts.MinAPIVersion
	}
	writeJSON(w, http.StatusOK, v)
}

// info answers GET /info.
func (s *Server) info(w http.ResponseWriter, r *http.Request, _ string) {
	info, err := s.b.Info(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

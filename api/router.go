package api

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// handler answers one route; name is the route's variable ({name} or
// {name...}), "" when it has none.
type handler func(w http.ResponseWriter, r *http.Request, name string)

// route is one method and path pattern. Pattern segments are literals,
// "{name}" (exactly one segment) or "{name...}" (one or more segments, at most
// once per pattern), so image names with "/" and ":" match in front of a fixed
// suffix such as /json.
type route struct {
	method  string
	pattern []string
	h       handler
}

func (s *Server) routeTable() []route {
	table := []struct {
		method, pattern string
		h               handler
	}{
		{"GET", "/_ping", s.ping},
		{"HEAD", "/_ping", s.ping},
		{"GET", "/version", s.version},
		{"GET", "/info", s.info},
		{"POST", "/auth", s.login},
		{"GET", "/events", s.events},

		{"POST", "/images/create", s.createImage},
		{"GET", "/images/json", s.listImages},
		{"GET", "/images/get", s.saveImages},
		{"GET", "/images/{name...}/get", s.saveImages},
		{"POST", "/images/load", s.loadImages},
		{"GET", "/images/{name...}/json", s.inspectImage},
		{"GET", "/images/{name...}/history", s.imageHistory},
		{"POST", "/images/{name...}/tag", s.tagImage},
		{"POST", "/images/{name...}/push", s.pushImage},
		{"DELETE", "/images/{name...}", s.removeImage},
		{"POST", "/commit", s.commit},
		{"POST", "/build", s.build},
		{"POST", "/build/sync", s.buildSync},

		{"POST", "/containers/create", s.createContainer},
		{"GET", "/containers/json", s.listContainers},
		{"GET", "/containers/{name}/json", s.inspectContainer},
		{"GET", "/containers/{name}/logs", s.logs},
		{"POST", "/containers/{name}/start", s.startContainer},
		{"POST", "/containers/{name}/stop", s.stopContainer},
		{"POST", "/containers/{name}/kill", s.killContainer},
		{"POST", "/containers/{name}/restart", s.restartContainer},
		{"POST", "/containers/{name}/rename", s.renameContainer},
		{"POST", "/containers/{name}/resize", s.resizeContainer},
		{"POST", "/containers/{name}/wait", s.wait},
		{"POST", "/containers/{name}/attach", s.attach},
		{"POST", "/containers/{name}/exec", s.createExec},
		{"GET", "/containers/{name}/top", s.top},
		{"GET", "/containers/{name}/stats", s.stats},
		{"POST", "/exec/{name}/start", s.startExec},
		{"POST", "/exec/{name}/resize", s.resizeExec},
		{"GET", "/exec/{name}/json", s.inspectExec},
		{"DELETE", "/containers/{name}", s.removeContainer},
		{"POST", "/containers/{name}/pause", s.pauseContainer},
		{"POST", "/containers/{name}/unpause", s.unpauseContainer},
		{"GET", "/containers/{name}/changes", s.containerChanges},
		{"POST", "/containers/{name}/update", s.updateContainer},
		{"POST", "/containers/prune", s.pruneContainers},
		{"POST", "/images/prune", s.pruneImages},
		{"POST", "/build/prune", s.pruneBuildCache},
		{"GET", "/system/df", s.diskUsage},
		{"GET", "/distribution/{name...}/json", s.distributionInspect},

		{"GET", "/volumes", s.listVolumes},
		{"POST", "/volumes/create", s.createVolume},
		{"POST", "/volumes/prune", s.pruneVolumes},
		{"GET", "/volumes/{name}", s.inspectVolume},
		{"DELETE", "/volumes/{name}", s.removeVolume},
		{"HEAD", "/containers/{name}/archive", s.statPath},
		{"GET", "/containers/{name}/archive", s.archivePath},
		{"PUT", "/containers/{name}/archive", s.extractToDir},
		{"GET", "/containers/{name}/export", s.exportContainer},
		{"GET", "/networks", s.listNetworks},
		{"POST", "/networks/create", s.createNetwork},
		{"POST", "/networks/prune", s.pruneNetworks},
		{"GET", "/networks/{name}", s.inspectNetwork},
		{"DELETE", "/networks/{name}", s.removeNetwork},
		{"POST", "/networks/{name}/connect", s.connectNetwork},
		{"POST", "/networks/{name}/disconnect", s.disconnectNetwork},
	}
	if s.buildKit() != nil {
		table = append(table, []struct {
			method, pattern string
			h               handler
		}{{"POST", "/grpc", s.grpc}, {"POST", "/session", s.session}}...)
	}
	routes := make([]route, len(table))
	for i, t := range table {
		routes[i] = route{method: t.method, pattern: strings.Split(strings.TrimPrefix(t.pattern, "/"), "/"), h: t.h}
	}
	return routes
}

// ServeHTTP routes a request, with or without the /v1.NN prefix. Unknown
// paths and known paths with another method get 404 "page not found" without
// the standard headers, as dockerd's router; a version outside
// [MinAPIVersion, APIVersion] gets 400.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	defer func() {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "api request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	}()

	if s.opts.Debug && strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
		servePprof(rec, r)
		return
	}
	version, path := splitVersion(r.URL.Path)
	h, name, ok := s.match(r.Method, path)
	if !ok {
		writeError(rec, errPageNotFound)
		return
	}
	hdr := rec.Header()
	hdr.Set("Api-Version", s.opts.APIVersion)
	hdr.Set("Docker-Experimental", "false")
	hdr.Set("Ostype", "linux")
	hdr.Set("Server", "Gantry/"+s.opts.Version+" (linux)")
	if version != "" {
		if compareVersions(version, s.opts.APIVersion) > 0 {
			writeError(rec, invalidf("client version %s is too new. Maximum supported API version is %s", version, s.opts.APIVersion))
			return
		}
		if compareVersions(version, s.opts.MinAPIVersion) < 0 {
			writeError(rec, invalidf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, s.opts.MinAPIVersion))
			return
		}
	}
	h(rec, r, name)
}

func (s *Server) match(method, path string) (handler, string, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, rt := range s.routes {
		if rt.method != method {
			continue
		}
		if name, ok := matchPattern(rt.pattern, segs); ok {
			return rt.h, name, true
		}
	}
	return nil, "", false
}

// matchPattern matches path segments against a pattern and returns the
// variable's value.
func matchPattern(pattern, segs []string) (string, bool) {
	multi := -1
	for i, p := range pattern {
		if strings.HasSuffix(p, "...}") {
			multi = i
		}
	}
	if multi < 0 {
		if len(segs) != len(pattern) {
			return "", false
		}
		name := ""
		for i, p := range pattern {
			switch {
			case strings.HasPrefix(p, "{"):
				if segs[i] == "" {
					return "", false
				}
				name = segs[i]
			case p != segs[i]:
				return "", false
			}
		}
		return name, true
	}
	after := len(pattern) - multi - 1
	if len(segs) < len(pattern) {
		return "", false
	}
	for i := 0; i < multi; i++ {
		if pattern[i] != segs[i] {
			return "", false
		}
	}
	for i := 1; i <= after; i++ {
		if pattern[len(pattern)-i] != segs[len(segs)-i] {
			return "", false
		}
	}
	name := strings.Join(segs[multi:len(segs)-after], "/")
	return name, name != ""
}

// splitVersion splits "/v1.41/containers/json" into "1.41" and
// "/containers/json"; a path without the prefix comes back unchanged.
func splitVersion(path string) (version, rest string) {
	if !strings.HasPrefix(path, "/v") {
		return "", path
	}
	seg, rest, _ := strings.Cut(path[2:], "/")
	if seg == "" || strings.Trim(seg, "0123456789.") != "" {
		return "", path
	}
	return seg, "/" + rest
}

// requestVersion is the API version a request asks for: the /v1.NN prefix
// of its path, or the server's version when it has none, as with dockerd.
// ServeHTTP has refused versions outside the supported range.
func (s *Server) requestVersion(r *http.Request) string {
	if v, _ := splitVersion(r.URL.Path); v != "" {
		return v
	}
	return s.opts.APIVersion
}

// compareVersions compares dotted versions numerically ("1.9" < "1.24"),
// returning -1, 0 or 1; missing parts count as 0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// recorder remembers the status for the request log. It keeps
// http.ResponseController working (Unwrap) and records a hijack as 101.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.status = http.StatusSwitchingProtocols
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

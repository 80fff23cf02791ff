package api

import "net/http"

// BuildKitBackend is a Backend that embeds BuildKit: POST /grpc (its
// control API) and POST /session (the client's session) are served, and
// /_ping announces Builder-Version: 2, so buildx uses its docker driver.
// Both requests are upgraded to h2c and carry gRPC from then on.
type BuildKitBackend interface {
	// BuildKit reports whether the two routes are served.
	BuildKit() bool
	// ServeGRPC and ServeSession take the connection over; they return an
	// error only before they have written anything.
	ServeGRPC(w http.ResponseWriter, r *http.Request) error
	ServeSession(w http.ResponseWriter, r *http.Request) error
}

// buildKit is the backend's BuildKit, nil when it has none.
func (s *Server) buildKit() BuildKitBackend {
	if bk, ok := s.b.(BuildKitBackend); ok && bk.BuildKit() {
		return bk
	}
	return nil
}

// grpc answers POST /grpc.
func (s *Server) grpc(w http.ResponseWriter, r *http.Request, _ string) {
	if err := s.buildKit().ServeGRPC(w, r); err != nil {
		writeError(w, err)
	}
}

// session answers POST /session.
func (s *Server) session(w http.ResponseWriter, r *http.Request, _ string) {
	if err := s.buildKit().ServeSession(w, r); err != nil {
		writeError(w, err)
	}
}

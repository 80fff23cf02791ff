package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// buildKitBackend is the fake backend with BuildKit on or off.
type buildKitBackend struct {
	*fakeBackend
	on    bool
	calls []string
}

func (b *buildKitBackend) BuildKit() bool { return b.on }

func (b *buildKitBackend) ServeGRPC(w http.ResponseWriter, r *http.Request) error {
	b.calls = append(b.calls, "grpc")
	w.WriteHeader(http.StatusSwitchingProtocols)
	return nil
}

func (b *buildKitBackend) ServeSession(w http.ResponseWriter, r *http.Request) error {
	b.calls = append(b.calls, "session")
	w.WriteHeader(http.StatusSwitchingProtocols)
	return nil
}

// TestBuildKitRoutes: /_ping says Builder-Version: 2 (buildx then picks
// its docker driver) and POST /grpc and /session reach the backend, with
// or without a version prefix, only when the backend has BuildKit; a
// client too old is refused before the backend sees it.
func TestBuildKitRoutes(t *testing.T) {
	for _, on := range []bool{true, false} {
		b := &buildKitBackend{fakeBackend: newFakeBackend(), on: on}
		s := New(b, Options{Version: "test"})
		do := func(method, path string) *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
			return rec
		}
		want := map[bool]string{true: "2", false: ""}[on]
		if got := do("GET", "/_ping").Header().Get("Builder-Version"); got != want {
			t.Errorf("BuildKit %v: Builder-Version = %q, want %q", on, got, want)
		}
		wantStatus := map[bool]int{true: http.StatusSwitchingProtocols, false: http.StatusNotFound}[on]
		for _, p := range []string{"/grpc", "/v1.47/grpc", "/session", "/v1.44/session"} {
			if got := do("POST", p).Code; got != wantStatus {
				t.Errorf("BuildKit %v: POST %s = %d, want %d", on, p, got, wantStatus)
			}
		}
		if got := do("POST", "/v1.12/grpc").Code; on && got != http.StatusBadRequest {
			t.Errorf("POST /v1.12/grpc = %d, want 400", got)
		}
		if on && len(b.calls) != 4 {
			t.Errorf("backend calls %v, want grpc, grpc, session, session", b.calls)
		}
	}
}

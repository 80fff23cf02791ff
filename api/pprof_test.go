package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestPprofOnlyWithDebug: /debug/pprof/ answers with Options.Debug and is
// an unknown page without it.
func TestPprofOnlyWithDebug(t *testing.T) {
	for _, debug := range []bool{false, true} {
		ts := startServer(t, Options{Debug: debug})
		resp, body := ts.do(t, "GET", "/debug/pprof/goroutine?debug=1", "")
		if debug && (resp.StatusCode != http.StatusOK || !strings.Contains(body, "goroutine profile")) {
			t.Errorf("debug: status %d, body %.80q", resp.StatusCode, body)
		}
		if !debug && resp.StatusCode != http.StatusNotFound {
			t.Errorf("without debug: status %d, want 404", resp.StatusCode)
		}
	}
}

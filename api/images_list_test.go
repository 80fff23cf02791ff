package api

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/moby/moby/api/types/image"
)

// TestImageListVersions: GET /images/json is shaped by the request's API
// version as dockerd shapes it: VirtualSize (= Size) below 1.44 only, an
// untagged image with RepoTags ["<none>:<none>"] and RepoDigests
// ["<none>@<none>"] below 1.43 and with empty lists from 1.43 on.
func TestImageListVersions(t *testing.T) {
	ts := startServer(t, Options{APIVersion: "1.47", MinAPIVersion: "1.24"})
	untagged := "sha256:" + hexID("untagged")
	ts.b.images[untagged] = &image.InspectResponse{ID: untagged, Size: 7}
	ts.b.images["busybox"].Size = 5
	for _, tt := range []struct {
		version     string
		virtualSize bool
		none        bool
	}{{"1.24", true, true}, {"1.41", true, true}, {"1.42", true, true}, {"1.43", true, false}, {"1.44", false, false}, {"1.47", false, false}} {
		var entries []map[string]json.RawMessage
		body := ts.getJSON(t, "/v"+tt.version+"/images/json", &entries)
		if len(entries) != len(ts.b.images) {
			t.Fatalf("v%s: %d entries, want %d: %s", tt.version, len(entries), len(ts.b.images), body)
		}
		for _, e := range entries {
			var id string
			if err := json.Unmarshal(e["Id"], &id); err != nil {
				t.Fatal(err)
			}
			vs, ok := e["VirtualSize"]
			if ok != tt.virtualSize {
				t.Errorf("v%s %s: VirtualSize present %v, want %v", tt.version, id, ok, tt.virtualSize)
			}
			if ok && string(vs) != string(e["Size"]) {
				t.Errorf("v%s %s: VirtualSize %s, Size %s", tt.version, id, vs, e["Size"])
			}
			if id != untagged {
				if string(e["RepoDigests"]) != "[]" {
					t.Errorf("v%s %s: RepoDigests %s, want []", tt.version, id, e["RepoDigests"])
				}
				continue
			}
			wantTags, wantDigests := `[]`, `[]`
			if tt.none {
				wantTags, wantDigests = `["<none>:<none>"]`, `["<none>@<none>"]`
			}
			if string(e["RepoTags"]) != wantTags || string(e["RepoDigests"]) != wantDigests {
				t.Errorf("v%s untagged: RepoTags %s RepoDigests %s, want %s %s", tt.version, e["RepoTags"], e["RepoDigests"], wantTags, wantDigests)
			}
		}
	}
}

// TestImageListSharedSize: shared-size (API 1.42 on) reaches the backend;
// below 1.42, where the API has no such parameter, it is not asked for.
func TestImageListSharedSize(t *testing.T) {
	ts := startServer(t, Options{APIVersion: "1.47", MinAPIVersion: "1.24"})
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"/v1.47/images/json", false},
		{"/v1.47/images/json?shared-size=1", true},
		{"/v1.47/images/json?shared-size=false", false},
		{"/v1.42/images/json?shared-size=true", true},
		{"/v1.41/images/json?shared-size=1", false},
	} {
		ts.b.mu.Lock()
		ts.b.imageOpts = nil
		ts.b.mu.Unlock()
		var entries []image.Summary
		ts.getJSON(t, tt.path, &entries)
		ts.b.mu.Lock()
		opts := ts.b.imageOpts
		ts.b.mu.Unlock()
		if len(opts) != 1 || opts[0].SharedSize != tt.want {
			t.Errorf("%s: backend asked %+v, want SharedSize %v", tt.path, opts, tt.want)
		}
	}
}

// getJSON GETs path, wants 200 and decodes the body into v; it returns the body.
func (ts *testServer) getJSON(t *testing.T, path string, v any) string {
	t.Helper()
	resp, err := ts.httpClient().Get("http://api.moby.localhost" + path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return string(b)
}

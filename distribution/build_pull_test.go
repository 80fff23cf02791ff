package distribution

import (
	"testing"

	"github.com/gantry/gantry/registry"
)

func TestAuthFor(t *testing.T) {
	auths := map[string]registry.Auth{
		"https://host:5000":           {Username: "scheme"},
		"host:5000":                   {Username: "exact"},
		"http://host:5000/v2/":        {Username: "path"},
		"https://other:5000/v1/":      {Username: "other"},
		"https://index.docker.io/v1/": {Username: "hub"},
	}
	tests := []struct{ host, want string }{
		{"host:5000", "exact"},
		{"other:5000", "other"},
		{"docker.io", "hub"},
		{"unknown:5000", ""},
	}
	for _, tt := range tests {
		// Map order changes from one range to the next: ask often.
		for range 20 {
			if got := authFor(auths, tt.host).Username; got != tt.want {
				t.Fatalf("authFor(%s) = %q, want %q", tt.host, got, tt.want)
			}
		}
	}
	delete(auths, "host:5000")
	if got := authFor(auths, "host:5000").Username; got != "path" {
		t.Errorf("authFor(host:5000) without the exact key = %q, want the first key in order, %q", got, "path")
	}
}

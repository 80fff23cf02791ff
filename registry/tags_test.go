package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
)

// TestTags lists tags over pages, as a registry that paginates serves them.
func TestTags(t *testing.T) {
	pages := map[string]struct{ body, next string }{
		"":  {`{"name":"x/app","tags":["1","2"]}`, `</v2/x/app/tags/list?last=2&n=2>; rel="next"`},
		"2": {`{"name":"x/app","tags":["3","latest"]}`, `<http://elsewhere.example/v2/x/app/tags/list?last=latest&n=2>; rel="next"`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
		case "/v2/x/app/tags/list":
			p, ok := pages[r.URL.Query().Get("last")]
			if !ok {
				w.Write([]byte(`{"name":"x/app","tags":[]}`))
				return
			}
			w.Header().Set("Link", p.next)
			w.Write([]byte(p.body))
		default:
			writeErr(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	c, _ := New(Config{})
	ctx := context.Background()

	got, err := c.Tags(ctx, mustNamed(t, host+"/x/app"), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1", "2", "3", "latest"}, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if _, err := c.Tags(ctx, mustNamed(t, host+"/x/missing"), Auth{}); !errdefs.IsNotFound(err) {
		t.Errorf("tags of an unknown repository: %v, want not found", err)
	}
}

func TestNextPage(t *testing.T) {
	tests := []struct {
		name, link, want string
	}{
		{"none", "", ""},
		{"next", `</v2/x/tags/list?last=a&n=1>; rel="next"`, "/v2/x/tags/list?last=a&n=1"},
		{"absolute", `<https://other/v2/x/tags/list?last=a>; rel="next"`, "/v2/x/tags/list?last=a"},
		{"not next", `</v2/x/tags/list?last=a>; rel="prev"`, ""},
		{"outside v2", `</elsewhere?last=a>; rel="next"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.link != "" {
				h.Set("Link", tt.link)
			}
			if got := nextPage(h); got != tt.want {
				t.Errorf("nextPage(%q) = %q, want %q", tt.link, got, tt.want)
			}
		})
	}
}

package dockerfile

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
)

func TestReadIgnore(t *testing.T) {
	got, err := ReadIgnore(strings.NewReader("\xEF\xBB\xBF# comment\n\n  /abs/path  \n!keep.txt\n./a/../b\n**/*.log\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"abs/path", "!keep.txt", "b", "**/*.log"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("patterns (-want +got):\n%s", diff)
	}
}

func TestIgnore(t *testing.T) {
	m, err := NewIgnore([]string{"*.md", "!README.md", "build", "**/*.log", "secrets/**", "!secrets/public.pem", "docs/*/draft"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{"notes.md", true},
		{"README.md", false},
		{"sub/notes.md", false}, // * does not cross directories
		{"build", true},
		{"build/out/app", true}, // through the parent
		{"./build/x", true},
		{"/build/x", true},
		{"app.log", true},
		{"a/b/c/app.log", true},
		{"secrets/key", true},
		{"secrets/public.pem", false},
		{"docs/v1/draft", true},
		{"docs/v1/final", false},
		{"main.go", false},
		{".", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := m.Excluded(tt.path)
			if err != nil || got != tt.want {
				t.Errorf("Excluded(%q) = %v, %v; want %v", tt.path, got, err, tt.want)
			}
		})
	}
	var none *Ignore
	if ok, err := none.Excluded("x"); ok || err != nil {
		t.Errorf("nil Ignore excluded x: %v %v", ok, err)
	}
	if _, err := NewIgnore([]string{"!"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("NewIgnore(!) = %v, want invalid argument", err)
	}
}

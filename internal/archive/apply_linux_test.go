package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type ent struct {
	name, body, link string
	typ              byte
}

func mkTar(t *testing.T, es ...ent) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o755, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return bytes.NewReader(buf.Bytes())
}

func names(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if rel, _ := filepath.Rel(root, p); rel != "." {
			out = append(out, rel)
		}
		return err
	})
	sort.Strings(out)
	return out
}

func TestApplyDelete(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown extracted files")
	}
	tests := []struct {
		name    string
		lower   []ent
		layer   []ent
		want    []string
		invalid bool
	}{
		{
			name:  "whiteout removes a tree",
			lower: []ent{{name: "d/", typ: tar.TypeDir}, {name: "d/f"}, {name: "g"}},
			layer: []ent{{name: ".wh.d"}},
			want:  []string{"g"},
		},
		{
			name:  "opaque keeps what the tar wrote, implied dirs too",
			lower: []ent{{name: "d/old/x"}, {name: "d/y"}},
			layer: []ent{{name: "d/new/deep/f"}, {name: "d/.wh..wh..opq"}},
			want:  []string{"d", "d/new", "d/new/deep", "d/new/deep/f"},
		},
		{
			name:  "file replaces directory",
			lower: []ent{{name: "d/f"}},
			layer: []ent{{name: "d", body: "now a file"}},
			want:  []string{"d"},
		},
		{
			name:    "dot-dot",
			layer:   []ent{{name: "a/../../x"}},
			invalid: true,
		},
		{
			name:    "hard link to a directory",
			layer:   []ent{{name: "d/", typ: tar.TypeDir}, {name: "l", typ: tar.TypeLink, link: "d"}},
			invalid: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			ctx := context.Background()
			if _, err := Apply(ctx, mkTar(t, tc.lower...), dst, Delete); err != nil {
				t.Fatal(err)
			}
			_, err := Apply(ctx, mkTar(t, tc.layer...), dst, Delete)
			if tc.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Apply = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(t, dst)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

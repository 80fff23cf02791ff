package content

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// TestLink: a file of another store becomes a blob by a hard link (the
// same inode, no copy), found by Path; a file whose content is not the
// expected digest is refused and leaves nothing, staging included; a
// missing source is an error.
func TestLink(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	data := []byte("a layer BuildKit compressed")
	src := filepath.Join(dir, "other", "blob")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, data, 0o444); err != nil {
		t.Fatal(err)
	}
	wrong := digest.FromString("something else")
	if _, err := s.Link(ctx, src, wrong); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Link with another digest: %v, want invalid argument", err)
	}
	if _, err := s.Path(wrong); !errdefs.IsNotFound(err) {
		t.Errorf("Path of the refused blob: %v, want not found", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Errorf("staging left after a refused link: %v", left)
	}
	dgst := digest.FromBytes(data)
	n, err := s.Link(ctx, src, dgst)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Link = %d, %v", n, err)
	}
	p, err := s.Path(dgst)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(p)
	if !os.SameFile(a, b) {
		t.Error("the blob is a copy, not a link to the file")
	}
	if got, err := s.ReadAll(ctx, dgst); err != nil || string(got) != string(data) {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
	if n, err := s.Link(ctx, src, dgst); err != nil || n != int64(len(data)) {
		t.Errorf("Link of a stored blob = %d, %v", n, err)
	}
	if _, err := s.Link(ctx, filepath.Join(dir, "other", "missing"), digest.FromString("x")); err == nil {
		t.Error("Link of a missing file succeeded")
	}
}

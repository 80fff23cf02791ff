package image

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// summary is what a store holds, for comparing two of them.
func summary(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	imgs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, img := range imgs {
		var names []string
		for _, r := range img.Refs {
			names = append(names, r.String())
		}
		for _, d := range img.Digests {
			names = append(names, d.String())
		}
		if img.Parent != "" {
			names = append(names, "parent "+img.Parent.String())
		}
		out[img.ID.String()] = names
	}
	return out
}

func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	r, err := New(context.Background(), filepath.Dir(s.path), s.content, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestJournal checks that every change survives a reopen through the
// journal, that a torn last line (a crash while appending) is dropped
// with nothing else lost, and that compaction keeps the state.
func TestJournal(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := mustCreate(t, s, 1, "")
	b := mustCreate(t, s, 2, a)
	c := mustCreate(t, s, 3, "")
	mustTag(t, s, a, "a:1")
	mustTag(t, s, b, "b:1")
	mustTag(t, s, c, "c:1")
	mustTag(t, s, c, "c:2")
	if _, err := s.Remove(ctx, "c:1", false, false, func(digest.Digest) (string, bool, bool) { return "", false, false }); err != nil {
		t.Fatal(err)
	}
	want := summary(t, s)
	if diff := cmp.Diff(want, summary(t, reopen(t, s))); diff != "" {
		t.Errorf("after reopening (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(s.path); err == nil {
		t.Errorf("a snapshot was written for a few changes")
	}

	// A torn line at the end.
	f, err := os.OpenFile(filepath.Join(filepath.Dir(s.path), "images.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"r":{"docker.io/library/torn:1":"` + a.String() + `"`)
	f.Close()
	r := reopen(t, s)
	if diff := cmp.Diff(want, summary(t, r)); diff != "" {
		t.Errorf("after a torn line (-want +got):\n%s", diff)
	}
	mustTag(t, r, a, "after:1") // appended after the cut, not after the torn bytes
	want = summary(t, r)
	if diff := cmp.Diff(want, summary(t, reopen(t, r))); diff != "" {
		t.Errorf("after a change following a torn line (-want +got):\n%s", diff)
	}

	// Compaction: a snapshot, an empty journal, the same state.
	old := minCompact
	minCompact = 0
	defer func() { minCompact = old }()
	mustTag(t, r, b, "compact:1")
	want = summary(t, r)
	if fi, err := os.Stat(filepath.Join(filepath.Dir(s.path), "images.log")); err != nil || fi.Size() != 0 {
		t.Errorf("journal after compaction: %v, %v", fi, err)
	}
	if diff := cmp.Diff(want, summary(t, reopen(t, r))); diff != "" {
		t.Errorf("after compaction (-want +got):\n%s", diff)
	}
}

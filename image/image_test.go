package image

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/content"
)

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "short", in: "busybox", want: "docker.io/library/busybox:latest"},
		{name: "library", in: "library/busybox", want: "docker.io/library/busybox:latest"},
		{name: "full", in: "docker.io/library/busybox:latest", want: "docker.io/library/busybox:latest"},
		{name: "user repo tag", in: "me/x:1", want: "docker.io/me/x:1"},
		{name: "registry with port", in: "127.0.0.1:5000/a/b:2", want: "127.0.0.1:5000/a/b:2"},
		{name: "uppercase", in: "BusyBox", wantErr: true},
		{name: "bad chars", in: "a b", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := ParseReference(tc.in)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("ParseReference(%q) error = %v, want invalid argument", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ref.String() != tc.want {
				t.Errorf("ParseReference(%q) = %s, want %s", tc.in, ref, tc.want)
			}
		})
	}
}

// TestParseNamed: a name keeps its missing tag, and errors have Docker's
// words.
func TestParseNamed(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, wantErr string
	}{
		{name: "name only", in: "busybox", want: "docker.io/library/busybox"},
		{name: "tag", in: "me/x:1", want: "docker.io/me/x:1"},
		{name: "uppercase", in: "BusyBox", wantErr: "invalid reference format: repository name (library/BusyBox) must be lowercase"},
		{name: "uppercase with registry", in: "host:5000/Me/x", wantErr: "invalid reference format: repository name (Me/x) must be lowercase"},
		{name: "bad chars", in: "a b", wantErr: "invalid reference format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := ParseNamed(tc.in)
			if tc.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || err.Error() != tc.wantErr {
					t.Fatalf("ParseNamed(%q) error = %v, want invalid argument %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || ref.String() != tc.want {
				t.Errorf("ParseNamed(%q) = %v, %v; want %s", tc.in, ref, err, tc.want)
			}
		})
	}
}

func newStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	cs, err := content.New(filepath.Join(dir, "content"), dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), filepath.Join(dir, "images"), cs, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCreate(t *testing.T, s *Store, n int, parent digest.Digest) digest.Digest {
	t.Helper()
	cfg := fmt.Sprintf(`{"created":"2026-01-0%dT00:00:00Z","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":["%d"]}}`, n, n)
	id, err := s.Create(context.Background(), []byte(cfg), nil, parent)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustTag(t *testing.T, s *Store, id digest.Digest, name string) {
	t.Helper()
	ref, err := ParseReference(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(context.Background(), id, ref); err != nil {
		t.Fatal(err)
	}
}

func TestResolveAndRetag(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := mustCreate(t, s, 1, "")
	b := mustCreate(t, s, 2, "")
	mustTag(t, s, a, "busybox")
	for _, name := range []string{"busybox", "library/busybox", "docker.io/library/busybox:latest", a.String(), a.Encoded()[:12]} {
		got, err := s.Resolve(ctx, name)
		if err != nil || got != a {
			t.Errorf("Resolve(%q) = %s, %v; want %s", name, got, err, a)
		}
	}
	if _, err := s.Resolve(ctx, "nothere"); !errdefs.IsNotFound(err) || err.Error() != "No such image: nothere:latest" {
		t.Errorf("Resolve(nothere) error = %v, want not found", err)
	}
	// A full ID of no image is not found, as with dockerd (it is no name).
	missing := strings.Repeat("0", 64)
	if _, err := s.Resolve(ctx, missing); !errdefs.IsNotFound(err) || err.Error() != "No such image: "+missing {
		t.Errorf("Resolve(%s) error = %v, want not found", missing, err)
	}
	mustTag(t, s, b, "busybox:latest")
	imgA, err := s.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgA.Refs) != 0 {
		t.Errorf("after retag the old image has refs %v, want none (dangling)", imgA.Refs)
	}
	// The store reloads from disk to the same state.
	reloaded, err := New(ctx, filepath.Dir(s.path), s.content, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := reloaded.Resolve(ctx, "busybox"); got != b {
		t.Errorf("after reload busybox = %s, want %s", got, b)
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	unused := func(digest.Digest) (string, bool, bool) { return "", false, false }
	stopped := func(digest.Digest) (string, bool, bool) { return "c0ffee1234567890", false, true }
	running := func(digest.Digest) (string, bool, bool) { return "c0ffee1234567890", true, true }

	t.Run("untag one of two refs", func(t *testing.T) {
		s := newStore(t)
		id := mustCreate(t, s, 1, "")
		mustTag(t, s, id, "a:1")
		mustTag(t, s, id, "a:2")
		got, err := s.Remove(ctx, "a:1", false, false, unused)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]Removed{{Untagged: "a:1"}}, got); diff != "" {
			t.Errorf("(-want +got)\n%s", diff)
		}
	})
	t.Run("last ref deletes image and dangling parents", func(t *testing.T) {
		s := newStore(t)
		parent := mustCreate(t, s, 1, "")
		child := mustCreate(t, s, 2, parent)
		mustTag(t, s, child, "a")
		got, err := s.Remove(ctx, "a", false, false, unused)
		if err != nil {
			t.Fatal(err)
		}
		want := []Removed{{Untagged: "a:latest"}, {Deleted: child}, {Deleted: parent}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got)\n%s", diff)
		}
	})
	t.Run("by ID with several refs needs force", func(t *testing.T) {
		s := newStore(t)
		id := mustCreate(t, s, 1, "")
		mustTag(t, s, id, "a:1")
		mustTag(t, s, id, "b:1")
		if _, err := s.Remove(ctx, id.Encoded()[:12], false, false, unused); !errdefs.IsConflict(err) {
			t.Fatalf("error = %v, want conflict", err)
		}
		got, err := s.Remove(ctx, id.Encoded()[:12], true, false, unused)
		if err != nil {
			t.Fatal(err)
		}
		want := []Removed{{Untagged: "a:1"}, {Untagged: "b:1"}, {Deleted: id}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got)\n%s", diff)
		}
	})
	t.Run("last ref of an image a container uses", func(t *testing.T) {
		s := newStore(t)
		id := mustCreate(t, s, 1, "")
		mustTag(t, s, id, "a")
		_, err := s.Remove(ctx, "a", false, false, stopped)
		want := fmt.Sprintf(`conflict: unable to remove repository reference "a" (must force) - container c0ffee123456 is using its referenced image %s`, id.Encoded()[:12])
		if !errdefs.IsConflict(err) || err.Error() != want {
			t.Fatalf("error = %v, want %s", err, want)
		}
	})
	t.Run("force keeps an image a running container uses", func(t *testing.T) {
		s := newStore(t)
		id := mustCreate(t, s, 1, "")
		mustTag(t, s, id, "a")
		got, err := s.Remove(ctx, "a", true, false, running)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]Removed{{Untagged: "a:latest"}}, got); diff != "" {
			t.Errorf("(-want +got)\n%s", diff)
		}
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("image was deleted: %v", err)
		}
	})
	t.Run("image with children", func(t *testing.T) {
		s := newStore(t)
		parent := mustCreate(t, s, 1, "")
		mustCreate(t, s, 2, parent)
		if _, err := s.Remove(ctx, parent.String(), true, false, unused); !errdefs.IsConflict(err) {
			t.Fatalf("error = %v, want conflict", err)
		}
	})
}

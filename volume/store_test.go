package volume

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "volumes")
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func TestCreateGetListReload(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	v, err := s.Create(ctx, "data", CreateOptions{Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Driver != Driver || v.Anonymous || v.Mountpoint() != filepath.Join(root, "data", "_data") {
		t.Fatalf("created %+v", v)
	}
	if fi, err := os.Stat(v.Mountpoint()); err != nil || !fi.IsDir() {
		t.Fatalf("mountpoint: %v", err)
	}
	// Creating again returns the existing volume, labels unchanged.
	again, err := s.Create(ctx, "data", CreateOptions{Labels: map[string]string{"c": "d"}})
	if err != nil || !cmp.Equal(again.Labels, map[string]string{"a": "b"}) || !again.CreatedAt.Equal(v.CreatedAt) {
		t.Fatalf("create again: %+v, %v", again, err)
	}
	anon, err := s.Create(ctx, "", CreateOptions{Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(anon.Name) != 64 || !anon.Anonymous {
		t.Fatalf("anonymous volume %+v", anon)
	}
	if _, ok := anon.Labels[AnonymousLabel]; !ok {
		t.Fatalf("anonymous volume lacks %s: %v", AnonymousLabel, anon.Labels)
	}
	// Returned values are copies.
	v.Labels["x"] = "y"
	if got, _ := s.Get("data"); got.Labels["x"] != "" {
		t.Fatal("Get returned shared labels")
	}

	// A directory made by hand is a volume too; leftovers of a crash go.
	os.MkdirAll(filepath.Join(root, "byhand", "_data"), 0o755)
	os.MkdirAll(filepath.Join(root, ".create-x-123", "_data"), 0o755)
	s2, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range s2.List() {
		names = append(names, v.Name)
	}
	want := []string{anon.Name, "byhand", "data"}
	slices.Sort(want) // the anonymous name is random hex
	if !cmp.Equal(names, want) {
		t.Fatalf("after reload: %v, want %v", names, want)
	}
	got, err := s2.Get("data")
	if err != nil || !cmp.Equal(got, v, cmp.AllowUnexported(Volume{}), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Labels" }, cmp.Ignore())) {
		t.Fatalf("reloaded %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(root, ".create-x-123")); !os.IsNotExist(err) {
		t.Fatalf("staging leftover kept: %v", err)
	}
}

func TestCreateErrors(t *testing.T) {
	s, _ := newStore(t)
	for _, tc := range []struct {
		name  string
		opts  CreateOptions
		check func(error) bool
		text  string
	}{
		{"a", CreateOptions{}, errdefs.IsInvalidArgument, "create a: volume name is too short, names should be at least two alphanumeric characters"},
		{"foo/bar", CreateOptions{}, errdefs.IsInvalidArgument, `create foo/bar: "foo/bar" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{".hidden", CreateOptions{}, errdefs.IsInvalidArgument, "includes invalid characters"},
		{"opts", CreateOptions{Options: map[string]string{"foo": "bar"}}, errdefs.IsInvalidArgument, `create opts: invalid option: "foo"`},
		{"opts", CreateOptions{Options: map[string]string{"type": "tmpfs"}}, errdefs.IsNotImplemented, `volume option "type" is not supported`},
		{"drv", CreateOptions{Driver: "nfs"}, errdefs.IsNotFound, `create drv: error looking up volume plugin nfs: plugin "nfs" not found`},
		{strings.Repeat("v", 5000), CreateOptions{}, errdefs.IsInvalidArgument, ": volume name is too long, names should be at most 255 characters"},
		{strings.Repeat("v", 256), CreateOptions{}, errdefs.IsInvalidArgument, ": volume name is too long, names should be at most 255 characters"},
	} {
		t.Run(tc.name[:min(len(tc.name), 20)], func(t *testing.T) {
			_, err := s.Create(context.Background(), tc.name, tc.opts)
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %q", err, tc.text)
			}
		})
	}
	if len(s.List()) != 0 {
		t.Fatalf("failed creates left volumes: %v", s.List())
	}
	// The longest name a directory can have is a volume, created and removed.
	longest := strings.Repeat("v", 255)
	if _, err := s.Create(context.Background(), longest, CreateOptions{}); err != nil {
		t.Fatalf("create a volume of 255 characters: %v", err)
	}
	if err := s.Remove(context.Background(), longest); err != nil {
		t.Fatalf("remove a volume of 255 characters: %v", err)
	}
}

func TestRemoveReferences(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	if _, err := s.Create(ctx, "busy", CreateOptions{Reference: "c1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reference("busy", "c2"); err != nil {
		t.Fatal(err)
	}
	err := s.Remove(ctx, "busy")
	if !errdefs.IsConflict(err) || err.Error() != "remove busy: volume is in use - [c1, c2]" {
		t.Fatalf("remove in use: %v", err)
	}
	s.Release("busy", "c1")
	s.Release("busy", "c2")
	if err := s.Remove(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left on disk: %v", entries)
	}
	if err := s.Remove(ctx, "busy"); !errdefs.IsNotFound(err) || err.Error() != "get busy: no such volume" {
		t.Fatalf("remove unknown: %v", err)
	}
	if err := s.Reference("busy", "c1"); !errdefs.IsNotFound(err) {
		t.Fatalf("reference unknown: %v", err)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	named, _ := s.Create(ctx, "named", CreateOptions{})
	anon, _ := s.Create(ctx, "", CreateOptions{Anonymous: true})
	used, _ := s.Create(ctx, "", CreateOptions{Anonymous: true, Reference: "c1"})
	os.WriteFile(filepath.Join(anon.Mountpoint(), "f"), make([]byte, 1000), 0o644)

	names, space, err := s.Prune(ctx, func(v Volume) bool { return v.Anonymous })
	if err != nil || !cmp.Equal(names, []string{anon.Name}) || space != 1000 {
		t.Fatalf("prune anonymous: %v %d %v", names, space, err)
	}
	names, _, err = s.Prune(ctx, func(Volume) bool { return true })
	if err != nil || !cmp.Equal(names, []string{named.Name}) {
		t.Fatalf("prune all: %v %v", names, err)
	}
	if _, err := s.Get(used.Name); err != nil {
		t.Fatalf("volume in use was pruned: %v", err)
	}
}

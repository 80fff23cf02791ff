package buildkit

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// TestLinkDir: an empty snapshot directory becomes a link to a layer
// directory, which LinkedChains reports by chain ID; a directory BuildKit
// wrote into is left alone (a conflict); links elsewhere are not layers.
func TestLinkDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "buildkit")
	layers := filepath.Join(t.TempDir(), "layers")
	chain := digest.FromString("chain")
	target := filepath.Join(layers, chain.Encoded(), "diff")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	snap := func(n string) string {
		d := filepath.Join(SnapshotsDir(root), n, "fs")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if got, err := LinkedChains(root, layers); err != nil || len(got) != 0 {
		t.Errorf("LinkedChains with no snapshot = %v, %v", got, err)
	}
	if err := LinkDir(snap("1"), target); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(SnapshotsDir(root), "1", "fs")); got != target {
		t.Errorf("link = %q, want %q", got, target)
	}
	full := snap("2")
	os.WriteFile(filepath.Join(full, "f"), nil, 0o644)
	if err := LinkDir(full, target); !errdefs.IsConflict(err) {
		t.Errorf("LinkDir of a directory with files: %v, want conflict", err)
	}
	if _, err := os.Stat(filepath.Join(full, "f")); err != nil {
		t.Errorf("the snapshot's file is gone: %v", err)
	}
	os.Symlink("/somewhere/else/diff", filepath.Join(SnapshotsDir(root), "3"+"x"))
	os.MkdirAll(filepath.Join(SnapshotsDir(root), "4"), 0o755)
	os.Symlink(filepath.Join(t.TempDir(), chain.Encoded(), "diff"), filepath.Join(SnapshotsDir(root), "4", "fs"))
	got, err := LinkedChains(root, layers)
	if err != nil || len(got) != 1 || got[0] != chain {
		t.Errorf("LinkedChains = %v, %v; want [%s]", got, err, chain)
	}
}

// TestCheckLink: gantryd replaces only the files directory of one of the
// helper's snapshots, named by well-formed digests.
func TestCheckLink(t *testing.T) {
	h := &hostHandler{snapshots: "/data/buildkit/runc-overlayfs/snapshots/snapshots"}
	d := digest.FromString("diff")
	for _, c := range []struct {
		req LinkRequest
		ok  bool
	}{
		{LinkRequest{DiffID: d, Dir: h.snapshots + "/12/fs"}, true},
		{LinkRequest{DiffID: d, Parent: d, Dir: h.snapshots + "/3/fs"}, true},
		{LinkRequest{DiffID: d, Dir: h.snapshots + "/12/fs/"}, false},
		{LinkRequest{DiffID: d, Dir: h.snapshots + "/12/../../../../layers/x/fs"}, false},
		{LinkRequest{DiffID: d, Dir: h.snapshots + "/x1/fs"}, false},
		{LinkRequest{DiffID: d, Dir: h.snapshots + "/12/work"}, false},
		{LinkRequest{DiffID: d, Dir: "/etc/fs"}, false},
		{LinkRequest{DiffID: "sha256:nothex", Dir: h.snapshots + "/1/fs"}, false},
		{LinkRequest{DiffID: d, Parent: "bad", Dir: h.snapshots + "/1/fs"}, false},
	} {
		err := h.checkLink(c.req)
		if (err == nil) != c.ok {
			t.Errorf("checkLink(%+v) = %v, want ok %v", c.req, err, c.ok)
		}
	}
}

// TestSnapshotSources: a regular file of the snapshot is a source with its
// inode; a name through a symbolic link (even one inside the snapshot), a
// directory, a name climbing out, or a missing file is none.
func TestSnapshotSources(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
	os.Symlink(outside, filepath.Join(dir, "out"))
	os.Symlink("etc", filepath.Join(dir, "in"))
	src := SnapshotSources(dir)
	s, ok := src("etc/f")
	fi, _ := os.Stat(filepath.Join(dir, "etc", "f"))
	if !ok || s.Ino != fi.Sys().(*syscall.Stat_t).Ino || !s.SecondTimes {
		t.Errorf("etc/f = %+v, %v", s, ok)
	}
	if _, ok := src("/etc/f"); !ok {
		t.Error("an absolute name is not taken inside the snapshot")
	}
	for _, name := range []string{"out/secret", "in/f", "etc", "../" + filepath.Base(outside) + "/secret", "etc/missing", "."} {
		if s, ok := src(name); ok {
			t.Errorf("%s = %+v, want no source", name, s)
		}
	}
}

package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/opencontainers/go-digest"
)

// TestLinkTarget: a new base snapshot (a bind mount) is linkable with no
// parent; an overlay one when its parent links to one of gantryd's
// layers (whose chain ID is the parent); not when its parent is BuildKit's
// own extraction, nor a read-only view.
func TestLinkTarget(t *testing.T) {
	dir := t.TempDir()
	chain := digest.FromString("parent chain")
	layerDir := filepath.Join(dir, "layers", chain.Encoded(), "diff")
	os.MkdirAll(layerDir, 0o755)
	linked := filepath.Join(dir, "snapshots", "1", "fs")
	os.MkdirAll(filepath.Dir(linked), 0o755)
	os.Symlink(layerDir, linked)
	own := filepath.Join(dir, "snapshots", "2", "fs")
	os.MkdirAll(own, 0o755)
	upper := filepath.Join(dir, "snapshots", "3", "fs")

	overlay := func(lower string) []mount.Mount {
		return []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"index=off", "workdir=" + filepath.Join(dir, "snapshots", "3", "work"), "upperdir=" + upper, "lowerdir=" + lower,
		}}}
	}
	for _, c := range []struct {
		name   string
		mounts []mount.Mount
		dir    string
		parent digest.Digest
		ok     bool
	}{
		{"base", []mount.Mount{{Type: "bind", Source: upper, Options: []string{"rw", "rbind"}}}, upper, "", true},
		{"read-only", []mount.Mount{{Type: "bind", Source: upper, Options: []string{"ro", "rbind"}}}, "", "", false},
		{"on a linked layer", overlay(linked + ":" + own), upper, chain, true},
		{"on BuildKit's own", overlay(own + ":" + linked), "", "", false},
		{"two mounts", append(overlay(linked), overlay(linked)...), "", "", false},
	} {
		d, p, ok := linkTarget(c.mounts)
		if d != c.dir || p != c.parent || ok != c.ok {
			t.Errorf("%s: linkTarget = %q, %q, %v; want %q, %q, %v", c.name, d, p, ok, c.dir, c.parent, c.ok)
		}
	}
}

package layer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/mount"
)

// TestDeepChain stacks overlayfs' limit of 500 layers: the snapshot mounts
// (its options are far more than a page), a view of it mounts (one layer
// more than an overlay stacks, so mount.All nests the bottom ones, whose
// files a whiteout above still hides), and a 501st layer is refused.
func TestDeepChain(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		if s.Driver() != "overlay2" {
			t.Skip("the depth limit is overlay's")
		}
		if !mount.OverlayLayersByOne() {
			t.Skip("kernel before 6.8: overlay layers do not go one by one")
		}
		ctx := context.Background()
		if got := s.MaxDepth(); got != mount.OverlayMaxLayers {
			t.Fatalf("MaxDepth() = %d, want %d", got, mount.OverlayMaxLayers)
		}
		var chain digest.Digest
		want := map[string]string{}
		for i := range mount.OverlayMaxLayers {
			name := fmt.Sprintf("f%03d", i)
			entries := []entry{fileE(name, name)}
			switch i {
			case 0: // in the nested part of a view
				entries = append(entries, fileE("gone", "x"), fileE("kept", "k"))
				want["kept"] = "file 644 k"
			case 2: // above it: hides a file of the nested part
				entries = append(entries, fileE(".wh.gone", ""))
			}
			chain = apply(t, s, chain, tarBytes(t, entries...)).ChainID
			want[name] = "file 644 " + name
		}
		snap := filepath.Join(dir, "c")
		root := mounted(t, s, snap, chain)
		if diff := cmp.Diff(want, tree(t, root)); diff != "" {
			t.Fatalf("rootfs of %d layers (-want +got):\n%s", mount.OverlayMaxLayers, diff)
		}
		must(t, os.Remove(filepath.Join(root, "f000")))
		must(t, os.WriteFile(filepath.Join(root, "new"), []byte("n"), 0o644))
		delete(want, "f000")
		want["new"] = "file 644 n"

		ms, err := s.View(ctx, snap, chain)
		if err != nil {
			t.Fatal(err)
		}
		view := filepath.Join(dir, "view")
		must(t, os.Mkdir(view, 0o755))
		if err := mount.All(ms, view); err != nil {
			t.Fatalf("mount view: %v", err)
		}
		t.Cleanup(func() { mount.Unmount(view) })
		if diff := cmp.Diff(want, tree(t, view)); diff != "" {
			t.Errorf("view of a snapshot on %d layers (-want +got):\n%s", mount.OverlayMaxLayers, diff)
		}

		_, err = s.Apply(ctx, chain, strings.NewReader(string(tarBytes(t, fileE("f500", "x")))))
		if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), "max depth exceeded\nhint: an image of 501 layers") {
			t.Errorf("Apply of layer 501: %v, want max depth exceeded", err)
		}
		if err := s.CheckDepth(mount.OverlayMaxLayers); err != nil {
			t.Errorf("CheckDepth(%d): %v", mount.OverlayMaxLayers, err)
		}
	})
}

// TestDeepChainShortLinks: on a kernel without lowerdir+ (forced here), a
// chain of MaxDepth layers has the options of its snapshot fit in the one
// page mount(2) takes, for a snapshot directory as long as a container's
// next to the store, and a layer more is refused.
func TestDeepChainShortLinks(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		if s.Driver() != "overlay2" {
			t.Skip("the depth limit is overlay's")
		}
		s.drv.(*overlay).byOne = false
		ctx := context.Background()
		max := s.MaxDepth()
		if max < 30 || max >= mount.OverlayMaxLayers {
			t.Fatalf("MaxDepth() = %d with short links under %s", max, s.root)
		}
		var chain digest.Digest
		for i := range max {
			chain = apply(t, s, chain, tarBytes(t, fileE(fmt.Sprint(i), ""))).ChainID
		}
		snap := filepath.Join(filepath.Dir(s.root), "containers", strings.Repeat("c", 64))
		ms, err := s.Prepare(ctx, snap, chain)
		if err != nil {
			t.Fatalf("Prepare on %d layers: %v", max, err)
		}
		if n := len(strings.Join(ms[0].Options, ",")); n >= os.Getpagesize() {
			t.Errorf("%d bytes of options for %d layers", n, max)
		}
		_, err = s.Apply(ctx, chain, strings.NewReader(string(tarBytes(t, fileE("x", "")))))
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "max depth exceeded") {
			t.Errorf("Apply of layer %d: %v, want max depth exceeded", max+1, err)
		}
	})
}

package layer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/mount"
)

func TestView(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		l1 := apply(t, s, "", tarBytes(t, dirE("etc"), fileE("etc/a", "a"), fileE("etc/gone", "x"), dirE("opt"), fileE("opt/o", "o")))
		snap := filepath.Join(dir, "c1")
		root := mounted(t, s, snap, l1.ChainID)
		must(t, os.WriteFile(filepath.Join(root, "etc/a"), []byte("changed"), 0o644))
		must(t, os.Remove(filepath.Join(root, "etc/gone")))
		must(t, os.RemoveAll(filepath.Join(root, "opt")))
		must(t, os.Mkdir(filepath.Join(root, "opt"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "new"), []byte("n"), 0o644))

		// Two views, while the read-write mount is still there.
		for i := range 2 {
			ms, err := s.View(ctx, snap, l1.ChainID)
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(dir, "view", string(rune('a'+i)))
			must(t, os.MkdirAll(target, 0o755))
			if err := mount.All(ms, target); err != nil {
				t.Fatalf("mount %v: %v", ms, err)
			}
			t.Cleanup(func() { mount.Unmount(target) })
			if diff := cmp.Diff(tree(t, root), tree(t, target)); diff != "" {
				t.Errorf("view %d differs from the snapshot (-snapshot +view):\n%s", i, diff)
			}
			if err := os.WriteFile(filepath.Join(target, "etc/x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
				t.Errorf("write in a view: %v, want EROFS", err)
			}
		}
		if _, err := s.View(ctx, filepath.Join(dir, "none"), l1.ChainID); !errdefs.IsNotFound(err) {
			t.Errorf("View of a missing snapshot: %v, want not found", err)
		}
	})
}

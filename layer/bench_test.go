package layer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/user"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/mount"
)

// BenchmarkApply applies the uncompressed tar named by $LAYER_BENCH_TAR
// (for example a tar of part of /usr) as a base layer.
func BenchmarkApply(b *testing.B) {
	path := os.Getenv("LAYER_BENCH_TAR")
	if path == "" {
		b.Skip("set LAYER_BENCH_TAR to an uncompressed tar to apply")
	}
	for _, drv := range []string{"overlay2", "vfs"} {
		b.Run(drv, func(b *testing.B) {
			s := benchStore(b, drv)
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(fi.Size())
			for i := 0; i < b.N; i++ {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				l, err := s.Apply(context.Background(), "", f)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				must(b, s.Remove(context.Background(), l.ChainID))
				b.StartTimer()
			}
		})
	}
}

// BenchmarkDiff tars the changes of a snapshot holding 2000 new files of
// 100 KiB each (200 MB): "tar" reads the tar through sha256, as a commit
// into the content store would; "commit" applies it as a new layer.
func BenchmarkDiff(b *testing.B) {
	for _, drv := range []string{"overlay2", "vfs"} {
		b.Run(drv, func(b *testing.B) {
			s := benchStore(b, drv)
			ctx := context.Background()
			base := apply(b, s, "", tarBytes(b, dirE("data"), fileE("data/old", "x")))
			snap := filepath.Join(b.TempDir(), "c")
			root := mounted(b, s, snap, base.ChainID)
			buf := make([]byte, 100<<10)
			for i := 0; i < 2000; i++ {
				rand.Read(buf)
				must(b, os.WriteFile(filepath.Join(root, "data", fmt.Sprintf("f%04d", i)), buf, 0o644))
			}
			b.SetBytes(2000 * int64(len(buf)))
			b.Run("tar", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					rc, err := s.Diff(ctx, snap, base.ChainID)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(sha256.New(), rc)
					rc.Close()
					if err != nil || n < 2000*int64(len(buf)) {
						b.Fatalf("diff: %d bytes, %v", n, err)
					}
				}
			})
			// Diff straight into Apply: a commit that ends with a new layer.
			b.Run("commit", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					rc, err := s.Diff(ctx, snap, base.ChainID)
					if err != nil {
						b.Fatal(err)
					}
					l, err := s.Apply(ctx, base.ChainID, rc)
					rc.Close()
					if err != nil || l.Size < 2000*int64(len(buf)) {
						b.Fatalf("apply diff: %+v, %v", l, err)
					}
					b.StopTimer()
					must(b, s.Remove(ctx, l.ChainID))
					b.StartTimer()
				}
			})
		})
	}
}

func benchStore(b *testing.B, drv string) *Store {
	if os.Geteuid() != 0 {
		b.Skip("layer stores need root")
	}
	dir := b.TempDir()
	s, err := New(filepath.Join(dir, "layers"), filepath.Join(dir, "tmp"), WithDriver(drv))
	if err != nil {
		b.Skipf("driver %s: %v", drv, err)
	}
	return s
}

// BenchmarkMountDeep mounts the rootfs of a snapshot on chains of 1, 100
// and 500 layers (lowerdir+ one layer at a time, or short links in one
// page of options on kernels before 6.8), and unmounts it; "idmapped"
// also makes every layer an idmapped mount, as for --userns-remap.
func BenchmarkMountDeep(b *testing.B) {
	s := benchStore(b, "overlay2")
	ctx := context.Background()
	var chain digest.Digest
	chains := map[int]digest.Digest{}
	for i := 1; i <= s.MaxDepth() && i <= mount.OverlayMaxLayers; i++ {
		chain = apply(b, s, chain, tarBytes(b, fileE(fmt.Sprint(i), ""))).ChainID
		chains[i] = chain
	}
	idm := user.IdentityMapping{UIDMaps: []user.IDMap{{ID: 0, ParentID: 300000, Count: 65536}}, GIDMaps: []user.IDMap{{ID: 0, ParentID: 300000, Count: 65536}}}
	for _, n := range []int{1, 100, 500} {
		for _, mapped := range []bool{false, true} {
			name := fmt.Sprint(n, "-layers")
			var opts []SnapshotOption
			if mapped {
				name += "-idmapped"
				opts = append(opts, WithIDMap(idm))
			}
			b.Run(name, func(b *testing.B) {
				if chains[n] == "" {
					b.Skipf("deeper than the %d layers a snapshot stacks here", s.MaxDepth())
				}
				snap := filepath.Join(b.TempDir(), "c")
				ms, err := s.Prepare(ctx, snap, chains[n], opts...)
				if err != nil {
					b.Skip(err)
				}
				target := filepath.Join(snap, "rootfs")
				must(b, os.Mkdir(target, 0o755))
				for i := 0; i < b.N; i++ {
					must(b, mount.All(ms, target))
					must(b, mount.Unmount(target))
				}
			})
		}
	}
}

package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzApply extracts arbitrary bytes as a tar into a root beside a
// directory it must not touch, through symlinks that point there, with
// each whiteout mode and with Extract. Invariants: no panic; nothing
// outside the root is created, changed or linked to (the file outside
// keeps one link); the disk used in the root is bounded by the input's
// size. Errors are expected (most inputs are not tars).
func FuzzApply(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("extraction sets owners and makes device nodes: needs root")
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		base := t.TempDir()
		root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
		for _, d := range []string{root, outside, filepath.Join(root, "dir")} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		keep := filepath.Join(outside, "keep")
		if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		for name, target := range map[string]string{"up": "../outside", "abs": outside, "dir/up": "../../outside/keep"} {
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		switch mode % 4 {
		case 3:
			dfd, oerr := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if oerr != nil {
				t.Fatal(oerr)
			}
			err = Extract(context.Background(), bytes.NewReader(data), dfd, ExtractOptions{NoOverwriteDirNonDir: mode&4 != 0})
			unix.Close(dfd)
		default:
			_, err = Apply(context.Background(), bytes.NewReader(data), root, Whiteouts(mode%4))
		}
		_ = err

		if got := dirNames(t, base); !slices.Equal(got, []string{"outside", "root"}) {
			t.Fatalf("beside the root: %q", got)
		}
		if got := dirNames(t, outside); !slices.Equal(got, []string{"keep"}) {
			t.Fatalf("outside the root: %q", got)
		}
		var st unix.Stat_t
		if err := unix.Lstat(keep, &st); err != nil {
			t.Fatal(err)
		}
		if st.Nlink != 1 || st.Mode != unix.S_IFREG|0o644 || st.Size != 4 || st.Uid != 0 {
			t.Fatalf("the file outside the root changed: %+v", st)
		}
		if b, _ := os.ReadFile(keep); string(b) != "keep" {
			t.Fatalf("the file outside the root holds %q", b)
		}
		var used int64
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				used += fi.Sys().(*syscall.Stat_t).Blocks * 512
			}
			return nil
		})
		if limit := 8*int64(len(data)) + 1<<20; used > limit {
			t.Fatalf("%d bytes of input took %d bytes of disk", len(data), used)
		}
	})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/mount"
)

// TestPrepareIDMap: a snapshot for a user namespace shows its layers'
// files with host ids through idmapped mounts while the layers on disk
// keep theirs, what the container writes keeps host ids on disk, Diff
// shifts them back, and the snapshot refuses another mapping.
func TestPrepareIDMap(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		idm := user.IdentityMapping{
			UIDMaps: []user.IDMap{{ID: 0, ParentID: 200000, Count: 65536}},
			GIDMaps: []user.IDMap{{ID: 0, ParentID: 300000, Count: 65536}},
		}
		if s.Driver() != "overlay2" || !mount.OverlayLayersByOne() {
			if _, err := s.Prepare(ctx, filepath.Join(dir, "c"), "", WithIDMap(idm)); !errdefs.IsNotImplemented(err) {
				t.Fatalf("Prepare with a mapping on %s: %v, want not implemented", s.Driver(), err)
			}
			return
		}
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range []*tar.Header{
			{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "etc/root-owned", Typeflag: tar.TypeReg, Mode: 0o644},
			{Name: "home/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 1000, Gid: 1000},
		} {
			must(t, tw.WriteHeader(h))
		}
		must(t, tw.Close())
		l := apply(t, s, "", b.Bytes())

		snap := filepath.Join(dir, "c")
		ms, err := s.Prepare(ctx, snap, l.ChainID, WithIDMap(idm))
		if err != nil {
			t.Fatal(err)
		}
		root := filepath.Join(dir, "root")
		must(t, os.Mkdir(root, 0o755))
		if err := mount.All(ms, root); err != nil {
			t.Fatalf("mount %v: %v", ms, err)
		}
		defer mount.Unmount(root)
		for path, want := range map[string][2]uint32{
			".": {200000, 300000}, "etc/root-owned": {200000, 300000}, "home": {201000, 301000},
		} {
			if got := owner(t, filepath.Join(root, path)); got != want {
				t.Errorf("%s shows as owned by %v, want %v", path, got, want)
			}
		}
		// The container's root writes as host uid 200000, which may search
		// the directories down to the rootfs.
		for d := dir; d != "/"; d = filepath.Dir(d) {
			must(t, os.Chmod(d, 0o711|fileMode(t, d)))
		}
		writeAs(t, 200000, 300000, filepath.Join(root, "etc/new"))
		if got := owner(t, filepath.Join(snap, "upper/etc/new")); got != [2]uint32{200000, 300000} {
			t.Errorf("a file the container wrote is owned by %v on disk, want the host ids", got)
		}
		if got := owner(t, filepath.Join(s.filesDir(l.ChainID), "etc/root-owned")); got != [2]uint32{0, 0} {
			t.Errorf("the layer's file is owned by %v on disk, want 0 0 (unchanged)", got)
		}

		rc, err := s.Diff(ctx, snap, l.ChainID)
		if err != nil {
			t.Fatal(err)
		}
		owners := map[string][2]int{}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			must(t, err)
			owners[h.Name] = [2]int{h.Uid, h.Gid}
		}
		rc.Close()
		if got := owners["etc/new"]; got != [2]int{0, 0} {
			t.Errorf("the diff says etc/new is owned by %v, want 0 0 (container ids)", got)
		}

		if _, err := s.Prepare(ctx, snap, l.ChainID); !errdefs.IsConflict(err) {
			t.Errorf("Prepare without the mapping: %v, want conflict", err)
		}
		if _, err := s.View(ctx, snap, l.ChainID); !errdefs.IsNotImplemented(err) {
			t.Errorf("View of a mapped snapshot: %v, want not implemented", err)
		}
		must(t, mount.Unmount(root))
		must(t, s.Release(ctx, snap))
		if _, err := s.Prepare(ctx, snap, l.ChainID); err != nil {
			t.Errorf("Prepare without a mapping after Release: %v", err)
		}
	})
}

func owner(t *testing.T, path string) [2]uint32 {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	return [2]uint32{st.Uid, st.Gid}
}

// writeAs creates path with the filesystem ids uid and gid, as a process
// of the container would.
func writeAs(t *testing.T, uid, gid int, path string) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine: its ids are not restored
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(gid), 0, 0); e != 0 {
			done <- e
			return
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(uid), 0, 0); e != 0 {
			done <- e
			return
		}
		done <- os.WriteFile(path, []byte("x"), 0o644)
	}()
	must(t, <-done)
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	must(t, err)
	return fi.Mode().Perm() | fi.Mode()&os.ModeSticky
}

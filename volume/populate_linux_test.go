package volume

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPopulate(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to keep file owners")
	}
	ctx := context.Background()
	s, _ := newStore(t)
	rootfs := t.TempDir()
	data := filepath.Join(rootfs, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o750)
	os.WriteFile(filepath.Join(data, "sub", "f"), []byte("seed"), 0o640)
	os.Chown(filepath.Join(data, "sub", "f"), 1000, 1001)
	os.Chown(data, 1000, 1000)
	os.Chmod(data, 0o710)
	os.Link(filepath.Join(data, "sub", "f"), filepath.Join(data, "hard"))
	os.Symlink("/etc/passwd", filepath.Join(data, "abs"))
	unix.Mkfifo(filepath.Join(data, "fifo"), 0o600)
	unix.Lsetxattr(filepath.Join(data, "sub", "f"), "user.k", []byte("v"), 0)
	old := time.Unix(1_000_000_000, 0)
	os.Chtimes(filepath.Join(data, "sub", "f"), old, old)
	// A symlink in the image that points out of it is resolved inside.
	os.Symlink("/data", filepath.Join(rootfs, "link"))

	v, _ := s.Create(ctx, "vol", CreateOptions{})
	if err := s.Populate(ctx, "vol", rootfs, "/link"); err != nil {
		t.Fatal(err)
	}
	mp := v.Mountpoint()
	if b, err := os.ReadFile(filepath.Join(mp, "sub", "f")); err != nil || string(b) != "seed" {
		t.Fatalf("file: %q %v", b, err)
	}
	st := stat(t, filepath.Join(mp, "sub", "f"))
	if st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o7777 != 0o640 || st.Nlink != 2 || st.Mtim.Sec != old.Unix() {
		t.Fatalf("file attributes %+v", st)
	}
	if st2 := stat(t, filepath.Join(mp, "hard")); st2.Ino != st.Ino {
		t.Fatal("hard link not kept")
	}
	if target, _ := os.Readlink(filepath.Join(mp, "abs")); target != "/etc/passwd" {
		t.Fatalf("symlink target %q", target)
	}
	if st := stat(t, filepath.Join(mp, "fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Fatal("fifo not kept")
	}
	if st := stat(t, filepath.Join(mp, "sub")); st.Mode&0o7777 != 0o750 {
		t.Fatalf("dir mode %o", st.Mode&0o7777)
	}
	if st := stat(t, mp); st.Uid != 1000 || st.Mode&0o7777 != 0o710 {
		t.Fatalf("volume root %+v", st)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(mp, "sub", "f"), "user.k", buf); err == nil && string(buf[:n]) != "v" {
		t.Fatalf("xattr %q", buf[:n])
	}

	// A volume with content is left alone.
	os.WriteFile(filepath.Join(data, "new"), nil, 0o644)
	if err := s.Populate(ctx, "vol", rootfs, "/data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(mp, "new")); !os.IsNotExist(err) {
		t.Fatal("a volume with content was populated again")
	}
	// Paths that are missing or not directories copy nothing.
	v2, _ := s.Create(ctx, "vol2", CreateOptions{})
	for _, p := range []string{"/missing", "/data/sub/f", "/../../etc"} {
		if err := s.Populate(ctx, "vol2", rootfs, p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if entries, _ := os.ReadDir(v2.Mountpoint()); len(entries) != 0 {
		t.Fatalf("copied from outside the rootfs: %v", entries)
	}
}

func stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

// TestCopyAttrsNoFollow checks that the mode of a copied file is never set
// through a symlink that replaced it in the volume, which a container
// sharing the volume could swap in.
func TestCopyAttrsNoFollow(t *testing.T) {
	src, dst, outside := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(filepath.Join(src, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dst, "f")); err != nil {
		t.Fatal(err)
	}
	sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sfd)
	dfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(sfd, "f", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	if err := copyAttrs(sfd, dfd, "f", &st); err == nil {
		t.Error("copyAttrs onto a symlink succeeded")
	}
	fi, err := os.Stat(outside)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("the symlink's target got mode %v", fi.Mode().Perm())
	}
}

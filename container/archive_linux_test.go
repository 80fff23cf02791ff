package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/internal/archive"
)

// cpRoot builds a container filesystem whose symlinks try to leave it, and
// returns it with an open root descriptor.
func cpRoot(t *testing.T) (string, int) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"etc", "tmp", "d/sub"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(dir, "etc/hostname"), []byte("inside\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "d/sub/f"), []byte("f"), 0o600))
	for link, target := range map[string]string{
		"escape": "/", "x": "/etc/../../../", "rel": "../../../etc", "dl": "/d", "d/up": "..", "loop": "loop",
	} {
		must(t, os.Symlink(target, filepath.Join(dir, link)))
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	return dir, fd
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tarList returns "name" or "name -> link" per entry, and file contents.
func tarList(t *testing.T, b []byte) ([]string, map[string]string) {
	t.Helper()
	var names []string
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, files
		}
		must(t, err)
		n := h.Name
		if h.Linkname != "" {
			n += " -> " + h.Linkname
		}
		names = append(names, n)
		if h.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			files[h.Name] = string(data)
		}
	}
}

func TestOpenPath(t *testing.T) {
	_, root := cpRoot(t)
	tests := []struct {
		path       string
		name       string
		mode       fs.FileMode
		linkTarget string
		entries    []string
	}{
		{"/etc/hostname", "hostname", 0o644, "", []string{"hostname"}},
		{"etc/hostname", "hostname", 0o644, "", []string{"hostname"}},
		{"/escape/etc/hostname", "hostname", 0o644, "", []string{"hostname"}},
		{"/x/etc/hostname", "hostname", 0o644, "", []string{"hostname"}},
		{"/rel/hostname", "hostname", 0o644, "", []string{"hostname"}},
		{"/d/up/../../etc/hostname", "hostname", 0o644, "", []string{"hostname"}},
		{"/d", "d", fs.ModeDir | 0o755, "", []string{"d/", "d/sub/", "d/sub/f", "d/up -> .."}},
		{"/d/", "d", fs.ModeDir | 0o755, "", []string{"d/", "d/sub/", "d/sub/f", "d/up -> .."}},
		{"/d/.", ".", fs.ModeDir | 0o755, "", []string{"./", "./sub/", "./sub/f", "./up -> .."}},
		{"/dl", "dl", fs.ModeSymlink | 0o777, "/d", []string{"dl -> /d"}},
		{"/dl/", "dl", fs.ModeDir | 0o755, "", []string{"dl/", "dl/sub/", "dl/sub/f", "dl/up -> .."}},
		{"/escape", "escape", fs.ModeSymlink | 0o777, "/", []string{"escape -> /"}},
		{"/x", "x", fs.ModeSymlink | 0o777, "/", []string{"x -> /etc/../../../"}},
		{"/rel", "rel", fs.ModeSymlink | 0o777, "/etc", []string{"rel -> ../../../etc"}},
		{"/escape/d/sub/", "sub", fs.ModeDir | 0o755, "", []string{"sub/", "sub/f"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r, err := OpenPath(root, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Stat.Name != tt.name || r.Stat.Mode != tt.mode || r.Stat.LinkTarget != tt.linkTarget {
				t.Errorf("stat = %+v, want name %q mode %v link %q", r.Stat, tt.name, tt.mode, tt.linkTarget)
			}
			var buf bytes.Buffer
			must(t, r.WriteTar(context.Background(), &buf))
			names, files := tarList(t, buf.Bytes())
			if diff := cmp.Diff(tt.entries, names); diff != "" {
				t.Errorf("tar entries (-want +got):\n%s", diff)
			}
			if got, ok := files["hostname"]; ok && got != "inside\n" {
				t.Errorf("hostname = %q: read outside the container", got)
			}
		})
	}
	for _, p := range []string{"/nope", "/escape/nope", "/d/sub/f/x"} {
		if _, err := OpenPath(root, p); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			t.Errorf("OpenPath(%s) = %v, want not exist", p, err)
		}
	}
	if _, err := OpenPath(root, "/loop/x"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("OpenPath(/loop/x) = %v, want ELOOP", err)
	}
}

func tarOf(t *testing.T, hdrs ...*tar.Header) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		must(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(h.Name))
		}
	}
	must(t, tw.Close())
	return &buf
}

func TestExtractToDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give extracted files their owners")
	}
	ctx := context.Background()
	dir, root := cpRoot(t)
	file := func(name string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1234, Gid: 99}
	}

	// Through symlinks that point out of the root, and a tar symlink to /.
	must(t, ExtractToDir(ctx, tarOf(t, file("a"),
		&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/"}, file("l/via-link"),
		&tar.Header{Name: ".wh.kept", Typeflag: tar.TypeReg, Mode: 0o644}),
		root, "/escape/x/tmp", ExtractOptions{}))
	for _, p := range []string{"tmp/a", "tmp/via-link", "tmp/.wh.kept"} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Errorf("%s not in the container: %v", p, err)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); p == "tmp/a" && (fi.Mode() != 0o640 || st.Uid != 1234 || st.Gid != 99) {
			t.Errorf("tmp/a: mode %v owner %d:%d, want 0640 1234:99", fi.Mode(), st.Uid, st.Gid)
		}
	}
	if _, err := os.Lstat("/via-link"); err == nil {
		t.Fatal("a tar symlink to / led the extraction to the host's /")
	}

	must(t, ExtractToDir(ctx, tarOf(t, file("owned")), root, "/tmp",
		ExtractOptions{ExtractOptions: archive.ExtractOptions{Owner: &archive.Owner{UID: 7, GID: 8}}}))
	if fi, err := os.Stat(filepath.Join(dir, "tmp/owned")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 7 {
		t.Errorf("tmp/owned: %v, want uid 7", err)
	}

	tests := []struct {
		name  string
		path  string
		tar   io.Reader
		opts  ExtractOptions
		check func(error) bool
	}{
		{"missing", "/nope", tarOf(t, file("a")), ExtractOptions{}, func(err error) bool { return errors.Is(err, fs.ErrNotExist) }},
		{"file", "/etc/hostname", tarOf(t, file("a")), ExtractOptions{}, errdefs.IsInvalidArgument},
		{"leaves", "/tmp", tarOf(t, file("../../outside")), ExtractOptions{}, errdefs.IsInvalidArgument},
		{"not a tar", "/tmp", bytes.NewReader([]byte("not a tar at all, not at all")), ExtractOptions{}, errdefs.IsInvalidArgument},
		{"dir over file", "/", tarOf(t, &tar.Header{Name: "tmp/a", Typeflag: tar.TypeDir, Mode: 0o755}), ExtractOptions{ExtractOptions: archive.ExtractOptions{NoOverwriteDirNonDir: true}}, errdefs.IsInvalidArgument},
		{"file over dir", "/", tarOf(t, file("etc")), ExtractOptions{ExtractOptions: archive.ExtractOptions{NoOverwriteDirNonDir: true}}, errdefs.IsInvalidArgument},
		{"read-only rootfs", "/tmp", tarOf(t, file("a")), ExtractOptions{ReadonlyRootfs: true}, errdefs.IsPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ExtractToDir(ctx, tt.tar, root, tt.path, tt.opts); !tt.check(err) {
				t.Errorf("ExtractToDir = %v", err)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "outside")); err == nil {
		t.Error("../../outside was written")
	}
}

func TestMountForCopy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for bind mounts")
	}
	base := t.TempDir()
	rootfs, src := filepath.Join(base, "rootfs"), filepath.Join(base, "src")
	must(t, os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755))
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("volume"), 0o644))
	// An absolute symlink on the way stays inside the rootfs.
	must(t, os.Symlink("/etc", filepath.Join(rootfs, "link")))
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(t, err)
	defer unix.Close(root)
	ms := []CopyMount{{Source: src, Destination: "/link/vol", ReadOnly: true}}

	if _, err := MountForCopy(root, rootfs, ms, nil); !errors.Is(err, ErrMissingDestination) {
		t.Fatalf("MountForCopy of a missing destination without create: %v", err)
	}
	undo, err := MountForCopy(root, rootfs, ms, &archive.Owner{})
	must(t, err)
	b, err := os.ReadFile(filepath.Join(rootfs, "etc/vol/f"))
	if err != nil || string(b) != "volume" {
		t.Errorf("the volume at /etc/vol: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/vol/g"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into the read-only mount: %v, want EROFS", err)
	}
	undo()
	if _, err := os.Stat(filepath.Join(rootfs, "etc/vol/f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after undo, /etc/vol/f: %v, want not exist", err)
	}
}

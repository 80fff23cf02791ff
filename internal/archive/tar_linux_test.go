package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// tarEntries lists a tar as "name type mode [-> link] [content]".
func tarEntries(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		e := fmt.Sprintf("%s %c %04o", h.Name, h.Typeflag, h.Mode&0o7777)
		if h.Linkname != "" {
			e += " -> " + h.Linkname
		}
		if data, _ := io.ReadAll(tr); len(data) > 0 {
			e += " " + string(data)
		}
		out = append(out, e)
	}
}

func TestTar(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mknod and mounts")
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"tree/sub", "tree/mnt"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(tree, "a"), []byte("A"), 0o640))
	must(t, os.Link(filepath.Join(tree, "a"), filepath.Join(tree, "sub/hard")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(tree, "sub/abs")))
	must(t, unix.Mkfifo(filepath.Join(tree, "fifo"), 0o600))
	must(t, unix.Mknod(filepath.Join(tree, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	l, err := net.Listen("unix", filepath.Join(tree, "sock"))
	must(t, err)
	defer l.Close()
	must(t, unix.Mount("tmpfs", filepath.Join(tree, "mnt"), "tmpfs", 0, ""))
	defer unix.Unmount(filepath.Join(tree, "mnt"), unix.MNT_DETACH)
	must(t, os.WriteFile(filepath.Join(tree, "mnt/m"), []byte("M"), 0o644))

	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(t, err)
	defer unix.Close(fd)
	tests := []struct {
		name string
		file string
		opts TarOptions
		want []string
	}{
		{"tree", "tree", TarOptions{Name: "tree"}, []string{
			"tree/ 5 0755", "tree/a 0 0640 A", "tree/fifo 6 0600", "tree/mnt/ 5 1777",
			"tree/mnt/m 0 0644 M", "tree/null 3 0644", "tree/sub/ 5 0755",
			"tree/sub/abs 2 0777 -> /etc/passwd", "tree/sub/hard 1 0640 -> tree/a",
		}},
		{"renamed, one file system", "tree", TarOptions{Name: "other", OneFileSystem: true}, []string{
			"other/ 5 0755", "other/a 0 0640 A", "other/fifo 6 0600", "other/mnt/ 5 1777",
			"other/null 3 0644", "other/sub/ 5 0755",
			"other/sub/abs 2 0777 -> /etc/passwd", "other/sub/hard 1 0640 -> other/a",
		}},
		{"content only", "tree/sub", TarOptions{}, []string{"abs 2 0777 -> /etc/passwd", "hard 0 0640 A"}},
		{"a symlink is not followed", "tree/sub/abs", TarOptions{Name: "abs"}, []string{"abs 2 0777 -> /etc/passwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Tar(context.Background(), &buf, fd, tt.file, tt.opts); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tarEntries(t, buf.Bytes())); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
	if err := Tar(context.Background(), io.Discard, fd, "nope", TarOptions{Name: "x"}); !os.IsNotExist(err) {
		t.Errorf("Tar of a missing file: %v, want not exist", err)
	}

	// What Tar writes, Extract puts back.
	var buf bytes.Buffer
	must(t, Tar(context.Background(), &buf, fd, "tree", TarOptions{Name: "copy", OneFileSystem: true}))
	must(t, Extract(context.Background(), &buf, fd, ExtractOptions{}))
	src, dst := filepath.Join(dir, "tree"), filepath.Join(dir, "copy")
	for _, p := range []string{"a", "sub/hard", "sub/abs", "fifo", "null", "mnt"} {
		a, err1 := os.Lstat(filepath.Join(src, p))
		b, err2 := os.Lstat(filepath.Join(dst, p))
		if err1 != nil || err2 != nil || a.Mode() != b.Mode() || (a.Mode().IsRegular() && a.Size() != b.Size()) {
			t.Errorf("%s: %v %v, copy %v %v", p, a, err1, b, err2)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTarLinkAfterReplacedFirst checks that when the first name of a
// hard-linked file was replaced between its lstat and its open (and so
// left out), the next name carries the content rather than a link to the
// missing entry.
func TestTarLinkAfterReplacedFirst(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		if n == "a" {
			must(t, os.WriteFile(filepath.Join(dir, n), []byte("data"), 0o644))
			continue
		}
		must(t, os.Link(filepath.Join(dir, "a"), filepath.Join(dir, n)))
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(t, err)
	defer unix.Close(fd)
	lstat := func(n string) *unix.Stat_t {
		var st unix.Stat_t
		must(t, unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW))
		return &st
	}
	var buf bytes.Buffer
	tw := &tarWriter{ctx: context.Background(), tw: tar.NewWriter(&buf), links: map[fileID]string{}, buf: make([]byte, 4096)}
	stale := lstat("a")
	must(t, os.WriteFile(filepath.Join(dir, "new"), []byte("other"), 0o644))
	must(t, os.Rename(filepath.Join(dir, "new"), filepath.Join(dir, "a")))
	must(t, tw.add(fd, "a", stale, "a", stale.Dev))
	for _, n := range []string{"b", "c"} {
		st := lstat(n)
		must(t, tw.add(fd, n, st, n, st.Dev))
	}
	must(t, tw.tw.Close())
	want := []string{"b 0 0644 data", "c 1 0644 -> b"}
	if diff := cmp.Diff(want, tarEntries(t, buf.Bytes())); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

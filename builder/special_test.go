package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// TestBuildSpecialFiles: FIFOs and device nodes of a context are copied as
// what they are, never opened for reading: a FIFO without a writer used to
// block the build forever, a /dev/zero-like node to be read forever.
func TestBuildSpecialFiles(t *testing.T) {
	e := newTestEnv(t)
	mk := func(name string, mode uint32, dev int) {
		p := filepath.Join(e.ctxDir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := unix.Mknod(p, mode, dev); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(p, mode&0o7777); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	mk("f", unix.S_IFIFO|0o644, 0)
	mk("z", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5)))
	mk("d/f", unix.S_IFIFO|0o600, 0)
	mk("d/z", unix.S_IFCHR|0o640, int(unix.Mkdev(1, 5)))
	if err := os.Symlink("z", filepath.Join(e.ctxDir, "zlink")); err != nil {
		t.Fatal(err)
	}
	e.write("Dockerfile", "FROM scratch\nCOPY f /f\nCOPY z /z\nCOPY d /d\nCOPY zlink /zz\nADD f /g\nADD z /dir/\n")

	id, out, err := buildWithin(t, e, 20*time.Second)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	img, err := e.images.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	s := &state{img: img.Config}
	mnt, cleanup, err := (&run{b: e.b}).mountImage(context.Background(), s.chain())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	for _, c := range []struct {
		name string
		kind uint32
		perm uint32
		dev  uint64
	}{
		{"f", unix.S_IFIFO, 0o644, 0},
		{"z", unix.S_IFCHR, 0o666, unix.Mkdev(1, 5)},
		{"d/f", unix.S_IFIFO, 0o600, 0},
		{"d/z", unix.S_IFCHR, 0o640, unix.Mkdev(1, 5)},
		{"zz", unix.S_IFCHR, 0o666, unix.Mkdev(1, 5)},
		{"g", unix.S_IFIFO, 0o644, 0},
		{"dir/z", unix.S_IFCHR, 0o666, unix.Mkdev(1, 5)},
	} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(mnt, c.name), &st); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if st.Mode&unix.S_IFMT != c.kind || st.Mode&0o7777 != c.perm || st.Rdev != c.dev {
			t.Errorf("%s: mode %o rdev %d:%d, want %o rdev %d:%d", c.name, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev),
				c.kind|c.perm, unix.Major(c.dev), unix.Minor(c.dev))
		}
	}
}

// TestBuildDockerfileFIFO: a Dockerfile that is a FIFO is not found, at
// once, instead of waiting for a writer.
func TestBuildDockerfileFIFO(t *testing.T) {
	e := newTestEnv(t)
	if err := unix.Mkfifo(filepath.Join(e.ctxDir, "Dockerfile"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := buildWithin(t, e, 10*time.Second)
	if err == nil || err.Error() != "Cannot locate specified Dockerfile: Dockerfile" {
		t.Fatalf("err = %v, want Cannot locate specified Dockerfile: Dockerfile", err)
	}
}

// buildWithin builds the context of e, failing the test when that takes
// longer than limit (the build goroutine is then left behind).
func buildWithin(t *testing.T, e *testEnv, limit time.Duration) (digest.Digest, string, error) {
	t.Helper()
	type result struct {
		id  digest.Digest
		err error
	}
	var out textOutput
	done := make(chan result, 1)
	go func() {
		id, err := e.b.Build(context.Background(), Options{ContextDir: e.ctxDir}, &out)
		done <- result{id, err}
	}()
	select {
	case r := <-done:
		return r.id, out.String(), r.err
	case <-time.After(limit):
		t.Fatalf("the build did not finish in %s", limit)
		return "", "", nil
	}
}

// TestBuildAddPAXArchive: ADD extracts a tar whose first entry has a pax
// header (the default of Python's tarfile for some names, of Go's for long
// ones), which the 512-byte probe took for a plain file; plain and
// gzipped, and a tar with a GNU long name.
func TestBuildAddPAXArchive(t *testing.T) {
	e := newTestEnv(t)
	long := strings.Repeat("d", 120) + "/file"
	for _, c := range []struct {
		name   string
		format tar.Format
		gz     bool
	}{{"pax.tar", tar.FormatPAX, false}, {"pax.tar.gz", tar.FormatPAX, true}, {"gnu.tar", tar.FormatGNU, false}} {
		var buf bytes.Buffer
		var w io.Writer = &buf
		zw := gzip.NewWriter(&buf)
		if c.gz {
			w = zw
		}
		tw := tar.NewWriter(w)
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: long, Mode: 0o644, Size: 2, Format: c.format}
		if c.format == tar.FormatPAX {
			hdr.PAXRecords = map[string]string{"comment": "made by a pax writer"}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x\n"))
		tw.Close()
		zw.Close()
		if buf.Len() < 1024 && !c.gz {
			t.Fatalf("%s: the first header should come after the first 512 bytes", c.name)
		}
		e.write(c.name, buf.String())
		_, id := e.mustBuild("FROM scratch\nADD "+c.name+" /x/\n", Options{Tags: []string{"pax"}})
		img, err := e.images.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		mnt, cleanup, err := (&run{b: e.b}).mountImage(context.Background(), (&state{img: img.Config}).chain())
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(mnt, "x", long))
		cleanup()
		if err != nil || string(data) != "x\n" {
			t.Errorf("ADD %s was not extracted: /x/%s: %q, %v", c.name, long, data, err)
		}
	}
}

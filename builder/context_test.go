package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// contextTar is a tar of the entries: name -> content ("" with link set
// makes a hard link to link).
type tarEntry struct{ name, content, link string }

func contextTar(t *testing.T, entries []tarEntry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 123456789)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.content)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if e.link != "" {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, e.link, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.content))
	}
	tw.Close()
	return &buf
}

func digestOf(t *testing.T, root, rel string, sums *ContextSums) string {
	t.Helper()
	h := sha256.New()
	files := map[string]string{}
	if err := digestItem(root, rel, h, files, sums); err != nil {
		t.Fatal(err)
	}
	return string(h.Sum(nil))
}

// The digests of a COPY's sources come from the stream as it was
// extracted: a file changed on disk behind the build's back with its size
// and time kept still digests as it arrived (which shows the file was not
// read again), and gives the same digest as reading the received content.
func TestContextSumsTakenWhileReceiving(t *testing.T) {
	dir := t.TempDir()
	sums, err := ExtractContext(context.Background(), contextTar(t, []tarEntry{{name: "a/x.txt", content: "hello"}, {name: "a/y.txt", content: "world"}}), dir)
	if err != nil {
		t.Fatal(err)
	}
	read := digestOf(t, dir, "a", nil)
	if got := digestOf(t, dir, "a", sums); got != read {
		t.Fatal("the received digests differ from reading the files")
	}
	p := filepath.Join(dir, "a/x.txt")
	st, _ := os.Stat(p)
	if err := os.WriteFile(p, []byte("HELLO"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, st.ModTime(), st.ModTime())
	if got := digestOf(t, dir, "a", sums); got != read {
		t.Fatal("a.txt was read again after extraction")
	}
	if got := digestOf(t, dir, "a", nil); got == read {
		t.Fatal("the test's change of a.txt did not change its digest")
	}
	// A change of size (or time) is seen: the file is read.
	os.WriteFile(p, []byte("hello!"), 0o644)
	os.Chtimes(p, st.ModTime(), st.ModTime())
	if digestOf(t, dir, "a", sums) != digestOf(t, dir, "a", nil) {
		t.Fatal("a file whose size changed was not read")
	}
}

// An entry that replaces a file by a hard link to another leaves no digest
// behind for it: its content on disk is the other file's.
func TestContextSumsHardLinkReplaces(t *testing.T) {
	dir := t.TempDir()
	sums, err := ExtractContext(context.Background(), contextTar(t, []tarEntry{
		{name: "x", content: "aaaa"}, {name: "y", content: "bbbb"}, {name: "x", link: "y"},
	}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "x")); string(b) != "bbbb" {
		t.Fatalf("x is %q", b)
	}
	for _, rel := range []string{"x", "y"} {
		if digestOf(t, dir, rel, sums) != digestOf(t, dir, rel, nil) {
			t.Fatalf("%s: the digest is not its content's", rel)
		}
	}
}

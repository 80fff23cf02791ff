package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
)

// ent is one entry of a test context: typ 0 is a regular file.
type ent struct {
	name, content, link string
	typ                 byte
	mode                int64
	mtime               int64 // seconds; 0 is 1700000000
}

func ctxTar(t *testing.T, es ...ent) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: time.Unix(1700000000+e.mtime, 0)}
		switch e.typ {
		case 0:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.content))
		case tar.TypeDir:
			hdr.Name += "/"
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if e.typ == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.content))
	}
	tw.Close()
	return &buf
}

// tree describes everything below root: type, mode, owner, size, times
// (a directory's too), link and content.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d size=%d mtime=%d", fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[strings.TrimPrefix(p, root+"/")] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// Receiving a context over an earlier one leaves the same tree a fresh
// extraction does, with the same digests, and writes only what changed:
// an unchanged file keeps its inode.
func TestReceiveOverEarlierContext(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", smallFile/16+1000)
	bigEdited := big[:smallFile/2] + "X" + big[smallFile/2+1:]
	first := []ent{
		{name: "Dockerfile", content: "FROM scratch\n"},
		{name: "a", typ: tar.TypeDir},
		{name: "a/same", content: "same"},
		{name: "a/edited", content: "one"},
		{name: "a/chmod", content: "x"},
		{name: "a/gone", content: "bye"},
		{name: "a/big", content: big},
		{name: "a/bigsame", content: big},
		{name: "a/link", link: "same", typ: tar.TypeSymlink},
		{name: "a/hard", link: "a/same", typ: tar.TypeLink},
		{name: "b", typ: tar.TypeDir},
		{name: "b/sub", typ: tar.TypeDir},
		{name: "b/sub/x", content: "x"},
		{name: "c", content: "file becomes dir"},
		{name: "d", typ: tar.TypeDir},
		{name: "d/x", content: "dir becomes file"},
	}
	second := []ent{
		{name: "Dockerfile", content: "FROM scratch\n"},
		{name: "a", typ: tar.TypeDir},
		{name: "a/same", content: "same"},
		{name: "a/edited", content: "two"}, // same size and time, other content
		{name: "a/chmod", content: "x", mode: 0o755},
		{name: "a/big", content: bigEdited},
		{name: "a/bigsame", content: big},
		{name: "a/link", link: "same", typ: tar.TypeSymlink},
		{name: "a/hard", link: "a/same", typ: tar.TypeLink},
		{name: "a/new", content: "new"},
		{name: "c", typ: tar.TypeDir},
		{name: "c/y", content: "y"},
		{name: "d", content: "now a file"},
	}
	ctx := context.Background()
	b := contextBuilder(t)
	c1, err := b.ExtractContext(ctx, ctxTar(t, first...))
	if err != nil {
		t.Fatal(err)
	}
	if !c1.reusable {
		t.Fatal("a simple stream's context is not reusable")
	}
	sameIno, bigIno := inode(t, filepath.Join(c1.Dir, "a/same")), inode(t, filepath.Join(c1.Dir, "a/bigsame"))
	b.ReleaseContext(c1)
	c2, err := b.ExtractContext(ctx, ctxTar(t, second...))
	if err != nil {
		t.Fatal(err)
	}
	if c2.Dir != c1.Dir {
		t.Fatal("the second context did not reuse the first's directory")
	}
	fresh := t.TempDir()
	sums, err := ExtractContext(ctx, ctxTar(t, second...), fresh)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tree(t, fresh), tree(t, c2.Dir)); d != "" {
		t.Errorf("the tree differs from a fresh extraction (-fresh +reused):\n%s", d)
	}
	for _, rel := range []string{"a", "c", "Dockerfile"} {
		if digestOf(t, c2.Dir, rel, c2.Sums) != digestOf(t, fresh, rel, sums) || digestOf(t, c2.Dir, rel, c2.Sums) != digestOf(t, c2.Dir, rel, nil) {
			t.Errorf("%s: the digests differ from a fresh extraction's or from the content's", rel)
		}
	}
	if inode(t, filepath.Join(c2.Dir, "a/same")) != sameIno || inode(t, filepath.Join(c2.Dir, "a/bigsame")) != bigIno {
		t.Error("an unchanged file was written again")
	}
	if inode(t, filepath.Join(c2.Dir, "a/hard")) != inode(t, filepath.Join(c2.Dir, "a/same")) {
		t.Error("the hard link is not to its target")
	}
	b.ReleaseContext(c2)
	b.DropContexts()
	if _, err := os.Stat(c2.Dir); !os.IsNotExist(err) {
		t.Errorf("DropContexts left %s: %v", c2.Dir, err)
	}
}

// A stream that is not simple (a name twice, an entry under a symlink)
// received over an earlier context still gives what a fresh extraction
// gives, and is not kept for the next build.
func TestReceiveNotSimple(t *testing.T) {
	first := []ent{
		{name: "a", typ: tar.TypeDir},
		{name: "a/x", content: "x"},
		{name: "e", typ: tar.TypeDir},
		{name: "e/old", content: "old"},
	}
	for name, second := range map[string][]ent{
		"twice": {
			{name: "a", typ: tar.TypeDir}, {name: "a/x", content: "x"}, {name: "a/x", content: "y"},
		},
		"through a symlink": {
			{name: "a", typ: tar.TypeDir}, {name: "a/x", content: "x"}, {name: "e", typ: tar.TypeDir},
			{name: "s", link: "e", typ: tar.TypeSymlink}, {name: "s/old", content: "new"},
		},
		"dir replaced by symlink": {
			{name: "a", link: "e", typ: tar.TypeSymlink}, {name: "e", typ: tar.TypeDir}, {name: "a/x", content: "z"},
		},
		"whiteout": {
			{name: "a", typ: tar.TypeDir}, {name: "a/x", content: "x"}, {name: "a/.wh.x"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := contextBuilder(t)
			c1, err := b.ExtractContext(ctx, ctxTar(t, first...))
			if err != nil {
				t.Fatal(err)
			}
			b.ReleaseContext(c1)
			c2, err := b.ExtractContext(ctx, ctxTar(t, second...))
			if err != nil {
				t.Fatal(err)
			}
			if c2.reusable {
				t.Error("the context is kept for reuse")
			}
			fresh := t.TempDir()
			if _, err := ExtractContext(ctx, ctxTar(t, second...), fresh); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tree(t, fresh), tree(t, c2.Dir)); d != "" {
				t.Errorf("the tree differs from a fresh extraction (-fresh +reused):\n%s", d)
			}
		})
	}
}

// A hard link to a file only the earlier context had fails as it does in
// a fresh extraction: the earlier context's files are never reached.
func TestReceiveHardLinkToOldFile(t *testing.T) {
	ctx := context.Background()
	b := contextBuilder(t)
	c1, err := b.ExtractContext(ctx, ctxTar(t, ent{name: "secret", content: "s"}))
	if err != nil {
		t.Fatal(err)
	}
	b.ReleaseContext(c1)
	second := []ent{{name: "l", link: "secret", typ: tar.TypeLink}}
	if _, err := ExtractContext(ctx, ctxTar(t, second...), t.TempDir()); err == nil {
		t.Fatal("a fresh extraction took a hard link to nothing")
	}
	if c2, err := b.ExtractContext(ctx, ctxTar(t, second...)); err == nil {
		t.Fatalf("the link to the earlier context's file was made: %v", tree(t, c2.Dir))
	}
}

// contextBuilder is a Builder for contexts alone.
func contextBuilder(t *testing.T) *Builder {
	t.Helper()
	dir := t.TempDir()
	pool, err := newContextPool(filepath.Join(dir, "contexts"), dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Builder{cfg: Config{TmpDir: dir}, contexts: pool}
}

// The contexts kept by one gantryd are gone for the next: their records
// were in memory.
func TestContextsEmptiedAtStart(t *testing.T) {
	b := contextBuilder(t)
	c, err := b.ExtractContext(context.Background(), ctxTar(t, ent{name: "a", content: "a"}))
	if err != nil {
		t.Fatal(err)
	}
	b.ReleaseContext(c)
	if _, err := newContextPool(b.contexts.dir, b.cfg.TmpDir); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(b.contexts.dir); len(left) != 0 {
		t.Errorf("left in %s: %v", b.contexts.dir, left)
	}
}

// TestReceiveTooManyEntries: a context of more entries than the bound is
// refused (its records would grow gantryd's memory without end).
func TestReceiveTooManyEntries(t *testing.T) {
	defer func(n int) { maxContextEntries = n }(maxContextEntries)
	maxContextEntries = 3
	es := []ent{{name: "a", content: "1"}, {name: "b", content: "2"}, {name: "c", content: "3"}}
	if _, err := ExtractContext(context.Background(), ctxTar(t, es...), t.TempDir()); err != nil {
		t.Fatalf("a context of %d entries: %v", len(es), err)
	}
	es = append(es, ent{name: "d", content: "4"})
	_, err := ExtractContext(context.Background(), ctxTar(t, es...), t.TempDir())
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "more than 3 entries") {
		t.Errorf("a context of %d entries: %v, want an invalid-argument error", len(es), err)
	}
}

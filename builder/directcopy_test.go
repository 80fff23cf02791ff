package builder

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/go-archive/compression"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// lastLayer lists the entries of the top layer of the image id: type,
// mode, owner, size, content digest or link target, and the time of
// files (a directory's time is the copy's, in either way).
func (e *testEnv) lastLayer(id digest.Digest) []string {
	e.t.Helper()
	img, err := e.images.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	blob, err := e.cs.Open(context.Background(), img.Layers[len(img.Layers)-1].Digest)
	if err != nil {
		e.t.Fatal(err)
	}
	defer blob.Close()
	zr, err := compression.DecompressStream(blob)
	if err != nil {
		e.t.Fatal(err)
	}
	defer zr.Close()
	var out []string
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			e.t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, tr)
		line := fmt.Sprintf("%s %c %o %d:%d %d %x %q", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Size, h.Sum(nil)[:6], hdr.Linkname)
		if hdr.Typeflag != tar.TypeDir {
			line += " " + hdr.ModTime.UTC().String()
		}
		out = append(out, line)
	}
}

// A COPY whose files are all new goes to the layer store as its own tar,
// without writing the files into the snapshot and reading them back: the
// layer holds what the snapshot's diff holds, also for the directories
// above the copy that the base has (their mode and owner kept) and for
// those the copy makes (owned by --chown).
func TestDirectCopyLayerIsTheDiff(t *testing.T) {
	e := newTestEnv(t)
	e.write("app/a.txt", "a")
	e.write("app/sub/b.txt", "bb")
	os.Symlink("a.txt", filepath.Join(e.ctxDir, "app/link"))
	os.Chmod(filepath.Join(e.ctxDir, "app/sub"), 0o750)
	e.write("one.txt", "one")
	if err := os.MkdirAll(filepath.Join(e.ctxDir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, copy := range []string{
		"COPY app /app",
		"COPY app /etc/app/",
		"COPY --chown=7:8 app /etc/new/deeper/",
		"COPY one.txt /etc/",
		"COPY --chmod=600 one.txt app/a.txt /etc/x/",
		"COPY empty /etc/empty",
		"COPY one.txt /etc/base", // replaces a file: through the snapshot either way
		"COPY app /etc",          // into an existing directory: likewise
	} {
		t.Run(strings.ReplaceAll(copy, "/", "_"), func(t *testing.T) {
			var layers [2][]string
			var direct [2]int64
			for i, on := range []bool{false, true} {
				directCopies = on
				before := directLayers.Load()
				_, id := e.mustBuild("FROM base:latest\n"+copy+"\n", Options{NoCache: true})
				direct[i] = directLayers.Load() - before
				layers[i] = e.lastLayer(id)
			}
			directCopies = true
			if diff := cmp.Diff(layers[0], layers[1]); diff != "" {
				t.Errorf("the layer through the snapshot (-) and the direct one (+) differ:\n%s", diff)
			}
			wantDirect := int64(1)
			if strings.HasSuffix(copy, "/etc/base") || strings.HasSuffix(copy, " /etc") {
				wantDirect = 0
			}
			if direct[0] != 0 || direct[1] != wantDirect {
				t.Errorf("direct layers: %d with direct copies off, %d on; want 0, %d", direct[0], direct[1], wantDirect)
			}
		})
	}
}

// A direct copy of the context's files takes their inodes (hard links)
// when they fit the layer's entries, so the context is not written twice;
// a file the entry does not fit (another owner by --chown) is copied.
func TestDirectCopyLinksContextFiles(t *testing.T) {
	e := newTestEnv(t)
	e.write("app/a.txt", "a")
	e.write("app/sub/b.txt", "bb")
	second := time.Unix(1700000000, 0) // as ExtractContext leaves them
	for _, f := range []string{"app/a.txt", "app/sub/b.txt"} {
		os.Chtimes(filepath.Join(e.ctxDir, f), second, second)
	}
	nlink := func(f string) uint64 {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(e.ctxDir, f), &st); err != nil {
			t.Fatal(err)
		}
		return uint64(st.Nlink)
	}
	_, id := e.mustBuild("FROM base:latest\nCOPY app /app\n", Options{NoCache: true})
	if nlink("app/a.txt") != 2 || nlink("app/sub/b.txt") != 2 {
		t.Errorf("links of the context's files after COPY: %d, %d; want 2 (context and layer)", nlink("app/a.txt"), nlink("app/sub/b.txt"))
	}
	want := []string{
		`app/ 5 755 0:0 0 e3b0c44298fc ""`,
		`app/a.txt 0 644 0:0 1 ca978112ca1b "" 2023-11-14 22:13:20 +0000 UTC`,
		`app/sub/ 5 755 0:0 0 e3b0c44298fc ""`,
		`app/sub/b.txt 0 644 0:0 2 3b64db95cb55 "" 2023-11-14 22:13:20 +0000 UTC`,
	}
	if diff := cmp.Diff(want, e.lastLayer(id)); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
	e.mustBuild("FROM base:latest\nCOPY --chown=7:8 app /app2\n", Options{NoCache: true})
	if nlink("app/a.txt") != 2 {
		t.Errorf("a COPY --chown linked a context file of another owner: %d links", nlink("app/a.txt"))
	}
}

// The layers of steps keep no blob: the manifest names the uncompressed
// tar by its diff ID, no file holds it, and the content store makes it
// from the layer, verified, when it is read.
func TestBuiltLayersKeepNoBlob(t *testing.T) {
	e := newTestEnv(t)
	e.write("app/a.txt", "a")
	e.write("b.txt", "b")
	_, id := e.mustBuild("FROM base:latest\nCOPY app /app\nCOPY b.txt /etc/b.txt\n", Options{NoCache: true})
	img, err := e.images.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for i, desc := range img.Layers[len(img.Layers)-2:] {
		diffID := img.Config.RootFS.DiffIDs[len(img.Layers)-2+i]
		if desc.MediaType != ocispec.MediaTypeImageLayer || desc.Digest != diffID {
			t.Errorf("layer %d: %+v, want the uncompressed tar named by %s", i, desc, diffID)
		}
		if stored, err := e.cs.Stored(context.Background(), desc.Digest); stored || err != nil {
			t.Errorf("layer %d: a blob was stored (%v)", i, err)
		}
		b, err := e.cs.ReadAll(context.Background(), desc.Digest)
		if err != nil || digest.FromBytes(b) != diffID || int64(len(b)) != desc.Size {
			t.Errorf("layer %d: made %d bytes (%v), digest %s", i, len(b), err, digest.FromBytes(b))
		}
	}
}

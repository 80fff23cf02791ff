package distribution

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/content"
	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

type nopGC struct{}

func (nopGC) RLock()                                     {}
func (nopGC) RUnlock()                                   {}
func (nopGC) Lease(blobs, chains []digest.Digest) func() { return func() {} }

// The gzip copy a push makes of a built layer (whose uncompressed tar the
// content store makes from the layer's files) is the gzip of the tar that
// was applied, made once for pushes that ask for it at the same time, and
// recorded for the next ones.
func TestGzipCopyOfBuiltLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the layer store needs root")
	}
	ctx := context.Background()
	e := newStoreEngine(t)
	e.gc = nopGC{}
	e.content.SetSource(layer.TarSource{Store: e.layers})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"a", "b", "c"} {
		body := make([]byte, 1<<20)
		rand.Read(body)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	applied := buf.Bytes()
	l, err := e.layers.Apply(ctx, "", bytes.NewReader(applied), layer.WithTarSplit())
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l.DiffID, Size: l.TarSize}
	names := map[digest.Digest]string{}
	out, err := e.distributableLayers(ctx, []ocispec.Descriptor{desc}, names)
	if err != nil {
		t.Fatal(err)
	}
	made := gzipMade.Load()
	if out[0].MediaType != ocispec.MediaTypeImageLayerGzip || made == 0 {
		t.Fatalf("a built layer goes as %+v (%d copies made)", out[0], made)
	}
	// As the tar itself would compress.
	var want bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&want, gzipLevel)
	gw.Write(applied)
	gw.Close()
	if out[0].Digest != digest.FromBytes(want.Bytes()) {
		t.Errorf("the gzip copy is %s, the applied tar compresses to %s", out[0].Digest, digest.FromBytes(want.Bytes()))
	}
	rc, err := e.content.Open(ctx, out[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	zr, _ := gzip.NewReader(rc)
	got, _ := io.ReadAll(zr)
	rc.Close()
	if !bytes.Equal(got, applied) {
		t.Error("the gzip copy does not hold the applied tar")
	}

	// A fresh engine (no record yet) asked eight times at once makes one.
	e.blobs.SetGzip(desc.Digest, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("gone"), Size: 1})
	before := gzipMade.Load()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gz, err := e.gzipCopy(ctx, desc)
			if err != nil || gz.Digest != out[0].Digest {
				t.Errorf("gzipCopy = %v, %v", gz.Digest, err)
			}
		}()
	}
	wg.Wait()
	if n := gzipMade.Load() - before; n != 1 {
		t.Errorf("%d gzip copies made for 8 pushes at once, want 1", n)
	}

	// A layer pulled or loaded uncompressed is pushed as it is.
	plain := []byte("not a layer of this store")
	pd, _, err := e.content.Put(ctx, bytes.NewReader(plain), "")
	if err != nil {
		t.Fatal(err)
	}
	stored := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: pd, Size: int64(len(plain))}
	if out, err := e.distributableLayers(ctx, []ocispec.Descriptor{stored}, names); err != nil || out[0].Digest != pd {
		t.Errorf("a stored uncompressed layer goes as %+v, %v", out, err)
	}
}

// A built layer whose file changed behind the store's back (same size)
// gives no gzip copy: the made tar fails its digest, nothing is recorded.
func TestGzipCopyOfChangedLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the layer store needs root")
	}
	ctx := context.Background()
	root := t.TempDir()
	cs, err := content.New(filepath.Join(root, "content"), filepath.Join(root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layer.New(filepath.Join(root, "layers"), filepath.Join(root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := gimage.OpenBlobIndex(filepath.Join(root, "blobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	cs.SetSource(layer.TarSource{Store: ls})
	e := &Engine{content: cs, layers: ls, blobs: blobs, gc: nopGC{}}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("hello"))
	tw.Close()
	l, err := e.layers.Apply(ctx, "", bytes.NewReader(buf.Bytes()), layer.WithTarSplit())
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "layers", l.ChainID.Encoded(), "diff", "f"))
	if len(files) != 1 {
		t.Fatalf("layer file not found: %v", files)
	}
	if err := os.WriteFile(files[0], []byte("HELLO"), 0o644); err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l.DiffID, Size: l.TarSize}
	if _, err := e.gzipCopy(ctx, desc); !errdefs.IsDataLoss(err) {
		t.Fatalf("gzip copy of a changed layer: %v, want data loss", err)
	}
	if _, ok := e.blobs.Gzip(desc.Digest); ok {
		t.Error("a gzip copy was recorded")
	}
	n := 0
	e.content.Walk(ctx, func(digest.Digest, int64) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d blobs stored", n)
	}
}

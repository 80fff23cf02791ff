package gc

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

type stores struct {
	t       *testing.T
	content *content.Store
	layers  *layer.Store
	images  *image.Store
	blobs   *image.BlobIndex
}

func newStores(t *testing.T) *stores {
	if os.Geteuid() != 0 {
		t.Skip("layer stores need root")
	}
	root := t.TempDir()
	tmp := filepath.Join(root, "tmp")
	s := &stores{t: t}
	var err error
	if s.content, err = content.New(filepath.Join(root, "content"), tmp); err != nil {
		t.Fatal(err)
	}
	if s.layers, err = layer.New(filepath.Join(root, "layers"), tmp); err != nil {
		t.Fatal(err)
	}
	if s.images, err = image.New(context.Background(), filepath.Join(root, "images"), s.content, slog.Default()); err != nil {
		t.Fatal(err)
	}
	if s.blobs, err = image.OpenBlobIndex(filepath.Join(root, "images", "blobs.json")); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stores) collector(cfg Config) *Collector {
	cfg.Content, cfg.Layers, cfg.Images, cfg.Blobs = s.content, s.layers, s.images, s.blobs
	return New(cfg)
}

// layerTar is a layer tar holding one file named and filled after name.
func layerTar(name string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(name))})
	tw.Write([]byte(name))
	tw.Close()
	return buf.Bytes()
}

// chain stores layers named prefix-0 ... on top of parent and returns the
// chain IDs and their blobs (the tars, as blobs).
func (s *stores) chain(parent digest.Digest, prefix string, n int) ([]layer.Layer, []ocispec.Descriptor) {
	ctx := context.Background()
	var ls []layer.Layer
	var blobs []ocispec.Descriptor
	for i := 0; i < n; i++ {
		b := layerTar(fmt.Sprintf("%s-%d", prefix, i))
		l, err := s.layers.Apply(ctx, parent, bytes.NewReader(b))
		if err != nil {
			s.t.Fatal(err)
		}
		dg, err := s.content.PutBytes(ctx, b)
		if err != nil {
			s.t.Fatal(err)
		}
		ls = append(ls, l)
		blobs = append(blobs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: dg, Size: int64(len(b))})
		parent = l.ChainID
	}
	return ls, blobs
}

// image records an image of the layers and blobs and tags it name.
func (s *stores) image(name string, ls []layer.Layer, blobs []ocispec.Descriptor) digest.Digest {
	var cfg image.Config
	now := time.Now().UTC()
	cfg.Created = &now
	cfg.Config.Labels = map[string]string{"name": name}
	cfg.RootFS.Type = "layers"
	for _, l := range ls {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	data, _ := json.Marshal(cfg)
	ctx := context.Background()
	id, err := s.images.Create(ctx, data, blobs, "")
	if err != nil {
		s.t.Fatal(err)
	}
	ref, _ := image.ParseReference(name)
	if err := s.images.Tag(ctx, id, ref); err != nil {
		s.t.Fatal(err)
	}
	return id
}

func (s *stores) rmi(name string) {
	if _, err := s.images.Remove(context.Background(), name, false, false, func(digest.Digest) (string, bool, bool) { return "", false, false }); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stores) counts() (layers, blobs int) {
	ctx := context.Background()
	ls, err := s.layers.List(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	s.content.Walk(ctx, func(digest.Digest, int64) error { blobs++; return nil })
	return len(ls), blobs
}

func (s *stores) has(chain digest.Digest) bool {
	_, err := s.layers.Get(context.Background(), chain)
	return err == nil
}

// TestCollectDeepChain checks that one collection removes every layer of a
// removed image, however deep, and keeps the layers another image shares.
func TestCollectDeepChain(t *testing.T) {
	s := newStores(t)
	ctx := context.Background()
	shared, sharedBlobs := s.chain("", "shared", 3)
	deep, deepBlobs := s.chain(shared[2].ChainID, "deep", 40)
	s.image("keep:1", shared, sharedBlobs)
	s.image("deep:1", append(shared, deep...), append(sharedBlobs, deepBlobs...))
	c := s.collector(Config{})
	if res, err := c.Collect(ctx); err != nil || res != (Result{}) {
		t.Fatalf("Collect with nothing to collect = %+v, %v", res, err)
	}
	s.rmi("deep:1")
	res, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Layers != 40 || res.Blobs != 40+2 { // the layers, their blobs, config and manifest
		t.Errorf("Collect = %+v, want 40 layers and 42 blobs", res)
	}
	if l, b := s.counts(); l != 3 || b != 3+2 {
		t.Errorf("after one collection: %d layers, %d blobs; want 3 and 5", l, b)
	}
	for _, l := range shared {
		if !s.has(l.ChainID) {
			t.Errorf("shared layer %s removed", l.ChainID)
		}
	}
}

// TestCollectKeeps checks what a collection keeps besides images: leased
// blobs and chains with their parents, the chains of containers'
// snapshots, the pending layers of interrupted pulls within PendingGrace,
// and that records of removed images are swept.
func TestCollectKeeps(t *testing.T) {
	s := newStores(t)
	ctx := context.Background()
	leased, leasedBlobs := s.chain("", "leased", 3)
	snap, _ := s.chain("", "snapshot", 2)
	pending, pendingBlobs := s.chain("", "pending", 2)
	gone, goneBlobs := s.chain("", "gone", 2)
	goneImage := s.image("gone:1", gone, goneBlobs)
	keptImage := s.image("kept:1", pending[:1], pendingBlobs[:1])
	if err := s.blobs.AddPending(pendingBlobs[1].Digest, pending[1].ChainID); err != nil {
		t.Fatal(err)
	}
	var swept []digest.Digest
	c := s.collector(Config{
		Snapshots: func() []digest.Digest { return []digest.Digest{snap[1].ChainID, ""} },
		Records: []Records{RecordsFunc(func(ctx context.Context, live func(digest.Digest) bool) (int, error) {
			for _, id := range []digest.Digest{goneImage, keptImage} {
				if !live(id) {
					swept = append(swept, id)
				}
			}
			return len(swept), nil
		})},
	})
	release := c.Lease([]digest.Digest{leasedBlobs[0].Digest}, []digest.Digest{leased[2].ChainID})
	s.rmi("gone:1")
	res, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append(append(leased, snap...), pending...) {
		if !s.has(l.ChainID) {
			t.Errorf("layer %s was collected", l.ChainID)
		}
	}
	for _, l := range gone {
		if s.has(l.ChainID) {
			t.Errorf("layer %s of the removed image is left", l.ChainID)
		}
	}
	for _, b := range []digest.Digest{leasedBlobs[0].Digest, pendingBlobs[1].Digest} {
		if _, err := s.content.Size(ctx, b); err != nil {
			t.Errorf("blob %s: %v", b, err)
		}
	}
	if res.Records != 1 || len(swept) != 1 || swept[0] != goneImage {
		t.Errorf("records swept: %v (%d)", swept, res.Records)
	}

	release()
	release() // a second call does nothing
	if _, err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range leased {
		if s.has(l.ChainID) {
			t.Errorf("layer %s still here after its lease ended", l.ChainID)
		}
	}
	if !s.has(snap[0].ChainID) || !s.has(pending[0].ChainID) {
		t.Error("the parent of a snapshot's or a pending layer was collected")
	}
}

// TestCollectWaitsForRLock checks that a collection waits for a step
// holding RLock, so it never sees a layer whose image is not recorded yet.
func TestCollectWaitsForRLock(t *testing.T) {
	s := newStores(t)
	ctx := context.Background()
	c := s.collector(Config{})
	c.RLock()
	ls, blobs := s.chain("", "new", 2)
	done := make(chan struct{})
	go func() {
		c.Collect(ctx)
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	s.image("new:1", ls, blobs)
	c.RUnlock()
	<-done
	if l, _ := s.counts(); l != 2 {
		t.Errorf("%d layers after the collection, want 2", l)
	}
}

package content

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// mapSource makes the blobs it holds; fail cuts a blob short with an
// error after half of it (a producer that dies).
type mapSource struct {
	blobs map[digest.Digest][]byte // what it makes under each name
	opens atomic.Int64
	fail  bool
}

func (m *mapSource) Size(ctx context.Context, d digest.Digest) (int64, error) {
	b, ok := m.blobs[d]
	if !ok {
		return 0, errdefs.ErrNotFound
	}
	return int64(len(b)), nil
}

func (m *mapSource) Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	b, ok := m.blobs[d]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	m.opens.Add(1)
	if m.fail {
		return io.NopCloser(io.MultiReader(bytes.NewReader(b[:len(b)/2]), iotestErr{})), nil
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("producer died") }

// Blobs a Source makes read like stored ones, verified; they are not
// listed, not deletable, not Stored, and a stored blob wins over them.
func TestSourceMadeBlobs(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	good := []byte("the layer tar")
	d := digest.FromBytes(good)
	lying := digest.FromString("another content")
	src := &mapSource{blobs: map[digest.Digest][]byte{d: good, lying: []byte("not that")}}
	if _, err := s.Open(ctx, d); !errdefs.IsNotFound(err) {
		t.Fatalf("Open without a source: %v", err)
	}
	s.SetSource(src)

	rc, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	first, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(first, good) {
		t.Fatalf("made blob = %q, %v", first, err)
	}
	if _, err := rc.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if again, err := io.ReadAll(rc); err != nil || !bytes.Equal(again, good) {
		t.Fatalf("after Seek(0): %q, %v", again, err)
	}
	if _, err := rc.Seek(3, io.SeekStart); !errdefs.IsNotImplemented(err) {
		t.Errorf("Seek(3): %v, want not implemented", err)
	}
	rc.Close()
	if n, err := s.Size(ctx, d); err != nil || n != int64(len(good)) {
		t.Errorf("Size = %d, %v", n, err)
	}
	if b, err := s.ReadAll(ctx, d); err != nil || !bytes.Equal(b, good) {
		t.Errorf("ReadAll = %q, %v", b, err)
	}
	if err := s.Verify(ctx, d); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if ok, err := s.Stored(ctx, d); ok || err != nil {
		t.Errorf("Stored = %v, %v", ok, err)
	}
	if err := s.Delete(ctx, d); !errdefs.IsNotFound(err) {
		t.Errorf("Delete of a made blob: %v", err)
	}
	s.Walk(ctx, func(w digest.Digest, _ int64) error {
		t.Errorf("Walk lists %s", w)
		return nil
	})

	// Content that is not the digest's never passes as it.
	rc, err = s.Open(ctx, lying)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errdefs.IsDataLoss(err) {
		t.Errorf("reading a blob made wrong: %v, want data loss", err)
	}
	rc.Close()
	if err := s.Verify(ctx, lying); !errdefs.IsDataLoss(err) {
		t.Errorf("Verify of a blob made wrong: %v", err)
	}
	if _, err := s.Open(ctx, digest.FromString("nothing")); !errdefs.IsNotFound(err) {
		t.Errorf("Open of what no one has: %v", err)
	}

	// Stored once, the file is served, not the source.
	if _, _, err := s.Put(ctx, bytes.NewReader(good), d); err != nil {
		t.Fatal(err)
	}
	before := src.opens.Load()
	if b, err := s.ReadAll(ctx, d); err != nil || !bytes.Equal(b, good) || src.opens.Load() != before {
		t.Errorf("a stored blob was made again (%v)", err)
	}
	if ok, _ := s.Stored(ctx, d); !ok {
		t.Error("Stored = false for a stored blob")
	}
}

// A producer that dies halfway leaves nothing in the store: copying the
// made blob into a blob of its own (as a push's gzip copy does) fails and
// no blob or staged file remains.
func TestSourceDiesMidway(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	b := bytes.Repeat([]byte("layer "), 1000)
	d := digest.FromBytes(b)
	s.SetSource(&mapSource{blobs: map[digest.Digest][]byte{d: b}, fail: true})
	rc, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, _, err := s.Put(ctx, rc, ""); err == nil {
		t.Fatal("a copy of a blob whose producer died was stored")
	}
	n := 0
	s.Walk(ctx, func(digest.Digest, int64) error { n++; return nil })
	staged, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if n != 0 || len(staged) != 0 {
		t.Errorf("%d blobs and %d staged files left", n, len(staged))
	}
}

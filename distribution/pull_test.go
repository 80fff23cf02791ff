package distribution

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/gzip"
	"github.com/moby/go-archive/compression"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/content"
	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

// TestReadAheadErrors checks that readAhead ends cleanly only at the end of
// its source: a truncated compressed blob must not reach the layer store
// as a shorter tar.
func TestReadAheadErrors(t *testing.T) {
	data := make([]byte, 3*readAheadChunk/2) // more than a chunk, less than two
	rand.New(rand.NewSource(1)).Read(data)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()

	tests := []struct {
		name    string
		src     []byte
		wantErr error
	}{
		{name: "whole gzip", src: gz.Bytes()},
		{name: "truncated gzip", src: gz.Bytes()[:gz.Len()/2], wantErr: io.ErrUnexpectedEOF},
		{name: "plain", src: data},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := compression.DecompressStream(bytes.NewReader(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			ahead := readAhead(plain)
			defer ahead.Close()
			got, err := io.ReadAll(ahead)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("read error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !bytes.Equal(got, data) {
				t.Errorf("read %d bytes, not the %d written", len(got), len(data))
			}
		})
	}
}

// TestApplyFailureAbortsSource feeds apply a stream that is not a tar and
// then stalls, as a registry might: the failed extraction must abort the
// stream rather than wait for it.
func TestApplyFailureAbortsSource(t *testing.T) {
	d := newStoreEngine(t)
	src := &stallingReader{data: bytes.Repeat([]byte{0xff}, 2*readAheadChunk), aborted: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := d.apply(context.Background(), "", src, src.abort)
		done <- err
	}()
	select {
	case err := <-done:
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("apply of a stream that is not a tar: %v, want an invalid-argument error", err)
		}
	case <-time.After(time.Minute):
		src.abort()
		t.Fatal("apply waited for the stalled source after the extraction failed")
	}
}

// stallingReader returns data, then blocks until abort is called.
type stallingReader struct {
	data    []byte
	aborted chan struct{}
	once    sync.Once
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	<-r.aborted
	return 0, errors.New("aborted")
}

func (r *stallingReader) abort() { r.once.Do(func() { close(r.aborted) }) }

// TestPullPlanRepeatedBlob: a blob a manifest lists twice is fetched once,
// for its first layer; both layers are extracted.
func TestPullPlanRepeatedBlob(t *testing.T) {
	d := newStoreEngine(t)
	blob := ocispec.Descriptor{Digest: digest.FromString("layer"), Size: 5}
	other := ocispec.Descriptor{Digest: digest.FromString("other"), Size: 5}
	descs := []ocispec.Descriptor{blob, other, blob}
	diffIDs := []digest.Digest{digest.FromString("a"), digest.FromString("b"), digest.FromString("a")}
	layers, err := d.pullPlan(context.Background(), descs, diffIDs, chainIDs(diffIDs))
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]bool
	for _, l := range layers {
		got = append(got, [2]bool{l.needBlob, l.needLayer})
	}
	if want := [][2]bool{{true, true}, {true, true}, {false, true}}; !slices.Equal(got, want) {
		t.Errorf("needBlob, needLayer of each layer: %v, want %v", got, want)
	}
}

// TestPullPlanRefreshesPending: a layer an interrupted pull left gets its
// grace again when a pull reuses it.
func TestPullPlanRefreshesPending(t *testing.T) {
	d := newStoreEngine(t)
	ctx := context.Background()
	blob, _, err := d.content.Put(ctx, bytes.NewReader([]byte("layer")), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.blobs.AddPending(blob, ""); err != nil {
		t.Fatal(err)
	}
	before, err := d.blobs.PendingSince(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	diffIDs := []digest.Digest{digest.FromString("a")}
	layers, err := d.pullPlan(ctx, []ocispec.Descriptor{{Digest: blob, Size: 5}}, diffIDs, chainIDs(diffIDs))
	if err != nil {
		t.Fatal(err)
	}
	if layers[0].needBlob {
		t.Error("the stored blob is to be downloaded again")
	}
	after, err := d.blobs.PendingSince(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !after[blob].Verified.After(before[blob].Verified) {
		t.Errorf("pending record after the plan: %+v, before: %+v; want it refreshed", after[blob], before[blob])
	}
}

// newStoreEngine is an Engine with its content and layer stores and blob
// index alone, in a temporary directory.
func newStoreEngine(t *testing.T) *Engine {
	t.Helper()
	root := t.TempDir()
	cs, err := content.New(filepath.Join(root, "content"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layer.New(filepath.Join(root, "layers"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := gimage.OpenBlobIndex(filepath.Join(root, "blobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &Engine{content: cs, layers: ls, blobs: blobs}
}

// TestPullReference: fromImage and tag as dockerd combines them, with
// Docker's words for a bad name.
func TestPullReference(t *testing.T) {
	dg := digest.FromString("x")
	for _, tc := range []struct {
		name, image, tag, want, wantErr string
	}{
		{name: "all tags", image: "busybox", want: "docker.io/library/busybox"},
		{name: "tag in image", image: "busybox:1", want: "docker.io/library/busybox:1"},
		{name: "tag parameter", image: "busybox:1", tag: "2", want: "docker.io/library/busybox:2"},
		{name: "digest parameter", image: "busybox", tag: dg.String(), want: "docker.io/library/busybox@" + dg.String()},
		{name: "uppercase", image: "BusyBox", wantErr: "invalid reference format: repository name (library/BusyBox) must be lowercase"},
		{name: "bad tag", image: "busybox", tag: "a b", wantErr: `invalid tag format: "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := ParseReference(tc.image, tc.tag)
			if tc.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || err.Error() != tc.wantErr {
					t.Fatalf("ParseReference(%q, %q) error = %v, want invalid argument %q", tc.image, tc.tag, err, tc.wantErr)
				}
				return
			}
			if err != nil || ref.String() != tc.want {
				t.Errorf("ParseReference(%q, %q) = %v, %v; want %s", tc.image, tc.tag, ref, err, tc.want)
			}
		})
	}
}

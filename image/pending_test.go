package image

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestPendingLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blobs.json")
	ix, err := OpenBlobIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	small, big, other := digest.FromString("small"), digest.FromString("big"), digest.FromString("other")
	chain := digest.FromString("chain")
	start := time.Now()
	for _, add := range []struct{ blob, chain digest.Digest }{
		{small, ""}, {small, chain}, {big, ""}, {other, ""},
		{small, ""}, // downloaded again: the extraction stays recorded
	} {
		if err := ix.AddPending(add.blob, add.chain); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.ForgetPending(other, digest.FromString("never pending")); err != nil {
		t.Fatal(err)
	}
	// A pull uses small again: its time is refreshed; a blob without a
	// record gets none.
	before, err := ix.PendingSince(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.TouchPending(small, other); err != nil {
		t.Fatal(err)
	}
	touched, err := ix.PendingSince(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !touched[small].Verified.After(before[small].Verified) || touched[small].Chain != chain {
		t.Errorf("small after TouchPending: %+v, before %+v; want a later time, the same chain", touched[small], before[small])
	}
	if _, ok := touched[other]; ok {
		t.Error("TouchPending recorded a blob that had no record")
	}

	// Another daemon process reads what this one recorded.
	ix, err = OpenBlobIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ix.PendingSince(start.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	chains := map[digest.Digest]digest.Digest{}
	for blob, l := range got {
		chains[blob] = l.Chain
		if l.Verified.Before(start) {
			t.Errorf("%s verified at %v, before the test started at %v", blob, l.Verified, start)
		}
	}
	if diff := cmp.Diff(map[digest.Digest]digest.Digest{small: chain, big: ""}, chains); diff != "" {
		t.Errorf("pending layers (-want +got):\n%s", diff)
	}

	// Records older than since go, for good.
	if got, err := ix.PendingSince(time.Now().Add(time.Minute)); err != nil || len(got) != 0 {
		t.Errorf("PendingSince(the future) = %v, %v; want none", got, err)
	}
	if ix, err = OpenBlobIndex(path); err != nil {
		t.Fatal(err)
	}
	if got, err := ix.PendingSince(start.Add(-time.Minute)); err != nil || len(got) != 0 {
		t.Errorf("after expiry and reopen: %v, %v; want none", got, err)
	}
}

// TestBlobIndexFailedWrite: a change whose write fails leaves the index as
// it was.
func TestBlobIndexFailedWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ix, err := OpenBlobIndex(filepath.Join(dir, "blobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	blob, other := digest.FromString("blob"), digest.FromString("other")
	gz := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("gz"), Size: 2}
	if err := ix.AddSources("r/a", blob, other); err != nil {
		t.Fatal(err)
	}
	if err := ix.AddSources("r/b", blob); err != nil {
		t.Fatal(err)
	}
	if err := ix.AddPending(blob, digest.FromString("chain")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil { // every write fails from now on
		t.Fatal(err)
	}
	before, err := ix.PendingSince(time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		change func() error
	}{
		{"AddSources", func() error { return ix.AddSources("r/a", blob, digest.FromString("new")) }},
		{"AddPending", func() error { return ix.AddPending(other, "") }},
		{"ForgetPending", func() error { return ix.ForgetPending(blob) }},
		{"TouchPending", func() error { return ix.TouchPending(blob) }},
		{"SetGzip", func() error { return ix.SetGzip(blob, gz) }},
		{"PendingSince", func() error { _, err := ix.PendingSince(time.Now().Add(time.Minute)); return err }},
		{"Retain", func() error {
			_, err := ix.Retain(func(digest.Digest) bool { return false }, func(digest.Digest) bool { return false })
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.change(); err == nil {
				t.Fatal("no error although the index cannot be written")
			}
			if diff := cmp.Diff([]string{"r/b", "r/a"}, ix.Sources(blob)); diff != "" {
				t.Errorf("sources of blob (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"r/a"}, ix.Sources(other)); diff != "" {
				t.Errorf("sources of other (-want +got):\n%s", diff)
			}
			if got := ix.Sources(digest.FromString("new")); len(got) != 0 {
				t.Errorf("sources of a new blob: %v, want none", got)
			}
			if _, ok := ix.Gzip(blob); ok {
				t.Error("a gzip copy is recorded")
			}
			if got, err := ix.PendingSince(time.Time{}); err != nil || !cmp.Equal(got, before) {
				t.Errorf("pending: %v, %v; want %v", got, err, before)
			}
		})
	}
}

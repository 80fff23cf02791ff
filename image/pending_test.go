package image

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
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

package tarball

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/internal/limit"
)

// FuzzRead reads arbitrary bytes as an image archive. Invariants: no
// panic; a refused archive is an invalid-argument or not-implemented error
// (the client's fault, a 400), never an unclassified one (a 500); the
// spool directory is gone afterwards, whatever happened; an image read has
// one stored layer per diff ID of its config, a config within the
// document limit that decodes, and every layer blob in the store.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp := t.TempDir()
		ls := newMemStore()
		loaded, err := Read(context.Background(), bytes.NewReader(data), tmp, ls, nil)
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("left in the spool directory: %v", left)
		}
		if err != nil {
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
				t.Fatalf("unclassified error for a bad archive: %v", err)
			}
			return
		}
		for _, img := range loaded {
			if len(img.Config) > limit.Document {
				t.Fatalf("config of %d bytes", len(img.Config))
			}
			var cfg ocispec.Image
			if err := json.Unmarshal(img.Config, &cfg); err != nil {
				t.Fatalf("loaded config does not decode: %v", err)
			}
			if len(img.Layers) != len(cfg.RootFS.DiffIDs) {
				t.Fatalf("%d layers for %d diff IDs", len(img.Layers), len(cfg.RootFS.DiffIDs))
			}
			for i, l := range img.Layers {
				if l.Digest != cfg.RootFS.DiffIDs[i] {
					t.Fatalf("layer %d is %s, its diff ID %s", i, l.Digest, cfg.RootFS.DiffIDs[i])
				}
			}
		}
	})
}

package buildkit

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestDirBlobs: a blob of the helper's content store reads back when its
// size and digest are its descriptor's, and fails at its end otherwise (a
// truncated or altered blob is never recorded as an image's layer).
func TestDirBlobs(t *testing.T) {
	dir := t.TempDir()
	data := []byte("layer bytes")
	dgst := digest.FromBytes(data)
	p := filepath.Join(dir, "blobs", "sha256", dgst.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(desc ocispec.Descriptor) (string, error) {
		rc, err := dirBlobs(dir).Open(context.Background(), desc)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	if got, err := read(ocispec.Descriptor{Digest: dgst, Size: int64(len(data))}); err != nil || got != string(data) {
		t.Errorf("read = %q, %v", got, err)
	}
	if _, err := read(ocispec.Descriptor{Digest: dgst, Size: 5}); err == nil {
		t.Error("a blob longer than its descriptor read without error")
	}
	if _, err := read(ocispec.Descriptor{Digest: dgst, Size: 50}); err == nil {
		t.Error("a blob shorter than its descriptor read without error")
	}
	other := digest.FromString("other")
	os.WriteFile(filepath.Join(dir, "blobs", "sha256", other.Encoded()), data, 0o644)
	if _, err := read(ocispec.Descriptor{Digest: other, Size: int64(len(data))}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a blob with another digest: %v", err)
	}
	if _, err := read(ocispec.Descriptor{Digest: "sha256:../../etc", Size: 1}); err == nil {
		t.Error("an invalid digest opened a file")
	}
}

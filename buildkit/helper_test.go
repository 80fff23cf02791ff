package buildkit

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// noHost answers no callback: the prune test needs none.
type noHost struct{}

func (noHost) Image(context.Context, string) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, os.ErrNotExist
}
func (noHost) Blob(context.Context, digest.Digest) (io.ReadCloser, error) { return nil, os.ErrNotExist }
func (noHost) Import(context.Context, Blobs, ocispec.Descriptor, []string, map[digest.Digest]string) (digest.Digest, error) {
	return "", os.ErrNotExist
}
func (noHost) NewSandbox(context.Context, string) (string, error) { return "", os.ErrNotExist }
func (noHost) DeleteSandbox(context.Context, string) error        { return nil }
func (noHost) BlobPath(context.Context, digest.Digest) (string, error) {
	return "", os.ErrNotExist
}
func (noHost) Collect(context.Context) {}
func (noHost) MissingLayers(_ context.Context, chains []digest.Digest) ([]digest.Digest, error) {
	return chains, nil
}
func (noHost) ClassicCache(context.Context) ([]CacheRecord, error) {
	return nil, nil
}
func (noHost) PruneClassicCache(context.Context, bool) ([]CacheRecord, error) {
	return nil, nil
}
func (noHost) LinkLayer(context.Context, digest.Digest, digest.Digest, string) (digest.Digest, error) {
	return "", os.ErrNotExist
}

// TestHelperPrune drives the real gantry-buildkitd (make build puts it in
// bin/): Prune with no BuildKit state starts nothing; with state it
// starts the helper, which prunes through BuildKit's controller; unused
// for IdleTimeout it stops, the next request starts it again; Close stops
// it.
func TestHelperPrune(t *testing.T) {
	bin, err := filepath.Abs("../bin/gantry-buildkitd")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/gantry-buildkitd not built (make build)")
	}
	if os.Getuid() != 0 {
		t.Skip("gantry-buildkitd needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("no runc")
	}
	dir := t.TempDir()
	run, err := os.MkdirTemp("", "gbk")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(run)
	h := New(Config{Binary: bin, Root: filepath.Join(dir, "buildkit"), RunDir: run, Host: noHost{}, IdleTimeout: 300 * time.Millisecond})
	defer h.Close()
	ctx := context.Background()
	if n, err := h.Prune(ctx, true); err != nil || n != 0 {
		t.Fatalf("Prune without state = %d, %v", n, err)
	}
	if h.Running() {
		t.Fatal("Prune without state started the helper")
	}
	if err := os.MkdirAll(filepath.Join(dir, "buildkit"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Prune(ctx, true); err != nil {
		t.Fatalf("Prune: %v\n%s", err, readFile(filepath.Join(run, "buildkitd.log")))
	}
	if !h.Running() {
		t.Fatal("Prune with state did not start the helper")
	}
	deadline := time.Now().Add(15 * time.Second)
	for h.Running() {
		if time.Now().After(deadline) {
			t.Fatal("the helper still runs 15 s after its last use (idle timeout 300 ms)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := h.Prune(ctx, false); err != nil {
		t.Fatalf("Prune after the idle stop: %v", err)
	}
	if !h.Running() {
		t.Fatal("Prune after the idle stop did not start the helper again")
	}
	h.Close()
	if h.Running() {
		t.Error("the helper runs after Close")
	}
	// Overlay mounts BuildKit made under the root go with it.
	out, _ := exec.Command("sh", "-c", "grep -c "+dir+" /proc/self/mountinfo").Output()
	if string(out) != "0\n" && len(out) > 0 {
		t.Errorf("mounts left under %s: %s", dir, out)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

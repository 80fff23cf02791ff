package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
)

// testImage is a random image (config and two gzip layers) ready to push.
type testImage struct {
	blobs map[digest.Digest][]byte
	push  PushImage
}

func newTestImage(t testing.TB, ref string, layerSizes ...int) testImage {
	t.Helper()
	if len(layerSizes) == 0 {
		layerSizes = []int{3000, 70000}
	}
	img := testImage{blobs: map[digest.Digest][]byte{}}
	var diffIDs []digest.Digest
	for i, size := range layerSizes {
		raw, gz := layerTar(t, fmt.Sprintf("file%d", i), size)
		diffIDs = append(diffIDs, digest.FromBytes(raw))
		img.push.Layers = append(img.push.Layers, img.add(ocispec.MediaTypeImageLayerGzip, gz))
	}
	config, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	img.push.Config = img.add(ocispec.MediaTypeImageConfig, config)
	img.push.Ref = mustTagged(t, ref)
	img.writeManifest()
	return img
}

// writeManifest makes the OCI manifest of the config and layers.
func (img *testImage) writeManifest() {
	img.push.Manifest, _ = json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    img.push.Config,
		Layers:    img.push.Layers,
	})
	img.push.MediaType = ocispec.MediaTypeImageManifest
}

func (img testImage) add(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	img.blobs[d] = b
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func (img testImage) open(desc ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := img.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("no blob %s", desc.Digest)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// layerTar is a tar with one file of size random bytes, and its gzip.
func layerTar(t testing.TB, name string, size int) ([]byte, []byte) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	content := make([]byte, size)
	rand.Read(content)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	return raw.Bytes(), gz.Bytes()
}

func mustTagged(t testing.TB, s string) reference.NamedTagged {
	t.Helper()
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	tagged, ok := reference.TagNameOnly(ref).(reference.NamedTagged)
	if !ok {
		t.Fatalf("%s has a digest", s)
	}
	return tagged
}

func mustNamed(t testing.TB, s string) reference.Named {
	t.Helper()
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// progressLog records push progress as "<digest prefix> <status>" lines.
type progressLog struct {
	mu    sync.Mutex
	lines map[digest.Digest][]string
}

func (p *progressLog) record(desc ocispec.Descriptor, status string, _ int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lines == nil {
		p.lines = map[digest.Digest][]string{}
	}
	p.lines[desc.Digest] = append(p.lines[desc.Digest], status)
}

// final is the last status of each blob.
func (p *progressLog) final() map[digest.Digest]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[digest.Digest]string{}
	for d, l := range p.lines {
		out[d] = l[len(l)-1]
	}
	return out
}

// registryOptions configure a real docker-registry.
type registryOptions struct {
	user, password  string // htpasswd auth when set
	tlsCert, tlsKey string // serve HTTPS
	clientCA        string // and require client certificates from this CA
}

// startRegistry runs Debian's docker-registry (distribution 2.8) on a free
// loopback port with its storage in a temporary directory, and returns its
// host:port. The test fails without the binary: .ci/run installs it.
func startRegistry(t testing.TB, opts registryOptions) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("docker-registry is not installed (apt-get install docker-registry): %v", err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n  secret: test\n", filepath.Join(dir, "data"), addr)
	if opts.tlsCert != "" {
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", opts.tlsCert, opts.tlsKey)
		if opts.clientCA != "" {
			cfg += fmt.Sprintf("    clientcas:\n      - %s\n", opts.clientCA)
		}
	}
	if opts.user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opts.user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test-realm\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			t.Fatalf("docker-registry exited: %s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not listen on %s: %s", addr, out.String())
		}
	}
}

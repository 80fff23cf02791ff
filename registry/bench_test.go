package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkRealRegistry pushes and pulls a 50 MB random blob through the
// real docker-registry on loopback:
//
//	go test -run X -bench RealRegistry -benchtime 5x ./registry
func BenchmarkRealRegistry(b *testing.B) {
	host := startRegistry(b, registryOptions{})
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	blob := make([]byte, 50<<20)
	rand.Read(blob)
	img := newTestImage(b, host+"/bench/app:1", 10)
	round := 0
	// push uploads a blob the registry has not seen (its last bytes differ).
	push := func() {
		round++
		copy(blob[len(blob)-8:], []byte{byte(round), byte(round >> 8), 1, 2, 3, 4, 5, 6})
		delete(img.blobs, img.push.Layers[0].Digest)
		img.push.Layers[0] = img.add(ocispec.MediaTypeImageLayerGzip, bytes.Clone(blob))
		img.writeManifest()
		if _, err := c.Push(ctx, img.push, img.open, nil, Auth{}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("push", func(b *testing.B) {
		b.SetBytes(int64(len(blob)))
		for b.Loop() {
			push()
		}
	})
	b.Run("pull", func(b *testing.B) {
		pulled, err := c.Resolve(ctx, img.push.Ref, ocispec.Platform{}, Auth{})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(blob)))
		for b.Loop() {
			rc, err := c.Blob(ctx, pulled, img.push.Layers[0], Auth{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
}

package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// layerTars are tars of Gantry's kinds: every type of entry, whiteouts, a
// long name (a PAX record), big and empty files, and padding after the
// end-of-archive blocks.
func layerTars(t *testing.T) (base, top []byte) {
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	base = tarBytes(t, dirE("etc"), fileE("etc/a", "a"), fileE("etc/empty", ""), dirE("usr"),
		entry{name: "usr/big", body: string(big)}, symlinkE("usr/link", "big"), hardlinkE("usr/hard", "usr/big"),
		dirE("old"), fileE("old/x", "x"))
	base = append(base, make([]byte, 2048)...)
	top = tarBytes(t, dirE("etc"), fileE("etc/a", "changed"), fileE("etc/.wh.empty", ""),
		dirE("old"), fileE("old/.wh..wh..opq", ""), fileE("old/y", "y"),
		fileE("etc/"+strings.Repeat("long-name-", 20), "long"), entry{name: "etc/mode", body: "m", mode: 0o4755})
	return base, top
}

// A layer applied with WithTarSplit makes its tar again, byte for byte,
// from its files: for a base layer and for one with whiteouts on top.
func TestTarMadeAgain(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		base, top := layerTars(t)
		var parent digest.Digest
		for _, b := range [][]byte{base, top} {
			l, err := s.Apply(ctx, parent, bytes.NewReader(b), WithTarSplit())
			if err != nil {
				t.Fatal(err)
			}
			if l.DiffID != digest.FromBytes(b) || l.TarSize != int64(len(b)) {
				t.Fatalf("layer %+v, want diff ID %s, size %d", l, digest.FromBytes(b), len(b))
			}
			if n, err := s.TarSize(ctx, l.DiffID); err != nil || n != int64(len(b)) {
				t.Fatalf("TarSize = %d, %v", n, err)
			}
			rc, n, err := s.Tar(ctx, l.DiffID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(b)) || !bytes.Equal(got, b) {
				t.Fatalf("the tar made again (%d bytes, %s) differs from the applied one (%d bytes, %s)", len(got), digest.FromBytes(got), len(b), digest.FromBytes(b))
			}
			parent = l.ChainID
		}
	})
}

// A layer without a tar-split (pulled, imported) makes no tar; an Apply
// of the same tar with WithTarSplit gives it one. Concurrent readers each
// get the whole tar.
func TestTarSplitAddedToExistingLayer(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		base, _ := layerTars(t)
		l := apply(t, s, "", base)
		if _, _, err := s.Tar(ctx, l.DiffID); !errdefs.IsNotFound(err) {
			t.Fatalf("Tar of a layer without tar-split: %v, want not found", err)
		}
		if _, err := s.Apply(ctx, "", bytes.NewReader(base), WithTarSplit()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rc, _, err := s.Tar(ctx, l.DiffID)
				if err != nil {
					errs <- err
					return
				}
				defer rc.Close()
				got, err := io.ReadAll(rc)
				if err == nil && !bytes.Equal(got, base) {
					err = io.ErrUnexpectedEOF
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// While its tar is being read a layer is not removed (a conflict, as for
// a parent); after Close it is. A file changed behind the store's back
// ends the tar with an error instead of other content.
func TestTarHoldsLayer(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		base, _ := layerTars(t)
		l, err := s.Apply(ctx, "", bytes.NewReader(base), WithTarSplit())
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := s.Tar(ctx, l.DiffID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(ctx, l.ChainID); !errdefs.IsConflict(err) {
			t.Errorf("Remove while the tar is read: %v, want a conflict", err)
		}
		rc.Close()
		rc.Close() // twice is harmless

		// A changed file: same size, other bytes.
		p := filepath.Join(s.filesDir(l.ChainID), "etc", "a")
		if err := os.WriteFile(p, []byte("b"), 0o644); err != nil {
			t.Fatal(err)
		}
		rc, _, err = s.Tar(ctx, l.DiffID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(rc); err != nil || digest.FromBytes(got) == l.DiffID {
			t.Errorf("tar of a changed layer: %v, digest %s (the diff ID's: a change not made)", err, digest.FromBytes(got))
		}
		rc.Close()
		// One of another size: an error.
		if err := os.WriteFile(p, []byte("bb"), 0o644); err != nil {
			t.Fatal(err)
		}
		rc, _, err = s.Tar(ctx, l.DiffID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err == nil || !strings.Contains(err.Error(), "size") {
			t.Errorf("tar of a layer whose file grew: %v, want a size error", err)
		}
		rc.Close()
		if err := s.Remove(ctx, l.ChainID); err != nil {
			t.Errorf("Remove after Close: %v", err)
		}
		if _, _, err := s.Tar(ctx, l.DiffID); !errdefs.IsNotFound(err) {
			t.Errorf("Tar of a removed layer: %v", err)
		}
	})
}

// A tar that is not one fails Apply with WithTarSplit as without it, and
// stores nothing.
func TestTarSplitBadTar(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		base, _ := layerTars(t)
		_, err := s.Apply(context.Background(), "", bytes.NewReader(base[:len(base)/2]), WithTarSplit())
		if !errdefs.IsInvalidArgument(err) {
			t.Fatalf("Apply of a cut tar: %v, want invalid argument", err)
		}
		assertNothingStored(t, s, dir)
		var hdr bytes.Buffer
		tw := tar.NewWriter(&hdr)
		tw.WriteHeader(&tar.Header{Name: "x", Size: 10, Typeflag: tar.TypeReg})
		if _, err := s.Apply(context.Background(), "", bytes.NewReader(hdr.Bytes()), WithTarSplit()); err == nil {
			t.Fatal("Apply of a tar whose file is cut short succeeded")
		}
		assertNothingStored(t, s, dir)
	})
}

package content

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/internal/atomicfile"
)

// Writer stages one blob in the store's staging directory. Nothing is
// visible in the store until Commit succeeds. A Writer is not safe for
// concurrent use.
type Writer struct {
	s         *Store
	f         *os.File
	h         hash.Hash
	size      int64
	committed bool
}

// Writer starts a new blob, staged in the store's tmpDir. The caller must
// Close the writer, which discards the staged data unless it was committed.
func (s *Store) Writer(ctx context.Context) (*Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.tmp, "blob-*")
	if err != nil {
		return nil, fmt.Errorf("stage blob: %w", err)
	}
	return &Writer{s: s, f: f, h: digest.SHA256.Hash()}, nil
}

// Write appends p to the staged blob.
func (w *Writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, errors.New("write blob: writer is closed")
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.size += int64(n)
	return n, err
}

// Digest returns the digest of what was written so far.
func (w *Writer) Digest() digest.Digest {
	return digest.NewDigest(digest.SHA256, w.h)
}

// Size returns the number of bytes written so far.
func (w *Writer) Size() int64 { return w.size }

// Commit makes the staged content a blob and returns its digest. If
// expected is not empty and differs from the content's digest, nothing is
// stored and an invalid-argument error naming both digests is returned.
// Commit is atomic and durable: the file is fsynced, renamed into place and
// the directory fsynced, so after a crash the blob is either whole or
// absent. Committing content that is already stored succeeds and leaves the
// existing blob in place. After Commit, successful or not, the writer can
// take no more data.
func (w *Writer) Commit(ctx context.Context, expected digest.Digest) (digest.Digest, error) {
	if w.f == nil {
		return "", errors.New("commit blob: writer is closed")
	}
	defer w.Close()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	d := w.Digest()
	if expected != "" {
		if _, err := w.s.blobPath(expected); err != nil {
			return "", err
		}
		if expected != d {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("digest mismatch: expected %s, got %s", expected, d))
		}
	}
	target, _ := w.s.blobPath(d)
	if _, err := os.Stat(target); err == nil {
		return d, nil // already stored (content is immutable); Close drops the staged copy
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("commit blob %s: %w", d, err)
	}
	if err := w.f.Chmod(0o444); err != nil {
		return "", fmt.Errorf("commit blob %s: %w", d, err)
	}
	if err := w.f.Sync(); err != nil {
		return "", fmt.Errorf("commit blob %s: %w", d, err)
	}
	if err := os.Rename(w.f.Name(), target); err != nil {
		return "", fmt.Errorf("commit blob %s: %w", d, err)
	}
	w.committed = true
	if err := atomicfile.SyncDir(filepath.Dir(target)); err != nil {
		return "", fmt.Errorf("commit blob %s: %w", d, err)
	}
	return d, nil
}

// Close releases the writer. Unless the blob was committed, the staged data
// is removed. Close is safe to call more than once and after Commit.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	if !w.committed {
		if rerr := os.Remove(w.f.Name()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	w.f = nil
	return err
}

package content

import (
	"context"
	"crypto/rand"
	_ "crypto/sha256" // register sha256 for go-digest
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/internal/atomicfile"
	"github.com/gantry/gantry/internal/stream"
)

// Store is a content-addressed blob store rooted at a directory. Blobs live
// at <root>/blobs/sha256/<hex> and are immutable once committed; a Source
// (SetSource) may make others on demand. A Store is safe for concurrent
// use; it keeps no state in memory.
type Store struct {
	root string // <root>/blobs/sha256
	tmp  string // staging directory, on the same filesystem as root
	src  Source // makes the blobs no file holds; nil: none
}

// New returns a store rooted at root that stages writes in tmpDir, creating
// both directories if needed. tmpDir must be on the same filesystem as root
// so that a commit is a rename.
func New(root, tmpDir string) (*Store, error) {
	blobs := filepath.Join(root, "blobs", digest.SHA256.String())
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		return nil, fmt.Errorf("create content store: %w", err)
	}
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("create content staging directory: %w", err)
	}
	return &Store{root: blobs, tmp: tmpDir}, nil
}

// blobPath validates d and returns where its blob lives. An invalid digest
// (unknown algorithm, malformed hex) is an invalid-argument error, so a
// digest never names a path outside the store.
func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, errdefs.ErrInvalidArgument.WithMessage(err.Error()))
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("digest %s: %w", d, errdefs.ErrInvalidArgument.WithMessage("unsupported digest algorithm "+string(d.Algorithm())))
	}
	return filepath.Join(s.root, d.Encoded()), nil
}

func notFound(d digest.Digest) error {
	return errdefs.ErrNotFound.WithMessage("blob " + d.String() + " not found")
}

// Put stores everything read from r until EOF and returns its digest and
// size. If expected is not empty and the content does not match it, nothing
// is stored and an invalid-argument error naming both digests is returned.
// The write is atomic: the blob is either fully present afterwards or not
// at all. Storing a blob that is already present succeeds. An error of r
// is returned as it is.
func (s *Store) Put(ctx context.Context, r io.Reader, expected digest.Digest) (digest.Digest, int64, error) {
	w, err := s.Writer(ctx)
	if err != nil {
		return "", 0, err
	}
	defer w.Close()
	src := &stream.Source{R: stream.WithContext(ctx, r)}
	if _, err := io.Copy(w, src); err != nil {
		if src.Err != nil {
			return "", 0, src.Err
		}
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	d, err := w.Commit(ctx, expected)
	if err != nil {
		return "", 0, err
	}
	return d, w.Size(), nil
}

// PutBytes stores b like Put with no expected digest.
func (s *Store) PutBytes(ctx context.Context, b []byte) (digest.Digest, error) {
	w, err := s.Writer(ctx)
	if err != nil {
		return "", err
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return "", fmt.Errorf("write blob: %w", err)
	}
	return w.Commit(ctx, "")
}

// Open returns a reader of the blob d, owned by the caller, who must close
// it. A missing blob is a not-found error ("blob sha256:... not found").
// A blob the Source makes is read as it is made, verified: content that
// does not match d ends in a data-loss error, and Seek goes back to the
// start only.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s.openMade(ctx, d)
		}
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return f, nil
}

// ReadAll returns the content of blob d, or a not-found error.
func (s *Store) ReadAll(ctx context.Context, d digest.Digest) ([]byte, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && s.src != nil {
			rc, err := s.openMade(ctx, d)
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(rc)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound(d)
		}
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	return b, nil
}

// Size returns the size in bytes of blob d, or a not-found error.
func (s *Store) Size(ctx context.Context, d digest.Digest) (int64, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && s.src != nil {
			n, err := s.src.Size(ctx, d)
			if errdefs.IsNotFound(err) {
				return 0, notFound(d)
			}
			return n, err
		}
		if errors.Is(err, fs.ErrNotExist) {
			return 0, notFound(d)
		}
		return 0, fmt.Errorf("stat blob %s: %w", d, err)
	}
	return fi.Size(), nil
}

// Delete removes blob d. It is atomic (one unlink); a missing blob is a
// not-found error, and so is one only the Source makes. Readers that already opened the blob keep reading it.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notFound(d)
		}
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every committed blob, in lexical order of digest (not
// for those the Source makes). Files
// in the blob directory whose names are not valid digests are skipped. An
// error from fn stops the walk and is returned as is. Blobs committed or
// deleted during the walk may or may not be seen.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if !e.Type().IsRegular() || d.Validate() != nil {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("stat blob %s: %w", d, err)
		}
		if err := fn(d, fi.Size()); err != nil {
			return err
		}
	}
	return nil
}

// Verify re-reads blob d and checks it against its digest. A missing blob
// is a not-found error; content that no longer matches is a data-loss error
// (errdefs.ErrDataLoss) naming both digests.
func (s *Store) Verify(ctx context.Context, d digest.Digest) error {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	v := d.Verifier()
	if _, err := io.Copy(v, stream.WithContext(ctx, rc)); err != nil {
		return fmt.Errorf("read blob %s: %w", d, err)
	}
	if !v.Verified() {
		if _, err := rc.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("blob %s: %w", d, errdefs.ErrDataLoss.WithMessage("content does not match digest"))
		}
		actual, _ := digest.SHA256.FromReader(rc)
		return fmt.Errorf("blob %s: %w", d, errdefs.ErrDataLoss.WithMessage("content has digest "+actual.String()))
	}
	return nil
}

// Path returns the file of blob d, for another store on the same
// filesystem to hard-link (BuildKit's, see package buildkit); the file
// must not be written. A missing blob is a not-found error.
func (s *Store) Path(d digest.Digest) (string, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", notFound(d)
		}
		return "", fmt.Errorf("stat blob %s: %w", d, err)
	}
	return p, nil
}

// Link stores the file src as blob expected by a hard link, not a copy:
// src is a blob of another content store on the same filesystem, which
// never writes it again. The linked file is read once and checked
// against expected before it becomes the blob (a mismatch is an
// invalid-argument error and stores nothing); a blob already stored is
// left as it is. It returns the blob's size. A src on another filesystem
// fails (the caller copies instead), as does a missing one.
func (s *Store) Link(ctx context.Context, src string, expected digest.Digest) (int64, error) {
	target, err := s.blobPath(expected)
	if err != nil {
		return 0, err
	}
	if fi, err := os.Stat(target); err == nil {
		return fi.Size(), nil
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(s.tmp, "blob-link-"+hex.EncodeToString(rnd[:]))
	if err := os.Link(src, tmp); err != nil {
		return 0, fmt.Errorf("link blob %s: %w", expected, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp)
		}
	}()
	f, err := os.Open(tmp)
	if err != nil {
		return 0, fmt.Errorf("link blob %s: %w", expected, err)
	}
	defer f.Close()
	v := expected.Verifier()
	n, err := io.Copy(v, stream.WithContext(ctx, f))
	if err != nil {
		return 0, fmt.Errorf("link blob %s: %w", expected, err)
	}
	if !v.Verified() {
		return 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("link blob %s: content does not match its digest", expected))
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("link blob %s: %w", expected, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return 0, fmt.Errorf("link blob %s: %w", expected, err)
	}
	committed = true
	if err := atomicfile.SyncDir(filepath.Dir(target)); err != nil {
		return 0, fmt.Errorf("link blob %s: %w", expected, err)
	}
	return n, nil
}

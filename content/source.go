package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// Source makes again, on demand, blobs the store does not keep as files:
// content whose digest is known beforehand and that can be rebuilt
// byte for byte (the layer store's uncompressed layer tars, named by their
// diff IDs, rebuilt from the extracted files). The store verifies what a
// Source makes against the digest, so a Source never serves other content
// under a blob's name.
type Source interface {
	// Size is the size of blob d, or an error wrapping
	// errdefs.ErrNotFound when the source cannot make d.
	Size(ctx context.Context, d digest.Digest) (int64, error)
	// Open starts making blob d and returns its content, which the caller
	// closes; not found as Size. While the reader is open, what the
	// source makes d from stays (the source's own hold on it).
	Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
}

// SetSource has Open, ReadAll, Size and Verify answer for the blobs src
// makes when no file holds them. Call it before the store is shared.
// Walk and Delete see files only: a blob src makes is never listed or
// deleted (it lives as long as what src makes it from).
func (s *Store) SetSource(src Source) { s.src = src }

// Stored reports whether blob d is kept as a file, as opposed to made by
// the store's Source or missing.
func (s *Store) Stored(ctx context.Context, d digest.Digest) (bool, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(p); err == nil {
		return true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("stat blob %s: %w", d, err)
	}
	return false, nil
}

// openMade is Open of a blob the Source makes.
func (s *Store) openMade(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	if s.src == nil {
		return nil, notFound(d)
	}
	size, err := s.src.Size(ctx, d)
	if errdefs.IsNotFound(err) {
		return nil, notFound(d)
	} else if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	m := &made{ctx: ctx, src: s.src, d: d, size: size}
	if err := m.open(); err != nil {
		return nil, err
	}
	return m, nil
}

// made reads a blob as the Source makes it, checking it: content that
// does not end at the blob's size with its digest ends with a data-loss
// error instead of io.EOF. Seek goes back to the start only (the blob is
// made again).
type made struct {
	ctx  context.Context
	src  Source
	d    digest.Digest
	size int64
	rc   io.ReadCloser
	v    digest.Verifier
	n    int64
}

func (m *made) open() error {
	rc, err := m.src.Open(m.ctx, m.d)
	if errdefs.IsNotFound(err) {
		return notFound(m.d)
	} else if err != nil {
		return fmt.Errorf("open blob %s: %w", m.d, err)
	}
	m.rc, m.v, m.n = rc, m.d.Verifier(), 0
	return nil
}

func (m *made) Read(p []byte) (int, error) {
	if m.rc == nil {
		return 0, fmt.Errorf("read blob %s: closed", m.d)
	}
	n, err := m.rc.Read(p)
	m.v.Write(p[:n])
	m.n += int64(n)
	switch {
	case m.n > m.size:
		return n, fmt.Errorf("blob %s: %w", m.d, errdefs.ErrDataLoss.WithMessage(fmt.Sprintf("made %d bytes or more, not %d", m.n, m.size)))
	case err == io.EOF && (m.n != m.size || !m.v.Verified()):
		return n, fmt.Errorf("blob %s: %w", m.d, errdefs.ErrDataLoss.WithMessage("made content does not match the digest"))
	case err != nil && err != io.EOF:
		return n, fmt.Errorf("make blob %s: %w", m.d, err)
	}
	return n, err
}

func (m *made) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		if whence == io.SeekCurrent && offset == 0 {
			return m.n, nil
		}
		return 0, fmt.Errorf("seek blob %s: %w", m.d, errdefs.ErrNotImplemented.WithMessage("a made blob seeks to its start only"))
	}
	if m.n == 0 {
		return 0, nil
	}
	if err := m.Close(); err != nil {
		return 0, err
	}
	return 0, m.open()
}

func (m *made) Close() error {
	if m.rc == nil {
		return nil
	}
	err := m.rc.Close()
	m.rc = nil
	return err
}

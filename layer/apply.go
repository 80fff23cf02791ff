package layer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	iarchive "github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/internal/atomicfile"
)

// Apply reads the uncompressed OCI layer tar r to EOF, extracts it on top
// of the chain parent ("" for a base layer) and returns the new layer. Its
// diff ID is the sha256 of every byte read from r, padding included.
//
// Apply is atomic: the layer is extracted into a staging directory in
// tmpDir and renamed into place, so a crash of the process leaves no
// partial layer. Like Docker's overlay2 driver it does not sync the
// extracted files (a syncfs here costs seconds on a busy disk); the layer's
// tar, kept as a blob by the caller, is the durable copy. If the resulting chain ID already exists, the staged copy
// is discarded and the existing layer is returned.
//
// Entries never write outside the layer: absolute names are taken as
// relative to it, symlinks and hard-link targets are resolved inside it as
// if it were the root, and names that climb out of it with ".." are an
// invalid-argument error. So is a stream that is not a valid tar, or whose
// entries cannot be applied. A parent that does not exist is a not-found
// error, and so is a chain deeper than MaxDepth (see CheckDepth). After
// any error nothing is stored. OCI whiteouts become overlay
// whiteouts (overlay2) or deletions (vfs).
func (s *Store) Apply(ctx context.Context, parent digest.Digest, r io.Reader, opts ...ApplyOption) (Layer, error) {
	var o applyOptions
	for _, opt := range opts {
		opt(&o)
	}
	var parentFiles string
	if err := s.pin(parent); err != nil {
		return Layer{}, fmt.Errorf("apply layer: parent: %w", err)
	}
	published := false
	defer func() {
		if !published {
			s.unpin(parent)
		}
	}()
	if parent != "" {
		n, err := s.depth(parent)
		if err != nil {
			return Layer{}, fmt.Errorf("apply layer: parent: %w", err)
		}
		if err := s.CheckDepth(n + 1); err != nil {
			return Layer{}, err
		}
		parentFiles = s.filesDir(parent)
	}
	stage, err := os.MkdirTemp(s.tmp, stagePrefix)
	if err != nil {
		return Layer{}, fmt.Errorf("apply layer: %w", err)
	}
	defer os.RemoveAll(stage)
	files := filepath.Join(stage, filesDirName)
	if err := os.Mkdir(files, 0o755); err != nil {
		return Layer{}, fmt.Errorf("apply layer: %w", err)
	}

	var ts *tarSplitWriter
	if o.tarSplit {
		if ts, err = newTarSplitWriter(filepath.Join(stage, tarSplitName), r); err != nil {
			return Layer{}, fmt.Errorf("apply layer: %w", err)
		}
		r = ts
	}
	src := &hashingReader{ctx: ctx, r: bufio.NewReaderSize(r, 1<<20), h: digest.SHA256.Hash()}
	size, err := s.drv.apply(ctx, files, parentFiles, src, o.sources)
	if err == nil {
		_, err = io.Copy(io.Discard, src) // the diff ID covers the padding after the tar's end
	}
	if ts != nil {
		if err != nil {
			ts.abort()
		} else if terr := ts.finish(); terr != nil {
			err = fmt.Errorf("tar-split: %w", terr)
		}
	}
	if err != nil {
		return Layer{}, classifyApplyError(ctx, err, src)
	}
	if src.n == 0 {
		return Layer{}, errdefs.ErrInvalidArgument.WithMessage("invalid layer tar: empty stream")
	}
	diffID := digest.NewDigest(digest.SHA256, src.h)
	l := Layer{ChainID: ChainID(parent, diffID), DiffID: diffID, Parent: parent, Size: size, TarSize: src.n}

	if existing, err := s.Get(ctx, l.ChainID); err == nil {
		if ts != nil {
			if err := s.adoptTarSplit(l.ChainID, filepath.Join(stage, tarSplitName)); err != nil {
				return Layer{}, fmt.Errorf("apply layer %s: %w", l.ChainID, err)
			}
		}
		return existing, nil
	}
	if err := writeMeta(stage, l); err != nil {
		return Layer{}, fmt.Errorf("apply layer: %w", err)
	}
	if err := os.Rename(stage, s.layerDir(l.ChainID)); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			// Another Apply of the same chain won; it may not have
			// published its layer yet.
			if ts != nil {
				if err := s.adoptTarSplit(l.ChainID, filepath.Join(stage, tarSplitName)); err != nil {
					return Layer{}, fmt.Errorf("apply layer %s: %w", l.ChainID, err)
				}
			}
			return readMeta(s.layerDir(l.ChainID), l.ChainID)
		}
		return Layer{}, fmt.Errorf("apply layer: %w", err)
	}
	if err := s.link(l.ChainID); err != nil {
		os.Rename(s.layerDir(l.ChainID), stage) // back out; the deferred RemoveAll deletes it
		return Layer{}, fmt.Errorf("apply layer %s: %w", l.ChainID, err)
	}
	published = s.publish(l)
	if err := atomicfile.SyncDir(s.root); err != nil {
		return Layer{}, fmt.Errorf("apply layer: %w", err)
	}
	return l, nil
}

// ApplyOption is an option of Apply.
type ApplyOption func(*applyOptions)

type applyOptions struct {
	sources  iarchive.Sources
	tarSplit bool
}

// WithSources lets the layer's regular files take the inodes of the files
// sources names (hard links, see internal/archive.ApplyFrom) instead of
// copies, where they fit: the caller made the tar from those files and
// never changes them after. The diff ID is still that of every byte read.
func WithSources(sources iarchive.Sources) ApplyOption {
	return func(o *applyOptions) { o.sources = sources }
}

// hashingReader hashes what it reads and remembers whether the source
// itself failed, to tell a broken stream from a broken tar.
type hashingReader struct {
	ctx context.Context
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (h *hashingReader) Read(p []byte) (int, error) {
	if err := h.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if err != nil && err != io.EOF {
		h.err = err
	}
	return n, err
}

// classifyApplyError tells the caller whose fault a failed extraction is:
// the source stream's, the host's (no space, I/O error, cancellation), or
// the tar's, which is an invalid-argument error.
func classifyApplyError(ctx context.Context, err error, src *hashingReader) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("apply layer: %w", ctx.Err())
	case src.err != nil:
		return fmt.Errorf("apply layer: read: %w", src.err)
	case errors.As(err, new(hostError)):
		return fmt.Errorf("apply layer: %w", err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EIO),
		errors.Is(err, syscall.EROFS), errors.Is(err, syscall.ENOMEM), errors.Is(err, syscall.EMFILE),
		errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("apply layer: %w", err)
	}
	return errdefs.ErrInvalidArgument.WithMessage("invalid layer tar: " + err.Error())
}

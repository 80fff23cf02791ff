package layer

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"

	iarchive "github.com/gantry/gantry/internal/archive"
)

// tarSplitName is the file, beside layer.json, that keeps what of the
// layer's tar is not file content (headers, padding, the end), in
// tar-split's gzipped JSON, so that the tar can be made again from the
// extracted files byte for byte (as dockerd's layer store does).
const tarSplitName = "tar-split.json.gz"

// WithTarSplit has Apply keep the layer's tar-split (see Tar), so that
// no copy of the tar need be kept: Tar makes it again. Only for tars
// whose every regular file's content is in the layer when it is applied,
// at the file's name: no name twice, as Gantry's own diffs are. If the
// layer exists already without one, Apply adds it.
func WithTarSplit() ApplyOption {
	return func(o *applyOptions) { o.tarSplit = true }
}

// tarSplitWriter records the tar-split of the tar read through it into
// the file path.
type tarSplitWriter struct {
	f    *os.File
	gz   *gzip.Writer
	src  *sourceReader
	rc   io.ReadCloser
	done <-chan error
}

// sourceReader keeps its source's error, to tell it from tar-split's own.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func newTarSplitWriter(path string, r io.Reader) (*tarSplitWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	src := &sourceReader{r: r}
	rc, done, err := asm.NewInputTarStreamWithDone(src, storage.NewJSONPacker(gz), storage.NewDiscardFilePutter())
	if err != nil {
		f.Close()
		return nil, err
	}
	return &tarSplitWriter{f: f, gz: gz, src: src, rc: rc, done: done}, nil
}

// Read passes the tar on. Where tar-split's parser stops on a bad tar, the
// stream ends there, so that the extraction finds the tar bad itself (an
// invalid argument, not a read error); a failing source stays one.
func (w *tarSplitWriter) Read(p []byte) (int, error) {
	n, err := w.rc.Read(p)
	if err != nil && err != io.EOF && w.src.err == nil {
		err = io.EOF
	}
	return n, err
}

// finish ends the record; the tar must have been read to EOF.
func (w *tarSplitWriter) finish() error {
	err := <-w.done
	if cerr := w.gz.Close(); err == nil {
		err = cerr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// abort stops the record after a failed read.
func (w *tarSplitWriter) abort() {
	w.rc.Close()
	<-w.done
	w.f.Close()
}

// adoptTarSplit gives the existing layer chainID the tar-split staged at
// path, if it has none: a layer of the same chain ID holds the same tar.
func (s *Store) adoptTarSplit(chainID digest.Digest, path string) error {
	err := os.Link(path, filepath.Join(s.layerDir(chainID), tarSplitName))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// Tar makes again the uncompressed tar of a layer whose diff ID is diffID
// and that kept its tar-split (WithTarSplit), from its files, and returns
// it with its length. The layer cannot be removed until the reader is
// closed (Remove answers a conflict). A file whose size changed ends the
// reader with an error; the caller checks the whole against diffID (the
// content store does, see content.Source), which finds any other change:
// tar-split's per-file CRC-64 would only repeat that check. No such layer
// is a not-found error.
func (s *Store) Tar(ctx context.Context, diffID digest.Digest) (io.ReadCloser, int64, error) {
	l, ok := s.pinTar(diffID)
	if !ok {
		return nil, 0, errdefs.ErrNotFound.WithMessage("no layer keeps the tar of " + diffID.String())
	}
	f, err := os.Open(filepath.Join(s.layerDir(l.ChainID), tarSplitName))
	if err != nil {
		s.unpin(l.ChainID)
		return nil, 0, fmt.Errorf("layer %s: %w", l.ChainID, err)
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		s.unpin(l.ChainID)
		return nil, 0, fmt.Errorf("layer %s: tar-split: %w", l.ChainID, err)
	}
	root, err := unix.Open(s.filesDir(l.ChainID), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		f.Close()
		s.unpin(l.ChainID)
		return nil, 0, fmt.Errorf("layer %s: %w", l.ChainID, err)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeTar(root, storage.NewJSONUnpacker(gz), pw))
	}()
	return &layerTar{PipeReader: pr, done: done, close: func() {
		unix.Close(root)
		f.Close()
		s.unpin(l.ChainID)
	}}, l.TarSize, nil
}

// TarSize is the length of the tar Tar makes for diffID; not found as Tar.
func (s *Store) TarSize(ctx context.Context, diffID digest.Digest) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.layers {
		if l.DiffID == diffID && l.TarSize > 0 && s.hasTarSplit(l.ChainID) {
			return l.TarSize, nil
		}
	}
	return 0, errdefs.ErrNotFound.WithMessage("no layer keeps the tar of " + diffID.String())
}

// pinTar finds a layer that can make the tar of diffID and pins it.
func (s *Store) pinTar(diffID digest.Digest) (Layer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.layers {
		if l.DiffID == diffID && l.TarSize > 0 && s.hasTarSplit(l.ChainID) {
			s.children[l.ChainID]++
			return l, true
		}
	}
	return Layer{}, false
}

func (s *Store) hasTarSplit(chainID digest.Digest) bool {
	_, err := os.Stat(filepath.Join(s.layerDir(chainID), tarSplitName))
	return err == nil
}

// writeTar writes the tar the tar-split up describes to w: its segments
// (headers, padding) as recorded, each file's content from the layer
// directory root, exactly as many bytes as the entry says.
func writeTar(root int, up storage.Unpacker, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10) // headers come 512 bytes at a time
	buf := make([]byte, 128<<10)
	for {
		e, err := up.Next()
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return fmt.Errorf("tar-split: %w", err)
		}
		switch e.Type {
		case storage.SegmentType:
			if _, err := bw.Write(e.Payload); err != nil {
				return err
			}
		case storage.FileType:
			if e.Size == 0 {
				continue
			}
			f, err := fileGetter(root).Get(e.GetName())
			if err != nil {
				return err
			}
			n, err := io.CopyBuffer(bw, io.LimitReader(f, e.Size), buf)
			if err == nil {
				var one [1]byte
				if m, _ := f.Read(one[:]); m > 0 || n != e.Size {
					err = fmt.Errorf("layer file %s: its size is no longer %d", e.GetName(), e.Size)
				}
			}
			f.Close()
			if err != nil {
				return err
			}
		}
	}
}

// layerTar is Tar's reader: closing it stops the making, waits for it to
// end, and then closes what it read and unpins the layer, once.
type layerTar struct {
	*io.PipeReader
	done   chan struct{}
	close  func()
	closed bool
}

func (t *layerTar) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	err := t.PipeReader.Close()
	<-t.done
	t.close()
	return err
}

// fileGetter opens the files of a layer for tar-split, each name resolved
// inside the layer's directory, the descriptor (symlinks there never lead
// out of it).
type fileGetter int

func (g fileGetter) Get(name string) (io.ReadCloser, error) {
	fd, err := iarchive.OpenInRoot(int(g), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// TarSource is the layer store as a content.Source: the uncompressed tar
// of each layer that kept its tar-split, named by its diff ID.
type TarSource struct{ Store *Store }

// Size is TarSize.
func (t TarSource) Size(ctx context.Context, d digest.Digest) (int64, error) {
	return t.Store.TarSize(ctx, d)
}

// Open is Tar.
func (t TarSource) Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	rc, _, err := t.Store.Tar(ctx, d)
	return rc, err
}
